/* collector.c - BPF sampler -> symbolizer -> ring (see collector.h). */
#include "collector.h"
#include "progress.h"
#include "memo.h"
#include "storm.h"
#include "agent/kube/kube.h"
#include "agent/python/pyprocs.h"
#include "agent/symbolize/symbolize.h"
#include "agent/unwind/unwinder.h"
#include "profile.skel.h"
#include "profile.h"
#include "unwind.h"
#include "ring/ring.h"

#include "core/hashmap.h"
#include "core/intern.h"

#include <assert.h>
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

/* Addresses a record holds at most (kernel, user, Python): a frame each, and as many frames the
 * frame memo may drop while the record is handled (one put per address named). */
#define RECORD_MAX_ADDRS (2 * WISP_MAX_FRAMES + WISP_PY_MAX_FRAMES)

struct collector {
	struct wisp_profile *skel;
	struct bpf_link **links;   /* one per sampled CPU */
	struct bpf_link *exec_link, *exit_link;
	struct storm *storm;       /* the switch hook (off-CPU capture only) */
	struct unwinder *unwinder;
	struct py_procs *python;   /* CPython processes (the unwinder's loader tells it of them) */
	int *perf_fds;
	int nlinks;
	struct ring_buffer *rb;
	struct ring *ring, *offcpu_ring; /* offcpu_ring: NULL without off-CPU capture */
	/* What the drain thread remembers (below): frames by address, and stacks by frames in ring and
	 * offcpu_ring. */
	struct memo *frames, *stacks, *offcpu_stacks;
	struct stack *held;        /* a stack not remembered: the handled record's reference */
	void *dead[RECORD_MAX_ADDRS]; /* frames the memo dropped while the record is handled */
	size_t ndead;
	bool in_record;            /* a record is being handled: dropped frames wait in dead */
	struct offcpu *offcpu;     /* NULL without off-CPU capture (drain thread's) */
	struct symbolizer *sym;
	struct kube *kube;         /* drain thread's, like sym */
	struct progress *progress; /* not owned (the source's) */
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	int64_t boot_to_wall;      /* add to CLOCK_BOOTTIME ns to get wall-clock ns */
	int64_t next_clock_sync;   /* boot ns at which to refresh boot_to_wall */
	time_t next_expire;
	time_t now;                /* the drain's clock: set each time it drains */
	int64_t drain_ns;          /* the drain's period (drain_interval) */
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

/* ---- what the collector remembers (memo.h) ----------------------------------------------------
 *
 * Frames: one address's names, leaf first (a user address: its function and the callees inlined
 * there), keyed by where the address lives: a kernel address alone; a user address with its pid
 * and that process's address-space generation (symbolize.h); a Python frame with its pid, code
 * object, instruction and the code object's signature. A frame is remembered only when settled:
 * named from what cannot change under its key.
 *
 * Stacks: the stack interned in a ring, keyed by the content hashes of its frames in order, with
 * the number of kernel frames and how the user walk ended (the truncation frame). The key holds
 * no pid: processes of one binary share their stacks. A stack is remembered only when each of its
 * frames is settled. Two stacks share a key only when a frame's 64-bit content hash collides.
 *
 * A sample seen before costs a memo lookup per address and one for the stack; nothing is named,
 * copied or interned. Frames the frame memo drops while a record is handled stay alive until the
 * record is done (c->dead), so a record holds all its frames at once. */
#define FRAME_MEMO_SLOTS 16384
#define STACK_MEMO_SLOTS 8192
#define MEMO_MAX_AGE_S 60

/* The stacks a stack memo holds stay in its ring (and count in its budget) while held: at most
 * one per 8 KiB of the budget (a 256 MiB ring: STACK_MEMO_SLOTS; 1 MiB: 128). */
static size_t stack_memo_slots(struct ring *r)
{
	struct ring_stats rs;
	ring_get_stats(r, &rs);
	size_t slots = 128;
	while (slots < STACK_MEMO_SLOTS && slots * 2 * 8192 <= rs.budget)
		slots *= 2;
	return slots;
}

struct frames {
	uint64_t hash;   /* of n and names: what a stack's key holds for this frame */
	uint16_t n;      /* names, NUL-terminated one after another */
	char names[];
};

/* A record's frame: its names (read only when its stack is new) and their content hash (kept in
 * the frame memo beside the key, so a remembered frame is found without reading its names). */
struct frame_ref {
	const struct frames *f;
	uint64_t hash;
};

/* Frees a dropped frames value, once the record being handled is done. */
static void bury(void *ud, void *value)
{
	struct collector *c = ud;
	if (!c->in_record) {
		free(value);
		return;
	}
	assert(c->ndead < RECORD_MAX_ADDRS);
	c->dead[c->ndead++] = value;
}

static void unbury(struct collector *c)
{
	for (size_t i = 0; i < c->ndead; i++)
		free(c->dead[i]);
	c->ndead = 0;
}

static void release_stack(void *ud, void *value)
{
	ring_release_stack(ud, value);
}

/* The frames of names[0 .. n) into *out, remembered under key when settled (else freed with the
 * record). 0, or -1 on out-of-memory. */
static int remember(struct collector *c, const uint64_t *key, size_t nkey, const char *const *names, int n,
		    bool settled, struct frame_ref *out)
{
	size_t len = 0, l[INLINE_MAX];
	assert(n >= 1 && n <= INLINE_MAX);
	for (int i = 0; i < n; i++)
		len += (l[i] = strnlen(names[i], NAME_MAX_BYTES - 1)) + 1;
	struct frames *f = malloc(sizeof(*f) + len);
	if (!f)
		return -1;
	char *p = f->names;
	for (int i = 0; i < n; i++) {
		memcpy(p, names[i], l[i]);
		p[l[i]] = '\0';
		p += l[i] + 1;
	}
	f->n = (uint16_t)n;
	f->hash = hash_bytes(f->names, len, (uint64_t)n);
	if (!settled || memo_put(c->frames, key, nkey, f, sizeof(*f) + len, f->hash, c->now) < 0)
		bury(c, f);
	*out = (struct frame_ref){f, f->hash};
	return 0;
}

/* Each of these gives the frame of one address into *out: 0, or -1 on out-of-memory. *settled
 * becomes false when its names may still change (not remembered). */
static int kernel_frame(struct collector *c, uint64_t ip, struct frame_ref *out)
{
	uint64_t key[2] = {0, ip};
	if ((out->f = memo_get(c->frames, key, 2, c->now, &out->hash)))
		return 0;
	const char *name = symbolize_kernel(c->sym, ip);
	return remember(c, key, 2, &name, 1, true, out);
}

/* ip: a return address's call instruction already (ip - 1 for callers). */
static int user_frame(struct collector *c, uint32_t pid, uint32_t generation, uint64_t ip, struct frame_ref *out,
		      bool *settled)
{
	uint64_t key[3] = {1 | (uint64_t)pid << 8, generation, ip};
	if (generation && (out->f = memo_get(c->frames, key, 3, c->now, &out->hash)))
		return 0;
	const char *names[INLINE_MAX];
	bool unsettled = !generation;
	int n = symbolize_user(c->sym, pid, ip, names, INLINE_MAX, &unsettled);
	/* Named under the generation it is keyed by: maps re-read meanwhile leave it unsettled. */
	unsettled |= symbolize_generation(c->sym, pid) != generation;
	*settled &= !unsettled;
	return remember(c, key, 3, names, n, !unsettled, out);
}

static int python_frame(struct collector *c, uint32_t pid, const struct wisp_py_frame *pf, struct frame_ref *out,
			bool *settled)
{
	uint64_t key[3] = {2 | (uint64_t)pid << 8, pf->code, pf->lasti | (uint64_t)pf->sig << 32};
	if ((out->f = memo_get(c->frames, key, 3, c->now, &out->hash)))
		return 0;
	bool unsettled = false;
	const char *name = py_procs_frame(c->python, pid, pf, &unsettled);
	*settled &= !unsettled;
	return remember(c, key, 3, &name, 1, !unsettled, out);
}

/* The frames of a record, leaf first: kernel, then user with Python's spliced in. Returns how
 * many (fr[0 .. nk) the kernel's), or -1 on out-of-memory; *settled false when one is not. */
static int record_frames(struct collector *c, const struct wisp_sample *s, int nk, int nu, int npy,
			 struct frame_ref *fr, bool *settled)
{
	int n = 0;
	const struct wisp_py_frame *py = wisp_sample_py(s, (unsigned)nk, (unsigned)nu);
	for (int i = 0; i < nk; i++)
		if (kernel_frame(c, s->data[i], &fr[n++]) < 0)
			return -1;
	if (!nu && !npy)
		return n;
	uint32_t generation = symbolize_generation(c->sym, s->pid);
	/* A Python process: each frame of the interpreter's eval function gives way to the Python
	 * frames it was running (innermost first, up to the one that entered it). */
	uint64_t eval_lo = 0, eval_hi = 0;
	if (npy && (!c->python || !py_procs_eval_range(c->python, s->pid, &eval_lo, &eval_hi))) {
		npy = 0;
		*settled = false; /* named without its Python frames until the process is known */
	}
	int py_at = 0;
	for (int i = 0; i < nu; i++) {
		/* Callers' addresses are return addresses: look up the call instruction (ip - 1). */
		uint64_t ip = s->data[nk + i] - (i > 0);
		if (py_at < npy && ip >= eval_lo && ip < eval_hi) {
			do
				if (python_frame(c, s->pid, &py[py_at], &fr[n++], settled) < 0)
					return -1;
			while (!(py[py_at++].flags & WISP_PY_F_ENTRY) && py_at < npy);
			continue;
		}
		if (user_frame(c, s->pid, generation, ip, &fr[n++], settled) < 0)
			return -1;
	}
	/* Python frames the native walk did not reach (it was cut short) go at its root end. */
	while (py_at < npy)
		if (python_frame(c, s->pid, &py[py_at++], &fr[n++], settled) < 0)
			return -1;
	return n;
}

/* The tracing machinery a switch record's kernel stack starts with (the program's own caller),
 * not where the thread waits: everything above the scheduler's entry is dropped. */
static int skip_switch_frames(const struct frame_ref *fr, int nkf)
{
	for (int i = 0; i < nkf && i < 8; i++)
		if (!strcmp(fr[i].f->names, "__schedule") || !strncmp(fr[i].f->names, "__schedule.", 11))
			return i;
	return 0;
}

/* The stack of a record's frames in ring (its memo: stacks), borrowed for the record, or NULL on
 * out-of-memory. */
static struct stack *record_stack(struct collector *c, struct ring *ring, struct memo *stacks, bool start,
				  const struct frame_ref *fr, int nf, int nkf, int end, bool settled)
{
	uint64_t key[1 + RECORD_MAX_ADDRS];
	key[0] = (uint64_t)nkf | (uint64_t)end << 16;
	for (int i = 0; i < nf; i++)
		key[1 + i] = fr[i].hash;
	struct stack *st = memo_get(stacks, key, 1 + (size_t)nf, c->now, NULL);
	if (st)
		return st;
	const char *names[SAMPLE_MAX_FRAMES];
	int k0 = start ? skip_switch_frames(fr, nkf) : 0, n = 0, nkernel = 0;
	for (int i = k0; i < nf; i++) {
		const char *p = fr[i].f->names;
		for (int k = 0; k < fr[i].f->n; k++, p += strlen(p) + 1)
			names[n++] = p;
		if (i < nkf)
			nkernel = n;
	}
	const char *why = truncation_frame(end);
	if (why)
		names[n++] = why;
	st = ring_stack(ring, names, (uint16_t)n, (uint16_t)nkernel);
	if (!st)
		return NULL;
	if (settled && memo_put(stacks, key, 1 + (size_t)nf, st, sizeof(*st) + (size_t)n * sizeof(char *), 0, c->now) == 0)
		return st; /* the memo's reference, valid for this record */
	c->held = st; /* released when the record is done */
	return st;
}

static int handle_record(void *ctx, void *data, size_t size)
{
	struct collector *c = ctx;
	const struct wisp_sample *s = data;
	char comm[WISP_COMM_LEN + 1];

	if (size == sizeof(struct wisp_offcpu_end)) {
		const struct wisp_offcpu_end *e = data;
		if ((int64_t)e->time_ns > c->next_clock_sync)
			sync_clocks(c);
		if (c->offcpu)
			offcpu_end(c->offcpu, e->tid, (int64_t)e->time_ns + c->boot_to_wall, e->blocked_ns, e->weight);
		return 0;
	}
	if (size < WISP_SAMPLE_HEAD_SIZE)
		return 0;
	bool start = s->kind == WISP_REC_OFFCPU_START;
	if (start && !c->offcpu)
		return 0;
	int nk = s->kstack_n, nu = s->ustack_n, npy = s->py_n;
	if (nk > WISP_MAX_FRAMES)
		nk = WISP_MAX_FRAMES;
	if (nu > WISP_MAX_FRAMES)
		nu = WISP_MAX_FRAMES;
	if (wisp_sample_size((unsigned)nk, (unsigned)nu, 0) > size)
		return 0;
	if (npy > WISP_PY_MAX_FRAMES || wisp_sample_size((unsigned)nk, (unsigned)nu, (unsigned)npy) > size)
		npy = 0;
	atomic_fetch_add(&c->py_end[s->py_end < WISP_PY_END_MAX ? s->py_end : WISP_PY_END_READ], 1);
	int end = s->unwind_end < WISP_UNWIND_END_MAX ? s->unwind_end : WISP_UNWIND_END_READ;
	atomic_fetch_add(&c->unwind_end[end], 1);
	if (s->unwind_flags & WISP_UNWIND_F_FP_USED)
		atomic_fetch_add(&c->unwind_fp_used, 1);
	if (c->unwinder && (end == WISP_UNWIND_END_NO_PROC || (s->unwind_flags & WISP_UNWIND_F_MAP_MISS)))
		unwinder_request(c->unwinder, s->pid, end != WISP_UNWIND_END_NO_PROC); /* stale: a pc missed */

	struct frame_ref fr[RECORD_MAX_ADDRS];
	bool settled = true;
	c->in_record = true;
	int nf = record_frames(c, s, nk, nu, npy, fr, &settled);
	struct ring *ring = start ? c->offcpu_ring : c->ring;
	struct stack *st = nf < 0 ? NULL
				  : record_stack(c, ring, start ? c->offcpu_stacks : c->stacks, start, fr, nf, nk,
						 nu ? end : WISP_UNWIND_END_OK, settled);
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
	};
	if (start)
		offcpu_begin(c->offcpu, &rs, st, s->offcpu_state);
	else if (st && ring_append_stack(c->ring, &rs, st) == 0)
		atomic_fetch_add(&c->appended, 1);
	else
		atomic_fetch_add(&c->append_failed, 1);
	if (c->held) {
		ring_release_stack(ring, c->held);
		c->held = NULL;
	}
	c->in_record = false;
	unbury(c);
	return 0;
}

