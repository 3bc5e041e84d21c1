/* collector.c - BPF sampler -> symbolizer -> ring (see collector.h). */
#include "collector.h"
#include "progress.h"
#include "agent/kube/kube.h"
#include "agent/python/pyprocs.h"
#include "agent/symbolize/symbolize.h"
#include "agent/unwind/unwinder.h"
#include "profile.skel.h"
#include "profile.h"
#include "unwind.h"
#include "ring/ring.h"

#include "core/intern.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct collector {
	struct wisp_profile *skel;
	struct bpf_link **links;   /* one per sampled CPU */
	struct bpf_link *exec_link, *exit_link, *switch_link;
	struct unwinder *unwinder;
	struct py_procs *python;   /* CPython processes (the unwinder's loader tells it of them) */
	int *perf_fds;
	int nlinks;
	struct ring_buffer *rb;
	struct ring *ring;
	struct offcpu *offcpu;     /* NULL without off-CPU capture (drain thread's) */
	struct symbolizer *sym;
	struct kube *kube;         /* drain thread's, like sym */
	char *names;               /* the current sample's frame names (drain thread; grown, reused) */
	size_t names_cap;
	struct progress *progress; /* not owned (the source's) */
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	int64_t boot_to_wall;      /* add to CLOCK_BOOTTIME ns to get wall-clock ns */
	int64_t next_clock_sync;   /* boot ns at which to refresh boot_to_wall */
	time_t next_expire;
	atomic_uint_fast64_t appended, append_failed;
	atomic_uint_fast64_t unwind_end[WISP_UNWIND_END_MAX], unwind_fp_used;
	atomic_uint_fast64_t py_end[WISP_PY_END_MAX];
	int hz;
};

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sync_clocks(struct collector *c)
{
	int64_t wall = clock_ns(CLOCK_REALTIME), boot = clock_ns(CLOCK_BOOTTIME);
	c->boot_to_wall = wall - boot;
	c->next_clock_sync = boot + 10LL * 1000000000LL;
}

/* Online CPUs from /sys/devices/system/cpu/online ("0-3,5"). Returns count, fills cpus. */
static int online_cpus(int *cpus, int max)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	char buf[1024];
	int n = 0;
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	for (char *tok = strtok(buf, ",\n"); tok && n < max; tok = strtok(NULL, ",\n")) {
		int a, b;
		if (sscanf(tok, "%d-%d", &a, &b) == 2) {
			for (int i = a; i <= b && n < max; i++)
				cpus[n++] = i;
		} else if (sscanf(tok, "%d", &a) == 1) {
			cpus[n++] = a;
		}
	}
	return n;
}

/* A user address expands to at most this many frames (the function and the callees inlined
 * into it), and a sample to at most SAMPLE_MAX_FRAMES. */
#define INLINE_MAX 8
#define SAMPLE_MAX_FRAMES (WISP_MAX_FRAMES * (1 + INLINE_MAX) + WISP_PY_MAX_FRAMES + 1)
_Static_assert(SAMPLE_MAX_FRAMES <= STACK_MAX_FRAMES, "a sample's frames (and a truncation mark) fit in one stack");
_Static_assert(COLLECTOR_UNWIND_ENDS == WISP_UNWIND_END_MAX, "collector.h counts every way a walk ends");
_Static_assert(COLLECTOR_PY_ENDS == WISP_PY_END_MAX, "collector.h counts every way a Python walk ends");

/* The root frame that says why a user stack is incomplete, or NULL when it is not. */
static const char *truncation_frame(int end)
{
	switch (end) {
	case WISP_UNWIND_END_READ: return "[truncated: stack unreadable]";
	case WISP_UNWIND_END_DEPTH: return "[truncated: too deep]";
	case WISP_UNWIND_END_BAD_FP: return "[truncated: no unwind info]";
	default: return NULL;
	}
}

/* Longest name kept (a C++ name with its template arguments and parameters can run to pages). */
#define NAME_MAX_BYTES 2048

