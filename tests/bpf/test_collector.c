/* test_collector.c - the real eBPF path on this kernel (needs root): load and attach the
 * profiler, burn CPU in a known function of this process, and find those samples in the ring,
 * symbolized, with sane pid/tid/cpu/comm/time fields and readable BPF counters; then sleep in a
 * known function and find the time slept in the off-CPU ring, at that function, sleeping. */
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
	struct ring_config rc = {16u << 20, "test", 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&rc);
	struct collector_config cc = {199, 1 << 20, false, 16, true, NULL, {0}, 0, 0};
	char err[256];
	int64_t wall0 = wall_now_ns();
	struct collector *c = collector_start(&cc, r, NULL, err, sizeof(err));
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

/* Sleeps in ten naps of 100 ms. */
__attribute__((noinline)) void wisp_test_nap(void)
{
	for (int i = 0; i < 10; i++)
		usleep(100 * 1000);
	__asm__ volatile("" ::: "memory"); /* not a tail call: this frame stays on the stack */
}

struct naps {
	int64_t tid;
	int64_t blocked_ns, in_nap_ns, count, sleeping_ns;
};

static int inspect_naps(void *arg, const struct table *t)
{
	struct naps *n = arg;
	assert_int_equal(t->ncols, OC_NCOLS);
	for (size_t i = 0; i < t->nrows; i++) {
		if (t->cols[OC_TID].v.i[i] != n->tid)
			continue;
		int64_t ns = t->cols[OC_BLOCKED_NS].v.i[i];
		n->blocked_ns += ns;
		n->count += t->cols[OC_COUNT].v.i[i];
		if (!strcmp(t->cols[OC_STATE].v.s[i], "sleeping"))
			n->sleeping_ns += ns;
		const struct stack *st = t->cols[OC_STACK].v.k[i];
		for (int k = 0; k < st->nframes; k++) {
			struct frame_parts fp;
			frame_split(st->frames[k], &fp);
			if (fp.name_len == strlen("wisp_test_nap") && !memcmp(fp.name, "wisp_test_nap", fp.name_len)) {
				n->in_nap_ns += ns;
				break;
			}
		}
	}
	return 0;
}

/* At the highest rate every period is taken (this process's CPU switches a few thousand times a
 * second at most), so the ring holds the naps exactly: 1 s asleep, plus the wakeups' latency. */
static void offcpu_periods(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	struct ring_config rc = {16u << 20, "test", 0, RING_STACK_SAMPLES};
	struct ring_config oc = {16u << 20, "test", 0, RING_OFFCPU_SAMPLES};
	struct ring *r = ring_new(&rc), *off = ring_new(&oc);
	struct collector_config cc = {99, 8 << 20, false, 16, true, NULL, {0}, 100000, 0}; /* hook on throughout */
	char err[256];
	struct collector *c = collector_start(&cc, r, off, err, sizeof(err));
	if (!c)
		fail_msg("collector_start: %s", err);
	/* The first records of a process come before its unwind table (frame pointers only, and
	 * this libc has none): a few short sleeps ask for the table, then it has time to be built. */
	for (int i = 0; i < 5; i++)
		usleep(20 * 1000);
	usleep(400 * 1000);
	wisp_test_nap();
	usleep(300 * 1000); /* the last nap's end, then a drain */
	struct collector_stats cs;
	collector_get_stats(c, &cs);
	collector_stop(c);
	struct naps n = {.tid = gettid()};
	assert_int_equal(ring_scan(off, "offcpu_samples", INT64_MIN, INT64_MAX, 0, inspect_naps, &n), 0);
	print_message("off-CPU: %lld ms blocked in %lld periods, %lld ms in wisp_test_nap, %lld ms sleeping; "
		      "switches %llu, taken %llu, lost %llu, recorded %llu, unmatched %llu\n",
		      (long long)(n.blocked_ns / 1000000), (long long)n.count, (long long)(n.in_nap_ns / 1000000),
		      (long long)(n.sleeping_ns / 1000000), (unsigned long long)cs.offcpu_switches,
		      (unsigned long long)cs.offcpu_taken, (unsigned long long)cs.offcpu_lost,
		      (unsigned long long)cs.offcpu.periods, (unsigned long long)cs.offcpu.unmatched);
	/* Ten 100 ms naps, each a period at wisp_test_nap (not a millisecond more than the
	 * wakeups' latency); the warm-up sleeps are elsewhere. */
	assert_true(n.in_nap_ns >= 990000000LL && n.in_nap_ns <= 1200000000LL);
	assert_true(n.count >= 10);
	assert_true(n.sleeping_ns >= n.in_nap_ns);
	assert_true(cs.offcpu_taken >= 10 && cs.offcpu_switches >= cs.offcpu_taken);
	assert_int_equal(cs.offcpu_lost, 0);
	/* The same stack_samples scan sees no off-CPU rows, the off-CPU ring no CPU samples. */
	struct found f = {.pid = getpid(), .tid = gettid()};
	assert_int_equal(ring_scan(off, "stack_samples", INT64_MIN, INT64_MAX, 0, inspect, &f), 0);
	assert_int_equal(f.all, 0);
	ring_free(r);
	ring_free(off);
}

static void bad_config_is_an_error(void **state)
{
	(void)state;
	struct ring_config rc = {1u << 20, "test", 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&rc);
	struct collector_config cc = {0, 1 << 20, false, 0, false, NULL, {0}, 0, 0};
	char err[256];
	assert_null(collector_start(&cc, r, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "--hz"));
	ring_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(samples_this_process),
		cmocka_unit_test(offcpu_periods),
		cmocka_unit_test(bad_config_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