/* Samples are submitted without wakeups (BPF_RB_NO_WAKEUP): drain every c->drain_ns, or at once
 * when a query waits for samples up to a time that has come (progress_wait). Each drain costs a
 * wakeup (a context switch or two, a fifth of the drain thread's time at 20 a second), so it
 * drains as seldom as it can: every DRAIN_MAX_MS, or more often where every CPU at its full rate
 * (hz samples, and offcpu_rate starts with their ends) with the deepest records there are
 * (sizeof(struct wisp_sample): 127 kernel and 127 user frames and 128 Python ones, 5 KiB) would
 * fill the BPF ring buffer in between (drain_interval). Records are as long as their stacks: a
 * typical one is a few hundred bytes, and even 127 user frames under 30 kernel ones take a
 * quarter of the deepest, so real loads fill a fraction of it between drains.
 *
 * The buffer's default size (default_ringbuf_bytes) holds DRAIN_TARGET_MS of that worst case:
 * 512 KiB a CPU at 99 Hz with the default off-CPU rate, a power of two, 1 to 16 MiB. 2 CPUs get
 * 1 MiB and drain every 290 ms; 16 get 8 MiB, 32 and more 16 MiB (drained every 290 ms, and
 * every 145 ms at 64 CPUs).
 *
 * What a drain publishes: the wall-clock time when it began, less PROGRESS_SLACK_NS. A sample
 * stamped before that had been submitted by then (the BPF program stamps and submits within
 * microseconds, and a record still being written stops the drain, to be read by the next); the
 * slack covers that and the drift of boot_to_wall between its refreshes. */
