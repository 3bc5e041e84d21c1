// SPDX-License-Identifier: GPL-2.0
/* profile.bpf.c - the in-kernel half of the Wisp agent: a perf_event program attached to a
 * CPU-clock event on every online CPU. Each tick records who ran (pid, tid, comm, cgroup), where
 * (cpu) and what (kernel + user stack) into a BPF ring buffer; the agent drains and symbolizes.
 * The kernel stack is the kernel's own walk; the user stack is walked by the agent's unwind
 * tables (unwind.bpf.h) where it has one for the process, else by the kernel's frame-pointer
 * walk. A Python process's frames are walked too (python.bpf.h), for the agent to splice into
 * the native stack. Two scheduler hooks drop a process's tables when it execs or exits.
 *
 * Off-CPU (offcpu_rate > 0): on every context switch, a sampled share of the user threads leaving
 * the CPU get a start record with the same stacks (where they wait, and why), and when such a
 * thread comes back an end record says how long it was off. The agent pairs them by tid.
 * Nothing is aggregated here: dedup happens in user space, where stacks become content ids. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "profile.h"
#include "unwind.bpf.h"
#include "python.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Configured by the loader before load (rodata). */
const volatile bool include_idle = false; /* also record the idle task (pid 0)? */
const volatile bool unwind_user = true;   /* walk user stacks by the unwind tables (else FP only) */
const volatile __u32 offcpu_rate = 0;     /* off-CPU periods to take a second per CPU (0: none) */
/* Set by the agent while running (storm.c): what periods taken now stand for (x their weight;
 * the rate is raised as much), and whether to take periods at all (a window's end: only the
 * taken ones are closed). */
__u32 offcpu_scale = WISP_OFFCPU_SCALE_ONE;
bool offcpu_taking = true;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the loader (--ringbuf-kb) */
} wisp_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WISP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} wisp_counters SEC(".maps");

static __always_inline void add(__u32 slot, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&wisp_counters, &slot);
	if (v)
		*v += n; /* per-CPU slot: no atomics needed */
}

static __always_inline void count(__u32 slot)
{
	add(slot, 1);
}

/* Fills s with the current task: who, where, and its kernel, user and Python stacks. Returns the
 * record's length (wisp_sample_size: the frames packed). */
static __always_inline __u32 fill_sample(void *ctx, struct wisp_sample *s, __u32 pid, __u32 tid)
{
	long kbytes, ubytes, pybytes = 0;

	s->time_ns = bpf_ktime_get_boot_ns();
	s->cgroup_id = bpf_get_current_cgroup_id();
	s->pid = pid;
	s->tid = tid;
	s->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(s->comm, sizeof(s->comm));

	kbytes = bpf_get_stack(ctx, s->data, WISP_MAX_FRAMES * sizeof(__u64), 0);
	if (kbytes < 0)
		kbytes = 0;
	if (kbytes > WISP_MAX_FRAMES * sizeof(__u64)) /* bound the offset for the verifier */
		kbytes = WISP_MAX_FRAMES * sizeof(__u64);
	ubytes = 0;
	s->unwind_end = WISP_UNWIND_END_KERNEL_ONLY;
	s->unwind_flags = 0;
	if (pid != 0) {
		__u32 zero = 0;
		struct wisp_ustack *us = bpf_map_lookup_elem(&wisp_unwind_scratch, &zero);
		int nu = us && unwind_user ? wisp_unwind_user(us, pid, &s->unwind_end, &s->unwind_flags) : -1;
		if (nu > 0) {
			__u32 cnt = (__u32)nu & 127; /* nu <= WISP_MAX_FRAMES (127): the mask bounds it for the verifier */
			ubytes = cnt * sizeof(__u64);
			bpf_probe_read_kernel((void *)s->data + kbytes, cnt * sizeof(__u64), us->ips);
		} else if (nu < 0) {
			s->unwind_end = WISP_UNWIND_END_NO_PROC;
			ubytes = bpf_get_stack(ctx, (void *)s->data + kbytes, WISP_MAX_FRAMES * sizeof(__u64),
					       BPF_F_USER_STACK);
			if (ubytes < 0)
				ubytes = 0;
			if (ubytes > WISP_MAX_FRAMES * sizeof(__u64))
				ubytes = WISP_MAX_FRAMES * sizeof(__u64);
		}
	}
	s->py_n = 0;
	s->py_end = WISP_PY_END_NONE;
	struct wisp_py_proc *py = pid ? bpf_map_lookup_elem(&wisp_py_procs, &pid) : NULL;
	if (py) {
		__u32 zero = 0;
		__u64 t0 = bpf_ktime_get_ns();
		struct wisp_py_scratch *ps = bpf_map_lookup_elem(&wisp_py_scratch, &zero);
		int np = ps ? wisp_py_walk(py, tid, ps, &s->py_end) : 0;
		if (np > 0) {
			__u32 cnt = (__u32)np & (WISP_PY_MAX_FRAMES * 2 - 1); /* np <= WISP_PY_MAX_FRAMES */
			if (cnt > WISP_PY_MAX_FRAMES)
				cnt = WISP_PY_MAX_FRAMES;
			s->py_n = (__u16)cnt;
			pybytes = cnt * sizeof(struct wisp_py_frame);
			bpf_probe_read_kernel((void *)s->data + kbytes + ubytes, pybytes, ps->frames);
		}
		count(WISP_CNT_PY_WALKS);
		add(WISP_CNT_PY_NS, bpf_ktime_get_ns() - t0);
	}
	s->kstack_n = kbytes / sizeof(__u64);
	s->ustack_n = ubytes / sizeof(__u64);
	return WISP_SAMPLE_HEAD_SIZE + kbytes + ubytes + pybytes;
}

