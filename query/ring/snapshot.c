/* snapshot.c - writing and loading snapshot files (see snapshot.h). */
#include "snapshot.h"
#include "core/intern.h"
#include "ring_internal.h"
#include "core/clock.h"
#include "core/hashmap.h"
#include "core/mpack.h"

#include <errno.h>
#include <stdio.h>
#include <zlib.h>
#include <zstd.h>

#define MAGIC "WISPSNAP"
#define VERSION 2 /* 1: stack_samples only, in the top map (still read) */
#define HEADER_BYTES 16
#define MAX_DECOMPRESSED (4ull << 30)

static int fail(char *err, size_t errlen, const char *fmt, const char *detail)
{
	snprintf(err, errlen, fmt, detail ? detail : "");
	return -1;
}

/* ---- writing --------------------------------------------------------------------------------- */

/* Packs ring r's part of a snapshot over [t0, t1) into pk: a map {"table", "strings", "stacks",
 * "threads", "batches"}. 0, or -1 with a message (pk then holds a partial map: discard it). */
static int pack_table(struct ring *r, int64_t t0, int64_t t1, msgpack_packer *pk, char *err, size_t errlen)
{
	struct ring_batch **pinned = NULL;
	size_t n = 0, cap = 0;
	int32_t *stack_local = NULL, *thread_local = NULL;
	uint32_t *stack_ring = NULL, *thread_ring = NULL;
	struct hashmap strs; /* frame and comm strings by pointer: interned, one pointer per content */
	int rc = -1;
	uint32_t nst = 0, nth = 0;

	hashmap_init(&strs, false);
	if (ring_flush(r) < 0) {
		fail(err, errlen, "snapshot: cannot seal the newest batch (out of memory)", NULL);
		goto out;
	}
	pthread_mutex_lock(&r->lock);
	uint32_t slimit = intern_stack_id_limit(r->intern), tlimit = intern_thread_id_limit(r->intern);
	for (struct ring_batch *b = r->oldest; b; b = b->newer) {
		if (!b->sealed || b->rows == 0 || b->tmax < t0 || b->tmin >= t1)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct ring_batch **p = realloc(pinned, cap * sizeof(*p));
			if (!p)
				break;
			pinned = p;
		}
		b->pins++;
		pinned[n++] = b;
	}
	pthread_mutex_unlock(&r->lock);
	stack_local = malloc((slimit + 1) * sizeof(int32_t));
	thread_local = malloc((tlimit + 1) * sizeof(int32_t));
	stack_ring = malloc((slimit + 1) * sizeof(uint32_t));
	thread_ring = malloc((tlimit + 1) * sizeof(uint32_t));
	if (!stack_local || !thread_local || !stack_ring || !thread_ring) {
		fail(err, errlen, "snapshot: out of memory", NULL);
		goto out;
	}
	memset(stack_local, 0xff, (slimit + 1) * sizeof(int32_t));
	memset(thread_local, 0xff, (tlimit + 1) * sizeof(int32_t));
	/* Referenced ids, then local ids by rank: the mapping keeps the order, so the series order
	 * (and the thread deltas) of every batch stay valid. */
	for (size_t i = 0; i < n; i++) {
		struct series s = {0};
		if (decode_series(pinned[i], &s) < 0) {
			series_free(&s);
			fail(err, errlen, "snapshot: corrupt batch in the ring", NULL);
			goto out;
		}
		for (uint32_t k = 0; k < s.n; k++) {
			stack_local[s.stack[k]] = 0;
			thread_local[s.thread[k]] = 0;
		}
		series_free(&s);
	}
	for (uint32_t id = 0; id < slimit; id++)
		if (stack_local[id] == 0) {
			stack_ring[nst] = id;
			stack_local[id] = (int32_t)nst++;
		}
	for (uint32_t id = 0; id < tlimit; id++)
		if (thread_local[id] == 0) {
			thread_ring[nth] = id;
			thread_local[id] = (int32_t)nth++;
		}
	for (uint32_t i = 0; i < nst; i++) {
		const struct stack *st = intern_stack_by_id(r->intern, stack_ring[i]);
		for (int f = 0; f < st->nframes; f++)
			if (hashmap_index(&strs, st->frames[f]) < 0)
				goto oom;
	}
	for (uint32_t i = 0; i < nth; i++) {
		const struct thread_rec *th = intern_thread_by_id(r->intern, thread_ring[i]);
		if (hashmap_index(&strs, th->comm) < 0 || hashmap_index(&strs, th->container) < 0 ||
		    hashmap_index(&strs, th->pod) < 0 || hashmap_index(&strs, th->namespace) < 0)
			goto oom;
	}

	msgpack_pack_map(pk, 5);
	mp_pack_str(pk, "table"); mp_pack_str(pk, ring_table_name(r));
	mp_pack_str(pk, "strings");
	msgpack_pack_array(pk, strs.count);
	for (size_t i = 0; i < strs.count; i++)
		mp_pack_str(pk, strs.order[i]);
	mp_pack_str(pk, "stacks");
	msgpack_pack_array(pk, nst);
	for (uint32_t i = 0; i < nst; i++) {
		const struct stack *st = intern_stack_by_id(r->intern, stack_ring[i]);
		msgpack_pack_array(pk, 1 + st->nframes);
		msgpack_pack_uint32(pk, st->nkernel);
		for (int f = 0; f < st->nframes; f++)
			msgpack_pack_uint32(pk, (uint32_t)hashmap_index(&strs, st->frames[f]));
	}
	mp_pack_str(pk, "threads");
	msgpack_pack_array(pk, nth);
	for (uint32_t i = 0; i < nth; i++) {
		const struct thread_rec *th = intern_thread_by_id(r->intern, thread_ring[i]);
		msgpack_pack_array(pk, 7);
		msgpack_pack_int64(pk, th->pid);
		msgpack_pack_int64(pk, th->tid);
		msgpack_pack_int64(pk, th->cgroup);
		msgpack_pack_uint32(pk, (uint32_t)hashmap_index(&strs, th->comm));
		msgpack_pack_uint32(pk, (uint32_t)hashmap_index(&strs, th->container));
		msgpack_pack_uint32(pk, (uint32_t)hashmap_index(&strs, th->pod));
		msgpack_pack_uint32(pk, (uint32_t)hashmap_index(&strs, th->namespace));
	}
	mp_pack_str(pk, "batches");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		const struct ring_batch *b = pinned[i];
		struct series s = {0};
		struct buf hdr = {0};
		uint8_t *pts = malloc(b->pts_len + 1);
		if (!pts || decode_series(b, &s) < 0) {
			free(pts);
			series_free(&s);
			goto oom;
		}
		size_t got = ZSTD_decompress(pts, b->pts_len, b->zpts, b->zpts_len);
		if (ZSTD_isError(got) || got != b->pts_len || buf_reserve(&hdr, (size_t)s.n * 50 + 16) < 0) {
			free(pts);
			free(hdr.p);
			series_free(&s);
			goto oom;
		}
		uint32_t prev = 0;
		for (uint32_t k = 0; k < s.n; k++) {
			uint32_t th = (uint32_t)thread_local[s.thread[k]];
			put_varint(&hdr, th - prev);
			prev = th;
		}
		for (uint32_t k = 0; k < s.n; k++)
			put_varint(&hdr, s.cpu[k]);
		for (uint32_t k = 0; k < s.n; k++)
			put_varint(&hdr, (uint32_t)stack_local[s.stack[k]]);
		for (uint32_t k = 0; k < s.n; k++)
			put_varint(&hdr, s.npoints[k]);
		for (uint32_t k = 0; k < s.n; k++)
			put_varint(&hdr, s.total[k]);
		msgpack_pack_array(pk, 7);
		msgpack_pack_int64(pk, b->tmin);
		msgpack_pack_int64(pk, b->tmax);
		msgpack_pack_int64(pk, b->base_sec);
		msgpack_pack_uint32(pk, s.n);
		msgpack_pack_uint64(pk, b->rows);
		mp_pack_bin(pk, hdr.p, hdr.len);
		mp_pack_bin(pk, pts, b->pts_len);
		free(pts);
		free(hdr.p);
		series_free(&s);
	}
	rc = 0;
	goto out;
