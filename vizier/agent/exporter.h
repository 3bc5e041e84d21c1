/* exporter.h - continuous export (`wispd ... --export s3://BUCKET/PREFIX --export-every 10m`):
 * a thread of the agent that uploads each closed interval of its rings (every table) exactly
 * once, as export/export.h lays exports out.
 *
 * Intervals are [k * every, (k + 1) * every) in wall time; one is closed EXPORT_GRACE_S
 * (export/export.h) after its end. The cursor (the end of the last interval
 * uploaded) lives in the store, not on this machine: before its first upload the thread reads
 * the newest manifest of this node (retrying while the store is down), so a restart neither repeats nor skips an interval; with no manifest, export starts at
 * the interval holding the ring's oldest sample. An interval the agent was not running for goes
 * up empty (its manifest says 0 samples): the sequence has no gap and the loss is visible. When
 * the store fails, the interval is tried again EXPORT_RETRY_S later (the ring still holds it)
 * and the ones behind it follow: export catches up. */
#ifndef WISP_EXPORTER_H
#define WISP_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#define EXPORT_RETRY_S 5

struct ring_set;
struct exporter;

struct exporter_stats {
	int64_t cursor_ns;        /* end of the last interval uploaded (0: none yet) */
	int64_t every_ns;
	uint64_t intervals;       /* uploaded by this process */
	uint64_t failures;        /* uploads that failed (each retried) */
};

/* Starts the thread, which reads the cursor from the store first (retrying while the store is
 * down: the agent samples meanwhile). The rings must outlive it. NULL with a message: a bad URL
 * or no credentials. */
struct exporter *exporter_start(const char *url, int64_t every_ns, const char *node, const struct ring_set *rings,
				char *err, size_t errlen);
/* Stops the thread (an upload under way finishes first). NULL is fine. */
void exporter_stop(struct exporter *x);
void exporter_get_stats(struct exporter *x, struct exporter_stats *out);

#endif
