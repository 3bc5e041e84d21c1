/* ring.c - the columnar ring (see ring.h for the model and the locking rules). */
#include "ring.h"
#include "catalog.h"
#include "intern.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ring_batch {
	struct ring_batch *newer; /* list from oldest (ring->oldest) to hot (ring->hot) */
	int pins;                 /* 1 while in the ring's list + 1 per scan reading it */
	uint64_t first_row;       /* row id of row 0 (row ids only increase) */
	size_t nrows;             /* rows written (guarded by the ring lock) */
	size_t cap;               /* rows allocated per column */
	int64_t tmin, tmax;       /* time range of its rows */
	uint64_t samples;         /* sum of count */
	size_t bytes;             /* accounted size */
	struct column cols[SS_NCOLS];
};

struct ring {
	pthread_mutex_t lock;
	struct intern *intern;        /* strings and stacks of every batch; guarded by lock */
	struct ring_batch *oldest;    /* list head; NULL when empty */
	struct ring_batch *hot;       /* list tail, being appended */
	size_t budget, batch_rows;
	size_t batch_bytes;           /* bytes of batches in the list */
	uint64_t next_row;            /* id of the next appended row */
	uint64_t evicted_rows;
	uint64_t rows, samples;       /* held */
	char *node;                   /* node name */
	const char **node_col;        /* batch_rows copies of node: every batch's node column */
};

static size_t row_bytes(void)
{
	size_t n = 0;
	for (int c = 0; c < SS_NCOLS; c++)
		if (c != SS_NODE)
			n += vtype_size(catalog_schema("stack_samples")->cols[c].type);
	return n;
}

struct ring *ring_new(const struct ring_config *cfg)
{
	struct ring *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->budget = cfg->budget_bytes;
	r->batch_rows = cfg->batch_rows;
	if (!r->batch_rows) { /* about 1/16 of the budget per batch, within sane bounds */
		r->batch_rows = r->budget / 16 / row_bytes();
		if (r->batch_rows < 256)
			r->batch_rows = 256;
		if (r->batch_rows > 16384)
			r->batch_rows = 16384;
	}
	r->node = strdup(cfg->node ? cfg->node : "");
	r->node_col = malloc(r->batch_rows * sizeof(*r->node_col));
	r->intern = intern_new();
	if (!r->node || !r->node_col || !r->intern) {
		ring_free(r);
		return NULL;
	}
	for (size_t i = 0; i < r->batch_rows; i++)
		r->node_col[i] = r->node;
	return r;
}

/* Frees a batch and drops its stack references. Caller holds the lock. */
static void batch_free(struct ring *r, struct ring_batch *b)
{
	for (size_t i = 0; i < b->nrows; i++)
		intern_stack_unref(r->intern, (struct stack *)b->cols[SS_STACK].v.k[i]);
	for (int c = 0; c < SS_NCOLS; c++)
		if (c != SS_NODE)
			free(b->cols[c].v.p);
	free(b);
}

static void batch_unpin(struct ring *r, struct ring_batch *b)
{
	if (--b->pins == 0)
		batch_free(r, b);
}

