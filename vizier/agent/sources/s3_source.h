/* s3_source.h - exported history as a source: `--source s3://BUCKET/PREFIX` loads what `wisp
 * export` and continuous export wrote for this node (export/export.h) into the ring once,
 * oldest first, so the ring keeps the newest within its budget. Each object is checked against
 * its manifest (size and sha256) and keeps only its manifest's range (adjacent exports share no
 * sample); one that disagrees, or does not
 * load, is skipped with a line on stderr naming it, and the rest still load. Objects are kept
 * in a local cache directory by their sha256, within a byte budget (oldest files dropped), so a
 * restart reads them from disk. */
#ifndef WISP_S3_SOURCE_H
#define WISP_S3_SOURCE_H

#include <stddef.h>

struct ring;

struct s3_source_options {
	const char *node;      /* whose exports to load */
	const char *cache_dir; /* NULL or "": $WISP_CACHE_DIR, else /var/cache/wisp */
	size_t cache_bytes;    /* 0: 1 GiB */
};

/* 0 (with at least one object loaded), or -1 with a message: a bad URL, no credentials, the
 * store unreachable, nothing exported for the node, or no object that checks out. */
int s3_source_load(const char *url, const struct s3_source_options *o, struct ring *ring, char *err, size_t errlen);

#endif
