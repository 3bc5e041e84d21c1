/* scan.h - the contract between stored tables and the query engine: something that can scan a
 * catalog table (the ring, a snapshot being replayed, a test fixture) hands the engine borrowed
 * chunks of rows in catalog column order (catalog.h). The engine filters what lies outside
 * [t0, t1); the source may deliver more.
 *
 * Flags: SCAN_COLLAPSE_TIME lets the source aggregate rows over time (summing count, time_ then
 * meaningless); the engine asks for it only when the plan cannot tell the difference. Bits from
 * SCAN_COLUMN_SHIFT up name the catalog columns the plan reads (SCAN_COLUMN(c) for column c):
 * with SCAN_COLLAPSE_TIME the source may aggregate the other columns away as well (their values
 * are then meaningless). No column bits = all columns. */
#ifndef WISP_SCAN_H
#define WISP_SCAN_H

#include <stdint.h>

struct table;

#define SCAN_COLLAPSE_TIME 1
#define SCAN_COLUMN_SHIFT 8
#define SCAN_COLUMN(c) (1 << (SCAN_COLUMN_SHIFT + (c)))

/* Receives one chunk (borrowed: valid during the call). Non-zero stops the scan and is what
 * scan_fn returns. */
typedef int scan_chunk_fn(void *arg, const struct table *rows);
/* Scans `table` over [t0, t1), calling chunk() for each batch of rows, oldest first. 0, the
 * chunk's non-zero return, or -1 (unknown table, out of memory, corrupt data). */
typedef int scan_fn(void *ud, const char *table, int64_t t0, int64_t t1, int flags, scan_chunk_fn *chunk,
		    void *arg);

struct scan_source {
	scan_fn *scan;
	void *ud;
};

#endif
