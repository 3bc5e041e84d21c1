/* storm.c - the off-CPU switch hook's duty cycle (see storm.h). */
#include "storm.h"
#include <linux/types.h>
#include "profile.h"
#include "core/clock.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MS 1000000LL
#define MINUTE_CYCLES (60000 / STORM_CYCLE_MS)

struct storm {
	struct bpf_program *prog;
	struct bpf_link *link;     /* NULL while the hook is off (the thread's once it runs) */
	int counters_fd, possible; /* the BPF counters, and the CPUs they have a slot for */
	volatile uint32_t *scale;  /* the BPF program's offcpu_scale and offcpu_taking */
	volatile bool *taking;
	uint32_t rate;
	int ncpus;
	pthread_t thread;
	bool thread_started;
	int64_t attached_at;       /* mono ns of the last attach, or of the last accounting since */
	pthread_mutex_t mu;        /* guards what follows */
	pthread_cond_t cv;
	bool stop;
	struct {
		uint64_t hook, elapsed; /* ns attached, of ns long */
	} minute[MINUTE_CYCLES];        /* the last cycles (a ring at minute_at): about a minute */
	int minute_at, minute_n;
};

/* The host's context switches so far (/proc/stat's ctxt: all of them, the hook on or off); 0
 * when unreadable. */