oom:
	fail(err, errlen, "snapshot: out of memory", NULL);
out:
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++)
		batch_unpin(r, pinned[i]);
	pthread_mutex_unlock(&r->lock);
	free(pinned);
	free(stack_local);
	free(thread_local);
	free(stack_ring);
	free(thread_ring);
	hashmap_destroy(&strs);
	return rc;
}

int ring_set_snapshot(const struct ring_set *set, int64_t t0, int64_t t1, void **out, size_t *len, char *err,
		      size_t errlen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint8_t *frame = NULL;
	int rc = -1;

	*out = NULL;
	assert(set->n >= 1 && set->n <= RING_SET_MAX);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	mp_pack_str(&pk, "node"); mp_pack_str(&pk, set->rings[0]->node);
	mp_pack_str(&pk, "created_ns"); msgpack_pack_int64(&pk, wall_now_ns());
	mp_pack_str(&pk, "t0"); msgpack_pack_int64(&pk, t0);
	mp_pack_str(&pk, "t1"); msgpack_pack_int64(&pk, t1);
	mp_pack_str(&pk, "tables");
	msgpack_pack_array(&pk, (uint32_t)set->n);
	for (int i = 0; i < set->n; i++)
		if (pack_table(set->rings[i], t0, t1, &pk, err, errlen) < 0)
			goto out;
	/* Compress with zstd's content checksum, then the file header with a CRC of the frame. */
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	size_t bound = ZSTD_compressBound(sb.size);
	frame = malloc(HEADER_BYTES + bound);
	if (!cctx || !frame) {
		ZSTD_freeCCtx(cctx);
		fail(err, errlen, "snapshot: out of memory", NULL);
		goto out;
	}
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	size_t zl = ZSTD_compress2(cctx, frame + HEADER_BYTES, bound, sb.data, sb.size);
	ZSTD_freeCCtx(cctx);
	if (ZSTD_isError(zl)) {
		fail(err, errlen, "snapshot: compression failed: %s", ZSTD_getErrorName(zl));
		goto out;
	}
	memcpy(frame, MAGIC, 8);
	uint32_t version = VERSION, crc = (uint32_t)crc32(0, frame + HEADER_BYTES, (uInt)zl);
	memcpy(frame + 8, &version, 4);
	memcpy(frame + 12, &crc, 4);
	*out = frame;
	*len = HEADER_BYTES + zl;
	frame = NULL;
	rc = 0;
out:
	msgpack_sbuffer_destroy(&sb);
	free(frame);
	return rc;
}

