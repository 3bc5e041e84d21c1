/* ring_seal.c - the sealed batch format, both ways: sealing (sort a hot batch's rows into
 * 1-second points of series, encode them column by column, compress, roll up) and decoding the
 * series headers back (scans, snapshots, reference release). The lock is never held here: a
 * batch being sealed is detached, and a sealed batch never changes.
 *
 * Sealed batch encoding (both streams zstd-compressed, varints little-endian base 128):
 *
 *   headers: for each series, sorted by (thread, cpu, stack), five columns one after another:
 *            thread id delta | cpu | stack id | points | total count
 *   points:  for each series in the same order, its points' second offsets (delta from the
 *            previous point of the series; the first from the batch's base second), then all
 *            points' counts in the same order, then (batches with has_value) all their values.
 *   rollups: the batch's total per stack (stack id delta, total; sorted by id), then per thread
 *            (thread id delta, total): what a day-long "top stacks" or "top processes" reads
 *            instead of every series.
 *
 * A series' points are strictly increasing seconds, so deltas are >= 1 after the first. */
#include "ring_internal.h"

#include <assert.h>
#include <sys/mman.h>
#include <zstd.h>

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

/* Compresses in into a new malloc'd buffer. 0 or -1. */
static int ring_compress(void **out, size_t *out_len, const void *in, size_t in_len)
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
struct ring_batch *seal_points(struct point *pts, size_t n, bool has_value, int64_t base_sec, int64_t tmin,
			       int64_t tmax)
{
	struct ring_batch *s = calloc(1, sizeof(*s));
	struct buf hdr = {0}, cols[4] = {{0}}, secs = {0}, cnts = {0}, vals = {0}, roll = {0};
	void *zh = NULL, *zp = NULL, *zr = NULL;
	if (!s)
		goto fail;
	s->sealed = true;
	s->has_value = has_value;
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
		if (np && pts[np - 1].key == pts[i].key && pts[np - 1].sec == pts[i].sec) {
			pts[np - 1].count += pts[i].count;
			pts[np - 1].value += pts[i].value;
		} else
			pts[np++] = pts[i];
	}
	size_t ns = 0;
	for (size_t i = 0; i < np; i++)
		ns += !i || pts[i].key != pts[i - 1].key;
	for (int c = 0; c < 4; c++)
		if (buf_reserve(&cols[c], ns * 10 + 16) < 0)
			goto fail;
	if (buf_reserve(&hdr, ns * 10 * 5 + 16) < 0 || buf_reserve(&secs, np * 10 + 16) < 0 ||
	    buf_reserve(&cnts, np * 10 + 16) < 0 || (has_value && buf_reserve(&vals, np * 10 + 16) < 0))
		goto fail;
	uint64_t prev_thread = 0;
	for (size_t i = 0; i < np;) {
		size_t j = i;
		uint64_t total = 0;
		uint32_t prev_sec = 0;
		for (; j < np && pts[j].key == pts[i].key; j++) {
			assert(j == i || pts[j].sec > prev_sec); /* merged and sorted: strictly increasing */
			put_varint(&secs, pts[j].sec - prev_sec);
			prev_sec = pts[j].sec;
			put_varint(&cnts, pts[j].count);
			if (has_value)
				put_varint(&vals, pts[j].value);
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
	if (buf_reserve(&secs, cnts.len + vals.len) < 0)
		goto fail;
	memcpy(secs.p + secs.len, cnts.p, cnts.len);
	secs.len += cnts.len;
	if (vals.len)
		memcpy(secs.p + secs.len, vals.p, vals.len);
	secs.len += vals.len;
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
	free(vals.p);
	for (int c = 0; c < 4; c++)
		free(cols[c].p);
	return s;
}

struct ring_batch *batch_seal(const struct ring_batch *h)
{
	size_t n = h->nrow_ids;
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
		pts[i].value = h->has_value ? (uint64_t)h->values[i / HOT_CHUNK][k] : 0;
	}
	struct ring_batch *s = seal_points(pts, n, h->has_value, base_sec, h->tmin, h->tmax);
	free(pts);
	if (s) {
		s->first_row = h->first_row;
		s->nrow_ids = h->nrow_ids;
	}
	return s;
}
