/* test_ring.c - the ring: sealed encoding round trips (against a reference aggregation), time-
 * collapsed scans, edge cases (empty, one row, max values, long strings), eviction order, budget
 * accounting, reclamation of stacks/threads/strings, time pruning, pinned batches surviving
 * eviction and sealing, a writer racing scanners (run under TSan too), and an offcpu_samples
 * ring's values and states, hot and sealed, with the set of rings scanned as one source. */
#include "fixture.h"
#include "core/hashmap.h"
#include "core/clock.h"
#include "core/catalog.h"
#include "core/intern.h"
#include "ring/snapshot.h"

#include <pthread.h>
#include <stdatomic.h>

struct collect {
	size_t rows, chunks;
	int64_t tmin, tmax, sum_count;
};

static int collect_chunk(void *arg, const struct table *t)
{
	struct collect *c = arg;
	c->chunks++;
	for (size_t i = 0; i < t->nrows; i++) {
		int64_t ts = t->cols[SS_TIME].v.i[i];
		if (!c->rows || ts < c->tmin)
			c->tmin = ts;
		if (!c->rows || ts > c->tmax)
			c->tmax = ts;
		c->rows++;
		c->sum_count += t->cols[SS_COUNT].v.i[i];
		assert_string_equal(t->cols[SS_NODE].v.s[i], "n1");
		assert_true(t->cols[SS_STACK].v.k[i]->nframes >= 2);
	}
	return 0;
}

static struct ring *ring_with(size_t budget)
{
	struct ring_config cfg = {budget, "n1", 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&cfg);
	assert_non_null(r);
	return r;
}

static void append_and_scan(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 1, 50000); /* 500 s of data: 8 sealed batches + hot */
	struct collect c = {0};
	assert_int_equal(ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, 0, collect_chunk, &c), 0);
	assert_int_equal(c.sum_count, 50000);
	assert_true(c.rows < 50000); /* sealed rows are per-second points */
	assert_int_equal(c.tmin, FIX_T0);
	assert_int_equal(c.tmax, FIX_T0 + 49999 * 10000000LL);
	struct ring_stats st;
	ring_get_stats(r, &st);
	assert_int_equal(st.samples, 50000);
	assert_int_equal(st.appended_samples, 50000);
	assert_int_equal(st.rows, c.rows);
	assert_int_equal(st.evicted_rows, 0);
	assert_int_equal(st.oldest_ns, FIX_T0);
	assert_true(st.sealed_batches >= 8);
	assert_true(st.bytes <= st.budget);
	assert_int_equal(ring_scan(r, "no_such_table", 0, 1, 0, collect_chunk, &c), -1);
	ring_free(r);
}

/* ---- round trip against a reference -------------------------------------------------------- */

#define REF_CAP 65536
struct ref_entry {
	int64_t sec, tid, cpu;
	const char *folded; /* frames joined, for content identity */
	int64_t count;
	bool used;
};

struct ref {
	struct ref_entry e[REF_CAP];
	struct qctx q;
};

static struct ref_entry *ref_slot(struct ref *rf, int64_t sec, int64_t tid, int64_t cpu, const char *folded)
{
	uint64_t h = (uint64_t)sec * 31 + (uint64_t)tid * 131 + (uint64_t)cpu * 7 + hash_bytes(folded, strlen(folded), 1);
	for (size_t i = h % REF_CAP;; i = (i + 1) % REF_CAP) {
		struct ref_entry *e = &rf->e[i];
		if (!e->used) {
			*e = (struct ref_entry){sec, tid, cpu, folded, 0, true};
			return e;
		}
		if (e->sec == sec && e->tid == tid && e->cpu == cpu && !strcmp(e->folded, folded))
			return e;
	}
}

static int check_against_ref(void *arg, const struct table *t)
{
	struct ref *rf = arg;
	for (size_t i = 0; i < t->nrows; i++) {
		const char *f = qctx_stack_folded(&rf->q, t->cols[SS_STACK].v.k[i], FRAME_LINE);
		struct ref_entry *e = ref_slot(rf, t->cols[SS_TIME].v.i[i] / 1000000000LL, t->cols[SS_TID].v.i[i],
					       t->cols[SS_CPU].v.i[i], f);
		e->count -= t->cols[SS_COUNT].v.i[i];
	}
	return 0;
}