int ring_snapshot(struct ring *r, int64_t t0, int64_t t1, void **out, size_t *len, char *err, size_t errlen)
{
	struct ring_set one = {{r}, 1};
	return ring_set_snapshot(&one, t0, t1, out, len, err, errlen);
}

/* ---- loading --------------------------------------------------------------------------------- */

/* One table of a snapshot on its way into its ring. */
struct loaded {
	struct ring *ring;          /* where it goes (a ring of the set) */
	const msgpack_object *sec;  /* its map in the file */
	bool has_value;             /* its rows carry a value (offcpu_samples) */
	bool clip;                  /* keep only the points of seconds [lo_sec, hi_sec) */
	int64_t lo_sec, hi_sec;
	struct stack **stacks;      /* the file's stacks, each holding one reference */
	struct thread_rec **threads; /* the file's threads, each holding one reference */
	uint32_t nstacks, nthreads;
	struct ring_batch **batches; /* decoded; pinned once each until they enter the ring */
	size_t nbatches;
};

static bool get_i64(const msgpack_object *o, int64_t *v)
{
	return mp_int(o, v);
}

static const msgpack_object *arr(const msgpack_object *o, uint32_t min, uint32_t max)
{
	if (!o || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < min || o->via.array.size > max)
		return NULL;
	return o;
}

/* A batch of the snapshot as a sealed batch with ring ids, or NULL: with *empty set when the clip
 * left nothing of it (not an error), else with a message. */