/* Appends name to c->names; its offset, or -1 on out-of-memory. */
static long keep_name(struct collector *c, size_t *used, const char *name)
{
	size_t l = strnlen(name, NAME_MAX_BYTES - 1);
	if (*used + l + 1 > c->names_cap) {
		size_t cap = c->names_cap ? 2 * c->names_cap : 65536;
		while (cap < *used + l + 1)
			cap *= 2;
		char *n = realloc(c->names, cap);
		if (!n)
			return -1;
		c->names = n;
		c->names_cap = cap;
	}
	memcpy(c->names + *used, name, l);
	c->names[*used + l] = '\0';
	*used += l + 1;
	return (long)(*used - l - 1);
}

/* The tracing machinery a switch record's kernel stack starts with (the program's own caller),
 * not where the thread waits: everything above the scheduler's entry is dropped. */
static int skip_switch_frames(struct collector *c, const struct wisp_sample *s, int nk)
{
	for (int i = 0; i < nk && i < 8; i++) {
		const char *name = symbolize_kernel(c->sym, s->ips[i]);
		if (!strcmp(name, "__schedule") || !strncmp(name, "__schedule.", 11))
			return i;
	}
	return 0;
}

static int handle_record(void *ctx, void *data, size_t size)
{
	struct collector *c = ctx;
	const struct wisp_sample *s = data;
	const char *frames[SAMPLE_MAX_FRAMES], *user[INLINE_MAX];
	long offs[SAMPLE_MAX_FRAMES];
	char comm[WISP_COMM_LEN + 1];
	size_t used = 0;

	if (size == sizeof(struct wisp_offcpu_end)) {
		const struct wisp_offcpu_end *e = data;
		if ((int64_t)e->time_ns > c->next_clock_sync)
			sync_clocks(c);
		if (c->offcpu)
			offcpu_end(c->offcpu, e->tid, (int64_t)e->time_ns + c->boot_to_wall, e->blocked_ns, e->weight);
		return 0;
	}
	if (size < offsetof(struct wisp_sample, py))
		return 0;
	bool start = s->kind == WISP_REC_OFFCPU_START;
	if (start && !c->offcpu)
		return 0;
	int nk = s->kstack_n, nu = s->ustack_n, npy = s->py_n;
	if (nk > WISP_MAX_FRAMES)
		nk = WISP_MAX_FRAMES;
	if (nu > WISP_MAX_FRAMES)
		nu = WISP_MAX_FRAMES;
	if (offsetof(struct wisp_sample, ips) + (size_t)(nk + nu) * sizeof(__u64) > size)
		return 0;
	if (npy > WISP_PY_MAX_FRAMES || offsetof(struct wisp_sample, py) + (size_t)npy * sizeof(s->py[0]) > size)
		npy = 0;
	/* A Python process: each frame of the interpreter's eval function gives way to the Python
	 * frames it was running (innermost first, up to the one that entered it). */
	uint64_t eval_lo = 0, eval_hi = 0;
	if (npy && (!c->python || !py_procs_eval_range(c->python, s->pid, &eval_lo, &eval_hi)))
		npy = 0;
	int py_at = 0, k0 = start ? skip_switch_frames(c, s, nk) : 0;
	/* A name the symbolizer returns is valid until its next call: each is copied, whole. */
	int n = 0;
	for (int i = k0; i < nk; i++)
		offs[n++] = keep_name(c, &used, symbolize_kernel(c->sym, s->ips[i]));
	for (int i = 0; i < nu; i++) {
		/* Callers' addresses are return addresses: look up the call instruction (ip - 1). */
		uint64_t ip = s->ips[nk + i] - (i > 0);
		if (py_at < npy && ip >= eval_lo && ip < eval_hi) {
			do
				offs[n++] = keep_name(c, &used, py_procs_frame(c->python, s->pid, &s->py[py_at]));
			while (!(s->py[py_at++].flags & WISP_PY_F_ENTRY) && py_at < npy);
			continue;
		}
		int m = symbolize_user(c->sym, s->pid, ip, user, INLINE_MAX);
		for (int k = 0; k < m; k++)
			offs[n++] = keep_name(c, &used, user[k]);
	}
	/* Python frames the native walk did not reach (it was cut short) go at its root end. */
	while (py_at < npy)
		offs[n++] = keep_name(c, &used, py_procs_frame(c->python, s->pid, &s->py[py_at++]));
	atomic_fetch_add(&c->py_end[s->py_end < WISP_PY_END_MAX ? s->py_end : WISP_PY_END_READ], 1);
	for (int i = 0; i < n; i++)
		frames[i] = offs[i] >= 0 ? c->names + offs[i] : "[out of memory]";
	int end = s->unwind_end < WISP_UNWIND_END_MAX ? s->unwind_end : WISP_UNWIND_END_READ;
	const char *why = nu ? truncation_frame(end) : NULL;
	if (why)
		frames[n++] = why;
	atomic_fetch_add(&c->unwind_end[end], 1);
	if (s->unwind_flags & WISP_UNWIND_F_FP_USED)
		atomic_fetch_add(&c->unwind_fp_used, 1);
	if (c->unwinder && (end == WISP_UNWIND_END_NO_PROC || (s->unwind_flags & WISP_UNWIND_F_MAP_MISS)))
		unwinder_request(c->unwinder, s->pid, end != WISP_UNWIND_END_NO_PROC); /* stale: a pc missed */
	memcpy(comm, s->comm, WISP_COMM_LEN);
	comm[WISP_COMM_LEN] = '\0';

	if ((int64_t)s->time_ns > c->next_clock_sync)
		sync_clocks(c);
	struct kube_names kn;
	kube_names(c->kube, s->pid, (int64_t)s->cgroup_id, &kn);
	struct ring_sample rs = {
		.time_ns = (int64_t)s->time_ns + c->boot_to_wall,
		.pid = s->pid,
		.tid = s->tid,
		.cpu = s->cpu,
		.cgroup = (int64_t)s->cgroup_id,
		.count = 1,
		.comm = comm,
		.container = kn.container,
		.pod = kn.pod,
		.namespace = kn.namespace,
		.frames = frames,
		.nframes = (uint16_t)n,
		.nkernel = (uint16_t)(nk - k0),
	};
	if (start)
		offcpu_begin(c->offcpu, &rs, s->offcpu_state);
	else if (ring_append(c->ring, &rs) == 0)
		atomic_fetch_add(&c->appended, 1);
	else
		atomic_fetch_add(&c->append_failed, 1);
	return 0;
}

