/* ring_scan.c - reading the ring: pins the batches a scan overlaps, decodes them outside the
 * lock into borrowed chunks in catalog column order, and, for plans that only sum count,
 * collapses time (per series, per stack or per thread, from series totals or rollups). Also
 * the ring_stats table, and the set of an agent's rings scanned as one source. */
#include "ring_internal.h"
#include "core/catalog.h"
#include "core/intern.h"

#include <assert.h>
#include <zstd.h>

_Static_assert(SCAN_COLUMN_SHIFT + OC_NCOLS < 31, "a column bit for every stored column fits in the flags");
_Static_assert((int)OC_NCOLS == (int)SS_NCOLS + 1 && (int)OC_COUNT == (int)SS_NCOLS,
	       "offcpu_samples is stack_samples with the state for the cpu and blocked_ns before count");
#define MAX_NCOLS OC_NCOLS

/* What a time-collapsed scan may aggregate away (from the columns the plan reads). */
enum projection {
	PROJ_ROWS,   /* not collapsed: every row (hot) or point (sealed) */
	PROJ_SERIES, /* collapsed to (thread, cpu, stack) */
	PROJ_STACK,  /* collapsed to stacks: thread and cpu columns meaningless */
	PROJ_THREAD, /* collapsed to threads: cpu and stack meaningless */
};

/* Collapsing sums counts only (exec.c never collapses a plan that sums anything else): a plan
 * that reads offcpu_samples' blocked_ns at all gets every row. */
static enum projection projection_of(int flags, bool has_value)
{
	if (!(flags & SCAN_COLLAPSE_TIME))
		return PROJ_ROWS;
	int cols = flags >> SCAN_COLUMN_SHIFT;
	if (has_value && (!cols || (cols & (1 << OC_BLOCKED_NS))))
		return PROJ_ROWS;
	if (!cols)
		return PROJ_SERIES;
	bool thread = cols & ((1 << SS_PID) | (1 << SS_TID) | (1 << SS_COMM) | (1 << SS_CGROUP) |
			      (1 << SS_CONTAINER) | (1 << SS_POD) | (1 << SS_NAMESPACE));
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
	struct column cols[MAX_NCOLS];
	int ncols;          /* of the table scanned */
	uint64_t *acc;      /* per stack or thread id */
	uint32_t *touched;  /* ids with acc != 0 */
	size_t acc_cap, ntouched;
	const struct ring *r;
	bool has_value;     /* offcpu_samples: state and blocked_ns columns */
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
	for (int c = 0; c < v->ncols; c++) {
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
	for (int c = 0; c < MAX_NCOLS; c++)
		free(v->cols[c].v.p);
	free(v->acc);
	free(v->touched);
	free(v->buf);
	series_free(&v->s);
}

/* Writes one row. th or st may be NULL when aggregated away; value is offcpu_samples' blocked_ns
 * and cpu its state. */
static inline void view_row(struct view *v, size_t i, int64_t time, const struct thread_rec *th, uint32_t cpu,
			    const struct stack *st, int64_t count, int64_t value)
{
	v->cols[SS_TIME].v.i[i] = time;
	v->cols[SS_NODE].v.s[i] = v->r->node;
	v->cols[SS_PID].v.i[i] = th ? th->pid : 0;
	v->cols[SS_TID].v.i[i] = th ? th->tid : 0;
	v->cols[SS_CGROUP].v.i[i] = th ? th->cgroup : 0;
	v->cols[SS_COMM].v.s[i] = th ? th->comm : "";
	v->cols[SS_CONTAINER].v.s[i] = th ? th->container : "";
	v->cols[SS_POD].v.s[i] = th ? th->pod : "";
	v->cols[SS_NAMESPACE].v.s[i] = th ? th->namespace : "";
	v->cols[SS_STACK].v.k[i] = st ? st : &no_stack;
	if (v->has_value) {
		v->cols[OC_STATE].v.s[i] = catalog_offcpu_state(cpu);
		v->cols[OC_BLOCKED_NS].v.i[i] = value;
		v->cols[OC_COUNT].v.i[i] = count;
	} else {
		v->cols[SS_CPU].v.i[i] = cpu;
		v->cols[SS_COUNT].v.i[i] = count;
	}
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
			view_row(v, k, t, NULL, 0, intern_stack_by_id(v->r->intern, id), (int64_t)v->acc[id], 0);
		else
			view_row(v, k, t, intern_thread_by_id(v->r->intern, id), 0, NULL, (int64_t)v->acc[id], 0);
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
			 intern_stack_by_id(r->intern, c->stack[k]), c->count[k],
			 b->has_value ? b->values[i / HOT_CHUNK][k] : 0);
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
				 intern_stack_by_id(r->intern, se->stack[i]), (int64_t)se->total[i], 0);
		rows = se->n;
		goto out;
	}
	if (!(pts = scratch(&v->buf, &v->buf_cap, b->pts_len + 1)))
		goto out;
	size_t got = ZSTD_decompress(pts, b->pts_len, b->zpts, b->zpts_len);
	if (ZSTD_isError(got) || got != b->pts_len || view_reserve(v, v->proj == PROJ_ROWS ? b->rows : se->n) < 0)
		goto out;
	/* The count column starts after every point's second delta, the values after every count. */
	const uint8_t *sp = pts, *end = pts + b->pts_len, *cp = pts, *vp;
	uint64_t v64, val = 0;
	for (size_t i = 0; i < b->rows; i++)
		if (!get_varint(&cp, end, &v64))
			goto out;
	vp = cp;
	for (size_t i = 0; b->has_value && i < b->rows; i++)
		if (!get_varint(&vp, end, &v64))
			goto out;
	size_t out = 0;
	int64_t ct = collapsed_time(v, b);
	for (uint32_t i = 0; i < se->n; i++) {
		const struct stack *st = intern_stack_by_id(r->intern, se->stack[i]);
		const struct thread_rec *th = intern_thread_by_id(r->intern, se->thread[i]);
		uint64_t sec = 0, cnt, sum = 0;
		for (uint32_t k = 0; k < se->npoints[i]; k++) {
			uint64_t d;
			if (!get_varint(&sp, end, &d) || !get_varint(&cp, end, &cnt) ||
			    (b->has_value && !get_varint(&vp, end, &val)))
				goto out;
			sec += d;
			int64_t t = (b->base_sec + (int64_t)sec) * 1000000000LL;
			if (v->proj == PROJ_ROWS)
				view_row(v, out++, t, th, se->cpu[i], st, (int64_t)cnt, (int64_t)val);
			else if (t >= v->t0 && t < v->t1)
				sum += cnt;
		}
		if (!sum)
			continue;
		if (v->proj == PROJ_SERIES)
			view_row(v, out++, ct, th, se->cpu[i], st, (int64_t)sum, 0);
		else
			acc_add(v, v->proj == PROJ_STACK ? se->stack[i] : se->thread[i], sum);
	}
	rows = v->proj == PROJ_STACK || v->proj == PROJ_THREAD ? 0 : (long)out;