#define DRAIN_MIN_MS 10
#define DRAIN_MAX_MS 500
#define DRAIN_TARGET_MS 250
#define RINGBUF_MIN_BYTES (1u << 20)
#define RINGBUF_MAX_BYTES (16u << 20)
#define PROGRESS_SLACK_NS 2000000LL

/* Bytes a second every CPU at its full rate writes with the deepest records. */
static double worst_bytes_per_s(int ncpus, int hz, uint32_t offcpu_rate)
{
	return (double)ncpus * ((double)hz * sizeof(struct wisp_sample) +
				(double)offcpu_rate * (sizeof(struct wisp_sample) + sizeof(struct wisp_offcpu_end)));
}

static int64_t drain_interval(size_t ringbuf_bytes, int ncpus, int hz, uint32_t offcpu_rate)
{
	double ns = (double)ringbuf_bytes / worst_bytes_per_s(ncpus, hz, offcpu_rate) * 1e9;
	return ns < DRAIN_MIN_MS * 1e6 ? DRAIN_MIN_MS * 1000000LL : ns > DRAIN_MAX_MS * 1e6 ? DRAIN_MAX_MS * 1000000LL : (int64_t)ns;
}

static size_t default_ringbuf_bytes(int ncpus, int hz, uint32_t offcpu_rate)
{
	double want = worst_bytes_per_s(ncpus, hz, offcpu_rate) * DRAIN_TARGET_MS / 1000;
	size_t bytes = RINGBUF_MIN_BYTES;
	while (bytes < want && bytes < RINGBUF_MAX_BYTES)
		bytes <<= 1;
	return bytes;
}

