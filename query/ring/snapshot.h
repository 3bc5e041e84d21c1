/* snapshot.h - self-contained snapshot files of a ring's time range: the unit exported to S3 and
 * replayed by `wispd agent --source replay:FILE[,FILE...]`.
 *
 * File layout:
 *   "WISPSNAP" | u32 version (1) | u32 CRC-32 of the rest | zstd frame (with checksum) of a
 *   msgpack map:
 *     {"node": str, "created_ns": int, "t0": int, "t1": int,
 *      "strings": [str...],
 *      "stacks":  [[nkernel, string index (leaf first)...]...],
 *      "threads": [[pid, tid, cgroup, comm, container, pod, namespace]...] (string indexes;
 *                  files from before the Kubernetes names stop after comm),
 *      "batches": [[tmin, tmax, base_sec, nseries, npoints, headers, points]...]}
 *   headers/points are the batch's uncompressed series and points streams (see ring.c) with
 *   thread and stack ids replaced by indexes into this file's tables.
 *
 * The loader trusts nothing: lengths, indexes, varint streams and time ranges are all checked,
 * and a file that fails any check is refused whole with a message; the ring is left as it was. */
#ifndef WISP_SNAPSHOT_H
#define WISP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct ring;

#define SNAPSHOT_MAX_BYTES (1u << 30) /* files larger than this are refused */

/* Seals the hot batch, then encodes every batch overlapping [t0, t1) into a new malloc'd buffer.
 * 0, or -1 with a message. */
int ring_snapshot(struct ring *r, int64_t t0, int64_t t1, void **out, size_t *len, char *err, size_t errlen);

/* Adds a snapshot's batches to ring r (which may hold other data). 0, or -1 with a message. */
int ring_load_snapshot(struct ring *r, const void *buf, size_t len, char *err, size_t errlen);

/* The same, keeping only the samples of [t0, t1) (by whole seconds, as scans count them: a
 * second belongs to the range when its start does). Adjacent ranges of one ring load without a
 * sample counted twice. */
int ring_load_snapshot_range(struct ring *r, const void *buf, size_t len, int64_t t0, int64_t t1, char *err,
			     size_t errlen);

int ring_load_snapshot_file(struct ring *r, const char *path, char *err, size_t errlen);

#endif
