/* render.h - result tables as text (an aligned table, JSON, CSV, folded stacks) or as a pprof
 * profile. Shared by the CLI and everything else that shows or exports results. */
#ifndef WISP_RENDER_H
#define WISP_RENDER_H

#include <stdio.h>

struct table;
struct qctx;

#include <stdint.h>

enum output_format { OUT_TABLE, OUT_JSON, OUT_CSV, OUT_FOLDED, OUT_PPROF };

/* "table", "json", "csv", "folded" or "pprof". 0, or -1 when s is none of them. */
int output_format_parse(const char *s, enum output_format *out);

/* Writes n tables to f in the given format (stacks are folded in q's arena). 0, or -1 with a
 * message in err (e.g. a table that has no stack column for folded output). */
int render_tables(FILE *f, struct qctx *q, struct table *const *tables, int n, enum output_format fmt, char *err,
		  size_t errlen);

/* Pieces of -o json for documents that embed tables (wisp live -o jsonl): a JSON string, and
 * "tables":[...] exactly as -o json writes it. */
void render_json_string(FILE *f, const char *s);
void render_json_tables(FILE *f, struct qctx *q, struct table *const *tables, int n);

/* What a pprof profile needs beyond its table: each node's sampling rate (samples per second
 * per CPU; a row's cpu/nanoseconds is its count times 1e9 / its node's rate, default_hz for a
 * node not listed or a table without a node column), and the time range it covers. */
struct pprof_rate {
	const char *node;
	int hz;
};
struct pprof_opts {
	int default_hz;                 /* <= 0: 99 */
	const struct pprof_rate *rates;
	int nrates;
	int64_t time_ns, duration_ns;   /* 0: now, and unknown */
};

/* The first of n tables that has a stack column and a count column as a gzipped pprof profile
 * (profile.proto; pprof.c says how rows map to samples). opts NULL: 99 Hz everywhere. 0, or -1
 * with a message in err. render_tables(OUT_PPROF) is this with opts NULL. */
int render_pprof(FILE *f, struct qctx *q, struct table *const *tables, int n, const struct pprof_opts *opts,
		 char *err, size_t errlen);

#endif