static uint64_t host_switches(void)
{
	char line[256];
	unsigned long long n = 0;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "ctxt %llu", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Switches away from user threads so far, all CPUs (counted by the hook: while attached). */
static uint64_t switches(struct storm *s)
{
	uint64_t vals[s->possible], sum = 0;
	uint32_t key = WISP_CNT_OFFCPU_SWITCHES;
	if (bpf_map_lookup_elem(s->counters_fd, &key, vals) != 0)
		return 0;
	for (int i = 0; i < s->possible; i++)
		sum += vals[i];
	return sum;
}

/* The time attached since the last accounting (or the attach). */
static uint64_t account(struct storm *s)
{
	if (!s->link)
		return 0;
	int64_t now = mono_now_ns();
	uint64_t ns = (uint64_t)(now - s->attached_at);
	s->attached_at = now;
	return ns;
}

/* 0, or -errno. Already attached: 0. */
static int attach(struct storm *s)
{
	if (s->link)
		return 0;
	if (!(s->link = bpf_program__attach(s->prog)))
		return -errno;
	s->attached_at = mono_now_ns();
	return 0;
}

static uint64_t detach(struct storm *s)
{
	uint64_t ns = account(s);
	bpf_link__destroy(s->link);
	s->link = NULL;
	return ns;
}

/* Sleeps until mono ns t; false when stopped. */
static bool wait_until(struct storm *s, int64_t t)
{
	struct timespec ts = {t / 1000000000LL, t % 1000000000LL};
	pthread_mutex_lock(&s->mu);
	while (!s->stop && mono_now_ns() < t)
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	bool go = !s->stop;
	pthread_mutex_unlock(&s->mu);
	return go;
}

/* What a storm window's periods stand for, x WISP_OFFCPU_SCALE_ONE: the last cycle's switches
 * over its window's, both from the host's count. Not the nominal cycle / window: the hook slows
 * what it watches (a ping-pong switches about 7 % slower while it is on), so a window sees fewer
 * switches than its share of the cycle had, and counts came out 6 to 10 % short. The nominal
 * ratio for a storm's first window, and when the count is unreadable; at most four times it. */
static uint32_t window_scale(uint64_t cycle, uint64_t window)
{
	double nominal = (double)STORM_CYCLE_MS / STORM_WINDOW_MS;
	double r = cycle && window && cycle > window ? (double)cycle / (double)window : nominal;
	if (r > 4 * nominal)
		r = 4 * nominal;
	return (uint32_t)(r * WISP_OFFCPU_SCALE_ONE + 0.5);
}

static void *storm_thread(void *arg)
{
	struct storm *s = arg;
	bool storm = false, warned = false;
	int64_t t0 = mono_now_ns();
	uint64_t win0 = 0, win = 0; /* the last storm window: host switches at its start, and in it */
	double last_rate = 0;       /* switches a second per CPU in the last look */
	for (;;) {
		/* The scale first: the hook may already be attached (a storm that begins). */
		if (storm) {
			uint64_t now = host_switches();
			*s->scale = window_scale(win && now > win0 ? now - win0 : 0, win);
		} else {
			*s->scale = WISP_OFFCPU_SCALE_ONE;
			win = 0;
		}
		*s->taking = true;
		int err = attach(s);
		if (err && !warned) {
			fprintf(stderr, "wispd: cannot attach the off-CPU switch hook again: %s (retrying each cycle)\n",
				strerror(-err));
			warned = true;
		}
		uint64_t sw0 = switches(s);
		int64_t on0 = mono_now_ns();
		double rate = 0;
		if (storm) {
			/* The window from when the hook is on: attaching takes a few milliseconds, and a
			 * window cut short by them would stand for the cycle as if it were whole. */
			win0 = host_switches();
			if (!wait_until(s, on0 + STORM_WINDOW_MS * MS))
				goto out;
			*s->taking = false;
			win = host_switches() - win0;
			if (!wait_until(s, on0 + (STORM_WINDOW_MS + STORM_CLOSE_MS) * MS))
				goto out;
			int64_t on = mono_now_ns() - on0;
			rate = s->link && on > 0 ? (double)(switches(s) - sw0) * 1e9 / (double)on / s->ncpus : 0;
		} else {
			/* Attached throughout, until the cycle's end or a storm. A host far below the
			 * storm rate (under a quarter of it) is looked at once a cycle: each look is a
			 * wakeup and a map read, 24 a second cost 1.7 ms a second on this VM. */
			int64_t step = on0;
			uint64_t sw = sw0;
			int64_t check = last_rate * 4 >= s->rate ? STORM_CHECK_MS * MS : STORM_CYCLE_MS * MS;
			while (rate < s->rate && step < t0 + STORM_CYCLE_MS * MS) {
				int64_t next = step + check;
				if (!wait_until(s, next < t0 + STORM_CYCLE_MS * MS ? next : t0 + STORM_CYCLE_MS * MS))
					goto out;
				int64_t now = mono_now_ns();
				uint64_t sw1 = switches(s);
				rate = s->link && now > step ? (double)(sw1 - sw) * 1e9 / (double)(now - step) / s->ncpus : 0;
				step = now;
				sw = sw1;
			}
			last_rate = rate;
		}
		uint64_t hook = storm ? detach(s) : account(s);
		pthread_mutex_lock(&s->mu);
		s->minute[s->minute_at].hook = hook;
		s->minute[s->minute_at].elapsed = storm ? (uint64_t)STORM_CYCLE_MS * MS : (uint64_t)(mono_now_ns() - t0);
		s->minute_at = (s->minute_at + 1) % MINUTE_CYCLES;
		if (s->minute_n < MINUTE_CYCLES)
			s->minute_n++;
		pthread_mutex_unlock(&s->mu);
		bool was = storm;
		storm = rate >= s->rate;
		if (!was && storm) { /* a storm ended this cycle early: the first window starts now */
			t0 = mono_now_ns();
			continue;
		}
		t0 += STORM_CYCLE_MS * MS;
		if (!wait_until(s, t0))
			goto out;
		if (mono_now_ns() > t0 + STORM_CYCLE_MS * MS) /* fell behind (a stopped process): start afresh */
			t0 = mono_now_ns();
	}
out:
	return NULL;
}

struct storm *storm_start(struct bpf_program *prog, struct bpf_map *counters, volatile uint32_t *scale,
			  volatile bool *taking, uint32_t rate, int ncpus, char *err, size_t errlen)
{
	struct storm *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	*s = (struct storm){.prog = prog, .counters_fd = bpf_map__fd(counters), .possible = libbpf_num_possible_cpus(),
			    .scale = scale, .taking = taking, .rate = rate, .ncpus = ncpus > 0 ? ncpus : 1};
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	*scale = WISP_OFFCPU_SCALE_ONE;
	*taking = true;
	int rc = attach(s);
	if (rc) {
		snprintf(err, errlen, "cannot attach to the scheduler's switch tracepoint (--offcpu off runs without): %s",
			 strerror(-rc));
		goto fail;
	}
	if (s->possible <= 0 || s->possible > 4096) {
		snprintf(err, errlen, "cannot count the possible CPUs");
		goto fail;
	}
	if (rate && pthread_create(&s->thread, NULL, storm_thread, s) != 0) {
		snprintf(err, errlen, "cannot start the off-CPU hook's thread");
		goto fail;
	}
	s->thread_started = rate != 0;
	return s;
fail:
	storm_stop(s);
	return NULL;
}

void storm_stop(struct storm *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	if (s->link)
		detach(s);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void storm_get_stats(struct storm *s, struct storm_stats *out)
{
	pthread_mutex_lock(&s->mu);
	uint64_t hook = 0, elapsed = 0;
	for (int i = 0; i < s->minute_n; i++) {
		hook += s->minute[i].hook;
		elapsed += s->minute[i].elapsed;
	}
	/* Without a thread (never paused) or before its first cycle: attached all along. */
	out->hook_pct = elapsed ? (int)(hook * 100 / elapsed) : 100;
	pthread_mutex_unlock(&s->mu);
}
