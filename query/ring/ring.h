/* ring.h - the agent's in-memory columnar store: a byte budget, oldest data evicted first.
 *
 * Rows of stack_samples are appended to a hot batch of fixed capacity (columns in catalog
 * order); a full batch is sealed and a new one started. Stacks and strings are interned
 * (intern.h), so a row holds an 8-byte pointer to its deduplicated stack. When the ring's bytes
 * (batches + intern tables) exceed the budget, the oldest sealed batch is evicted and the stacks
 * only it referenced are freed.
 *
 * Concurrency: one writer (the collector) and any number of concurrent scans. The lock is held
 * only to append a row, to pin the batches a scan will read, and to unpin them; a scan reads its
 * pinned batches without the lock, so it never stalls the writer. A pinned batch that gets
 * evicted stays alive (with its stacks) until its last reader unpins it. */
#ifndef WISP_RING_H
#define WISP_RING_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/table.h"

struct ring;

struct ring_config {
	size_t budget_bytes; /* total bytes for batches + stacks + strings */
	size_t batch_rows;   /* rows per batch; 0 = derived from the budget */
	const char *node;    /* value of the `node` column (copied) */
};

/* One sample to append. Strings need not be interned: the ring interns them. */
struct ring_sample {
	int64_t time_ns;            /* ns since the epoch */
	int64_t pid, tid, cpu, cgroup, count;
	const char *comm;
	const char *const *frames;  /* leaf first: kernel frames, then user frames */
	uint16_t nframes, nkernel;
};

struct ring_stats {
	size_t bytes;          /* batches + intern tables */
	size_t budget;
	size_t batches;
	uint64_t rows;         /* rows held */
	uint64_t samples;      /* sum of count over rows held */
	uint64_t evicted_rows; /* rows evicted since start */
	uint64_t appended_rows;
	int64_t oldest_ns, newest_ns; /* 0 when empty */
	size_t stacks, strings;
};

struct ring *ring_new(const struct ring_config *cfg);
void ring_free(struct ring *r); /* no scan may be running */

/* 0, or -1 on out-of-memory (the row is dropped, the ring stays consistent). */
int ring_append(struct ring *r, const struct ring_sample *s);

/* Matches scan_source.scan (exec.h): calls chunk() once per batch overlapping [t0, t1), oldest
 * first, with a borrowed table of the rows visible when the scan began. */
int ring_scan(void *ring, const char *table, int64_t t0, int64_t t1,
	      int (*chunk)(void *arg, const struct table *rows), void *arg);

void ring_get_stats(struct ring *r, struct ring_stats *out);

#endif
