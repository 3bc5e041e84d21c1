/* ring.c - the columnar ring (see ring.h for the model and the locking rules).
 *
 * Sealed batch encoding (both streams zstd-compressed, varints little-endian base 128):
 *
 *   headers: for each series, sorted by (thread, cpu, stack), five columns one after another:
 *            thread id delta | cpu | stack id | points | total count
 *   points:  for each series in the same order, its points' second offsets (delta from the
 *            previous point of the series; the first from the batch's base second), then all
 *            points' counts in the same order.
 *   rollups: the batch's total per stack (stack id delta, total; sorted by id), then per thread
 *            (thread id delta, total): what a day-long "top stacks" or "top processes" reads
 *            instead of every series.
 *
 * A series' points are strictly increasing seconds, so deltas are >= 1 after the first. */
#include "ring_internal.h"
#include "core/catalog.h"
#include "core/intern.h"

#include <malloc.h>
#include <sys/mman.h>
#include <zstd.h>

/* ---- batches ------------------------------------------------------------------------------- */

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
	b->first_row = r->next_row;
	b->mark = ++r->next_mark;
	b->bytes = sizeof(*b);
	return b;
}

void *scratch(void **buf, size_t *cap, size_t n)
{
	if (n <= *cap)
		return *buf;
	void *p = realloc(*buf, n);
	if (!p)
		return NULL;
	*buf = p;
	*cap = n;
	return p;
}

int decode_series(const struct ring_batch *b, struct series *s)
{
	size_t n = b->nseries;
	uint8_t *raw = scratch(&s->raw, &s->raw_cap, b->hdr_len + 1);
	void *mem = scratch(&s->mem, &s->mem_cap, n * (4 * sizeof(uint32_t) + sizeof(uint64_t)) + 8);
	if (!raw || !mem)
		return -1;
	s->n = (uint32_t)n;
	s->total = mem;
	s->thread = (uint32_t *)(s->total + n);
	s->cpu = s->thread + n;
	s->stack = s->cpu + n;
	s->npoints = s->stack + n;
	size_t got = ZSTD_decompress(raw, b->hdr_len, b->zhdr, b->zhdr_len);
	const uint8_t *p = raw, *end = raw + b->hdr_len;
	uint64_t v = 0, th = 0;
	bool ok = !ZSTD_isError(got) && got == b->hdr_len;
	for (size_t i = 0; ok && i < n; i++) {
		ok = get_varint(&p, end, &v);
		th += v;
		s->thread[i] = (uint32_t)th;
	}
	uint32_t *cols[3] = {s->cpu, s->stack, s->npoints};
	for (int c = 0; c < 3; c++)
		for (size_t i = 0; ok && i < n; i++) {
			ok = get_varint(&p, end, &v);
			cols[c][i] = (uint32_t)v;
		}
	for (size_t i = 0; ok && i < n; i++)
		ok = get_varint(&p, end, &s->total[i]);
	return ok ? 0 : -1;
}

