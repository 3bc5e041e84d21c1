/* collector.h - the agent's sampling pipeline: loads the BPF profiler (bpf/profile.bpf.c),
 * opens a CPU-clock perf event at `hz` on every online CPU (and, with an off-CPU ring, attaches
 * to the scheduler's switches, paused in storms: storm.h), and runs a thread that drains the
 * BPF ring buffer, symbolizes each record's stacks (symbolize.h), splices in a Python process's
 * frames (agent/python/pyprocs.h) and appends CPU samples to the ring, off-CPU periods
 * (offcpu.h) to the off-CPU ring. */
#ifndef WISP_COLLECTOR_H
#define WISP_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/kube/kube.h"
#include "agent/python/pyprocs.h"
#include "agent/unwind/unwinder.h"
#include "offcpu.h"
#include "storm.h"

#define COLLECTOR_UNWIND_ENDS 7 /* WISP_UNWIND_END_MAX (bpf/unwind.h) */
#define COLLECTOR_PY_ENDS 6     /* WISP_PY_END_MAX (bpf/python.h) */

struct ring;
struct collector;
struct progress;

struct collector_config {
	int hz;               /* samples per second per CPU */
	size_t ringbuf_bytes; /* BPF ring buffer size (power of two, >= page size; 0: by the CPUs) */
	bool include_idle;    /* also record the idle task */
	uint32_t unwind_mb;   /* unwind rows' budget in MiB; 0: no unwinding, frame pointers only */
	bool python;          /* walk CPython frames (needs unwind_mb: its loader finds interpreters) */
	struct progress *progress; /* published after every drain (progress.h); NULL: none */
	struct kube_config kube;   /* Kubernetes names (kube.h) */
	uint32_t offcpu_rate;      /* off-CPU periods taken a second per CPU (with an off-CPU ring) */
	uint32_t offcpu_storm;     /* switches a second per CPU from which the hook is paused (storm.h);
				    * 0: never */
};

struct collector_stats {
	uint64_t bpf_samples;   /* perf events seen by the BPF program */
	uint64_t bpf_lost;      /* dropped in the kernel: ring buffer full */
	uint64_t bpf_idle;      /* idle-task ticks skipped */
	uint64_t appended;      /* samples appended to the ring */
	uint64_t append_failed; /* samples the ring refused (out of memory) */
	int ncpus;              /* CPUs sampled */
	int hz;
	uint64_t unwind_end[COLLECTOR_UNWIND_ENDS]; /* samples by how their user walk ended */
	uint64_t unwind_fp_used;  /* samples with a frame from the frame-pointer fallback */
	struct unwinder_stats unwinder;
	uint64_t py_end[COLLECTOR_PY_ENDS]; /* samples by how their Python walk ended */
	uint64_t py_walks, py_walk_ns; /* BPF: Python samples, and the time their walks took */
	struct py_procs_stats python;
	struct kube_stats kube;
	uint64_t offcpu_switches; /* BPF: switches away from user threads */
	uint64_t offcpu_taken;    /* BPF: ... sampled (start records written) */
	uint64_t offcpu_lost;     /* BPF: off-CPU records dropped, ring buffer full */
	uint64_t offcpu_unseen;   /* BPF: taken periods that ended while the hook was paused, untimed */
	struct offcpu_stats offcpu;
	struct storm_stats storm; /* the switch hook's duty cycle */
	/* What the drain named (frame memo misses: addresses named) and interned (stack memo misses:
	 * stacks interned), of how many looked up, and the memos' bytes. */
	uint64_t frames_named, frames_looked_up, stacks_interned, stacks_looked_up, memo_bytes;
};

/* Loads, attaches and starts draining into ring and, unless NULL, offcpu_ring (an offcpu_samples
 * ring). Both must outlive it. NULL with a message in err on failure (e.g. not root). */
struct collector *collector_start(const struct collector_config *cfg, struct ring *ring, struct ring *offcpu_ring,
				  char *err, size_t errlen);
void collector_stop(struct collector *c);
void collector_get_stats(struct collector *c, struct collector_stats *out);

#endif