static void *drain_thread(void *arg)
{
	struct collector *c = arg;
	while (!atomic_load(&c->stop)) {
		int64_t began = clock_ns(CLOCK_REALTIME);
		c->now = time(NULL);
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
			memo_expire(c->frames, now, MEMO_MAX_AGE_S);
			memo_expire(c->stacks, now, MEMO_MAX_AGE_S);
			if (c->offcpu_stacks)
				memo_expire(c->offcpu_stacks, now, MEMO_MAX_AGE_S);
			c->next_expire = now + 30;
		}
		progress_nap(c->progress, c->drain_ns);
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
	c->offcpu_ring = offcpu_ring;
	c->progress = cfg->progress;
	c->hz = cfg->hz;
	libbpf_set_print(libbpf_quiet);
	if (cfg->hz < 1 || cfg->hz > 10000) {
		snprintf(err, errlen, "--hz must be between 1 and 10000");
		goto fail;
	}
	if (!(c->frames = memo_new(FRAME_MEMO_SLOTS, bury, c)) ||
	    !(c->stacks = memo_new(stack_memo_slots(ring), release_stack, ring)) ||
	    (offcpu_ring && (!(c->offcpu = offcpu_new(offcpu_ring)) ||
			     !(c->offcpu_stacks = memo_new(stack_memo_slots(offcpu_ring), release_stack, offcpu_ring))))) {
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
	if ((ncpus = online_cpus(cpus, 1024)) <= 0) {
		snprintf(err, errlen, "cannot read the online CPUs");
		goto fail;
	}
	c->skel->rodata->include_idle = cfg->include_idle;
	uint32_t offcpu_rate = offcpu_ring ? cfg->offcpu_rate : 0;
	bpf_map__set_max_entries(c->skel->maps.wisp_events,
				 (uint32_t)(cfg->ringbuf_bytes ? cfg->ringbuf_bytes
							       : default_ringbuf_bytes(ncpus, cfg->hz, offcpu_rate)));
	/* --unwind-mb 0: no tables, the kernel's frame-pointer walk only (the maps stay minimal). */
	uint32_t unwind_pairs = cfg->unwind_mb ? (uint32_t)(cfg->unwind_mb * (1u << 20) / sizeof(uint64_t)) : 1;
	bpf_map__set_max_entries(c->skel->maps.wisp_unwind_rows, unwind_pairs);
	c->skel->rodata->unwind_user = cfg->unwind_mb > 0;
	c->skel->rodata->offcpu_rate = offcpu_rate;
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
	if (offcpu_ring && !(c->storm = storm_start(c->skel->progs.wisp_on_switch, c->skel->maps.wisp_counters,
						    &c->skel->data->offcpu_scale, &c->skel->data->offcpu_taking,
						    cfg->offcpu_storm, ncpus, err, errlen)))
		goto fail;
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
	c->drain_ns = drain_interval(bpf_map__max_entries(c->skel->maps.wisp_events), c->nlinks, cfg->hz, offcpu_rate);
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
	storm_stop(c->storm); /* detaches the switch hook before the thread's offcpu goes: no more records */
	unwinder_free(c->unwinder); /* before the maps it writes go, and the registry it tells */
	py_procs_free(c->python);
	offcpu_free(c->offcpu);
	memo_free(c->frames);
	memo_free(c->stacks);
	memo_free(c->offcpu_stacks);
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
	if (c->storm)
		storm_get_stats(c->storm, &out->storm);
	struct memo *memos[3] = {c->frames, c->stacks, c->offcpu_stacks};
	for (int i = 0; i < 3; i++) {
		struct memo_stats ms = {0};
		if (memos[i])
			memo_get_stats(memos[i], &ms);
		*(i ? &out->stacks_interned : &out->frames_named) += ms.misses;
		*(i ? &out->stacks_looked_up : &out->frames_looked_up) += ms.hits + ms.misses;
		out->memo_bytes += ms.bytes;
	}
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0 || ncpu > 4096)
		return;
	uint64_t vals[ncpu];
	uint64_t *dst[WISP_CNT_MAX] = {
		[WISP_CNT_SAMPLES] = &out->bpf_samples, [WISP_CNT_LOST] = &out->bpf_lost, [WISP_CNT_IDLE] = &out->bpf_idle,
		[WISP_CNT_PY_WALKS] = &out->py_walks, [WISP_CNT_PY_NS] = &out->py_walk_ns,
		[WISP_CNT_OFFCPU_SWITCHES] = &out->offcpu_switches, [WISP_CNT_OFFCPU_TAKEN] = &out->offcpu_taken,
		[WISP_CNT_OFFCPU_LOST] = &out->offcpu_lost, [WISP_CNT_OFFCPU_UNSEEN] = &out->offcpu_unseen,
	};
	int fd = bpf_map__fd(c->skel->maps.wisp_counters);
	for (uint32_t k = 0; k < WISP_CNT_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals) != 0)
			continue;
		for (int i = 0; i < ncpu; i++)
			*dst[k] += vals[i];
	}
}