/* Where records are built: one per CPU and kind (a CPU sample's perf event and the switch
 * hook could in principle meet on one CPU; each has its own). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct wisp_sample);
} wisp_sample_scratch SEC(".maps");

/* Copies the record of len bytes out to the ring buffer; 0, or < 0 when it is full. */
static __always_inline long emit_sample(struct wisp_sample *s, __u32 len)
{
	if (len > sizeof(*s)) /* it is not: the bound is for the verifier */
		len = sizeof(*s);
	return bpf_ringbuf_output(&wisp_events, s, len, BPF_RB_NO_WAKEUP);
}

SEC("perf_event")
int wisp_sample_cpu(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct wisp_sample *s;

	count(WISP_CNT_SAMPLES);
	if (tid == 0 && !include_idle) {
		count(WISP_CNT_IDLE);
		return 0;
	}
	__u32 key = WISP_REC_CPU;
	s = bpf_map_lookup_elem(&wisp_sample_scratch, &key);
	if (!s)
		return 0;
	s->kind = WISP_REC_CPU;
	s->offcpu_state = 0;
	s->pad = 0;
	__u32 len = fill_sample(ctx, s, pid, tid);
	/* No wakeup per sample: the agent drains on a timer, which costs far fewer context switches. */
	if (emit_sample(s, len) < 0)
		count(WISP_CNT_LOST);
	return 0;
}

/* ---- off-CPU ----------------------------------------------------------------------------------- */

/* A thread's taken off-CPU period, from its start record until it is back on a CPU. */
struct wisp_offcpu_task {
	__u64 start_ns;    /* boot ns when it left; 0: no period taken */
	__u64 start_clock; /* its run queue's clock then (sched_info's time base) */
	__u64 arrivals;    /* its sched_info.pcount then: times it has arrived on a CPU */
	__u32 weight;      /* x WISP_OFFCPU_WEIGHT_ONE */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct wisp_offcpu_task);
} wisp_offcpu_tasks SEC(".maps");

/* Each CPU's sampling probability, re-estimated every window from its switch rate, and sooner when
 * a burst takes more than its share of a window. */
struct wisp_offcpu_cpu {
	__u64 window_start; /* ns (bpf_ktime_get_ns) */
	__u64 seen;         /* candidate switches since window_start */
	__u64 threshold;    /* take when a random u32 is below it: p = threshold / 2^32 (>= 2^32: all) */
	__u32 weight;       /* 1/p x WISP_OFFCPU_WEIGHT_ONE */
	__u32 taken;        /* periods taken since window_start */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wisp_offcpu_cpu);
} wisp_offcpu_cpus SEC(".maps");

#define WISP_PF_KTHREAD 0x00200000 /* PF_KTHREAD: a kernel thread, no user stack */
#define WISP_TASK_DEAD 0x80        /* TASK_DEAD: it is exiting, it will not come back */

/* The run-queue clock (sched_info's time base) of the CPU task is on, through its CFS run queue's
 * back pointer (the per-CPU `runqueues` is not in kallsyms without CONFIG_KALLSYMS_ALL); the
 * scheduler updated it just before the switch. 0 without CONFIG_FAIR_GROUP_SCHED (no pointer). */