static struct ring_batch *load_batch(const msgpack_object *e, const struct loaded *L, bool *empty, char *err,
				     size_t errlen)
{
	int64_t tmin, tmax, base_sec, nseries, npoints;
	const msgpack_object *a = arr(e, 7, 7);
	struct point *pts = NULL;
	uint64_t *thr = NULL;
	struct ring_batch *b = NULL;
	if (!a || !get_i64(&a->via.array.ptr[0], &tmin) || !get_i64(&a->via.array.ptr[1], &tmax) ||
	    !get_i64(&a->via.array.ptr[2], &base_sec) || !get_i64(&a->via.array.ptr[3], &nseries) ||
	    !get_i64(&a->via.array.ptr[4], &npoints) || a->via.array.ptr[5].type != MSGPACK_OBJECT_BIN ||
	    a->via.array.ptr[6].type != MSGPACK_OBJECT_BIN) {
		fail(err, errlen, "snapshot: malformed batch", NULL);
		return NULL;
	}
	const msgpack_object_bin *hb = &a->via.array.ptr[5].via.bin, *pb = &a->via.array.ptr[6].via.bin;
	/* Each series and point takes at least one byte per column: bounds before allocating. */
	if (tmin > tmax || nseries < 0 || npoints < nseries || (uint64_t)nseries * 5 > hb->size ||
	    (uint64_t)npoints * 2 > pb->size || base_sec < -9223372036LL || base_sec > 9223372035LL ||
	    base_sec != tmin / 1000000000LL - (tmin < 0 && tmin % 1000000000LL)) {
		fail(err, errlen, "snapshot: inconsistent batch header", NULL);
		return NULL;
	}
	pts = malloc(((size_t)npoints + 1) * sizeof(*pts));
	thr = malloc(((size_t)nseries + 1) * 5 * sizeof(uint64_t));
	if (!pts || !thr) {
		fail(err, errlen, "snapshot: out of memory", NULL);
		goto out;
	}
	uint64_t *cpu = thr + nseries, *stk = cpu + nseries, *np = stk + nseries, *tot = np + nseries;
	uint64_t *cols[5] = {thr, cpu, stk, np, tot};
	const uint8_t *p = (const uint8_t *)hb->ptr, *end = p + hb->size;
	for (int c = 0; c < 5; c++)
		for (int64_t i = 0; i < nseries; i++)
			if (!get_varint(&p, end, &cols[c][i]))
				goto bad;
	if (p != end)
		goto bad;
	uint64_t th = 0, sum_points = 0;
	for (int64_t i = 0; i < nseries; i++) {
		th += thr[i];
		thr[i] = th;
		if (th >= L->nthreads || stk[i] >= L->nstacks || cpu[i] > MAX_CPU || np[i] == 0 || np[i] > (uint64_t)npoints)
			goto bad;
		sum_points += np[i];
	}
	if (sum_points != (uint64_t)npoints)
		goto bad;
	/* Cursors into the points: seconds (sp), counts (cp) and, in a table with values, values (vp). */
	const uint8_t *sp = (const uint8_t *)pb->ptr, *pend = sp + pb->size, *cp = sp, *vp;
	uint64_t v;
	for (int64_t i = 0; i < npoints; i++)
		if (!get_varint(&cp, pend, &v))
			goto bad;
	vp = cp;
	for (int64_t i = 0; L->has_value && i < npoints; i++) /* past the counts: the first value */
		if (!get_varint(&vp, pend, &v))
			goto bad;
	size_t k = 0;
	int64_t max_sec = (tmax / 1000000000LL) - base_sec;
	for (int64_t i = 0; i < nseries; i++) {
		uint64_t sec = 0, total = 0;
		for (uint64_t j = 0; j < np[i]; j++) {
			uint64_t d, cnt, val = 0;
			if (!get_varint(&sp, pend, &d) || !get_varint(&cp, pend, &cnt) || cnt == 0 || cnt > UINT32_MAX ||
			    (L->has_value && (!get_varint(&vp, pend, &val) || val > INT64_MAX)))
				goto bad;
			sec += d;
			if (sec > (uint64_t)max_sec || (j > 0 && d == 0))
				goto bad;
			total += cnt;
			pts[k++] = (struct point){seal_key(L->threads[thr[i]]->id, (uint32_t)cpu[i], L->stacks[stk[i]]->id),
						  (uint32_t)sec, (uint32_t)cnt, val};
		}
		if (total != tot[i])
			goto bad;
	}
	if ((L->has_value ? vp : cp) != pend)
		goto bad;
	if (L->clip) { /* the points of the clip's seconds, rebased on its first */
		int64_t lo = base_sec > L->lo_sec ? base_sec : L->lo_sec;
		size_t w = 0;
		for (size_t i = 0; i < k; i++) {
			int64_t at = base_sec + (int64_t)pts[i].sec;
			if (at >= L->lo_sec && at < L->hi_sec) {
				pts[w] = pts[i];
				pts[w++].sec = (uint32_t)(at - lo);
			}
		}
		if (!(k = w)) {
			*empty = true;
			goto out;
		}
		if (lo > base_sec)
			tmin = lo * 1000000000LL;
		if (tmax >= L->hi_sec * 1000000000LL)
			tmax = L->hi_sec * 1000000000LL - 1;
		base_sec = lo;
	}
	b = seal_points(pts, k, L->has_value, base_sec, tmin, tmax);
	if (!b)
		fail(err, errlen, "snapshot: out of memory", NULL);
	goto out;
bad:
	fail(err, errlen, "snapshot: corrupt batch data", NULL);
out:
	free(pts);
	free(thr);
	return b;
}