/* Every sealed point equals the per-second sum of the rows appended: nothing lost, nothing
 * invented, across sealing. */
static void sealed_rows_match_reference(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 7, 30000);
	ring_flush(r);
	struct ref *rf = calloc(1, sizeof(*rf));
	qctx_init(&rf->q);
	/* Rebuild what fix_fill appended, aggregated to (second, tid, cpu, stack). */
	struct ring *shadow = fix_ring("n1", 7, 0);
	(void)shadow;
	uint64_t s = 7;
	static const char *const fns[] = {"main", "run", "parse", "hash", "memcpy", "read", "write",
					  "compress", "poll", "do_syscall_64"};
	for (int i = 0; i < 30000; i++) {
		const char *frames[8];
		int depth = 2 + (int)(fix_rand(&s) % 5), pidx = (int)(fix_rand(&s) % 4);
		frames[depth - 1] = "main";
		for (int d = depth - 2; d >= 0; d--)
			frames[d] = fns[1 + fix_rand(&s) % 8];
		int64_t tid = 100 + pidx * 10 + (int)(fix_rand(&s) % 3), cpu = (int)(fix_rand(&s) % 4);
		bool kernel = fix_rand(&s) % 5 == 0;
		char folded[256] = "";
		for (int d = depth - 1; d >= 0; d--) {
			strcat(folded, frames[d]);
			if (d < (kernel ? 1 : 0))
				strcat(folded, "_[k]");
			if (d)
				strcat(folded, ";");
		}
		struct ref_entry *e = ref_slot(rf, (FIX_T0 + (int64_t)i * 10000000LL) / 1000000000LL, tid, cpu,
					       qctx_strndup(&rf->q, folded, strlen(folded)));
		e->count++;
	}
	ring_free(shadow);
	assert_int_equal(ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, 0, check_against_ref, rf), 0);
	for (size_t i = 0; i < REF_CAP; i++)
		if (rf->e[i].used && rf->e[i].count != 0)
			fail_msg("sec %lld tid %lld cpu %lld %s: off by %lld", (long long)rf->e[i].sec,
				 (long long)rf->e[i].tid, (long long)rf->e[i].cpu, rf->e[i].folded, (long long)rf->e[i].count);
	qctx_destroy(&rf->q);
	free(rf);
	ring_free(r);
}

/* Time-collapsed scans give the same per-(tid, cpu, stack) sums as row scans, in any window. */
struct sums {
	struct qctx q;
	struct ref e;
};

static int sum_collapsed(void *arg, const struct table *t)
{
	struct ref *rf = arg;
	for (size_t i = 0; i < t->nrows; i++) {
		const char *f = qctx_stack_folded(&rf->q, t->cols[SS_STACK].v.k[i], FRAME_LINE);
		ref_slot(rf, 0, t->cols[SS_TID].v.i[i], t->cols[SS_CPU].v.i[i], f)->count += t->cols[SS_COUNT].v.i[i];
	}
	return 0;
}

struct window {
	struct ref *rf;
	int64_t t0, t1;
};

static int sum_rows_in_window(void *arg, const struct table *t)
{
	struct window *w = arg;
	for (size_t i = 0; i < t->nrows; i++) {
		int64_t ts = t->cols[SS_TIME].v.i[i];
		if (ts < w->t0 || ts >= w->t1)
			continue;
		const char *f = qctx_stack_folded(&w->rf->q, t->cols[SS_STACK].v.k[i], FRAME_LINE);
		ref_slot(w->rf, 0, t->cols[SS_TID].v.i[i], t->cols[SS_CPU].v.i[i], f)->count -= t->cols[SS_COUNT].v.i[i];
	}
	return 0;
}

