/* render.h - prints result tables as an aligned table, JSON, CSV or folded stacks. */
#ifndef WISP_RENDER_H
#define WISP_RENDER_H

#include <stdio.h>

struct table;
struct qctx;

enum output_format { OUT_TABLE, OUT_JSON, OUT_CSV, OUT_FOLDED };

int output_format_parse(const char *s, enum output_format *out);

/* Prints n tables in the given format. Returns 0, or -1 with a message on stderr (e.g. a table
 * that has no stack column for -o folded). */
int render_tables(FILE *f, struct qctx *q, struct table *const *tables, int n, enum output_format fmt);

#endif