/* Samples are submitted without wakeups (BPF_RB_NO_WAKEUP): drain every DRAIN_MS, or at once when
 * a query waits for samples up to a time that has come (progress_wait). At 99 Hz on 16 CPUs the
 * 8 MiB buffer holds ~2.5 s of samples, far more than one period.
 *
 * What a drain publishes: the wall-clock time when it began, less PROGRESS_SLACK_NS. A sample
 * stamped before that had been submitted by then (the BPF program stamps and submits within
 * microseconds, and a record still being written stops the drain, to be read by the next); the
 * slack covers that and the drift of boot_to_wall between its refreshes. */
#define DRAIN_MS 50
#define PROGRESS_SLACK_NS 2000000LL

static void *drain_thread(void *arg)
{
	struct collector *c = arg;
	while (!atomic_load(&c->stop)) {
		int64_t began = clock_ns(CLOCK_REALTIME);
		int err = ring_buffer__consume(c->rb);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "wispd: ring buffer drain failed: %s\n", strerror(-err));
			break;
		}
		progress_publish(c->progress, began - PROGRESS_SLACK_NS);
		symbolizer_tick(c->sym);
		time_t now = time(NULL);
		if (now >= c->next_expire) {
			symbolizer_expire(c->sym, 60);
			kube_expire(c->kube, 60);
			c->next_expire = now + 30;
		}
		progress_nap(c->progress, DRAIN_MS * 1000000LL);
	}
	return NULL;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