static void collapsed_scan_matches_rows(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 8, 40000);
	int64_t windows[][2] = {{INT64_MIN, INT64_MAX}, {FIX_T0 + 30000000000LL, FIX_T0 + 250000000000LL},
				{FIX_T0 + 61000000000LL, FIX_T0 + 62000000000LL}, {FIX_T0 + 390000000000LL, INT64_MAX}};
	for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
		struct ref *rf = calloc(1, sizeof(*rf));
		qctx_init(&rf->q);
		struct window win = {rf, windows[w][0], windows[w][1]};
		assert_int_equal(ring_scan(r, "stack_samples", win.t0, win.t1, SCAN_COLLAPSE_TIME, sum_collapsed, rf), 0);
		assert_int_equal(ring_scan(r, "stack_samples", win.t0, win.t1, 0, sum_rows_in_window, &win), 0);
		/* Hot rows are not collapsed and carry exact times: compare only what both saw. */
		for (size_t i = 0; i < REF_CAP; i++)
			if (rf->e[i].used && rf->e[i].count < 0)
				fail_msg("window %zu: collapsed scan is missing %lld samples", w, (long long)-rf->e[i].count);
		qctx_destroy(&rf->q);
		free(rf);
	}
	ring_free(r);
}

static void edge_cases(void **state)
{
	(void)state;
	struct ring *r = ring_with(8u << 20);
	struct collect c = {0};
	/* Empty: nothing to seal, nothing to scan. */
	assert_int_equal(ring_flush(r), 0);
	assert_int_equal(ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, 0, collect_chunk, &c), 0);
	assert_int_equal(c.rows, 0);
	/* One row with maximal values and long strings, sealed. */
	char longname[10000], longcomm[5000];
	memset(longname, 'f', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(longcomm, 'c', sizeof(longcomm) - 1);
	longcomm[sizeof(longcomm) - 1] = '\0';
	const char *frames[2] = {longname, "main"};
	struct ring_sample s = {.time_ns = INT64_C(4102444800000000000), .pid = INT64_MAX, .tid = INT64_MIN,
				.cpu = 16383, .cgroup = -1, .count = UINT32_MAX, .comm = longcomm,
				.frames = frames, .nframes = 2};
	assert_int_equal(ring_append(r, &s), 0);
	assert_int_equal(ring_flush(r), 0);
	struct ring_stats st;
	ring_get_stats(r, &st);
	assert_int_equal(st.sealed_batches, 1);
	struct table *got = NULL;
	char err[256];
	struct plan *p = fix_compile("t.lua", "px.display(px.DataFrame{table='stack_samples', start_time=0, "
				     "end_time=4200000000000000000}, 'x')", NULL, err, sizeof(err));
	assert_non_null(p);
	struct qctx q;
	qctx_init(&q);
	struct scan_source src = {ring_scan, r};
	bool trunc[1];
	assert_int_equal(exec_local(&q, p, &src, &got, trunc), 0);
	assert_int_equal(got->nrows, 1);
	assert_int_equal(got->cols[SS_PID].v.i[0], INT64_MAX);
	assert_int_equal(got->cols[SS_TID].v.i[0], INT64_MIN);
	assert_int_equal(got->cols[SS_CGROUP].v.i[0], -1);
	assert_int_equal(got->cols[SS_CPU].v.i[0], 16383);
	assert_int_equal(got->cols[SS_COUNT].v.i[0], UINT32_MAX);
	assert_int_equal(got->cols[SS_TIME].v.i[0], INT64_C(4102444800000000000));
	assert_string_equal(got->cols[SS_COMM].v.s[0], longcomm);
	assert_string_equal(got->cols[SS_STACK].v.k[0]->frames[0], longname);
	table_free(got);
	plan_free(p);
	qctx_destroy(&q);
	ring_free(r);
}

static void time_pruning_skips_batches(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 2, 60000); /* 600 s: 10 batches */
	struct collect c = {0};
	int64_t t1 = FIX_T0 + 60000 * 10000000LL, t0 = t1 - 5000000000LL;
	assert_int_equal(ring_scan(r, "stack_samples", t0, t1, 0, collect_chunk, &c), 0);
	assert_true(c.chunks <= 2);
	assert_true(c.tmax >= t0);
	ring_free(r);
}

