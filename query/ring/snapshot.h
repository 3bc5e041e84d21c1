/* snapshot.h - self-contained snapshot files of a ring set's time range (an agent's tables): the
 * unit exported to S3 and replayed by `wispd agent --source replay:FILE[,FILE...]`.
 *
 * File layout:
 *   "WISPSNAP" | u32 version (2) | u32 CRC-32 of the rest | zstd frame (with checksum) of a
 *   msgpack map:
 *     {"node": str, "created_ns": int, "t0": int, "t1": int,
 *      "tables": [{"table": "stack_samples" | "offcpu_samples",
 *                  "strings": [str...],
 *                  "stacks":  [[nkernel, string index (leaf first)...]...],
 *                  "threads": [[pid, tid, cgroup, comm, container, pod, namespace]...] (string
 *                              indexes; files from before the Kubernetes names stop after comm),
 *                  "batches": [[tmin, tmax, base_sec, nseries, npoints, headers, points]...]}...]}
 *   headers/points are the batch's uncompressed series and points streams (see ring_seal.c) with
 *   thread and stack ids replaced by indexes into its table's records; offcpu_samples' points
 *   carry the values (ns blocked) after the counts, and its series the state where
 *   stack_samples' carry the CPU. Version 1 files (still read) hold stack_samples alone, its
 *   "strings", "stacks", "threads" and "batches" in the top map.
 *
 * The loader trusts nothing: lengths, indexes, varint streams and time ranges are all checked,
 * and a file that fails any check is refused whole with a message; the rings are left as they
 * were. */
#ifndef WISP_SNAPSHOT_H
#define WISP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "ring.h"

#define SNAPSHOT_MAX_BYTES (1u << 30) /* files larger than this are refused */

/* Seals each ring's hot batch, then encodes every batch overlapping [t0, t1) of every ring of set
 * into a new malloc'd buffer (the caller frees it). 0, or -1 with a message. */
int ring_set_snapshot(const struct ring_set *set, int64_t t0, int64_t t1, void **out, size_t *len, char *err,
		      size_t errlen);
/* The same for one ring. */
int ring_snapshot(struct ring *r, int64_t t0, int64_t t1, void **out, size_t *len, char *err, size_t errlen);

/* Adds a snapshot's batches to the rings of set that keep their tables (rings may hold other
 * data), keeping only the samples of [t0, t1) (by whole seconds, as scans count them: a second
 * belongs to the range when its start does), so that adjacent ranges of one ring load without a
 * sample counted twice; INT64_MIN and INT64_MAX keep everything. A table with rows that no ring of
 * set keeps is an error. 0, or -1 with a message. */
int ring_set_load_snapshot_range(const struct ring_set *set, const void *buf, size_t len, int64_t t0, int64_t t1,
				 char *err, size_t errlen);
/* The same into one ring, of the whole file or of [t0, t1). */
int ring_load_snapshot(struct ring *r, const void *buf, size_t len, char *err, size_t errlen);
int ring_load_snapshot_range(struct ring *r, const void *buf, size_t len, int64_t t0, int64_t t1, char *err,
			     size_t errlen);

/* ring_set_load_snapshot_range of a whole file, read from path. */
int ring_set_load_snapshot_file(const struct ring_set *set, const char *path, char *err, size_t errlen);

#endif