struct collector *collector_start(const struct collector_config *cfg, struct ring *ring, struct ring *offcpu_ring,
				  char *err, size_t errlen)
{
	struct collector *c = calloc(1, sizeof(*c));
	int cpus[1024], ncpus, rc;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->ring = ring;
	c->progress = cfg->progress;
	c->hz = cfg->hz;
	libbpf_set_print(libbpf_quiet);
	if (cfg->hz < 1 || cfg->hz > 10000) {
		snprintf(err, errlen, "--hz must be between 1 and 10000");
		goto fail;
	}
	if (offcpu_ring && !(c->offcpu = offcpu_new(offcpu_ring))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!(c->sym = symbolizer_new())) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!(c->kube = kube_new(&cfg->kube, err, errlen)))
		goto fail;
	if (!(c->skel = wisp_profile__open())) {
		snprintf(err, errlen, "cannot open the BPF program: %s", strerror(errno));
		goto fail;
	}
	c->skel->rodata->include_idle = cfg->include_idle;
	if (cfg->ringbuf_bytes)
		bpf_map__set_max_entries(c->skel->maps.wisp_events, (uint32_t)cfg->ringbuf_bytes);
	/* --unwind-mb 0: no tables, the kernel's frame-pointer walk only (the maps stay minimal). */
	uint32_t unwind_pairs = cfg->unwind_mb ? (uint32_t)(cfg->unwind_mb * (1u << 20) / sizeof(uint64_t)) : 1;
	bpf_map__set_max_entries(c->skel->maps.wisp_unwind_rows, unwind_pairs);
	c->skel->rodata->unwind_user = cfg->unwind_mb > 0;
	c->skel->rodata->offcpu_rate = offcpu_ring ? cfg->offcpu_rate : 0;
	/* Without off-CPU capture the switch program is neither loaded nor attached. */
	bpf_program__set_autoload(c->skel->progs.wisp_on_switch, offcpu_ring != NULL);
	if ((rc = wisp_profile__load(c->skel)) != 0) {
		snprintf(err, errlen, "cannot load the BPF program: %s (wispd needs root, or CAP_BPF + CAP_PERFMON)",
			 strerror(-rc));
		goto fail;
	}
	if (cfg->unwind_mb && cfg->python && !(c->python = py_procs_new(bpf_map__fd(c->skel->maps.wisp_py_procs)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	struct unwinder_maps um = {
		.procs_fd = bpf_map__fd(c->skel->maps.wisp_unwind_procs),
		.procs_cap = bpf_map__max_entries(c->skel->maps.wisp_unwind_procs),
		.rows_fd = bpf_map__fd(c->skel->maps.wisp_unwind_rows),
		.rows_cap = unwind_pairs * WISP_UNWIND_PAIR_ROWS,
		.rules_fd = bpf_map__fd(c->skel->maps.wisp_unwind_rules),
		.pages_fd = bpf_map__fd(c->skel->maps.wisp_unwind_pages),
		.pages_cap = bpf_map__max_entries(c->skel->maps.wisp_unwind_pages),
		.exec_events_fd = bpf_map__fd(c->skel->maps.wisp_exec_events),
		.python = c->python,
	};
	if (cfg->unwind_mb && !(c->unwinder = unwinder_new(&um, err, errlen)))
		goto fail;
	if (!(c->exec_link = bpf_program__attach(c->skel->progs.wisp_on_exec)) ||
	    !(c->exit_link = bpf_program__attach(c->skel->progs.wisp_on_exit))) {
		snprintf(err, errlen, "cannot attach to the scheduler's exec and exit tracepoints: %s", strerror(errno));
		goto fail;
	}
	if (offcpu_ring && !(c->switch_link = bpf_program__attach(c->skel->progs.wisp_on_switch))) {
		snprintf(err, errlen, "cannot attach to the scheduler's switch tracepoint (--offcpu off runs without): %s",
			 strerror(errno));
		goto fail;
	}
	if ((ncpus = online_cpus(cpus, 1024)) <= 0) {
		snprintf(err, errlen, "cannot read the online CPUs");
		goto fail;
	}
	c->links = calloc(ncpus, sizeof(*c->links));
	c->perf_fds = calloc(ncpus, sizeof(int));
	if (!c->links || !c->perf_fds) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (int i = 0; i < ncpus; i++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.size = sizeof(attr),
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.sample_freq = (uint64_t)cfg->hz,
			.freq = 1,
		};
		int fd = (int)syscall(__NR_perf_event_open, &attr, -1, cpus[i], -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			if (errno == ENODEV) /* went offline */
				continue;
			snprintf(err, errlen, "perf_event_open on CPU %d: %s", cpus[i], strerror(errno));
			goto fail;
		}
		c->perf_fds[c->nlinks] = fd;
		c->links[c->nlinks] = bpf_program__attach_perf_event(c->skel->progs.wisp_sample_cpu, fd);
		if (!c->links[c->nlinks]) {
			snprintf(err, errlen, "attaching to CPU %d: %s", cpus[i], strerror(errno));
			close(fd);
			goto fail;
		}
		c->nlinks++;
	}
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.wisp_events), handle_record, c, NULL);
	if (!c->rb) {
		snprintf(err, errlen, "cannot open the BPF ring buffer: %s", strerror(errno));
		goto fail;
	}
	sync_clocks(c);
	c->next_expire = time(NULL) + 30;
	if (pthread_create(&c->thread, NULL, drain_thread, c) != 0) {
		snprintf(err, errlen, "cannot start the collector thread");
		goto fail;
	}
	c->thread_started = true;
	return c;