static void eviction_oldest_first_within_budget(void **state)
{
	(void)state;
	struct ring *r = ring_with(1u << 20);
	fix_fill(r, 3, 200000); /* 2000 s */
	struct ring_stats st;
	ring_get_stats(r, &st);
	assert_true(st.bytes <= st.budget);
	assert_true(st.evicted_samples > 0);
	assert_int_equal(st.samples + st.evicted_samples, 200000);
	/* What is left is the newest data, up to the last row. */
	struct collect c = {0};
	ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, 0, collect_chunk, &c);
	assert_int_equal(c.sum_count, st.samples);
	assert_int_equal(c.tmax, FIX_T0 + 199999 * 10000000LL);
	assert_true(c.tmin > FIX_T0);
	ring_free(r);
}

/* Stacks, threads and strings only evicted batches used are freed: a day of ever-new stacks and
 * threads does not grow the intern tables. */
static void reclamation(void **state)
{
	(void)state;
	struct ring *r = ring_with(600u << 10);
	char name[32], comm[32];
	for (int i = 0; i < 300000; i++) {
		snprintf(name, sizeof(name), "unique_fn_%d", i / 50); /* a new stack every 50 rows */
		snprintf(comm, sizeof(comm), "proc%d", i / 500);      /* a new thread every 500 rows */
		const char *frames[2] = {name, "main"};
		struct ring_sample s = {.time_ns = FIX_T0 + (int64_t)i * 10000000LL, .pid = i / 500, .tid = i / 500,
					.count = 1, .comm = comm, .frames = frames, .nframes = 2};
		assert_int_equal(ring_append(r, &s), 0);
	}
	struct ring_stats st;
	ring_get_stats(r, &st);
	assert_true(st.evicted_samples > 0);
	assert_true(st.bytes <= st.budget);
	/* Live stacks ~ samples held / 50, threads ~ / 500, strings ~ both + "main". */
	assert_true(st.stacks <= st.samples / 50 + 2);
	assert_true(st.threads <= st.samples / 500 + 2);
	assert_true(st.strings <= st.stacks + st.threads + 3);
	ring_free(r);
}

/* A scan pins its batches: the writer may evict (and seal) them meanwhile; the scan still sees
 * every row it pinned, with live stacks. */
struct pin_state {
	struct ring *r;
	int64_t samples_seen;
	bool churned;
};

static int churn_while_scanning(void *arg, const struct table *t)
{
	struct pin_state *ps = arg;
	if (!ps->churned) {
		fix_fill(ps->r, 9, 300000); /* seals the hot batch and pushes everything pinned out */
		ps->churned = true;
	}
	for (size_t i = 0; i < t->nrows; i++) {
		assert_true(t->cols[SS_STACK].v.k[i]->nframes >= 2);
		ps->samples_seen += t->cols[SS_COUNT].v.i[i];
	}
	return 0;
}

static void pinned_batches_survive_eviction(void **state)
{
	(void)state;
	struct pin_state ps = {ring_with(2u << 20), 0, false};
	fix_fill(ps.r, 4, 10000);
	assert_int_equal(ring_scan(ps.r, "stack_samples", INT64_MIN, INT64_MAX, 0, churn_while_scanning, &ps), 0);
	assert_int_equal(ps.samples_seen, 10000);
	struct ring_stats st;
	ring_get_stats(ps.r, &st);
	assert_true(st.evicted_samples >= 10000);
	ring_free(ps.r);
}

/* One writer at full speed (sealing and evicting), three scanners in both modes: every row a
 * scan sees is complete. Run under TSan too (tests/run.sh). */
struct race {
	struct ring *r;
	atomic_bool stop;
	atomic_long scans;
};

static int check_chunk(void *arg, const struct table *t)
{
	(void)arg;
	for (size_t i = 0; i < t->nrows; i++)
		if (t->cols[SS_COUNT].v.i[i] < 1 || t->cols[SS_STACK].v.k[i]->nframes < 2 ||
		    t->cols[SS_PID].v.i[i] < 100 || t->cols[SS_COMM].v.s[i][0] == '\0')
			return -1;
	return 0;
}

