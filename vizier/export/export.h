/* export.h - what an export is in the store, shared by `wisp export`, continuous export and the
 * s3 source. Per node and range:
 *
 *     PREFIX/NODE/START-END.wispsnap        the snapshot (query/ring/snapshot.h)
 *     PREFIX/NODE/START-END.manifest.json   {"node","format":"wispsnap","object","start_ns",
 *                                           "end_ns","bytes","sha256","samples","oldest_ns",
 *                                           "newest_ns","exported_ns","offcpu_samples"}
 *
 * START and END are the range [start_ns, end_ns) in UTC, YYYYmmddTHHMMSSZ, so a node's keys sort
 * by time. The manifest goes up after its object, so a manifest names a complete object; the
 * snapshot may hold more than the range (whole batches), and readers keep only the range. */
#ifndef WISP_EXPORT_H
#define WISP_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "s3.h"

/* An interval is closed this long after its end: its last samples are in the ring by then. */
#define EXPORT_GRACE_S 3

struct export_manifest {
	char node[64];
	char format[16];          /* "wispsnap" or "pprof" */
	char object[2048];
	char sha256[65];
	int64_t start_ns, end_ns, oldest_ns, newest_ns, exported_ns;
	uint64_t bytes, samples;  /* samples: stack_samples' (CPU samples) */
	uint64_t offcpu_samples;  /* off-CPU periods (offcpu_samples' count); 0 in older manifests */
};

/* The key of a node's export of [t0, t1) without its suffix: PREFIX/NODE/START-END. */
void export_key_base(const struct s3_url *u, const char *node, int64_t t0, int64_t t1, char *out, size_t cap);

/* Checks snapshot data (it must load) and uploads it with its manifest (filled into m). 0, or -1
 * with a message. */
int export_put(const struct s3_config *c, const struct s3_url *u, const char *node, int64_t t0, int64_t t1,
	       const void *data, size_t len, struct export_manifest *m, char *err, size_t errlen);

/* Uploads an object of another format (data: len bytes holding `samples` samples of [t0, t1);
 * suffix "pb.gz" for format "pprof") with its manifest. 0, or -1 with a message. */
int export_put_object(const struct s3_config *c, const struct s3_url *u, const char *node, int64_t t0, int64_t t1,
		      const char *format, const char *suffix, const char *content_type, const void *data, size_t len,
		      uint64_t samples, struct export_manifest *m, char *err, size_t errlen);

/* Parses a manifest export_put or export_put_object wrote. 0, or -1 when it is not one. */
int export_manifest_parse(const char *json, size_t len, struct export_manifest *m);

/* The manifests' keys of node under u's prefix, sorted by time (malloc'd array of malloc'd
 * strings, *n of them; free with export_keys_free). 0, or -1 with a message. */
int export_list(const struct s3_config *c, const struct s3_url *u, const char *node, char ***keys, size_t *n, char *err,
		size_t errlen);
void export_keys_free(char **keys, size_t n);

#endif
