/* test_progress.c - a source's published progress (vizier/agent/sources/progress.h): a wait for
 * a time already published returns at once; a wait for a time that has come wakes a napping
 * producer at once instead of after its period; a wait for the future sleeps until then; a
 * producer that is gone, and a deadline, end waits with false. Real threads, real clocks: the
 * bounds below are 10 to 40 times what each step takes on an idle machine. */
#include "fixture.h"

#include "agent/sources/progress.h"
#include "core/clock.h"

#include <pthread.h>
#include <stdatomic.h>

#define MS 1000000LL

struct producer {
	struct progress *p;
	atomic_bool stop;
	atomic_int batches;
	pthread_t thread;
};

/* A drain loop as the collector's: publish "now", nap a long period (2 s). */
static void *produce(void *arg)
{
	struct producer *pr = arg;
	while (!atomic_load(&pr->stop)) {
		atomic_fetch_add(&pr->batches, 1); /* before publishing: a waiter woken by it sees the count */
		progress_publish(pr->p, wall_now_ns());
		progress_nap(pr->p, 2000 * MS);
	}
	return NULL;
}

static void start(struct producer *pr)
{
	pr->p = progress_new();
	assert_non_null(pr->p);
	atomic_store(&pr->stop, false);
	atomic_store(&pr->batches, 0);
	assert_int_equal(pthread_create(&pr->thread, NULL, produce, pr), 0);
	assert_true(progress_wait(pr->p, 1, 1000 * MS)); /* its first batch is published */
}

static void finish(struct producer *pr)
{
	atomic_store(&pr->stop, true);
	progress_wait(pr->p, wall_now_ns(), 100 * MS); /* a due wait ends its nap */
	pthread_join(pr->thread, NULL);
	progress_close(pr->p);
	progress_free(pr->p);
}

static void published_and_due(void **state)
{
	(void)state;
	struct producer pr;
	start(&pr);
	int64_t t0 = mono_now_ns();
	assert_true(progress_wait(pr.p, wall_now_ns() - 1000 * MS, 1000 * MS)); /* long published */
	assert_true(mono_now_ns() - t0 < 20 * MS);
	/* Due now, not published: the producer naps for 2 s but is woken at once. */
	int before = atomic_load(&pr.batches);
	t0 = mono_now_ns();
	assert_true(progress_wait(pr.p, wall_now_ns(), 1000 * MS));
	assert_true(mono_now_ns() - t0 < 200 * MS);
	assert_true(atomic_load(&pr.batches) > before);
	/* 100 ms ahead (a clock behind another): waits until then, then wakes the producer. */
	t0 = mono_now_ns();
	assert_true(progress_wait(pr.p, wall_now_ns() + 100 * MS, 1000 * MS));
	int64_t took = mono_now_ns() - t0;
	assert_true(took >= 95 * MS && took < 400 * MS);
	finish(&pr);
}

static void deadline_and_close(void **state)
{
	(void)state;
	struct progress *p = progress_new();
	assert_non_null(p);
	progress_publish(p, 1000);
	progress_publish(p, 500); /* never moves back */
	assert_true(progress_wait(p, 1000, 0));
	int64_t t0 = mono_now_ns();
	assert_false(progress_wait(p, wall_now_ns(), 50 * MS)); /* no producer: the deadline */
	int64_t took = mono_now_ns() - t0;
	assert_true(took >= 45 * MS && took < 1000 * MS);
	progress_close(p);
	t0 = mono_now_ns();
	assert_false(progress_wait(p, wall_now_ns(), 1000 * MS)); /* closed: at once */
	assert_true(mono_now_ns() - t0 < 20 * MS);
	progress_free(p);
	assert_true(progress_wait(NULL, INT64_MAX, 0)); /* no progress to wait for */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(published_and_due),
		cmocka_unit_test(deadline_and_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
