/* ring.c - the ring's life: creating it, interning the records rows refer to, appending rows
 * to the hot batch, sealing it (ring_seal.c encodes; here it is detached and swapped in), keeping
 * the byte budget by evicting the oldest batches, pinning, and the statistics. See ring.h for
 * the model and the locking rules, ring_scan.c for reading. */
#include "ring_internal.h"
#include "core/catalog.h"
#include "core/intern.h"

#include <assert.h>
#include <malloc.h>
#include <sys/mman.h>

/* ---- batches --------------------------------------------------------------------------------- */

static int idlist_add(struct idlist *l, uint32_t id)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 256;
		uint32_t *n = realloc(l->ids, ncap * sizeof(*n));
		if (!n)
			return -1;
		l->ids = n;
		l->cap = ncap;
	}
	l->ids[l->n++] = id;
	return 0;
}

static struct ring_batch *batch_new_hot(struct ring *r)
{
	struct ring_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->pins = 1;
	b->owns_refs = true;
	b->has_value = r->table == RING_OFFCPU_SAMPLES;
	b->first_row = r->next_row;
	b->mark = ++r->next_mark;
	b->bytes = sizeof(*b);
	return b;
}

/* Drops the references a batch holds. Caller holds the lock. */
static void batch_release_refs(struct ring *r, struct ring_batch *b)
{
	if (!b->owns_refs)
		return;
	b->owns_refs = false;
	if (!b->sealed) {
		for (size_t i = 0; i < b->stacks.n; i++)
			intern_stack_unref(r->intern, intern_stack_by_id(r->intern, b->stacks.ids[i]));
		for (size_t i = 0; i < b->threads.n; i++)
			intern_thread_unref(r->intern, intern_thread_by_id(r->intern, b->threads.ids[i]));
		return;
	}
	struct series s = {0};
	if (decode_series(b, &s) < 0) {
		series_free(&s);
		return; /* cannot happen for a batch we encoded; leaking beats freeing blindly */
	}
	uint32_t mark = ++r->next_mark;
	for (uint32_t i = 0; i < s.n; i++) {
		struct stack *st = intern_stack_by_id(r->intern, s.stack[i]);
		struct thread_rec *th = intern_thread_by_id(r->intern, s.thread[i]);
		if (st && st->mark != mark) {
			st->mark = mark;
			intern_stack_unref(r->intern, st);
		}
		if (th && th->mark != mark) {
			th->mark = mark;
			intern_thread_unref(r->intern, th);
		}
	}
	series_free(&s);
}

static void batch_free(struct ring *r, struct ring_batch *b)
{
	batch_release_refs(r, b);
	for (int c = 0; c < HOT_CHUNKS; c++) {
		free(b->chunks[c]);
		free(b->values[c]);
	}
	free(b->stacks.ids);
	free(b->threads.ids);
	struct ring_batch *successor = b->successor;
	if (b->block_bytes)
		munmap(b, b->block_bytes); /* a sealed batch: its streams live in the same mapping */
	else
		free(b);
	if (successor)
		batch_unpin(r, successor);
}

void batch_unpin(struct ring *r, struct ring_batch *b)
{
	assert(b->pins > 0);
	if (--b->pins == 0)
		batch_free(r, b);
}

int ring_batch_take_refs(struct ring *r, struct ring_batch *b)
{
	struct series s = {0};
	if (b->owns_refs)
		return 0;
	if (decode_series(b, &s) < 0) {
		series_free(&s);
		return -1;
	}
	uint32_t mark = ++r->next_mark;
	for (uint32_t i = 0; i < s.n; i++) {
		struct stack *st = intern_stack_by_id(r->intern, s.stack[i]);
		struct thread_rec *th = intern_thread_by_id(r->intern, s.thread[i]);
		if (st->mark != mark) {
			st->mark = mark;
			intern_stack_ref(st);
		}
		if (th->mark != mark) {
			th->mark = mark;
			intern_thread_ref(th);
		}
	}
	series_free(&s);
	b->owns_refs = true;
	return 0;
}