static void *scanner(void *arg)
{
	struct race *rc = arg;
	for (int k = 0; !atomic_load(&rc->stop); k++) {
		if (ring_scan(rc->r, "stack_samples", INT64_MIN, INT64_MAX, k & 1, check_chunk, NULL) != 0)
			return (void *)1;
		atomic_fetch_add(&rc->scans, 1);
	}
	return NULL;
}

static void concurrent_writer_and_scanners(void **state)
{
	(void)state;
	struct race rc = {ring_with(4u << 20), false, 0};
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, scanner, &rc);
	int64_t until = mono_now_ns() + 10000000000LL; /* 10 s of writing and scanning */
	uint64_t seed = 5;
	while (mono_now_ns() < until)
		fix_fill(rc.r, seed++, 20000);
	atomic_store(&rc.stop, true);
	for (int i = 0; i < 3; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		assert_null(ret);
	}
	assert_true(atomic_load(&rc.scans) > 0);
	ring_free(rc.r);
}

struct offcpu_sums {
	int64_t rows, count, blocked, sleeping, states_ok;
};

static int sum_offcpu(void *arg, const struct table *t)
{
	struct offcpu_sums *o = arg;
	assert_int_equal(t->ncols, OC_NCOLS);
	assert_string_equal(t->cols[OC_BLOCKED_NS].name, "blocked_ns");
	for (size_t i = 0; i < t->nrows; i++) {
		o->rows++;
		o->count += t->cols[OC_COUNT].v.i[i];
		o->blocked += t->cols[OC_BLOCKED_NS].v.i[i];
		const char *state = t->cols[OC_STATE].v.s[i];
		if (!strcmp(state, "sleeping"))
			o->sleeping += t->cols[OC_BLOCKED_NS].v.i[i];
		o->states_ok += !strcmp(state, "sleeping") || !strcmp(state, "runnable") ||
				!strcmp(state, "uninterruptible") || !strcmp(state, "other");
	}
	return 0;
}

static int count_rows_of(void *arg, const struct table *t)
{
	*(size_t *)arg += t->nrows;
	return 0;
}

/* Values ride along with counts: summed where rows merge into a point, exact hot and sealed,
 * and read back beside the state names. */