/* The file's strings, stacks and threads of table L into L's ring (references held by L), then
 * its batches decoded (not yet in the ring). 0, or -1 with a message. */
static int load_table(struct loaded *L, char *err, size_t errlen)
{
	struct ring *r = L->ring;
	const msgpack_object *strs = arr(mp_get(L->sec, "strings"), 0, 1u << 26),
			     *stacks = arr(mp_get(L->sec, "stacks"), 0, 1u << 24),
			     *threads = arr(mp_get(L->sec, "threads"), 0, 1u << 22),
			     *batches = arr(mp_get(L->sec, "batches"), 0, 1u << 24);
	if (!strs || !stacks || !threads || !batches)
		return fail(err, errlen, "snapshot is corrupted (missing tables)", NULL);
	for (uint32_t i = 0; i < strs->via.array.size; i++)
		if (strs->via.array.ptr[i].type != MSGPACK_OBJECT_STR)
			return fail(err, errlen, "snapshot is corrupted (bad string table)", NULL);
	L->stacks = calloc(stacks->via.array.size + 1, sizeof(*L->stacks));
	L->threads = calloc(threads->via.array.size + 1, sizeof(*L->threads));
	L->batches = calloc(batches->via.array.size + 1, sizeof(*L->batches));
	if (!L->stacks || !L->threads || !L->batches)
		return fail(err, errlen, "snapshot: out of memory", NULL);
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < stacks->via.array.size; i++) {
		const msgpack_object *s = arr(&stacks->via.array.ptr[i], 1, 1 + STACK_MAX_FRAMES);
		const char *frames[STACK_MAX_FRAMES];
		int64_t nk, idx;
		if (!s || !get_i64(&s->via.array.ptr[0], &nk) || nk < 0 || nk > (int64_t)s->via.array.size - 1)
			break;
		uint32_t nf = s->via.array.size - 1, f;
		for (f = 0; f < nf; f++) {
			if (!get_i64(&s->via.array.ptr[1 + f], &idx) || idx < 0 || idx >= strs->via.array.size)
				break;
			const msgpack_object_str *str = &strs->via.array.ptr[idx].via.str;
			if (!(frames[f] = intern_strn(r->intern, str->ptr, str->size)))
				break;
		}
		if (f < nf || !(L->stacks[i] = intern_stack(r->intern, frames, (uint16_t)nf, (uint16_t)nk)))
			break;
		L->nstacks++;
	}
	for (uint32_t i = 0; L->nstacks == stacks->via.array.size && i < threads->via.array.size; i++) {
		/* [pid, tid, cgroup, comm, container, pod, namespace]; files written before the
		 * Kubernetes names have the first four. */
		const msgpack_object *t = arr(&threads->via.array.ptr[i], 4, 7);
		int64_t pid, tid, cg, idx;
		char names[4][256];
		uint32_t nnames = t ? t->via.array.size - 3 : 0, f;
		if (!t || (nnames != 1 && nnames != 4) || !get_i64(&t->via.array.ptr[0], &pid) ||
		    !get_i64(&t->via.array.ptr[1], &tid) || !get_i64(&t->via.array.ptr[2], &cg))
			break;
		for (f = 0; f < 4; f++) {
			names[f][0] = '\0';
			if (f >= nnames)
				continue;
			if (!get_i64(&t->via.array.ptr[3 + f], &idx) || idx < 0 || idx >= strs->via.array.size)
				break;
			mp_str(&strs->via.array.ptr[idx], names[f], sizeof(names[f]));
		}
		struct thread_key key = {pid, tid, cg, names[0], names[1], names[2], names[3]};
		if (f < 4 || !(L->threads[i] = intern_thread(r->intern, &key)))
			break;
		L->nthreads++;
	}
	pthread_mutex_unlock(&r->lock);
	if (L->nstacks != stacks->via.array.size || L->nthreads != threads->via.array.size)
		return fail(err, errlen, "snapshot is corrupted (bad stack or thread table)", NULL);
	/* Batches, outside the lock. */
	for (uint32_t i = 0; i < batches->via.array.size; i++) {
		bool empty = false;
		struct ring_batch *b = load_batch(&batches->via.array.ptr[i], L, &empty, err, errlen);
		if (!b && !empty)
			return -1;
		if (b)
			L->batches[L->nbatches++] = b;
	}
	return 0;
}

