/* profile.h - the sample record shared by the BPF program (profile.bpf.c) and the agent's
 * collector (vizier/agent/sources/collector.c). Fixed-width types only: both compilers must
 * agree on layout. */
#ifndef WISP_PROFILE_H
#define WISP_PROFILE_H

#include "python.h"

#define WISP_MAX_FRAMES 127 /* kernel.perf_event_max_stack: the kernel stops walking here */
#define WISP_COMM_LEN 16

/* Counter slots in the per-CPU `wisp_counters` array map. */
enum wisp_counter {
	WISP_CNT_SAMPLES = 0, /* perf events seen by the program (idle included) */
	WISP_CNT_LOST = 1,    /* samples dropped because the ring buffer was full */
	WISP_CNT_IDLE = 2,    /* idle-task samples skipped (pid 0) */
	WISP_CNT_PY_WALKS = 3, /* samples of Python processes (their frames walked) */
	WISP_CNT_PY_NS = 4,   /* nanoseconds those walks took, the copy into the sample included */
	WISP_CNT_MAX = 5,
};

/* One CPU sample. The kernel frames come first, then the user frames, packed in `ips`; only
 * (kstack_n + ustack_n) entries are meaningful, and only py_n entries of `py` (a Python process's
 * frames, innermost first). */
struct wisp_sample {
	__u64 time_ns;            /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME, nanoseconds */
	__u64 cgroup_id;          /* cgroup v2 id of the task (1 = root) */
	__u32 pid;                /* thread group id (what users call the pid) */
	__u32 tid;                /* thread id */
	__u32 cpu;                /* CPU the sample fired on */
	__u16 kstack_n;           /* kernel frames in ips[0 .. kstack_n), leaf first */
	__u16 ustack_n;           /* user frames in ips[kstack_n .. +ustack_n), leaf first */
	char comm[WISP_COMM_LEN]; /* task comm, NUL-padded */
	__u8 unwind_end;          /* enum wisp_unwind_end (bpf/unwind.h): how the user walk ended */
	__u8 unwind_flags;        /* WISP_UNWIND_F_* */
	__u8 py_end;              /* enum wisp_py_end (bpf/python.h): how the Python walk ended */
	__u8 pad;
	__u16 py_n;               /* Python frames in py[0 .. py_n) */
	__u16 pad2;
	__u64 ips[2 * WISP_MAX_FRAMES];
	struct wisp_py_frame py[WISP_PY_MAX_FRAMES];
};

#endif
