/* s3_source.h - exported history as a source: `--source s3://BUCKET/PREFIX` serves what `wisp
 * export` and continuous export wrote for this node (export/export.h), read-only.
 *
 * Lazily: at start it only lists the node's manifests (their key names give each export's
 * range). Before a query runs, s3_source_prepare loads the exports whose range overlaps the
 * query's and are not loaded yet: each object checked against its manifest (size and sha256) and
 * clipped to its manifest's range, so adjacent exports share no sample. The listing is read
 * again when it is older than S3_SOURCE_RELIST_S ($WISP_S3_RELIST_S overrides), so exports
 * written later are found. Fetched
 * objects are kept in a local cache directory by checksum within a byte budget (oldest files
 * dropped). Each table of an export goes to its ring. A ring too small for what a query reaches
 * evicts the oldest loaded data, as any ring does; it is not fetched again for that query. */
#ifndef WISP_S3_SOURCE_H
#define WISP_S3_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#define S3_SOURCE_RELIST_S 30

struct ring_set;
struct s3_source;

struct s3_source_options {
	const char *node;      /* whose exports to serve */
	const char *cache_dir; /* NULL or "": $WISP_CACHE_DIR, else /var/cache/wisp */
	size_t cache_bytes;    /* 0: 1 GiB */
};

/* Lists the node's exports, to be loaded into the rings (which must outlive it). NULL with a
 * message: a bad URL, no credentials, the store unreachable, nothing exported for the node. */
struct s3_source *s3_source_open(const char *url, const struct s3_source_options *o, const struct ring_set *rings,
				 char *err, size_t errlen);
void s3_source_close(struct s3_source *s);
/* Loads what [t0, t1) needs. 0, or -1 with a message naming an export that does not check out
 * or a store that cannot be reached (the query should fail rather than answer without it).
 * Thread-safe. */
int s3_source_prepare(struct s3_source *s, int64_t t0, int64_t t1, char *err, size_t errlen);

#endif
