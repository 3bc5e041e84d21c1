/* test_collector.c - the real eBPF path on this kernel (needs root): load and attach the
 * profiler, burn CPU in a known function of this process, and find those samples in the ring,
 * symbolized, with sane pid/tid/cpu/comm/time fields and readable BPF counters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "agent/sources/collector.h"
#include "core/clock.h"
#include "core/qctx.h"
#include "core/catalog.h"
#include "core/intern.h"
#include "ring/ring.h"
#include "core/frame.h"

static volatile uint64_t sink;

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Burns `seconds` of this thread's CPU time (not wall time: the sample count then does not depend
 * on what else the machine, or the collector's own threads, run meanwhile). */
__attribute__((noinline)) void wisp_test_burn_cpu(double seconds)
{
	int64_t end = thread_cpu_ns() + (int64_t)(seconds * 1e9);
	uint64_t x = 3;
	while (thread_cpu_ns() < end)
		for (int i = 0; i < 10000; i++)
			x = x * 6364136223846793005ULL + 1;
	sink = x;
}

struct found {
	int64_t pid, tid, t_first, t_last;
	size_t mine, in_burn, all, with_user_stack;
	char comm[32];
};

static int inspect(void *arg, const struct table *t)
{
	struct found *f = arg;
	for (size_t i = 0; i < t->nrows; i++) {
		f->all++;
		if (t->cols[SS_PID].v.i[i] != f->pid || t->cols[SS_TID].v.i[i] != f->tid)
			continue; /* the burning thread only, not the collector's own */
		f->mine++;
		const struct stack *st = t->cols[SS_STACK].v.k[i];
		if (st->nframes > st->nkernel)
			f->with_user_stack++;
		for (int k = 0; k < st->nframes; k++) {
			struct frame_parts fp; /* the name: this test is built with -g, frames carry lines */
			frame_split(st->frames[k], &fp);
			if (fp.name_len == strlen("wisp_test_burn_cpu") && !memcmp(fp.name, "wisp_test_burn_cpu", fp.name_len)) {
				f->in_burn++;
				break;
			}
		}
		int64_t ts = t->cols[SS_TIME].v.i[i];
		if (!f->t_first || ts < f->t_first)
			f->t_first = ts;
		if (ts > f->t_last)
			f->t_last = ts;
		snprintf(f->comm, sizeof(f->comm), "%s", t->cols[SS_COMM].v.s[i]);
		assert_true(t->cols[SS_CPU].v.i[i] >= 0 && t->cols[SS_CPU].v.i[i] < 4096);
		assert_true(t->cols[SS_CGROUP].v.i[i] > 0);
	}
	return 0;
}

static void samples_this_process(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("not root: skipping the eBPF test\n");
		skip();
	}
	prctl(PR_SET_NAME, "wisp-bpf-test");
	struct ring_config rc = {16u << 20, "test", 0};
	struct ring *r = ring_new(&rc);
	struct collector_config cc = {199, 1 << 20, false, 16, true, NULL, {0}};
	char err[256];
	int64_t wall0 = wall_now_ns();
	struct collector *c = collector_start(&cc, r, err, sizeof(err));
	if (!c)
		fail_msg("collector_start: %s", err);
	wisp_test_burn_cpu(1.5);
	usleep(300 * 1000); /* let the drain thread catch up */
	struct collector_stats cs;
	collector_get_stats(c, &cs);
	collector_stop(c);

	struct found f = {.pid = getpid(), .tid = gettid()};
	assert_int_equal(ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, 0, inspect, &f), 0);
	print_message("samples: all %zu, this thread %zu, in wisp_test_burn_cpu %zu; bpf saw %llu, lost %llu\n",
		      f.all, f.mine, f.in_burn, (unsigned long long)cs.bpf_samples, (unsigned long long)cs.bpf_lost);
	/* 1.5 s of CPU at 199 Hz is ~300 samples; allow for a busy machine. */
	assert_true(f.mine >= 150);
	assert_true(f.in_burn >= f.mine * 8 / 10);
	assert_true(f.with_user_stack >= f.mine * 9 / 10);
	assert_string_equal(f.comm, "wisp-bpf-test");
	assert_true(f.t_first >= wall0 - 1000000000LL && f.t_last <= wall_now_ns());
	assert_true(f.t_last - f.t_first >= 1000000000LL);
	assert_true(cs.bpf_samples >= f.all);
	assert_true(cs.ncpus >= 1);
	ring_free(r);
}

static void bad_config_is_an_error(void **state)
{
	(void)state;
	struct ring_config rc = {1u << 20, "test", 0};
	struct ring *r = ring_new(&rc);
	struct collector_config cc = {0, 1 << 20, false, 0, false, NULL, {0}};
	char err[256];
	assert_null(collector_start(&cc, r, err, sizeof(err)));
	assert_non_null(strstr(err, "--hz"));
	ring_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(samples_this_process),
		cmocka_unit_test(bad_config_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
