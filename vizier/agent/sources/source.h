/* source.h - where an agent's samples come from, chosen by --source: "bpf" samples this machine
 * through eBPF (collector.c), "synthetic:SPEC" generates a deterministic busy node
 * (synth_source.c), "replay:FILE[,FILE...]" loads snapshot files once (replay.c), and
 * "s3://BUCKET/PREFIX" serves this node's exports, loading them as queries reach them
 * (s3_source.c). Every source appends to the agent's ring from its own thread (replay: before
 * source_start returns; s3: in source_prepare, on the thread of the query). */
#ifndef WISP_SOURCE_H
#define WISP_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/kube/kube.h"

struct ring_set;
struct source;

struct source_options {
	int hz;               /* bpf: samples per second per CPU */
	size_t ringbuf_bytes; /* bpf: BPF ring buffer size (a power of two; 0: by the CPUs) */
	bool include_idle;    /* bpf: also record the idle task */
	uint32_t unwind_mb;   /* bpf: unwind tables' budget in MiB (0: frame pointers only) */
	bool python;          /* bpf: walk CPython frames */
	const char *node;     /* s3: whose exports to load (the agent's node) */
	const char *cache_dir; /* s3: where fetched objects are kept (NULL: the default) */
	size_t cache_bytes;   /* s3: the cache's budget (0: the default) */
	struct kube_config kube; /* bpf: where Kubernetes names come from (kube.h) */
	bool offcpu;          /* bpf: record off-CPU periods (into the off-CPU ring, when given one) */
	uint32_t offcpu_rate; /* bpf: periods taken a second per CPU, at most */
	uint32_t offcpu_storm; /* bpf: switches a second per CPU from which the hook is paused (0: never) */
};

struct source_stats {
	int hz, cpus;           /* bpf: sampling rate, CPUs sampled; 0 otherwise */
	uint64_t bpf_samples;   /* bpf: perf events the BPF program saw */
	uint64_t lost;          /* samples lost in the kernel or refused by the ring */
	uint64_t truncated_unreadable, truncated_depth, truncated_no_info, fp_fallback_samples;
	uint64_t unwind_files, unwind_bytes, unwind_rows, unwind_rows_cap, unwind_build_ns, unwind_cfi_bytes; /* see agent_status */
	uint64_t py_samples, py_walk_ns, py_frames, py_code_gone, py_code_failed; /* see agent_status */
	struct kube_stats kube; /* bpf */
	uint64_t offcpu_switches, offcpu_periods, offcpu_lost, offcpu_unseen; /* bpf: see agent_status */
	int offcpu_hook_pct;    /* bpf: see agent_status */
	uint64_t frames_named, frames_looked_up, stacks_interned, stacks_looked_up, memo_bytes; /* bpf: see agent_status */
};

/* Starts the source `spec` appending to the rings of set (which must outlive it): bpf and
 * synthetic sources to its stack_samples ring, bpf with opt->offcpu also to its offcpu_samples
 * ring (when it has one); replay and s3 load each table of their snapshots into its ring. NULL
 * with a message in err (an unknown spec, not root, a bad file...). */
struct source *source_start(const char *spec, const struct source_options *opt, const struct ring_set *set,
			    char *err, size_t errlen);
/* Whether the source `spec` may fill an offcpu_samples ring: bpf with opt->offcpu, and the history
 * of an agent that had one (replay, s3). */
bool source_has_offcpu(const char *spec, const struct source_options *opt);
/* Stops sampling (no more appends); a source that loads on demand still answers prepare. */
void source_quiesce(struct source *s);
/* Stops and frees it. No query may be running. */
void source_stop(struct source *s);
void source_get_stats(struct source *s, struct source_stats *out);
/* Before a query over [t0, t1): a live source (bpf, synthetic) waits, briefly, until every sample
 * stamped before t1 is in the ring, when t1 is about now (so a query that ends now, and a live
 * tick, miss nothing that was sampled before their end); a source that loads on demand (s3)
 * loads what it needs. 0, or -1 with a message (the query fails with it). Thread-safe; NULL is
 * fine. */
int source_prepare(struct source *s, int64_t t0, int64_t t1, char *err, size_t errlen);

#endif
