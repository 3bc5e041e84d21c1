/* qctx.c - per-query limits, errors, arena and memos (see qctx.h). */
#include "qctx.h"
#include "clock.h"
#include "intern.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	char data[];
};

void qctx_init(struct qctx *q)
{
	memset(q, 0, sizeof(*q));
	q->node = "";
	q->partial_node = -1;
	q->bad_input = -1;
	for (int v = 0; v < FRAME_VIEWS; v++) {
		hashmap_init(&q->folded[v], false);
		hashmap_init(&q->views[v], false);
		hashmap_init(&q->viewed[v], false);
		hashmap_init(&q->view_frames[v], false);
	}
	hashmap_init(&q->view_strs, true);
}

void qctx_destroy(struct qctx *q)
{
	struct arena_chunk *c = q->chunks;
	while (c) {
		struct arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	intern_free(q->intern);
	for (int v = 0; v < FRAME_VIEWS; v++) {
		hashmap_destroy(&q->folded[v]);
		hashmap_destroy(&q->views[v]);
		hashmap_destroy(&q->viewed[v]);
		hashmap_destroy(&q->view_frames[v]);
	}
	hashmap_destroy(&q->view_strs);
	table_free(q->partial);
	q->partial = NULL;
	q->chunks = NULL;
	q->intern = NULL;
}

int qctx_fail(struct qctx *q, const char *fmt, ...)
{
	if (q->err[0])
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->err, sizeof(q->err), fmt, ap);
	va_end(ap);
	if (!q->err[0])
		strcpy(q->err, "query failed");
	return -1;
}

bool qctx_failed(const struct qctx *q)
{
	return q->err[0] != '\0';
}

int qctx_check(struct qctx *q, size_t extra)
{
	if (q->err[0])
		return -1;
	if (q->deadline_ns && mono_now_ns() > q->deadline_ns)
		return qctx_fail(q, "query deadline exceeded");
	if (q->mem_limit && q->mem_used + extra > q->mem_limit)
		return qctx_fail(q, "query memory limit exceeded (%zu MiB)", q->mem_limit >> 20);
	return 0;
}

