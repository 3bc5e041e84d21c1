/* ring.h - the agent's in-memory columnar store: a byte budget, oldest data evicted first.
 * One ring holds one stored table (enum ring_table): an agent keeps a ring for stack_samples
 * and, with off-CPU capture, a second for offcpu_samples, each with its share of the budget.
 *
 * Layout. Rows are appended to a *hot* batch: arrays of (time, thread id, cpu, stack id, count),
 * where threads (pid, tid, cgroup, comm, Kubernetes names) and stacks are interned records (intern.h) held once
 * per batch. After BATCH_SECONDS (or RING_HOT_ROWS rows) the hot batch is *sealed*: its rows are
 * aggregated to 1-second resolution and stored as series (thread, cpu, stack) with one point
 * (second, count) per second the series was seen. An offcpu_samples ring keeps one more number
 * per row, its `value` (nanoseconds blocked), summed alongside count, and stores the off-CPU
 * state where stack_samples stores the CPU. Series headers (thread, cpu, stack, points,
 * total) and points are varint-coded column by column and compressed with zstd, headers and
 * points separately, so a query that ignores time reads only the headers.
 *
 * Budget. Batches + interned records + indexes stay under the budget: the oldest sealed batch
 * goes first, and stacks/threads/strings no batch references any more are freed with it.
 *
 * Concurrency. One writer, any number of scans. The lock is held to append, to pin the batches a
 * scan will read and to unpin them; scans decode pinned batches without it. Sealing encodes a
 * detached hot batch outside the lock and then swaps it in. A pinned batch that is evicted or
 * replaced stays alive (with what it references) until its last reader unpins it. Row ids only
 * increase: each batch owns an id range, so a cursor (a row id) survives eviction. */
#ifndef WISP_RING_H
#define WISP_RING_H

#include <stddef.h>
#include <stdint.h>

#include "core/scan.h"
#include "core/table.h"

struct ring;
struct stack;
struct thread_key;
struct thread_rec;

#define RING_BATCH_SECONDS 60 /* a hot batch spans at most this much sample time */
#define RING_HOT_ROWS 262144  /* ... and at most this many rows */

/* The stored tables a ring can hold (catalog.h has their columns). */
enum ring_table {
	RING_STACK_SAMPLES,  /* stack_samples: CPU samples */
	RING_OFFCPU_SAMPLES, /* offcpu_samples: periods off the CPU, with the time blocked */
};

struct ring_config {
	size_t budget_bytes; /* total bytes: batches + interned records + indexes */
	const char *node;    /* value of the `node` column (copied) */
	int batch_seconds;   /* 0 = RING_BATCH_SECONDS */
	enum ring_table table; /* what the ring holds (0: stack_samples) */
};

/* One row, already resolved to interned records (see ring_stack / ring_thread). */
struct ring_row {
	int64_t time_ns;           /* ns since the epoch */
	struct thread_rec *thread;
	struct stack *stack;
	uint32_t cpu;              /* the CPU; in offcpu_samples the state (enum offcpu_state) */
	uint32_t count;            /* samples this row stands for */
	int64_t value;             /* offcpu_samples: ns blocked (>= 0); stack_samples: ignored */
};

/* One sample by names (the collector's path): the ring interns the strings. */
struct ring_sample {
	int64_t time_ns;
	int64_t pid, tid, cpu, cgroup, count; /* cpu: the state in offcpu_samples */
	int64_t value;              /* offcpu_samples: ns blocked */
	const char *comm;
	const char *container, *pod, *namespace; /* Kubernetes names; NULL: "" */
	const char *const *frames;  /* leaf first: kernel frames, then user frames */
	uint16_t nframes, nkernel;
};

struct ring_stats {
	size_t bytes;          /* batches + interned records */
	size_t budget;
	size_t batches, sealed_batches;
	uint64_t rows;         /* rows a full ROWS scan yields (1-s points once sealed) */
	uint64_t samples;      /* sum of count held */
	uint64_t evicted_rows; /* row ids evicted since start */
	uint64_t evicted_samples;
	uint64_t appended_samples;
	int64_t oldest_ns, newest_ns; /* 0 when empty */
	size_t stacks, threads, strings;
	size_t intern_bytes;   /* part of bytes */
	double compression;    /* samples x 64 B (one row per sample, 8 columns) / bytes */
};


struct ring *ring_new(const struct ring_config *cfg);
void ring_free(struct ring *r); /* no scan may be running */

/* Interned records for appending; each returns one reference the caller must release. */
struct stack *ring_stack(struct ring *r, const char *const *frames, uint16_t nframes, uint16_t nkernel);
struct thread_rec *ring_thread(struct ring *r, const struct thread_key *k);
void ring_release_stack(struct ring *r, struct stack *st);
/* One more reference to st, a stack of r the caller holds (or borrows from a holder). */
void ring_ref_stack(struct ring *r, struct stack *st);
void ring_release_thread(struct ring *r, struct thread_rec *th);

/* Appends rows (the ring takes its own references). 0, or -1 on out-of-memory (rows dropped). */
int ring_append_rows(struct ring *r, const struct ring_row *rows, size_t n);
/* Convenience for one sample by names. */
int ring_append(struct ring *r, const struct ring_sample *s);
/* The same with its stack already interned in r (st, borrowed): s->frames is not read. */
int ring_append_stack(struct ring *r, const struct ring_sample *s, struct stack *st);
/* Seals the hot batch now (tests, snapshots). Unlike a seal when the hot batch is full, it does
 * not trim the heap: every agent flushes for every snapshot request, and trimming there made
 * each agent give its query memory back and fault it in again several times a minute under the
 * soak's load. The process's own trimming (service_trim) gives the evicted pages back. */
int ring_flush(struct ring *r);

/* The ring as a scan source (core/scan.h; ud is the ring): calls chunk() for each batch
 * overlapping [t0, t1), oldest first, with a borrowed table in catalog column order. Rows
 * outside [t0, t1) may appear. Tables: the ring's own (ring_table_name), ring_stats (one row
 * about it), and any other stored table, which has no rows here. */
scan_fn ring_scan;

/* The rings of an agent, one per stored table, scanned as one source (ud is the set): each table
 * comes from its own ring; ring_stats has one row per ring. */
#define RING_SET_MAX 2
struct ring_set {
	struct ring *rings[RING_SET_MAX];
	int n;
};
scan_fn ring_set_scan;
/* The ring of set keeping table, or NULL (set may be NULL). */
struct ring *ring_set_get(const struct ring_set *set, enum ring_table table);

const char *ring_table_name(const struct ring *r); /* "stack_samples" or "offcpu_samples" */
enum ring_table ring_table_of(const struct ring *r);

void ring_get_stats(struct ring *r, struct ring_stats *out);

#endif