void series_free(struct series *s)
{
	free(s->mem);
	free(s->raw);
	memset(s, 0, sizeof(*s));
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

static void batch_unpin(struct ring *r, struct ring_batch *b);

static void batch_free(struct ring *r, struct ring_batch *b)
{
	batch_release_refs(r, b);
	for (int c = 0; c < HOT_CHUNKS; c++)
		free(b->chunks[c]);
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

static void batch_unpin(struct ring *r, struct ring_batch *b)
{
	if (--b->pins == 0)
		batch_free(r, b);
}

void batch_unpin_locked(struct ring *r, struct ring_batch *b)
{
	batch_unpin(r, b);
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

/* ---- the ring ------------------------------------------------------------------------------ */

struct ring *ring_new(const struct ring_config *cfg)
{
	struct ring *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->budget = cfg->budget_bytes;
	r->batch_ns = (int64_t)(cfg->batch_seconds > 0 ? cfg->batch_seconds : RING_BATCH_SECONDS) * 1000000000LL;
	r->node = strdup(cfg->node ? cfg->node : "");
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

struct thread_rec *ring_thread(struct ring *r, int64_t pid, int64_t tid, int64_t cgroup, const char *comm)
{
	pthread_mutex_lock(&r->lock);
	struct thread_rec *th = intern_thread(r->intern, pid, tid, cgroup, comm);
	pthread_mutex_unlock(&r->lock);
	return th;
}

void ring_release_stack(struct ring *r, struct stack *st)
{
	pthread_mutex_lock(&r->lock);
	intern_stack_unref(r->intern, st);
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
}

/* ---- sealing ------------------------------------------------------------------------------- */

static int point_cmp(const void *a, const void *b)
{
	const struct point *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->sec > y->sec) - (x->sec < y->sec);
}

/* Sorts points by (key, sec): LSD radix on sec (16 bits suffice within a batch's span when it
 * fits, else qsort) then key bytes. */
static int sort_points(struct point *pts, size_t n)
{
	struct point *tmp = malloc((n ? n : 1) * sizeof(*tmp));
	if (!tmp)
		return -1;
	uint32_t max_sec = 0;
	for (size_t i = 0; i < n; i++)
		if (pts[i].sec > max_sec)
			max_sec = pts[i].sec;
	if (max_sec > 0xffff) {
		free(tmp);
		qsort(pts, n, sizeof(*pts), point_cmp);
		return 0;
	}
	/* Digits: sec (2 x 8 bits), then key (60 bits = 8 x 8 bits, the top one partly used). */
	struct point *src = pts, *dst = tmp;
	for (int pass = 0; pass < 10; pass++) {
		size_t counts[257] = {0};
		int shift = pass < 2 ? pass * 8 : (pass - 2) * 8;
		for (size_t i = 0; i < n; i++) {
			unsigned d = pass < 2 ? (src[i].sec >> shift) & 0xff : (unsigned)(src[i].key >> shift) & 0xff;
			counts[d + 1]++;
		}
		if (counts[1 + ((pass < 2 ? (src[0].sec >> shift) : (unsigned)(src[0].key >> shift)) & 0xff)] == n && n)
			continue; /* all rows share this digit */
		for (int d = 0; d < 256; d++)
			counts[d + 1] += counts[d];
		for (size_t i = 0; i < n; i++) {
			unsigned d = pass < 2 ? (src[i].sec >> shift) & 0xff : (unsigned)(src[i].key >> shift) & 0xff;
			dst[counts[d]++] = src[i];
		}
		struct point *t = src;
		src = dst;
		dst = t;
	}
	if (src != pts)
		memcpy(pts, src, n * sizeof(*pts));
	free(tmp);
	return 0;
}

static size_t hot_rows(const struct ring_batch *b)
{
	return b->nrow_ids;
}

int ring_compress(void **out, size_t *out_len, const void *in, size_t in_len)
{
	size_t bound = ZSTD_compressBound(in_len);
	void *z = malloc(bound ? bound : 1);
	size_t l = z ? ZSTD_compress(z, bound, in ? in : "", in_len, ZSTD_LEVEL) : 0;
	if (!z || ZSTD_isError(l)) {
		free(z);
		return -1;
	}
	void *shrunk = realloc(z, l ? l : 1);
	*out = shrunk ? shrunk : z;
	*out_len = l;
	return 0;
}

struct id_total {
	uint32_t id;
	uint64_t total;
};

static int id_total_cmp(const void *a, const void *b)
{
	const struct id_total *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

/* Per-stack and per-thread totals of merged, sorted points into out (see the file comment). */
static int encode_rollups(struct ring_batch *s, const struct point *pts, size_t np, struct buf *out)
{
	struct id_total *st = malloc((np ? np : 1) * sizeof(*st));
	size_t nst = 0, nth = 0;
	if (!st || buf_reserve(out, np * 2 * 20 + 16) < 0) {
		free(st);
		return -1;
	}
	for (size_t i = 0; i < np; i++)
		st[i] = (struct id_total){(uint32_t)KEY_STACK(pts[i].key), pts[i].count};
	qsort(st, np, sizeof(*st), id_total_cmp);
	for (size_t i = 0; i < np; i++) {
		if (nst && st[nst - 1].id == st[i].id)
			st[nst - 1].total += st[i].total;
		else
			st[nst++] = st[i];
	}
	uint32_t prev = 0;
	for (size_t i = 0; i < nst; i++) {
		put_varint(out, st[i].id - prev);
		prev = st[i].id;
		put_varint(out, st[i].total);
	}
	/* Points are sorted by key, and the thread is the key's top bits: one run per thread. */
	prev = 0;
	for (size_t i = 0; i < np;) {
		uint32_t th = (uint32_t)KEY_THREAD(pts[i].key);
		uint64_t total = 0;
		for (; i < np && KEY_THREAD(pts[i].key) == th; i++)
			total += pts[i].count;
		put_varint(out, th - prev);
		prev = th;
		put_varint(out, total);
		nth++;
	}
	s->nstacks = (uint32_t)nst;
	s->nthreads = (uint32_t)nth;
	free(st);
	return 0;
}

/* Encodes points (thread/cpu/stack keys and seconds after base_sec; sorted and merged here,
 * so any order and duplicates are fine) into a new sealed batch that owns no references yet. */
struct ring_batch *seal_points(struct point *pts, size_t n, int64_t base_sec, int64_t tmin, int64_t tmax)
{
	struct ring_batch *s = calloc(1, sizeof(*s));
	struct buf hdr = {0}, cols[4] = {{0}}, secs = {0}, cnts = {0}, roll = {0};
	void *zh = NULL, *zp = NULL, *zr = NULL;
	if (!s)
		goto fail;
	s->sealed = true;
	s->pins = 1;
	s->tmin = tmin;
	s->tmax = tmax;
	s->base_sec = base_sec;
	if (sort_points(pts, n) < 0)
		goto fail;
	/* Merge equal (key, sec) into one point; count series and points. */
	size_t np = 0;
	for (size_t i = 0; i < n; i++) {
		s->samples += pts[i].count;
		if (np && pts[np - 1].key == pts[i].key && pts[np - 1].sec == pts[i].sec)
			pts[np - 1].count += pts[i].count;
		else
			pts[np++] = pts[i];
	}
	size_t ns = 0;
	for (size_t i = 0; i < np; i++)
		ns += !i || pts[i].key != pts[i - 1].key;
	for (int c = 0; c < 4; c++)
		if (buf_reserve(&cols[c], ns * 10 + 16) < 0)
			goto fail;
	if (buf_reserve(&hdr, ns * 10 * 5 + 16) < 0 || buf_reserve(&secs, np * 10 + 16) < 0 ||
	    buf_reserve(&cnts, np * 10 + 16) < 0)
		goto fail;
	uint64_t prev_thread = 0;
	for (size_t i = 0; i < np;) {
		size_t j = i;
		uint64_t total = 0;
		uint32_t prev_sec = 0;
		for (; j < np && pts[j].key == pts[i].key; j++) {
			put_varint(&secs, pts[j].sec - prev_sec);
			prev_sec = pts[j].sec;
			put_varint(&cnts, pts[j].count);
			total += pts[j].count;
		}
		uint64_t thread = KEY_THREAD(pts[i].key);
		put_varint(&hdr, thread - prev_thread);
		prev_thread = thread;
		put_varint(&cols[0], KEY_CPU(pts[i].key));
		put_varint(&cols[1], KEY_STACK(pts[i].key));
		put_varint(&cols[2], j - i);
		put_varint(&cols[3], total);
		i = j;
	}
	for (int c = 0; c < 4; c++) {
		memcpy(hdr.p + hdr.len, cols[c].p, cols[c].len);
		hdr.len += cols[c].len;
	}
	if (buf_reserve(&secs, cnts.len) < 0)
		goto fail;
	memcpy(secs.p + secs.len, cnts.p, cnts.len);
	secs.len += cnts.len;
	s->nseries = (uint32_t)ns;
	s->rows = np;
	s->hdr_len = hdr.len;
	s->pts_len = secs.len;
	if (encode_rollups(s, pts, np, &roll) < 0)
		goto fail;
	s->roll_len = roll.len;
	if (ring_compress(&zh, &s->zhdr_len, hdr.p, hdr.len) < 0 ||
	    ring_compress(&zp, &s->zpts_len, secs.p, secs.len) < 0 ||
	    ring_compress(&zr, &s->zroll_len, roll.p, roll.len) < 0)
		goto fail;
	/* One block for the batch and its streams, mapped on its own: a ring that seals and evicts
	 * all day long then returns exactly a batch's pages when it goes, instead of leaving holes
	 * in the heap (RSS stays near the budget). */
	size_t block = (sizeof(*s) + s->zhdr_len + s->zpts_len + s->zroll_len + 4095) & ~(size_t)4095;
	struct ring_batch *blk = mmap(NULL, block, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (blk == MAP_FAILED)
		goto fail;
	*blk = *s;
	free(s);
	s = blk;
	s->block_bytes = block;
	char *p = (char *)(s + 1);
	s->zhdr = memcpy(p, zh, s->zhdr_len);
	s->zpts = memcpy(p + s->zhdr_len, zp, s->zpts_len);
	s->zroll = memcpy(p + s->zhdr_len + s->zpts_len, zr, s->zroll_len);
	s->bytes = block;
	goto out;
fail:
	free(s);
	s = NULL;
out:
	free(zh);
	free(zp);
	free(zr);
	free(roll.p);
	free(hdr.p);
	free(secs.p);
	free(cnts.p);
	for (int c = 0; c < 4; c++)
		free(cols[c].p);
	return s;
}

/* Encodes hot batch h (not modified) into a new sealed batch. No lock needed: h is detached. */
static struct ring_batch *seal(const struct ring_batch *h)
{
	size_t n = hot_rows(h);
	struct point *pts = malloc((n ? n : 1) * sizeof(*pts));
	if (!pts)
		return NULL;
	int64_t base_sec = h->tmin / 1000000000LL - (h->tmin < 0 && h->tmin % 1000000000LL);
	for (size_t i = 0; i < n; i++) {
		const struct hot_chunk *c = h->chunks[i / HOT_CHUNK];
		size_t k = i % HOT_CHUNK;
		pts[i].key = seal_key(c->thread[k], c->cpu[k], c->stack[k]);
		pts[i].sec = (uint32_t)(c->time[k] / 1000000000LL - base_sec);
		pts[i].count = c->count[k];
	}
	struct ring_batch *s = seal_points(pts, n, base_sec, h->tmin, h->tmax);
	free(pts);
	if (s) {
		s->first_row = h->first_row;
		s->nrow_ids = h->nrow_ids;
	}
	return s;
}

void ring_insert_sealed(struct ring *r, struct ring_batch *b)
{
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
	if (!old || hot_rows(old) == 0 || r->sealing) {
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

	struct ring_batch *s = seal(old);

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
	malloc_trim(0); /* give the pages of evicted batches back, once per seal */
	return s ? 0 : -1;
}

int ring_flush(struct ring *r)
{
	return seal_hot(r);
}

/* ---- appending ----------------------------------------------------------------------------- */

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
		if (seal_now && seal_hot(r) < 0)
			rc = -1;
	}
	return rc;
}

int ring_append(struct ring *r, const struct ring_sample *s)
{
	struct stack *st = ring_stack(r, s->frames, s->nframes, s->nkernel);
	struct thread_rec *th = ring_thread(r, s->pid, s->tid, s->cgroup, s->comm ? s->comm : "");
	int rc = -1;
	if (st && th) {
		struct ring_row row = {s->time_ns, th, st, (uint32_t)s->cpu, (uint32_t)s->count};
		rc = ring_append_rows(r, &row, 1);
	}
	if (st)
		ring_release_stack(r, st);
	if (th)
		ring_release_thread(r, th);
	return rc;
}

/* ---- scanning ------------------------------------------------------------------------------ */

/* What a time-collapsed scan may aggregate away (from the columns the plan reads). */
enum projection {
	PROJ_ROWS,   /* not collapsed: every row (hot) or point (sealed) */
	PROJ_SERIES, /* collapsed to (thread, cpu, stack) */
	PROJ_STACK,  /* collapsed to stacks: thread and cpu columns meaningless */
	PROJ_THREAD, /* collapsed to threads: cpu and stack meaningless */
};

static enum projection projection_of(int flags)
{
	if (!(flags & SCAN_COLLAPSE_TIME))
		return PROJ_ROWS;
	int cols = flags >> SCAN_COLUMN_SHIFT;
	if (!cols)
		return PROJ_SERIES;
	bool thread = cols & ((1 << SS_PID) | (1 << SS_TID) | (1 << SS_COMM) | (1 << SS_CGROUP));
	bool cpu = cols & (1 << SS_CPU), stack = cols & (1 << SS_STACK);
	if (cpu || (thread && stack))
		return PROJ_SERIES;
	return stack ? PROJ_STACK : PROJ_THREAD;
}

static const struct stack no_stack; /* stands in when stacks were aggregated away */

/* Column arrays of one chunk handed to the caller, plus per-id accumulators; reused across the
 * batches of one scan. */
struct view {
	size_t cap;
	struct column cols[SS_NCOLS];
	uint64_t *acc;      /* per stack or thread id */
	uint32_t *touched;  /* ids with acc != 0 */
	size_t acc_cap, ntouched;
	const struct ring *r;
	int64_t t0, t1;
	enum projection proj;
	struct series s;    /* decoded headers, reused */
	void *buf;          /* decompressed points or rollups, reused */
	size_t buf_cap;
};

static int view_reserve(struct view *v, size_t n)
{
	if (n <= v->cap)
		return 0;
	size_t ncap = v->cap ? v->cap : 4096;
	while (ncap < n)
		ncap *= 2;
	for (int c = 0; c < SS_NCOLS; c++) {
		void *p = realloc(v->cols[c].v.p, ncap * 8);
		if (!p)
			return -1;
		v->cols[c].v.p = p;
	}
	v->cap = ncap;
	return 0;
}

static void view_free(struct view *v)
{
	for (int c = 0; c < SS_NCOLS; c++)
		free(v->cols[c].v.p);
	free(v->acc);
	free(v->touched);
	free(v->buf);
	series_free(&v->s);
}

/* Writes one row. th or st may be NULL when aggregated away. */
static inline void view_row(struct view *v, size_t i, int64_t time, const struct thread_rec *th, uint32_t cpu,
			    const struct stack *st, int64_t count)
{
	v->cols[SS_TIME].v.i[i] = time;
	v->cols[SS_NODE].v.s[i] = v->r->node;
	v->cols[SS_PID].v.i[i] = th ? th->pid : 0;
	v->cols[SS_TID].v.i[i] = th ? th->tid : 0;
	v->cols[SS_CGROUP].v.i[i] = th ? th->cgroup : 0;
	v->cols[SS_COMM].v.s[i] = th ? th->comm : "";
	v->cols[SS_CPU].v.i[i] = cpu;
	v->cols[SS_STACK].v.k[i] = st ? st : &no_stack;
	v->cols[SS_COUNT].v.i[i] = count;
}

/* A time inside [t0, t1) for collapsed rows, so exact time filters downstream keep them. */
static int64_t collapsed_time(const struct view *v, const struct ring_batch *b)
{
	int64_t t = b->tmin > v->t0 ? b->tmin : v->t0;
	return t < v->t1 ? t : v->t1 - 1;
}

static inline void acc_add(struct view *v, uint32_t id, uint64_t n)
{
	if (!v->acc[id])
		v->touched[v->ntouched++] = id;
	v->acc[id] += n;
}

/* Rows from the accumulators (one per touched id, all at time t), which it clears. */
static long acc_emit(struct view *v, int64_t t)
{
	if (view_reserve(v, v->ntouched) < 0)
		return -1;
	for (size_t k = 0; k < v->ntouched; k++) {
		uint32_t id = v->touched[k];
		if (v->proj == PROJ_STACK)
			view_row(v, k, t, NULL, 0, intern_stack_by_id(v->r->intern, id), (int64_t)v->acc[id]);
		else
			view_row(v, k, t, intern_thread_by_id(v->r->intern, id), 0, NULL, (int64_t)v->acc[id]);
		v->acc[id] = 0;
	}
	long n = (long)v->ntouched;
	v->ntouched = 0;
	return n;
}

static long view_hot(struct view *v, const struct ring_batch *b, size_t nrows)
{
	const struct ring *r = v->r;
	if (v->proj == PROJ_STACK || v->proj == PROJ_THREAD) {
		for (size_t i = 0; i < nrows; i++) {
			const struct hot_chunk *c = b->chunks[i / HOT_CHUNK];
			size_t k = i % HOT_CHUNK;
			if (c->time[k] >= v->t0 && c->time[k] < v->t1)
				acc_add(v, v->proj == PROJ_STACK ? c->stack[k] : c->thread[k], c->count[k]);
		}
		return 0;
	}
	if (view_reserve(v, nrows) < 0)
		return -1;
	for (size_t i = 0; i < nrows; i++) {
		const struct hot_chunk *c = b->chunks[i / HOT_CHUNK];
		size_t k = i % HOT_CHUNK;
		view_row(v, i, c->time[k], intern_thread_by_id(r->intern, c->thread[k]), c->cpu[k],
			 intern_stack_by_id(r->intern, c->stack[k]), c->count[k]);
	}
	return (long)nrows;
}

/* A whole sealed batch's rollups into the accumulators (PROJ_STACK or PROJ_THREAD). */
static int view_rollup(struct view *v, const struct ring_batch *b)
{
	uint8_t *raw = scratch(&v->buf, &v->buf_cap, b->roll_len + 1);
	if (!raw)
		return -1;
	size_t got = ZSTD_decompress(raw, b->roll_len, b->zroll, b->zroll_len);
	if (ZSTD_isError(got) || got != b->roll_len)
		return -1;
	const uint8_t *p = raw, *end = raw + b->roll_len;
	uint32_t n = v->proj == PROJ_STACK ? b->nstacks : b->nthreads;
	uint64_t d, total, id = 0;
	if (v->proj == PROJ_THREAD) /* skip the stack section */
		for (uint32_t i = 0; i < b->nstacks; i++)
			if (!get_varint(&p, end, &d) || !get_varint(&p, end, &total))
				return -1;
	for (uint32_t i = 0; i < n; i++) {
		if (!get_varint(&p, end, &d) || !get_varint(&p, end, &total))
			return -1;
		id += d;
		if (id >= v->acc_cap)
			return -1;
		acc_add(v, (uint32_t)id, total);
	}
	return 0;
}

/* A sealed batch: every point (PROJ_ROWS), or per series / stack / thread sums over [t0, t1). */
static long view_sealed(struct view *v, const struct ring_batch *b)
{
	const struct ring *r = v->r;
	bool whole = b->tmin >= v->t0 && b->tmax < v->t1;
	if (whole && (v->proj == PROJ_STACK || v->proj == PROJ_THREAD))
		return view_rollup(v, b) < 0 ? -1 : 0;
	struct series *se = &v->s;
	uint8_t *pts = NULL;
	long rows = -1;
	if (decode_series(b, se) < 0)
		return -1;
	if (whole && v->proj == PROJ_SERIES) {
		if (view_reserve(v, se->n) < 0)
			goto out;
		int64_t t = collapsed_time(v, b);
		for (uint32_t i = 0; i < se->n; i++)
			view_row(v, i, t, intern_thread_by_id(r->intern, se->thread[i]), se->cpu[i],
				 intern_stack_by_id(r->intern, se->stack[i]), (int64_t)se->total[i]);
		rows = se->n;
		goto out;
	}
	if (!(pts = scratch(&v->buf, &v->buf_cap, b->pts_len + 1)))
		goto out;
	size_t got = ZSTD_decompress(pts, b->pts_len, b->zpts, b->zpts_len);
	if (ZSTD_isError(got) || got != b->pts_len || view_reserve(v, v->proj == PROJ_ROWS ? b->rows : se->n) < 0)
		goto out;
	/* The count column starts after every point's second delta. */
	const uint8_t *sp = pts, *end = pts + b->pts_len, *cp = pts;
	uint64_t v64;
	for (size_t i = 0; i < b->rows; i++)
		if (!get_varint(&cp, end, &v64))
			goto out;
	size_t out = 0;
	int64_t ct = collapsed_time(v, b);
	for (uint32_t i = 0; i < se->n; i++) {
		const struct stack *st = intern_stack_by_id(r->intern, se->stack[i]);
		const struct thread_rec *th = intern_thread_by_id(r->intern, se->thread[i]);
		uint64_t sec = 0, cnt, sum = 0;
		for (uint32_t k = 0; k < se->npoints[i]; k++) {
			uint64_t d;
			if (!get_varint(&sp, end, &d) || !get_varint(&cp, end, &cnt))
				goto out;
			sec += d;
			int64_t t = (b->base_sec + (int64_t)sec) * 1000000000LL;
			if (v->proj == PROJ_ROWS)
				view_row(v, out++, t, th, se->cpu[i], st, (int64_t)cnt);
			else if (t >= v->t0 && t < v->t1)
				sum += cnt;
		}
		if (!sum)
			continue;
		if (v->proj == PROJ_SERIES)
			view_row(v, out++, ct, th, se->cpu[i], st, (int64_t)sum);
		else
			acc_add(v, v->proj == PROJ_STACK ? se->stack[i] : se->thread[i], sum);
	}
	rows = v->proj == PROJ_STACK || v->proj == PROJ_THREAD ? 0 : (long)out;
out:
	return rows;
}

/* ring_stats: one row describing the stack_samples table. */
static int scan_stats(struct ring *r, int (*chunk)(void *arg, const struct table *rows), void *arg)
{
	const struct table *schema = catalog_schema("ring_stats");
	struct ring_stats st;
	struct column cols[RS_NCOLS];
	union {
		int64_t i;
		double f;
		const char *s;
	} vals[RS_NCOLS];
	ring_get_stats(r, &st);
	int64_t ints[RS_NCOLS] = {
		[RS_BYTES] = (int64_t)st.bytes, [RS_BUDGET] = (int64_t)st.budget, [RS_ROWS] = (int64_t)st.rows,
		[RS_SAMPLES] = (int64_t)st.samples, [RS_OLDEST] = st.oldest_ns, [RS_NEWEST] = st.newest_ns,
		[RS_EVICTED_ROWS] = (int64_t)st.evicted_rows, [RS_EVICTED_SAMPLES] = (int64_t)st.evicted_samples,
		[RS_BATCHES] = (int64_t)st.batches, [RS_STACKS] = (int64_t)st.stacks, [RS_THREADS] = (int64_t)st.threads,
	};
	for (int c = 0; c < RS_NCOLS; c++) {
		cols[c] = (struct column){schema->cols[c].name, schema->cols[c].type, {.p = &vals[c]}};
		vals[c].i = ints[c];
	}
	vals[RS_NODE].s = r->node;
	vals[RS_TABLE].s = "stack_samples";
	vals[RS_COMPRESSION].f = st.compression;
	struct table view = {.name = (char *)"ring_stats", .ncols = RS_NCOLS, .cols = cols, .nrows = 1, .cap = 1,
			     .borrowed = true};
	return chunk(arg, &view) < 0 ? -1 : 0;
}

int ring_scan(void *ring, const char *table, int64_t t0, int64_t t1, int flags, scan_chunk_fn *chunk, void *arg)
{
	struct ring *r = ring;
	if (table && strcmp(table, "ring_stats") == 0)
		return scan_stats(r, chunk, arg);
	struct ring_batch **pinned = NULL;
	size_t *visible = NULL, n = 0, cap = 0;
	struct view v = {.r = r, .t0 = t0, .t1 = t1, .proj = projection_of(flags)};
	int rc = 0;

	if (!table || strcmp(table, "stack_samples") != 0)
		return -1;
	const struct table *schema = catalog_schema("stack_samples");
	for (int c = 0; c < SS_NCOLS; c++) {
		v.cols[c].name = schema->cols[c].name;
		v.cols[c].type = schema->cols[c].type;
	}
	pthread_mutex_lock(&r->lock);
	uint32_t ids = v.proj == PROJ_STACK ? intern_stack_id_limit(r->intern) : intern_thread_id_limit(r->intern);
	for (struct ring_batch *b = r->oldest; b; b = b->newer) {
		if (b->rows == 0 || b->tmax < t0 || b->tmin >= t1)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct ring_batch **p1 = realloc(pinned, ncap * sizeof(*p1));
			if (p1)
				pinned = p1;
			size_t *p2 = p1 ? realloc(visible, ncap * sizeof(*p2)) : NULL;
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
		visible[n++] = b->rows;
	}
	pthread_mutex_unlock(&r->lock);

	if (v.proj == PROJ_STACK || v.proj == PROJ_THREAD) {
		v.acc_cap = ids ? ids : 1;
		v.acc = calloc(v.acc_cap, sizeof(*v.acc));
		v.touched = malloc(v.acc_cap * sizeof(*v.touched));
		if (!v.acc || !v.touched)
			rc = -1;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct ring_batch *b = pinned[i];
		long rows = b->sealed ? view_sealed(&v, b) : view_hot(&v, b, visible[i]);
		if (rows < 0) {
			rc = -1;
			break;
		}
		struct table view = {.name = (char *)"stack_samples", .ncols = SS_NCOLS, .cols = v.cols,
				     .nrows = (size_t)rows, .cap = v.cap, .borrowed = true};
		if (rows)
			rc = chunk(arg, &view);
	}
	/* Stack and thread projections accumulate over every batch and come out as one chunk. */
	if (rc == 0 && n && v.ntouched) {
		long rows = acc_emit(&v, collapsed_time(&v, pinned[0]));
		struct table view = {.name = (char *)"stack_samples", .ncols = SS_NCOLS, .cols = v.cols,
				     .nrows = rows < 0 ? 0 : (size_t)rows, .cap = v.cap, .borrowed = true};
		rc = rows < 0 ? -1 : chunk(arg, &view);
	}

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++)
		batch_unpin(r, pinned[i]);
	pthread_mutex_unlock(&r->lock);
	view_free(&v);
	free(pinned);
	free(visible);
	return rc < 0 ? -1 : 0;
}

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