/* Releases what L holds: batches that did not enter the ring, and its records' references. */
static void loaded_free(struct loaded *L)
{
	if (!L->ring)
		return;
	pthread_mutex_lock(&L->ring->lock);
	for (size_t i = 0; i < L->nbatches; i++)
		if (L->batches[i])
			batch_unpin(L->ring, L->batches[i]);
	for (uint32_t i = 0; i < L->nstacks; i++)
		intern_stack_unref(L->ring->intern, L->stacks[i]);
	for (uint32_t i = 0; i < L->nthreads; i++)
		intern_thread_unref(L->ring->intern, L->threads[i]);
	pthread_mutex_unlock(&L->ring->lock);
	free(L->stacks);
	free(L->threads);
	free(L->batches);
}

/* The first whole second at or after ns. */
static int64_t ceil_sec(int64_t ns)
{
	return ns / 1000000000LL + (ns % 1000000000LL > 0);
}

/* The ring of set keeping table name, or NULL. */
static struct ring *ring_for(const struct ring_set *set, const char *name)
{
	for (int i = 0; i < set->n; i++)
		if (!strcmp(ring_table_name(set->rings[i]), name))
			return set->rings[i];
	return NULL;
}

int ring_set_load_snapshot_range(const struct ring_set *set, const void *buf, size_t len, int64_t t0, int64_t t1,
				 char *err, size_t errlen)
{
	const uint8_t *in = buf;
	struct loaded L[RING_SET_MAX] = {0};
	int nl = 0, rc = -1;
	bool clip = t0 != INT64_MIN || t1 != INT64_MAX;
	int64_t lo_sec = 0, hi_sec = 0;
	if (clip) {
		lo_sec = t0 == INT64_MIN ? INT64_MIN / 1000000000LL : ceil_sec(t0);
		hi_sec = t1 == INT64_MAX ? INT64_MAX / 1000000000LL : ceil_sec(t1);
	}
	msgpack_unpacked u;
	void *body = NULL;
	uint32_t version, crc;

	if (len < HEADER_BYTES || memcmp(in, MAGIC, 8) != 0)
		return fail(err, errlen, "not a Wisp snapshot (bad magic)", NULL);
	if (len > SNAPSHOT_MAX_BYTES)
		return fail(err, errlen, "snapshot too large", NULL);
	memcpy(&version, in + 8, 4);
	memcpy(&crc, in + 12, 4);
	if (version < 1 || version > VERSION) {
		char v[32];
		snprintf(v, sizeof(v), "%u", version);
		return fail(err, errlen, "unsupported snapshot version %s", v);
	}
	if ((uint32_t)crc32(0, in + HEADER_BYTES, (uInt)(len - HEADER_BYTES)) != crc)
		return fail(err, errlen, "snapshot is corrupted (checksum mismatch)", NULL);
	unsigned long long size = ZSTD_getFrameContentSize(in + HEADER_BYTES, len - HEADER_BYTES);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > MAX_DECOMPRESSED)
		return fail(err, errlen, "snapshot is corrupted (bad compressed frame)", NULL);
	if (!(body = malloc(size ? size : 1)))
		return fail(err, errlen, "snapshot: out of memory", NULL);
	msgpack_unpacked_init(&u);
	size_t got = ZSTD_decompress(body, size, in + HEADER_BYTES, len - HEADER_BYTES);
	if (ZSTD_isError(got) || got != size) {
		fail(err, errlen, "snapshot is corrupted (%s)", ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
		goto out;
	}
	if (!mp_unpack(&u, body, size) || u.data.type != MSGPACK_OBJECT_MAP) {
		fail(err, errlen, "snapshot is corrupted (bad structure)", NULL);
		goto out;
	}
	/* Version 1 holds stack_samples in the top map; version 2 a list of tables. */
	const msgpack_object *tables = version == 1 ? &u.data : arr(mp_get(&u.data, "tables"), 1, RING_SET_MAX);
	uint32_t ntables = version == 1 ? 1 : tables ? tables->via.array.size : 0;
	if (!tables) {
		fail(err, errlen, "snapshot is corrupted (missing tables)", NULL);
		goto out;
	}
	for (uint32_t i = 0; i < ntables; i++) {
		const msgpack_object *sec = version == 1 ? &u.data : &tables->via.array.ptr[i];
		char name[64] = "stack_samples";
		if (sec->type != MSGPACK_OBJECT_MAP || (version > 1 && !mp_str(mp_get(sec, "table"), name, sizeof(name)))) {
			fail(err, errlen, "snapshot is corrupted (a table without a name)", NULL);
			goto out;
		}
		struct ring *r = ring_for(set, name);
		if (!r) {
			const msgpack_object *b = arr(mp_get(sec, "batches"), 0, 0);
			if (b)
				continue; /* no rows of it to keep */
			fail(err, errlen, "snapshot: it holds %s, which no ring here keeps", name);
			goto out;
		}
		for (int k = 0; k < nl; k++)
			if (L[k].ring == r) {
				fail(err, errlen, "snapshot is corrupted (a table twice)", NULL);
				goto out;
			}
		L[nl] = (struct loaded){.ring = r, .sec = sec, .has_value = r->table == RING_OFFCPU_SAMPLES,
					.clip = clip, .lo_sec = lo_sec, .hi_sec = hi_sec};
		if (load_table(&L[nl++], err, errlen) < 0)
			goto out;
	}
	/* Every batch takes its references before any enters a ring, so a failure leaves the rings
	 * as they were (a batch that holds references releases them when it is freed). */
	for (int k = 0; k < nl; k++) {
		pthread_mutex_lock(&L[k].ring->lock);
		size_t held = 0;
		while (held < L[k].nbatches && ring_batch_take_refs(L[k].ring, L[k].batches[held]) == 0)
			held++;
		pthread_mutex_unlock(&L[k].ring->lock);
		if (held < L[k].nbatches) {
			fail(err, errlen, "snapshot: out of memory", NULL);
			goto out;
		}
	}
	for (int k = 0; k < nl; k++) {
		pthread_mutex_lock(&L[k].ring->lock);
		for (size_t i = 0; i < L[k].nbatches; i++) {
			ring_insert_sealed(L[k].ring, L[k].batches[i]);
			L[k].batches[i] = NULL;
		}
		pthread_mutex_unlock(&L[k].ring->lock);
	}
	rc = 0;
out:
	for (int k = 0; k < nl; k++)
		loaded_free(&L[k]);
	msgpack_unpacked_destroy(&u);
	free(body);
	return rc;
}