static void *qctx_alloc(struct qctx *q, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	struct arena_chunk *c = q->chunks;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 60000 ? n : 60000;
		if (qctx_check(q, cap) < 0)
			return NULL;
		c = malloc(sizeof(*c) + cap);
		if (!c) {
			qctx_fail(q, "out of memory");
			return NULL;
		}
		c->used = 0;
		c->cap = cap;
		c->next = q->chunks;
		q->chunks = c;
		q->mem_used += cap;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

char *qctx_strndup(struct qctx *q, const char *s, size_t n)
{
	char *d = qctx_alloc(q, n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

struct intern *qctx_intern(struct qctx *q)
{
	if (!q->intern && !(q->intern = intern_new()))
		qctx_fail(q, "out of memory");
	return q->intern;
}

const char *qctx_frame(struct qctx *q, const char *frame, enum frame_view v)
{
	uint64_t *known = hashmap_get(&q->views[v], frame);
	if (known)
		return (const char *)(uintptr_t)*known;
	char buf[8192];
	const char *view = frame;
	size_t len = 0;
	if (!frame_is_plain(frame)) {
		len = frame_format(frame, v, buf, sizeof(buf));
		view = buf;
		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
	}
	uint64_t *canon = hashmap_get(&q->view_strs, view);
	const char *out = canon ? (const char *)(uintptr_t)*canon : NULL;
	if (!out) {
		/* A plain frame is its own view: it lives as long as the query (ring or qctx). */
		if (!(out = view == frame ? frame : qctx_strndup(q, buf, len)))
			return NULL;
		if (hashmap_put(&q->view_strs, out, (uintptr_t)out) < 0)
			goto oom;
	}
	if (hashmap_put(&q->views[v], frame, (uintptr_t)out) < 0)
		goto oom;
	return out;
oom:
	qctx_fail(q, "out of memory");
	return NULL;
}

const char *qctx_stack_folded(struct qctx *q, const struct stack *st, enum frame_view v)
{
	uint64_t *known = hashmap_get(&q->folded[v], st);
	if (known)
		return (const char *)(uintptr_t)*known;
	size_t len = 0;
	const char *views[STACK_MAX_FRAMES];
	for (int f = 0; f < st->nframes; f++) {
		if (!(views[f] = qctx_frame(q, st->frames[f], v)))
			return NULL;
		len += strlen(views[f]) + 1 + (f < st->nkernel ? 4 : 0);
	}
	char *s = qctx_alloc(q, len + 1), *p = s;
	if (!s)
		return NULL;
	for (int f = st->nframes - 1; f >= 0; f--) {
		size_t l = strlen(views[f]);
		memcpy(p, views[f], l);
		p += l;
		if (f < st->nkernel) {
			memcpy(p, "_[k]", 4);
			p += 4;
		}
		if (f)
			*p++ = ';';
	}
	*p = '\0';
	if (hashmap_put(&q->folded[v], st, (uintptr_t)s) < 0) {
		qctx_fail(q, "out of memory");
		return NULL;
	}
	return s;
}

/* A frame's view as a frame of the query's intern table: the view's text as NAME, plus an empty
 * FILE:LINE, RAW, MODULE and BUILD_ID and the kind for a Python frame (frame.h), so px.frames
 * still tells it apart. */
static const char *view_frame(struct qctx *q, struct intern *it, const char *frame, enum frame_view v)
{
	uint64_t *known = hashmap_get(&q->view_frames[v], frame);
	if (known)
		return (const char *)(uintptr_t)*known;
	const char *view = qctx_frame(q, frame, v);
	if (!view)
		return NULL;
	char buf[8192];
	const char *text = view;
	if (frame_user_kind(frame) == FRAME_PYTHON) {
		int n = snprintf(buf, sizeof(buf), "%s%c%c%c%c%cpython", view, FRAME_SEP, FRAME_SEP, FRAME_SEP,
				 FRAME_SEP, FRAME_SEP);
		if (n < 0 || (size_t)n >= sizeof(buf))
			n = snprintf(buf, sizeof(buf), "%.8000s%c%c%c%c%cpython", view, FRAME_SEP, FRAME_SEP,
				     FRAME_SEP, FRAME_SEP, FRAME_SEP);
		text = buf;
	}
	const char *out = intern_str(it, text);
	if (!out || hashmap_put(&q->view_frames[v], frame, (uintptr_t)out) < 0) {
		qctx_fail(q, "out of memory");
		return NULL;
	}
	return out;
}

const struct stack *qctx_stack_view(struct qctx *q, const struct stack *st, enum frame_view v)
{
	uint64_t *known = hashmap_get(&q->viewed[v], st);
	if (known)
		return (const struct stack *)(uintptr_t)*known;
	bool plain = true;
	for (int f = 0; f < st->nframes && plain; f++)
		plain = frame_is_plain(st->frames[f]);
	const struct stack *out = st;
	if (!plain) {
		struct intern *it = qctx_intern(q);
		if (!it)
			return NULL;
		size_t before = intern_bytes(it);
		const char *frames[STACK_MAX_FRAMES];
		for (int f = 0; f < st->nframes; f++)
			if (!(frames[f] = view_frame(q, it, st->frames[f], v)))
				return NULL;
		struct stack *ns = intern_stack(it, frames, st->nframes, st->nkernel);
		if (!ns) {
			qctx_fail(q, "out of memory");
			return NULL;
		}
		if (ns->refs > 1) /* the intern table keeps one reference per distinct stack */
			intern_stack_unref(it, ns);
		size_t grown = intern_bytes(it) - before;
		if (qctx_check(q, grown) < 0)
			return NULL;
		q->mem_used += grown;
		out = ns;
	}
	if (hashmap_put(&q->viewed[v], st, (uintptr_t)out) < 0) {
		qctx_fail(q, "out of memory");
		return NULL;
	}
	return out;
}