out:
	return rows;
}

/* ring_stats: one row describing the ring's table. */
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
	vals[RS_TABLE].s = ring_table_name(r);
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
	bool has_value = r->table == RING_OFFCPU_SAMPLES;
	struct view v = {.r = r, .t0 = t0, .t1 = t1, .proj = projection_of(flags, has_value), .has_value = has_value};
	int rc = 0;

	if (!table || !catalog_is_timeseries(table))
		return -1;
	if (strcmp(table, ring_table_name(r)))
		return 0; /* another stored table: none of its rows are here */
	const struct table *schema = catalog_schema(table);
	assert(schema->ncols <= MAX_NCOLS);
	v.ncols = schema->ncols;
	for (int c = 0; c < v.ncols; c++) {
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
		struct table view = {.name = (char *)schema->name, .ncols = v.ncols, .cols = v.cols,
				     .nrows = (size_t)rows, .cap = v.cap, .borrowed = true};
		if (rows)
			rc = chunk(arg, &view);
	}
	/* Stack and thread projections accumulate over every batch and come out as one chunk. */
	if (rc == 0 && n && v.ntouched) {
		long rows = acc_emit(&v, collapsed_time(&v, pinned[0]));
		struct table view = {.name = (char *)schema->name, .ncols = v.ncols, .cols = v.cols,
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

int ring_set_scan(void *set, const char *table, int64_t t0, int64_t t1, int flags, scan_chunk_fn *chunk, void *arg)
{
	const struct ring_set *rs = set;
	bool stats = table && !strcmp(table, "ring_stats");
	if (!stats && (!table || !catalog_is_timeseries(table)))
		return -1;
	for (int i = 0; i < rs->n; i++) {
		int rc = 0;
		if (stats)
			rc = scan_stats(rs->rings[i], chunk, arg);
		else if (!strcmp(table, ring_table_name(rs->rings[i])))
			return ring_scan(rs->rings[i], table, t0, t1, flags, chunk, arg);
		if (rc)
			return rc;
	}
	return 0; /* ring_stats done, or a stored table this agent keeps no ring for: no rows */
}
