/* profile.h - the records shared by the BPF program (profile.bpf.c) and the agent's collector
 * (vizier/agent/sources/collector.c, offcpu.c): CPU samples, and the two halves of a sampled
 * period off the CPU. Fixed-width types only: both compilers must agree on layout. */
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
	WISP_CNT_OFFCPU_SWITCHES = 5, /* switches away from a user thread (candidates for off-CPU) */
	WISP_CNT_OFFCPU_TAKEN = 6,    /* ... of which sampled: their start records written */
	WISP_CNT_OFFCPU_LOST = 7,     /* off-CPU records dropped because the ring buffer was full */
	WISP_CNT_OFFCPU_UNSEEN = 8,   /* taken periods that ended while the hook was paused, untimed
				       * (dropped) */
	WISP_CNT_MAX = 9,
};

/* What a wisp_sample record is (wisp_sample.kind). */
enum wisp_record_kind {
	WISP_REC_CPU = 0,          /* a CPU sample */
	WISP_REC_OFFCPU_START = 1, /* a thread left the CPU: where (the stack) and why (offcpu_state) */
};

/* Off-CPU sampling. On each CPU, switches away from user threads are taken with probability p,
 * re-estimated every WISP_OFFCPU_WINDOW_NS from that CPU's switch rate so that about
 * `offcpu_rate` periods a second are taken (p = 1 below that rate). A taken period stands for
 * 1/p of them: its weight, in units of 1/WISP_OFFCPU_WEIGHT_ONE. */
#define WISP_OFFCPU_WINDOW_NS 10000000ULL
#define WISP_OFFCPU_WEIGHT_ONE 1024

/* In a context-switch storm the agent attaches the switch hook only part of the time (storm.c):
 * periods are taken in a window at the start of each cycle and stand for the whole cycle, so
 * their weight is multiplied by `offcpu_scale` / WISP_OFFCPU_SCALE_ONE (the cycle's switches over
 * the window's, about cycle / window; one with the hook always on). A taken period whose thread
 * came back while the hook was off is closed at the thread's next switch the hook sees: timed
 * from its scheduler statistics (sched_info: arrivals on a CPU and the last one's time) when it
 * came back once since, else dropped (an end record of weight 0, so that the agent lets go of its
 * start) and counted. */
#define WISP_OFFCPU_SCALE_ONE 256

/* wisp_sample.offcpu_state (the kernel's reasons, grouped): catalog.h's enum offcpu_state. */
#define WISP_OFFCPU_RUNNABLE 0
#define WISP_OFFCPU_SLEEPING 1
#define WISP_OFFCPU_UNINTERRUPTIBLE 2
#define WISP_OFFCPU_OTHER 3

/* The end of a taken off-CPU period, written when the thread is switched back in. It follows its
 * start record (same tid) in the ring buffer: a start is reserved before the thread is off. */
struct wisp_offcpu_end {
	__u64 time_ns;    /* CLOCK_BOOTTIME ns: when it came back */
	__u64 blocked_ns; /* how long it was off */
	__u32 pid, tid;
	__u32 weight;     /* periods it stands for, x WISP_OFFCPU_WEIGHT_ONE; 0: its end was not seen */
	__u32 pad;
};

/* One CPU sample, or the start of an off-CPU period (kind): a head, then its frames packed in
 * `data`, leaf first: kstack_n kernel addresses, ustack_n user addresses, then py_n Python frames
 * (struct wisp_py_frame, innermost first; wisp_sample_py). A record in the ring buffer is only as
 * long as that (wisp_sample_size): a typical one is a few hundred bytes, not the 5 KiB of the
 * deepest. The BPF program builds one in a per-CPU copy of the whole struct and copies it out. */
struct wisp_sample {
	__u64 time_ns;            /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME, nanoseconds */
	__u64 cgroup_id;          /* cgroup v2 id of the task (1 = root) */
	__u32 pid;                /* thread group id (what users call the pid) */
	__u32 tid;                /* thread id */
	__u32 cpu;                /* CPU the sample fired on */
	__u16 kstack_n;           /* kernel frames: data[0 .. kstack_n) */
	__u16 ustack_n;           /* user frames: data[kstack_n .. +ustack_n) */
	char comm[WISP_COMM_LEN]; /* task comm, NUL-padded */
	__u8 unwind_end;          /* enum wisp_unwind_end (bpf/unwind.h): how the user walk ended */
	__u8 unwind_flags;        /* WISP_UNWIND_F_* */
	__u8 py_end;              /* enum wisp_py_end (bpf/python.h): how the Python walk ended */
	__u8 kind;                /* enum wisp_record_kind */
	__u16 py_n;               /* Python frames, after the addresses */
	__u8 offcpu_state;        /* WISP_REC_OFFCPU_START: WISP_OFFCPU_* */
	__u8 pad;
	__u64 data[2 * WISP_MAX_FRAMES + WISP_PY_MAX_FRAMES * sizeof(struct wisp_py_frame) / sizeof(__u64)];
};

#define WISP_SAMPLE_HEAD_SIZE __builtin_offsetof(struct wisp_sample, data)

/* The Python frames of a sample with nk kernel and nu user addresses. */
static inline struct wisp_py_frame *wisp_sample_py(const struct wisp_sample *s, unsigned nk, unsigned nu)
{
	return (struct wisp_py_frame *)(void *)&s->data[nk + nu];
}

/* The length of a record with nk + nu addresses and npy Python frames. */
static inline unsigned long wisp_sample_size(unsigned nk, unsigned nu, unsigned npy)
{
	return WISP_SAMPLE_HEAD_SIZE + (nk + nu) * sizeof(__u64) + npy * sizeof(struct wisp_py_frame);
}

#endif