static __always_inline __u64 rq_clock_of(struct task_struct *task)
{
	if (!bpf_core_field_exists(struct cfs_rq, rq))
		return 0;
	return BPF_CORE_READ(task, se.cfs_rq, rq, clock);
}

/* The end record of task's period t: it came back at time_ns (boot) after blocked_ns; weight 0
 * says its end was not seen. Clears t. */
static __always_inline void offcpu_emit_end(struct task_struct *task, struct wisp_offcpu_task *t, __u64 time_ns,
					    __u64 blocked_ns, __u32 weight)
{
	struct wisp_offcpu_end *e = bpf_ringbuf_reserve(&wisp_events, sizeof(*e), 0);
	if (!e) {
		count(WISP_CNT_OFFCPU_LOST);
	} else {
		e->time_ns = time_ns;
		e->blocked_ns = blocked_ns;
		e->pid = task->tgid;
		e->tid = task->pid;
		e->weight = weight;
		e->pad = 0;
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	}
	t->start_ns = 0;
}

/* task's period t ended while the hook was off, after which task arrived on a CPU `arrivals`
 * times (>= 1). With one arrival, that was the end: sched_info's time of the last arrival, in
 * run-queue clock, converted to boot time through the run-queue clock now. With more, the end is
 * not known: dropped, counted. */
static __always_inline void offcpu_close_late(struct task_struct *task, struct wisp_offcpu_task *t, __u64 arrivals)
{
	__u64 arrived = task->sched_info.last_arrival, now_clock = rq_clock_of(task), now = bpf_ktime_get_boot_ns();
	if (arrivals == 1 && t->start_clock && arrived > t->start_clock && now_clock >= arrived &&
	    now_clock - arrived < now) {
		offcpu_emit_end(task, t, now - (now_clock - arrived), arrived - t->start_clock, t->weight);
	} else {
		count(WISP_CNT_OFFCPU_UNSEEN);
		offcpu_emit_end(task, t, now, 0, 0);
	}
}

/* The thread coming back: the end of its period, if one was taken. sched_info counts this
 * arrival only after the tracepoint: with the hook on since the period began, no arrival since. */
static __always_inline void offcpu_end(struct task_struct *next)
{
	struct wisp_offcpu_task *t = bpf_task_storage_get(&wisp_offcpu_tasks, next, 0, 0);
	if (!t || !t->start_ns)
		return;
	__u64 arrivals = next->sched_info.pcount - t->arrivals;
	if (arrivals) {
		offcpu_close_late(next, t, arrivals);
		return;
	}
	__u64 now = bpf_ktime_get_boot_ns();
	offcpu_emit_end(next, t, now, now - t->start_ns, t->weight);
}

/* Periods to take a second on this CPU while the hook is attached: offcpu_rate, offcpu_scale times
 * as many while it is attached only a window of each cycle, so a storm's cycle takes as many as a
 * full one. */
static __always_inline __u64 offcpu_target(void)
{
	return (__u64)offcpu_rate * offcpu_scale / WISP_OFFCPU_SCALE_ONE;
}

/* Sets c's probability for what follows from the switch rate since its window started (p = rate x
 * span / seen, so that about offcpu_target() periods a second are taken), and starts a new
 * window. */
static __always_inline void offcpu_estimate(struct wisp_offcpu_cpu *c, __u64 now)
{
	/* threshold = p x 2^32, and 2^32 / 10^6 ~ 4295. At least 2^11, so that the weight
	 * (2^42 / threshold) fits its 32 bits: a period stands for two million at most. */
	__u64 th = offcpu_target() * ((now - c->window_start) / 1000) / c->seen * 4295;
	if (th < 2048)
		th = 2048;
	c->threshold = th;
	c->weight = th >= (1ULL << 32) ? WISP_OFFCPU_WEIGHT_ONE : (__u32)(((__u64)WISP_OFFCPU_WEIGHT_ONE << 32) / th);
	c->window_start = now;
	c->seen = 1;
	c->taken = 0;
}

/* Should this switch away be taken? Sets *weight (the period's, as decided: each decision's own p
 * keeps the sums unbiased). Every 64th switch reads the clock and, once a window has passed,
 * re-estimates p; a window that takes twice its share (a CPU that was quiet in the last window
 * meets a storm) re-estimates at once. */
