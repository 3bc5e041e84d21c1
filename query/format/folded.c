/* folded.c - folded stacks ("root;frame;...;leaf COUNT" lines) for flamegraph.pl, speedscope and
 * inferno; from a table with a stack column and a count column. */
#include "render_internal.h"
#include "core/qctx.h"
#include "core/table.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Folded output: the stack column (a stack, or a string column named stack/folded/frames) and a
 * count column (named count/samples; else a number column named *_ms, printed in whole
 * microseconds, as offcpu_flamegraph's blocked_ms; else the last integer column). A table with
 * integer columns `baseline` and `current` prints both ("stack baseline current"), as
 * flamegraph.pl's difffolded input. */
int render_folded(FILE *f, struct qctx *q, const struct table *t, char *err, size_t errlen)
{
	int sc = -1, cc = -1;
	char buf[64];
	for (int c = 0; c < t->ncols; c++) {
		const struct column *col = &t->cols[c];
		if (sc < 0 && (col->type == VT_STACK ||
			       (col->type == VT_STRING && (!strcmp(col->name, "stack") || !strcmp(col->name, "folded") ||
							    !strcmp(col->name, "frames")))))
			sc = c;
		if (col->type == VT_INT && (!strcmp(col->name, "count") || !strcmp(col->name, "samples")))
			cc = c;
	}
	int bc = table_find(t, "baseline"), kc = table_find(t, "current");
	if (bc >= 0 && kc >= 0 && t->cols[bc].type == VT_INT && t->cols[kc].type == VT_INT && sc >= 0) {
		for (size_t r = 0; r < t->nrows; r++)
			fprintf(f, "%s %" PRId64 " %" PRId64 "\n", render_cell(q, &t->cols[sc], r, buf, sizeof(buf), false),
				t->cols[bc].v.i[r], t->cols[kc].v.i[r]);
		return 0;
	}
	int mc = -1; /* milliseconds, printed as microseconds */
	for (int c = 0; cc < 0 && mc < 0 && c < t->ncols; c++) {
		size_t l = strlen(t->cols[c].name);
		if ((t->cols[c].type == VT_INT || t->cols[c].type == VT_FLOAT) && l > 3 &&
		    !strcmp(t->cols[c].name + l - 3, "_ms"))
			mc = c;
	}
	if (mc >= 0 && sc >= 0) {
		for (size_t r = 0; r < t->nrows; r++) {
			const struct column *m = &t->cols[mc];
			double us = (m->type == VT_INT ? (double)m->v.i[r] : m->v.f[r]) * 1000.0;
			fprintf(f, "%s %.0f\n", render_cell(q, &t->cols[sc], r, buf, sizeof(buf), false), round(us));
		}
		return 0;
	}
	for (int c = t->ncols - 1; cc < 0 && c >= 0; c--)
		if (t->cols[c].type == VT_INT)
			cc = c;
	if (sc < 0 || cc < 0) {
		snprintf(err, errlen, "-o folded needs a table with a stack column and a count column; "
				      "table '%s' has neither", t->name ? t->name : "");
		return -1;
	}
	for (size_t r = 0; r < t->nrows; r++)
		fprintf(f, "%s %" PRId64 "\n", render_cell(q, &t->cols[sc], r, buf, sizeof(buf), false), t->cols[cc].v.i[r]);
	return 0;
}
