/* source.h - where an agent's samples come from, chosen by --source: "bpf" samples this machine
 * through eBPF (collector.c), "synthetic:SPEC" generates a deterministic busy node
 * (synth_source.c), "replay:FILE[,FILE...]" loads snapshot files once (replay.c), and
 * "s3://BUCKET/PREFIX" loads this node's exports once (s3_source.c). Every source
 * appends to the agent's ring from its own thread (replay, s3: before source_start returns). */
#ifndef WISP_SOURCE_H
#define WISP_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ring;
struct source;

struct source_options {
	int hz;               /* bpf: samples per second per CPU */
	size_t ringbuf_bytes; /* bpf: BPF ring buffer size (a power of two) */
	bool include_idle;    /* bpf: also record the idle task */
	uint32_t unwind_mb;   /* bpf: unwind tables' budget in MiB (0: frame pointers only) */
	const char *node;     /* s3: whose exports to load (the agent's node) */
	const char *cache_dir; /* s3: where fetched objects are kept (NULL: the default) */
	size_t cache_bytes;   /* s3: the cache's budget (0: the default) */
};

struct source_stats {
	int hz, cpus;           /* bpf: sampling rate, CPUs sampled; 0 otherwise */
	uint64_t bpf_samples;   /* bpf: perf events the BPF program saw */
	uint64_t lost;          /* samples lost in the kernel or refused by the ring */
	uint64_t truncated_unreadable, truncated_depth, truncated_no_info, fp_fallback_samples;
	uint64_t unwind_files, unwind_bytes, unwind_build_ns, unwind_cfi_bytes; /* see agent_status */
};

/* Starts the source `spec` appending to ring (which must outlive it). NULL with a message in err
 * (an unknown spec, not root, a bad file...). */
struct source *source_start(const char *spec, const struct source_options *opt, struct ring *ring, char *err,
			    size_t errlen);
void source_stop(struct source *s);
void source_get_stats(struct source *s, struct source_stats *out);

#endif