static __always_inline bool offcpu_take(__u32 *weight)
{
	__u32 zero = 0;
	struct wisp_offcpu_cpu *c = bpf_map_lookup_elem(&wisp_offcpu_cpus, &zero);
	if (!c)
		return false;
	c->seen++;
	if ((c->seen & 63) == 1) {
		__u64 now = bpf_ktime_get_ns();
		if (!c->window_start) {
			c->window_start = now;
			c->threshold = 1ULL << 33; /* until the first estimate: every one */
			c->weight = WISP_OFFCPU_WEIGHT_ONE;
		} else if (now - c->window_start >= WISP_OFFCPU_WINDOW_NS) {
			offcpu_estimate(c, now);
		}
	}
	*weight = c->weight;
	if (c->threshold < (1ULL << 32) && bpf_get_prandom_u32() >= c->threshold)
		return false;
	if (++c->taken > offcpu_target() * (WISP_OFFCPU_WINDOW_NS / 1000000) / 500 + 2) /* twice the share, and 2 */
		offcpu_estimate(c, bpf_ktime_get_ns());
	return true;
}

/* The thread leaving: maybe the start of a period, with its stacks. While the hook is paused
 * part of the time (offcpu_scale above one), a thread leaving may still hold a period whose end came
 * while the hook was off: closed first (its current run was the arrival that ended it). */
static __always_inline void offcpu_start(void *ctx, struct task_struct *prev, bool preempt, unsigned int state)
{
	__u32 pid = prev->tgid, tid = prev->pid, weight;
	if (tid == 0 || (prev->flags & WISP_PF_KTHREAD) || (state & WISP_TASK_DEAD))
		return;
	count(WISP_CNT_OFFCPU_SWITCHES);
	if (offcpu_scale > WISP_OFFCPU_SCALE_ONE) {
		struct wisp_offcpu_task *held = bpf_task_storage_get(&wisp_offcpu_tasks, prev, 0, 0);
		if (held && held->start_ns)
			offcpu_close_late(prev, held, prev->sched_info.pcount - held->arrivals);
	}
	if (!offcpu_taking || !offcpu_take(&weight))
		return;
	struct wisp_offcpu_task *t = bpf_task_storage_get(&wisp_offcpu_tasks, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t)
		return;
	__u32 key = WISP_REC_OFFCPU_START;
	struct wisp_sample *s = bpf_map_lookup_elem(&wisp_sample_scratch, &key);
	if (!s)
		return;
	s->kind = WISP_REC_OFFCPU_START;
	s->offcpu_state = preempt || state == 0 ? WISP_OFFCPU_RUNNABLE
			  : state & 1		 ? WISP_OFFCPU_SLEEPING
			  : state & 2		 ? WISP_OFFCPU_UNINTERRUPTIBLE
						 : WISP_OFFCPU_OTHER;
	s->pad = 0;
	__u32 len = fill_sample(ctx, s, pid, tid);
	if (emit_sample(s, len) < 0) {
		count(WISP_CNT_OFFCPU_LOST);
		return;
	}
	__u64 scaled = (__u64)weight * offcpu_scale / WISP_OFFCPU_SCALE_ONE;
	t->start_ns = s->time_ns;
	t->start_clock = rq_clock_of(prev);
	t->arrivals = prev->sched_info.pcount;
	t->weight = scaled > 0xffffffffULL ? 0xffffffffU : (__u32)scaled; /* 4 million periods at most */
	count(WISP_CNT_OFFCPU_TAKEN);
}

/* Runs on the CPU being switched, as prev: prev's stacks are the current ones. The loader
 * attaches it only with off-CPU capture on. */
SEC("tp_btf/sched_switch")
int BPF_PROG(wisp_on_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	offcpu_end(next);
	offcpu_start(ctx, prev, preempt, prev_state);
	return 0;
}

/* A process that execs gets a new address space: its table is wrong from now on; the agent
 * builds the new one right away. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(wisp_on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 pid = p->tgid;
	bpf_map_delete_elem(&wisp_unwind_procs, &pid);
	bpf_map_delete_elem(&wisp_py_procs, &pid);
	bpf_ringbuf_output(&wisp_exec_events, &pid, sizeof(pid), 0);
	return 0;
}

/* The group leader's exit ends the process (its threads' exits do not). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(wisp_on_exit, struct task_struct *p)
{
	__u32 pid = p->tgid;
	__u32 tid = p->pid;
	bpf_map_delete_elem(&wisp_py_threads, &tid);
	if (p->pid == p->tgid) {
		bpf_map_delete_elem(&wisp_unwind_procs, &pid);
		bpf_map_delete_elem(&wisp_py_procs, &pid);
	}
	return 0;
}