fail:
	collector_stop(c);
	return NULL;
}

void collector_stop(struct collector *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, true);
	if (c->thread_started)
		pthread_join(c->thread, NULL);
	ring_buffer__free(c->rb);
	for (int i = 0; i < c->nlinks; i++) {
		bpf_link__destroy(c->links[i]);
		close(c->perf_fds[i]);
	}
	free(c->links);
	free(c->perf_fds);
	bpf_link__destroy(c->exec_link);
	bpf_link__destroy(c->exit_link);
	bpf_link__destroy(c->switch_link); /* before the thread's offcpu goes: no more records */
	unwinder_free(c->unwinder); /* before the maps it writes go, and the registry it tells */
	py_procs_free(c->python);
	free(c->names);
	offcpu_free(c->offcpu);
	wisp_profile__destroy(c->skel);
	symbolizer_free(c->sym);
	kube_free(c->kube);
	free(c);
}

void collector_get_stats(struct collector *c, struct collector_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->appended = atomic_load(&c->appended);
	out->append_failed = atomic_load(&c->append_failed);
	out->ncpus = c->nlinks;
	out->hz = c->hz;
	for (int i = 0; i < WISP_UNWIND_END_MAX; i++)
		out->unwind_end[i] = atomic_load(&c->unwind_end[i]);
	out->unwind_fp_used = atomic_load(&c->unwind_fp_used);
	for (int i = 0; i < WISP_PY_END_MAX; i++)
		out->py_end[i] = atomic_load(&c->py_end[i]);
	if (c->python)
		py_procs_get_stats(c->python, &out->python);
	if (c->unwinder)
		unwinder_get_stats(c->unwinder, &out->unwinder);
	kube_get_stats(c->kube, &out->kube);
	if (c->offcpu)
		offcpu_get_stats(c->offcpu, &out->offcpu);
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0 || ncpu > 4096)
		return;
	uint64_t vals[ncpu];
	uint64_t *dst[WISP_CNT_MAX] = {
		[WISP_CNT_SAMPLES] = &out->bpf_samples, [WISP_CNT_LOST] = &out->bpf_lost, [WISP_CNT_IDLE] = &out->bpf_idle,
		[WISP_CNT_PY_WALKS] = &out->py_walks, [WISP_CNT_PY_NS] = &out->py_walk_ns,
		[WISP_CNT_OFFCPU_SWITCHES] = &out->offcpu_switches, [WISP_CNT_OFFCPU_TAKEN] = &out->offcpu_taken,
		[WISP_CNT_OFFCPU_LOST] = &out->offcpu_lost,
	};
	int fd = bpf_map__fd(c->skel->maps.wisp_counters);
	for (uint32_t k = 0; k < WISP_CNT_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals) != 0)
			continue;
		for (int i = 0; i < ncpu; i++)
			*dst[k] += vals[i];
	}
}