int ring_load_snapshot_range(struct ring *r, const void *buf, size_t len, int64_t t0, int64_t t1, char *err,
			     size_t errlen)
{
	struct ring_set one = {{r}, 1};
	return ring_set_load_snapshot_range(&one, buf, len, t0, t1, err, errlen);
}

int ring_load_snapshot(struct ring *r, const void *buf, size_t len, char *err, size_t errlen)
{
	return ring_load_snapshot_range(r, buf, len, INT64_MIN, INT64_MAX, err, errlen);
}

/* ---- files ----------------------------------------------------------------------------------- */

int ring_set_load_snapshot_file(const struct ring_set *set, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	char *buf = NULL;
	long n = -1;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && (size_t)n <= SNAPSHOT_MAX_BYTES &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc(n ? n : 1)) && fread(buf, 1, n, f) == (size_t)n) {
		fclose(f);
		char inner[400];
		int rc = ring_set_load_snapshot_range(set, buf, (size_t)n, INT64_MIN, INT64_MAX, inner, sizeof(inner));
		if (rc < 0)
			snprintf(err, errlen, "%s: %s", path, inner);
		free(buf);
		return rc;
	}
	fclose(f);
	free(buf);
	snprintf(err, errlen, "cannot read %s%s", path, (size_t)n > SNAPSHOT_MAX_BYTES ? ": too large" : "");
	return -1;
}
