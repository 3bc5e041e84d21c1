/* render.h - result tables as text: an aligned table, JSON, CSV or folded stacks. Shared by the
 * CLI and everything else that shows or exports results. */
#ifndef WISP_RENDER_H
#define WISP_RENDER_H

#include <stdio.h>

struct table;
struct qctx;

enum output_format { OUT_TABLE, OUT_JSON, OUT_CSV, OUT_FOLDED };

/* "table", "json", "csv" or "folded". 0, or -1 when s is none of them. */
int output_format_parse(const char *s, enum output_format *out);

/* Writes n tables to f in the given format (stacks are folded in q's arena). 0, or -1 with a
 * message in err (e.g. a table that has no stack column for folded output). */
int render_tables(FILE *f, struct qctx *q, struct table *const *tables, int n, enum output_format fmt, char *err,
		  size_t errlen);

#endif