void ring_free(struct ring *r)
{
	if (!r)
		return;
	struct ring_batch *b = r->oldest;
	while (b) {
		struct ring_batch *n = b->newer;
		batch_unpin(r, b);
		b = n;
	}
	intern_free(r->intern);
	free(r->node_col);
	free(r->node);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static struct ring_batch *batch_new(struct ring *r)
{
	const struct table *schema = catalog_schema("stack_samples");
	struct ring_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->pins = 1;
	b->cap = r->batch_rows;
	b->first_row = r->next_row;
	b->bytes = sizeof(*b);
	for (int c = 0; c < SS_NCOLS; c++) {
		b->cols[c].name = schema->cols[c].name;
		b->cols[c].type = schema->cols[c].type;
		if (c == SS_NODE) {
			b->cols[c].v.s = r->node_col;
			continue;
		}
		size_t sz = b->cap * vtype_size(b->cols[c].type);
		if (!(b->cols[c].v.p = malloc(sz))) {
			for (int k = 0; k < c; k++)
				if (k != SS_NODE)
					free(b->cols[k].v.p);
			free(b);
			return NULL;
		}
		b->bytes += sz;
	}
	return b;
}

/* Evicts oldest sealed batches until the ring fits its budget. Caller holds the lock. */
static void evict(struct ring *r)
{
	while (r->oldest && r->oldest != r->hot &&
	       r->batch_bytes + intern_bytes(r->intern) > r->budget) {
		struct ring_batch *b = r->oldest;
		r->oldest = b->newer;
		r->batch_bytes -= b->bytes;
		r->evicted_rows += b->nrows;
		r->rows -= b->nrows;
		r->samples -= b->samples;
		batch_unpin(r, b);
	}
}

int ring_append(struct ring *r, const struct ring_sample *s)
{
	const char *frames[s->nframes ? s->nframes : 1];
	int rc = -1;
	pthread_mutex_lock(&r->lock);
	struct ring_batch *b = r->hot;
	if (!b || b->nrows == b->cap) {
		struct ring_batch *nb = batch_new(r);
		if (!nb)
			goto out;
		if (b)
			b->newer = nb;
		else
			r->oldest = nb;
		r->hot = b = nb;
		r->batch_bytes += nb->bytes;
	}
	for (int f = 0; f < s->nframes; f++)
		if (!(frames[f] = intern_str(r->intern, s->frames[f])))
			goto out;
	const char *comm = intern_str(r->intern, s->comm ? s->comm : "");
	struct stack *st = comm ? intern_stack(r->intern, frames, s->nframes, s->nkernel) : NULL;
	if (!st)
		goto out;
	size_t i = b->nrows;
	b->cols[SS_TIME].v.i[i] = s->time_ns;
	b->cols[SS_PID].v.i[i] = s->pid;
	b->cols[SS_TID].v.i[i] = s->tid;
	b->cols[SS_CPU].v.i[i] = s->cpu;
	b->cols[SS_COMM].v.s[i] = comm;
	b->cols[SS_CGROUP].v.i[i] = s->cgroup;
	b->cols[SS_STACK].v.k[i] = st;
	b->cols[SS_COUNT].v.i[i] = s->count;
	if (i == 0 || s->time_ns < b->tmin)
		b->tmin = s->time_ns;
	if (i == 0 || s->time_ns > b->tmax)
		b->tmax = s->time_ns;
	b->nrows = i + 1;
	b->samples += s->count;
	r->next_row++;
	r->rows++;
	r->samples += s->count;
	evict(r);
	rc = 0;
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int ring_scan(void *ring, const char *table, int64_t t0, int64_t t1,
	      int (*chunk)(void *arg, const struct table *rows), void *arg)
{
	struct ring *r = ring;
	struct ring_batch **pinned = NULL;
	size_t *visible = NULL, n = 0, cap = 0;
	int rc = 0;

	if (!catalog_schema(table) || strcmp(table, "stack_samples") != 0)
		return -1;
	pthread_mutex_lock(&r->lock);
	for (struct ring_batch *b = r->oldest; b; b = b->newer) {
		if (b->nrows == 0 || b->tmax < t0 || b->tmin >= t1)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *p1 = realloc(pinned, ncap * sizeof(*pinned));
			if (p1)
				pinned = p1;
			void *p2 = p1 ? realloc(visible, ncap * sizeof(*visible)) : NULL;
			if (p2)
				visible = p2;
			if (!p1 || !p2) {
				rc = -1;
				break;
			}
			cap = ncap;
		}
		b->pins++;
		pinned[n] = b;
		visible[n++] = b->nrows;
	}
	pthread_mutex_unlock(&r->lock);

	for (size_t i = 0; i < n && rc == 0; i++) {
		struct ring_batch *b = pinned[i];
		struct table view = {.name = (char *)"stack_samples", .ncols = SS_NCOLS, .cols = b->cols,
				     .nrows = visible[i], .cap = b->cap, .borrowed = true};
		rc = chunk(arg, &view);
	}

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++)
		batch_unpin(r, pinned[i]);
	pthread_mutex_unlock(&r->lock);
	free(pinned);
	free(visible);
	return rc < 0 ? -1 : 0;
}

void ring_get_stats(struct ring *r, struct ring_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&r->lock);
	out->budget = r->budget;
	out->bytes = r->batch_bytes + intern_bytes(r->intern);
	for (struct ring_batch *b = r->oldest; b; b = b->newer) {
		out->batches++;
		if (!b->nrows)
			continue;
		if (!out->oldest_ns || b->tmin < out->oldest_ns)
			out->oldest_ns = b->tmin;
		if (b->tmax > out->newest_ns)
			out->newest_ns = b->tmax;
	}
	out->rows = r->rows;
	out->samples = r->samples;
	out->evicted_rows = r->evicted_rows;
	out->appended_rows = r->next_row;
	out->stacks = intern_nstacks(r->intern);
	out->strings = intern_nstrings(r->intern);
	pthread_mutex_unlock(&r->lock);
}
