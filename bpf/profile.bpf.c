// SPDX-License-Identifier: GPL-2.0
/* profile.bpf.c - the in-kernel half of the Wisp agent: a perf_event program attached to a
 * CPU-clock event on every online CPU. Each tick records who ran (pid, tid, comm, cgroup), where
 * (cpu) and what (kernel + user stack) into a BPF ring buffer; the agent drains and symbolizes.
 * The kernel stack is the kernel's own walk; the user stack is walked by the agent's unwind
 * tables (unwind.bpf.h) where it has one for the process, else by the kernel's frame-pointer
 * walk. A Python process's frames are walked too (python.bpf.h), for the agent to splice into
 * the native stack. Two scheduler hooks drop a process's tables when it execs or exits.
 * Nothing is aggregated here: dedup happens in user space, where stacks become content ids. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "profile.h"
#include "unwind.bpf.h"
#include "python.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Configured by the loader before load (rodata). */
const volatile bool include_idle = false; /* also record the idle task (pid 0)? */
const volatile bool unwind_user = true;   /* walk user stacks by the unwind tables (else FP only) */

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

SEC("perf_event")
int wisp_sample_cpu(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct wisp_sample *s;
	long kbytes, ubytes;

	count(WISP_CNT_SAMPLES);
	if (tid == 0 && !include_idle) {
		count(WISP_CNT_IDLE);
		return 0;
	}
	s = bpf_ringbuf_reserve(&wisp_events, sizeof(*s), 0);
	if (!s) {
		count(WISP_CNT_LOST);
		return 0;
	}
	s->time_ns = bpf_ktime_get_boot_ns();
	s->cgroup_id = bpf_get_current_cgroup_id();
	s->pid = pid;
	s->tid = tid;
	s->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(s->comm, sizeof(s->comm));

	kbytes = bpf_get_stack(ctx, s->ips, WISP_MAX_FRAMES * sizeof(__u64), 0);
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
			bpf_probe_read_kernel((void *)s->ips + kbytes, cnt * sizeof(__u64), us->ips);
		} else if (nu < 0) {
			s->unwind_end = WISP_UNWIND_END_NO_PROC;
			ubytes = bpf_get_stack(ctx, (void *)s->ips + kbytes, WISP_MAX_FRAMES * sizeof(__u64),
					       BPF_F_USER_STACK);
			if (ubytes < 0)
				ubytes = 0;
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
			bpf_probe_read_kernel(s->py, cnt * sizeof(struct wisp_py_frame), ps->frames);
		}
		count(WISP_CNT_PY_WALKS);
		add(WISP_CNT_PY_NS, bpf_ktime_get_ns() - t0);
	}
	s->kstack_n = kbytes / sizeof(__u64);
	s->ustack_n = ubytes / sizeof(__u64);
	/* No wakeup per sample: the agent drains on a timer, which costs far fewer context switches. */
	bpf_ringbuf_submit(s, BPF_RB_NO_WAKEUP);
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
