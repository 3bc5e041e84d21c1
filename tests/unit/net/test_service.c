/* test_service.c - the worker pool (vizier/net/service.h): jobs_each runs its function once on
 * every worker thread, each a different thread, and its completion once, after all of them and
 * never before; queued tasks still run; with no threads both run inline; a trim (service_trim
 * once a quiet period went by) gives a worker heap's free top back to the system. */
#include "fixture.h"

#include "net/service.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKERS 4

struct round {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t seen[WORKERS];
	int calls, dones, calls_at_done;
	atomic_int tasks;
};

static void on_each(void *arg)
{
	struct round *r = arg;
	usleep(2000); /* a slow one: done must still wait for it */
	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < r->calls; i++)
		assert_false(pthread_equal(r->seen[i], pthread_self())); /* each on a thread of its own */
	assert_true(r->calls < WORKERS);
	r->seen[r->calls++] = pthread_self();
	pthread_mutex_unlock(&r->mu);
}

static void on_done(void *arg)
{
	struct round *r = arg;
	pthread_mutex_lock(&r->mu);
	r->dones++;
	r->calls_at_done = r->calls;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void on_task(void *arg)
{
	struct round *r = arg;
	atomic_fetch_add(&r->tasks, 1);
}

static void wait_done(struct round *r, int dones)
{
	pthread_mutex_lock(&r->mu);
	while (r->dones < dones)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

static void each_worker_once(void **state)
{
	(void)state;
	struct round r = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	struct jobs *j = jobs_new(WORKERS);
	assert_non_null(j);
	for (int round = 1; round <= 3; round++) {
		for (int i = 0; i < 10; i++) /* tasks queued around the round run too */
			assert_int_equal(jobs_submit(j, on_task, &r), 0);
		r.calls = 0;
		assert_int_equal(jobs_each(j, on_each, on_done, &r), 0);
		wait_done(&r, round);
		assert_int_equal(r.calls_at_done, WORKERS);
	}
	jobs_free(j); /* waits for the queued tasks */
	assert_int_equal(r.dones, 3);
	assert_int_equal(atomic_load(&r.tasks), 30);
	assert_int_equal(jobs_each(NULL, on_each, on_done, &r), -1);
}

static void inline_without_threads(void **state)
{
	(void)state;
	struct round r = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	struct jobs *j = jobs_new(0);
	assert_non_null(j);
	assert_int_equal(jobs_each(j, on_each, on_done, &r), 0);
	assert_int_equal(r.calls, 1); /* both ran before it returned */
	assert_int_equal(r.dones, 1);
	assert_int_equal(r.calls_at_done, 1);
	jobs_free(j);
}

/* Resident memory of this process, KiB. */
static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

#define BLOCKS 48 /* within one of a worker heap's 64 MiB mappings: a whole one glibc unmaps */
#define BLOCK (1 << 20)

/* Runs on a worker: 48 MiB in 1 MiB blocks from that worker's heap, touched, then freed: with
 * the heap's trim threshold at 128 MiB the free pages stay resident at the heap's top. */
static void fill_and_free(void *arg)
{
	static char *blocks[BLOCKS];
	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = malloc(BLOCK);
		assert_non_null(blocks[i]);
		memset(blocks[i], 1, BLOCK);
	}
	for (int i = BLOCKS - 1; i >= 0; i--)
		free(blocks[i]);
	on_done(arg);
}

static void trim_gives_worker_heap_tops_back(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	skip(); /* the sanitizer's allocator has its own heaps: glibc's trimming does not apply */
#endif
	service_heap_init(false); /* a heap per thread, as the coordinator has */
	struct service svc = {.jobs = jobs_new(1)};
	assert_non_null(svc.jobs);
	long before = rss_kb();
	struct round r = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	assert_int_equal(jobs_submit(svc.jobs, fill_and_free, &r), 0);
	wait_done(&r, 1);
	long held = rss_kb();
	assert_true(held - before > BLOCKS * 1024 / 2); /* the worker's heap kept its free top */
	/* A quiet period after memory was freed: service_trim queues the trim's round. */
	service_memory_freed(&svc);
	service_trim(&svc); /* the period in which it was freed */
	service_trim(&svc); /* a quiet one: trims */
	long after = held;
	for (int i = 0; i < 200 && after - before > 8 * 1024; i++) {
		usleep(10000);
		after = rss_kb();
	}
	print_message("resident: %ld KiB before, %ld with a worker's freed 48 MiB, %ld after the trim\n", before, held,
		      after);
	assert_true(after - before <= 8 * 1024);
	jobs_free(svc.jobs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_worker_once),
		cmocka_unit_test(inline_without_threads),
		cmocka_unit_test(trim_gives_worker_heap_tops_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