/* ---- the ring -------------------------------------------------------------------------------- */

struct ring *ring_new(const struct ring_config *cfg)
{
	struct ring *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->budget = cfg->budget_bytes;
	r->batch_ns = (int64_t)(cfg->batch_seconds > 0 ? cfg->batch_seconds : RING_BATCH_SECONDS) * 1000000000LL;
	r->node = strdup(cfg->node ? cfg->node : "");
	r->table = cfg->table;
	assert(r->table == RING_STACK_SAMPLES || r->table == RING_OFFCPU_SAMPLES);
	r->intern = intern_new();
	if (!r->node || !r->intern) {
		ring_free(r);
		return NULL;
	}
	return r;
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
	free(r->node);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

const char *ring_table_name(const struct ring *r)
{
	return r->table == RING_OFFCPU_SAMPLES ? "offcpu_samples" : "stack_samples";
}

enum ring_table ring_table_of(const struct ring *r)
{
	return r->table;
}

struct ring *ring_set_get(const struct ring_set *set, enum ring_table table)
{
	for (int i = 0; set && i < set->n; i++)
		if (set->rings[i]->table == table)
			return set->rings[i];
	return NULL;
}

struct stack *ring_stack(struct ring *r, const char *const *frames, uint16_t nframes, uint16_t nkernel)
{
	const char *interned[nframes ? nframes : 1];
	struct stack *st = NULL;
	pthread_mutex_lock(&r->lock);
	for (uint16_t f = 0; f < nframes; f++)
		if (!(interned[f] = intern_str(r->intern, frames[f])))
			goto out;
	st = intern_stack(r->intern, interned, nframes, nkernel);
out:
	pthread_mutex_unlock(&r->lock);
	return st;
}

struct thread_rec *ring_thread(struct ring *r, const struct thread_key *k)
{
	pthread_mutex_lock(&r->lock);
	struct thread_rec *th = intern_thread(r->intern, k);
	pthread_mutex_unlock(&r->lock);
	return th;
}

void ring_release_stack(struct ring *r, struct stack *st)
{
	pthread_mutex_lock(&r->lock);
	intern_stack_unref(r->intern, st);
	pthread_mutex_unlock(&r->lock);
}

void ring_ref_stack(struct ring *r, struct stack *st)
{
	pthread_mutex_lock(&r->lock);
	intern_stack_ref(st);
	pthread_mutex_unlock(&r->lock);
}

void ring_release_thread(struct ring *r, struct thread_rec *th)
{
	pthread_mutex_lock(&r->lock);
	intern_thread_unref(r->intern, th);
	pthread_mutex_unlock(&r->lock);
}

/* Bytes that count against the budget: batches and interned records, plus room for sealing
 * the hot batch (its point arrays and compression buffers, about 4x its raw size), so the
 * process as a whole stays near the budget, not just the data. */
static size_t total_bytes(const struct ring *r)
{
	size_t seal_room = r->hot ? 4 * r->hot->bytes : 0;
	return r->batch_bytes + intern_bytes(r->intern) + seal_room;
}

/* Evicts the oldest batches (never the hot one) until the ring fits. Caller holds the lock. */
static void evict(struct ring *r)
{
	while (r->oldest && r->oldest != r->hot && total_bytes(r) > r->budget) {
		struct ring_batch *b = r->oldest;
		r->oldest = b->newer;
		r->batch_bytes -= b->bytes;
		r->evicted_rows += b->nrow_ids;
		r->evicted_samples += b->samples;
		batch_unpin(r, b);
	}
	/* What the budget cannot hold any more is only ever the hot batch and the records. */
	assert(total_bytes(r) <= r->budget || r->oldest == r->hot || !r->oldest);
}

/* ---- sealed batches into the list ------------------------------------------------------------ */

void ring_insert_sealed(struct ring *r, struct ring_batch *b)
{
	assert(b->sealed && b->owns_refs && b->pins == 1);
	/* Before the first batch that starts later (never after the hot batch). */
	struct ring_batch **pp = &r->oldest;
	while (*pp && *pp != r->hot && (*pp)->tmin <= b->tmin)
		pp = &(*pp)->newer;
	b->newer = *pp;
	*pp = b;
	b->first_row = r->next_row;
	b->nrow_ids = b->rows;
	r->next_row += b->rows;
	r->batch_bytes += b->bytes;
	r->appended_samples += b->samples;
	evict(r);
}

/* Seals the current hot batch: detach under the lock, encode outside, swap in. Writer only. */
static int seal_hot(struct ring *r)
{
	pthread_mutex_lock(&r->lock);
	struct ring_batch *old = r->hot;
	if (!old || old->nrow_ids == 0 || r->sealing) {
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	struct ring_batch *fresh = batch_new_hot(r);
	if (!fresh) {
		pthread_mutex_unlock(&r->lock);
		return -1;
	}
	old->newer = fresh;
	r->hot = fresh;
	r->batch_bytes += fresh->bytes;
	old->pins++; /* ours, while encoding */
	r->sealing = true;
	pthread_mutex_unlock(&r->lock);

	struct ring_batch *s = batch_seal(old);

	pthread_mutex_lock(&r->lock);
	r->sealing = false;
	struct ring_batch **pp = &r->oldest;
	while (*pp && *pp != old)
		pp = &(*pp)->newer;
	if (s && *pp == old) { /* still in the ring: s takes its place and its references */
		s->newer = old->newer;
		*pp = s;
		s->owns_refs = old->owns_refs;
		old->owns_refs = false;
		s->pins++;
		old->successor = s; /* readers of old keep s (and the references) alive */
		r->batch_bytes += s->bytes - old->bytes;
		batch_unpin(r, old); /* the list's pin */
	} else if (s) {
		batch_free(r, s); /* old was evicted meanwhile; s owns nothing */
	}
	batch_unpin(r, old); /* ours */
	evict(r);
	pthread_mutex_unlock(&r->lock);
	return s ? 0 : -1;
}

int ring_flush(struct ring *r)
{
	return seal_hot(r);
}

/* ---- appending ------------------------------------------------------------------------------- */

/* Appends one row to the hot batch. Caller holds the lock. 0, 1 (batch full: seal), -1 (OOM). */
static int hot_append(struct ring *r, struct ring_batch *b, const struct ring_row *row)
{
	size_t i = b->nrow_ids;
	struct hot_chunk *c = b->chunks[i / HOT_CHUNK];
	if (!c) {
		if (!(c = b->chunks[i / HOT_CHUNK] = malloc(sizeof(*c))))
			return -1;
		b->bytes += sizeof(*c);
		r->batch_bytes += sizeof(*c);
	}
	int64_t *values = b->values[i / HOT_CHUNK];
	if (b->has_value && !values) {
		if (!(values = b->values[i / HOT_CHUNK] = malloc(HOT_CHUNK * sizeof(*values))))
			return -1;
		b->bytes += HOT_CHUNK * sizeof(*values);
		r->batch_bytes += HOT_CHUNK * sizeof(*values);
	}
	if (row->stack->mark != b->mark) {
		if (idlist_add(&b->stacks, row->stack->id) < 0)
			return -1;
		row->stack->mark = b->mark;
		intern_stack_ref(row->stack);
	}
	if (row->thread->mark != b->mark) {
		if (idlist_add(&b->threads, row->thread->id) < 0)
			return -1;
		row->thread->mark = b->mark;
		intern_thread_ref(row->thread);
	}
	size_t k = i % HOT_CHUNK;
	c->time[k] = row->time_ns;
	c->thread[k] = row->thread->id;
	c->stack[k] = row->stack->id;
	c->count[k] = row->count;
	c->cpu[k] = (uint16_t)(row->cpu > MAX_CPU ? MAX_CPU : row->cpu);
	if (values) {
		assert(row->value >= 0);
		values[k] = row->value;
	}
	if (i == 0 || row->time_ns < b->tmin)
		b->tmin = row->time_ns;
	if (i == 0 || row->time_ns > b->tmax)
		b->tmax = row->time_ns;
	b->nrow_ids = i + 1;
	b->rows = i + 1;
	b->samples += row->count;
	r->next_row++;
	r->appended_samples += row->count;
	bool full = b->nrow_ids == RING_HOT_ROWS || b->tmax - b->tmin >= r->batch_ns || b->bytes > r->budget / 8;
	return full ? 1 : 0;
}

int ring_append_rows(struct ring *r, const struct ring_row *rows, size_t n)
{
	size_t i = 0;
	int rc = 0;
	while (i < n && rc >= 0) {
		bool seal_now = false;
		pthread_mutex_lock(&r->lock);
		if (!r->hot) {
			if (!(r->hot = r->oldest = batch_new_hot(r))) {
				pthread_mutex_unlock(&r->lock);
				return -1;
			}
			r->batch_bytes += r->hot->bytes;
		}
		for (; i < n; i++) {
			int a = hot_append(r, r->hot, &rows[i]);
			if (a < 0) {
				rc = -1;
				break;
			}
			if (a == 1) {
				seal_now = true;
				i++;
				break;
			}
		}
		evict(r);
		pthread_mutex_unlock(&r->lock);
		if (seal_now) {
			if (seal_hot(r) < 0)
				rc = -1;
			malloc_trim(0); /* give the pages of evicted batches back, once per seal */
		}
	}
	return rc;
}

int ring_append_stack(struct ring *r, const struct ring_sample *s, struct stack *st)
{
	struct thread_key k = {s->pid, s->tid, s->cgroup, s->comm, s->container, s->pod, s->namespace};
	struct thread_rec *th = ring_thread(r, &k);
	if (!th)
		return -1;
	struct ring_row row = {s->time_ns, th, st, (uint32_t)s->cpu, (uint32_t)s->count, s->value};
	int rc = ring_append_rows(r, &row, 1);
	ring_release_thread(r, th);
	return rc;
}

int ring_append(struct ring *r, const struct ring_sample *s)
{
	struct stack *st = ring_stack(r, s->frames, s->nframes, s->nkernel);
	if (!st)
		return -1;
	int rc = ring_append_stack(r, s, st);
	ring_release_stack(r, st);
	return rc;
}

/* ---- statistics ------------------------------------------------------------------------------ */

void ring_get_stats(struct ring *r, struct ring_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&r->lock);
	out->budget = r->budget;
	out->intern_bytes = intern_bytes(r->intern);
	out->bytes = r->batch_bytes + out->intern_bytes;
	for (struct ring_batch *b = r->oldest; b; b = b->newer) {
		out->batches++;
		out->sealed_batches += b->sealed;
		out->rows += b->rows;
		out->samples += b->samples;
		if (!b->rows)
			continue;
		if (!out->oldest_ns || b->tmin < out->oldest_ns)
			out->oldest_ns = b->tmin;
		if (b->tmax > out->newest_ns)
			out->newest_ns = b->tmax;
	}
	out->evicted_rows = r->evicted_rows;
	out->evicted_samples = r->evicted_samples;
	out->appended_samples = r->appended_samples;
	out->stacks = intern_nstacks(r->intern);
	out->threads = intern_nthreads(r->intern);
	out->strings = intern_nstrings(r->intern);
	out->compression = out->bytes ? (double)out->samples * 64.0 / (double)out->bytes : 0;
	pthread_mutex_unlock(&r->lock);
}