static void offcpu_ring_values(void **state)
{
	(void)state;
	struct ring_config cfg = {16u << 20, "n1", 0, RING_OFFCPU_SAMPLES};
	struct ring *r = ring_new(&cfg);
	assert_non_null(r);
	assert_string_equal(ring_table_name(r), "offcpu_samples");
	const char *frames[2][3] = {{"__schedule", "do_nanosleep", "main"}, {"__schedule", "pipe_read", "main"}};
	int64_t want_blocked = 0, want_sleeping = 0, want_count = 0;
	for (int i = 0; i < 3000; i++) { /* 300 s: several sealed batches, then a hot one */
		int64_t ns = (int64_t)(i % 7 + 1) * 1000000 + (i == 5 ? INT64_C(1) << 40 : 0);
		struct ring_sample s = {.time_ns = FIX_T0 + i * 100000000LL, .pid = 10, .tid = 10 + i % 3, .cpu = (uint32_t)(i % 4),
					.cgroup = 1, .count = 1 + i % 2, .value = ns, .comm = "w", .frames = frames[i % 2],
					.nframes = 3, .nkernel = 2};
		assert_int_equal(ring_append(r, &s), 0);
		want_blocked += ns;
		want_count += 1 + i % 2;
		want_sleeping += i % 4 == OFFCPU_SLEEPING ? ns : 0;
	}
	struct ring_stats st;
	ring_get_stats(r, &st);
	assert_true(st.sealed_batches >= 4);
	for (int collapse = 0; collapse < 2; collapse++) {
		/* Reading blocked_ns keeps every row even when time may collapse. */
		int flags = collapse ? SCAN_COLLAPSE_TIME | SCAN_COLUMN(OC_BLOCKED_NS) | SCAN_COLUMN(OC_STATE) : 0;
		struct offcpu_sums o = {0};
		assert_int_equal(ring_scan(r, "offcpu_samples", INT64_MIN, INT64_MAX, flags, sum_offcpu, &o), 0);
		assert_int_equal(o.blocked, want_blocked);
		assert_int_equal(o.sleeping, want_sleeping);
		assert_int_equal(o.count, want_count);
		assert_int_equal(o.states_ok, o.rows);
	}
	/* Counts alone may collapse, as in stack_samples. */
	struct offcpu_sums o = {0};
	assert_int_equal(ring_scan(r, "offcpu_samples", INT64_MIN, INT64_MAX, SCAN_COLLAPSE_TIME | SCAN_COLUMN(OC_COUNT),
				   sum_offcpu, &o), 0);
	assert_int_equal(o.count, want_count);
	assert_true(o.rows < 100);
	/* The other stored table has no rows here; an unknown one is an error. A set of two rings
	 * serves each table from its own ring and ring_stats from both. */
	size_t n = 0;
	assert_int_equal(ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, 0, count_rows_of, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ring_scan(r, "nonesuch", INT64_MIN, INT64_MAX, 0, count_rows_of, &n), -1);
	struct ring *cpu = fix_ring("n1", 1, 1000);
	struct ring_set set = {{cpu, r}, 2};
	struct collect c = {0};
	assert_int_equal(ring_set_scan(&set, "stack_samples", INT64_MIN, INT64_MAX, 0, collect_chunk, &c), 0);
	assert_int_equal(c.sum_count, 1000);
	o = (struct offcpu_sums){0};
	assert_int_equal(ring_set_scan(&set, "offcpu_samples", INT64_MIN, INT64_MAX, 0, sum_offcpu, &o), 0);
	assert_int_equal(o.blocked, want_blocked);
	n = 0;
	assert_int_equal(ring_set_scan(&set, "ring_stats", INT64_MIN, INT64_MAX, 0, count_rows_of, &n), 0);
	assert_int_equal(n, 2);
	/* A snapshot of the set holds both tables, values included; a ring set without an off-CPU
	 * ring refuses it, and says why. */
	void *buf = NULL;
	size_t len = 0;
	char err[256];
	assert_int_equal(ring_set_snapshot(&set, INT64_MIN, INT64_MAX, &buf, &len, err, sizeof(err)), 0);
	struct ring_config cc = {8u << 20, "n1", 0, RING_STACK_SAMPLES}, oc = {8u << 20, "n1", 0, RING_OFFCPU_SAMPLES};
	struct ring_set back = {{ring_new(&cc), ring_new(&oc)}, 2};
	assert_int_equal(ring_set_load_snapshot_range(&back, buf, len, INT64_MIN, INT64_MAX, err, sizeof(err)), 0);
	c = (struct collect){0};
	assert_int_equal(ring_set_scan(&back, "stack_samples", INT64_MIN, INT64_MAX, 0, collect_chunk, &c), 0);
	assert_int_equal(c.sum_count, 1000);
	o = (struct offcpu_sums){0};
	assert_int_equal(ring_set_scan(&back, "offcpu_samples", INT64_MIN, INT64_MAX, 0, sum_offcpu, &o), 0);
	assert_int_equal(o.blocked, want_blocked);
	assert_int_equal(o.count, want_count);
	struct ring *only_cpu = ring_new(&cc);
	assert_int_equal(ring_load_snapshot(only_cpu, buf, len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "offcpu_samples"));
	ring_free(only_cpu);
	ring_free(back.rings[0]);
	ring_free(back.rings[1]);
	free(buf);
	ring_free(cpu);
	ring_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_and_scan),
		cmocka_unit_test(sealed_rows_match_reference),
		cmocka_unit_test(collapsed_scan_matches_rows),
		cmocka_unit_test(edge_cases),
		cmocka_unit_test(time_pruning_skips_batches),
		cmocka_unit_test(eviction_oldest_first_within_budget),
		cmocka_unit_test(reclamation),
		cmocka_unit_test(pinned_batches_survive_eviction),
		cmocka_unit_test(concurrent_writer_and_scanners),
		cmocka_unit_test(offcpu_ring_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
