/* test_ring.c - the ring: append and scan, eviction order, budget, stack reclamation, time
 * pruning, pinned batches surviving eviction, and a writer racing scanners. */
#include "fixture.h"
#include "ring/catalog.h"
#include "ring/intern.h"

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

static void append_and_scan(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 1, 5000);
	struct collect c = {0};
	assert_int_equal(ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, collect_chunk, &c), 0);
	assert_int_equal(c.rows, 5000);
	assert_int_equal(c.sum_count, 5000);
	assert_int_equal(c.tmin, FIX_T0);
	assert_int_equal(c.tmax, FIX_T0 + 4999 * 10000000LL);
	struct ring_stats st;
	ring_get_stats(r, &st);
	assert_int_equal(st.rows, 5000);
	assert_int_equal(st.evicted_rows, 0);
	assert_int_equal(st.oldest_ns, FIX_T0);
	assert_true(st.bytes <= st.budget);
	assert_int_equal(ring_scan(r, "no_such_table", 0, 1, collect_chunk, &c), -1);
	ring_free(r);
}

static void time_pruning_skips_batches(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 2, 10240); /* 10 batches of 1024 rows */
	struct collect c = {0};
	/* The last 5 seconds = rows 9740..10239: one or two batches, not all ten. */
	int64_t t1 = FIX_T0 + 10240 * 10000000LL, t0 = t1 - 5000000000LL;
	assert_int_equal(ring_scan(r, "stack_samples", t0, t1, collect_chunk, &c), 0);
	assert_true(c.chunks <= 2);
	assert_true(c.tmax >= t0);
	ring_free(r);
}

static void eviction_oldest_first_within_budget(void **state)
{
	(void)state;
	struct ring_config cfg = {1u << 20, 1024, "n1"}; /* 1 MiB: about a dozen batches */
	struct ring *r = ring_new(&cfg);
	fix_fill(r, 3, 60000);
	struct ring_stats st;
	ring_get_stats(r, &st);
	assert_true(st.bytes <= st.budget);
	assert_true(st.evicted_rows > 0);
	assert_int_equal(st.rows + st.evicted_rows, 60000);
	/* What is left is the newest data, contiguous up to the last row. */
	struct collect c = {0};
	ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, collect_chunk, &c);
	assert_int_equal(c.rows, st.rows);
	assert_int_equal(c.tmax, FIX_T0 + 59999 * 10000000LL);
	assert_int_equal(c.tmin, FIX_T0 + (int64_t)st.evicted_rows * 10000000LL);
	ring_free(r);
}

/* Stacks only evicted rows referenced are freed; the intern table does not grow without bound. */
static void stack_reclamation(void **state)
{
	(void)state;
	struct ring_config cfg = {1u << 20, 256, "n1"};
	struct ring *r = ring_new(&cfg);
	char name[32];
	for (int i = 0; i < 40000; i++) {
		snprintf(name, sizeof(name), "unique_fn_%d", i / 10); /* a new stack every 10 rows */
		const char *frames[2] = {name, "main"};
		struct ring_sample s = {.time_ns = FIX_T0 + i, .pid = 1, .tid = 1, .count = 1, .comm = "x",
					.frames = frames, .nframes = 2};
		assert_int_equal(ring_append(r, &s), 0);
	}
	struct ring_stats st;
	ring_get_stats(r, &st);
	assert_true(st.evicted_rows > 0);
	/* Live stacks ~ rows held / 10 (+1 for a partly evicted group). */
	assert_true(st.stacks <= st.rows / 10 + 2);
	assert_true(st.bytes <= st.budget);
	ring_free(r);
}

/* A scan pins its batches: the writer may evict them meanwhile, the scan still sees its rows. */
struct pin_state {
	struct ring *r;
	size_t rows_seen;
	bool evicted_during_scan;
};

static int evict_while_scanning(void *arg, const struct table *t)
{
	struct pin_state *ps = arg;
	if (!ps->evicted_during_scan) {
		fix_fill(ps->r, 9, 30000); /* pushes everything pinned out of the ring */
		ps->evicted_during_scan = true;
	}
	for (size_t i = 0; i < t->nrows; i++)
		assert_true(t->cols[SS_STACK].v.k[i]->nframes >= 2); /* stacks still alive */
	ps->rows_seen += t->nrows;
	return 0;
}

static void pinned_batches_survive_eviction(void **state)
{
	(void)state;
	struct ring_config cfg = {1u << 20, 1024, "n1"};
	struct pin_state ps = {ring_new(&cfg), 0, false};
	fix_fill(ps.r, 4, 4000);
	assert_int_equal(ring_scan(ps.r, "stack_samples", INT64_MIN, INT64_MAX, evict_while_scanning, &ps), 0);
	assert_int_equal(ps.rows_seen, 4000);
	ring_free(ps.r);
}

/* One writer at full speed, three scanners: every row a scan sees is complete (its stack
 * pointer valid, its count 1). Run under TSan too. */
struct race {
	struct ring *r;
	atomic_bool stop;
	atomic_long scans;
};

static int check_chunk(void *arg, const struct table *t)
{
	(void)arg;
	for (size_t i = 0; i < t->nrows; i++) {
		if (t->cols[SS_COUNT].v.i[i] != 1 || t->cols[SS_STACK].v.k[i]->nframes < 2)
			return -1;
	}
	return 0;
}

static void *scanner(void *arg)
{
	struct race *rc = arg;
	while (!atomic_load(&rc->stop)) {
		if (ring_scan(rc->r, "stack_samples", INT64_MIN, INT64_MAX, check_chunk, NULL) != 0)
			return (void *)1;
		atomic_fetch_add(&rc->scans, 1);
	}
	return NULL;
}

static void concurrent_writer_and_scanners(void **state)
{
	(void)state;
	struct ring_config cfg = {2u << 20, 1024, "n1"};
	struct race rc = {ring_new(&cfg), false, 0};
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, scanner, &rc);
	int64_t until = mono_now_ns() + 2000000000LL;
	uint64_t seed = 5;
	while (mono_now_ns() < until)
		fix_fill(rc.r, seed++, 1000);
	atomic_store(&rc.stop, true);
	for (int i = 0; i < 3; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		assert_null(ret);
	}
	assert_true(atomic_load(&rc.scans) > 0);
	ring_free(rc.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_and_scan),
		cmocka_unit_test(time_pruning_skips_batches),
		cmocka_unit_test(eviction_oldest_first_within_budget),
		cmocka_unit_test(stack_reclamation),
		cmocka_unit_test(pinned_batches_survive_eviction),
		cmocka_unit_test(concurrent_writer_and_scanners),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
