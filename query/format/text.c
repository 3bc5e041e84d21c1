/* text.c - the aligned table for terminals: numbers right-aligned, long text cut at 120
 * characters (the last column never), times in ISO 8601. */
#include "render_internal.h"
#include "core/qctx.h"
#include "core/table.h"

#include <stdlib.h>
#include <string.h>

static bool numeric(enum vtype t)
{
	return t == VT_INT || t == VT_FLOAT;
}

void render_aligned(FILE *f, struct qctx *q, const struct table *t, bool titled)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(size_t));
	char buf[64];
	if (!w)
		return;
	if (titled)
		fprintf(f, "%s%s\n", t->name ? t->name : "", t->nrows ? "" : " (no rows)");
	for (int c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->cols[c].name);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t l = strlen(render_cell(q, &t->cols[c], r, buf, sizeof(buf), true));
			if (l > w[c])
				w[c] = l;
		}
		if (w[c] > 120 && c < t->ncols - 1)
			w[c] = 120;
	}
	for (int c = 0; c < t->ncols; c++) {
		bool right = numeric(t->cols[c].type);
		fprintf(f, "%s%*s%s", c ? "  " : "", right ? (int)w[c] : 0, right ? t->cols[c].name : "",
			right ? "" : t->cols[c].name);
		if (!right && c < t->ncols - 1)
			fprintf(f, "%*s", (int)(w[c] - strlen(t->cols[c].name)), "");
	}
	fputc('\n', f);
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *v = render_cell(q, &t->cols[c], r, buf, sizeof(buf), true);
			size_t l = strlen(v);
			if (c)
				fputs("  ", f);
			if (numeric(t->cols[c].type)) {
				fprintf(f, "%*s", (int)w[c], v);
			} else if (c < t->ncols - 1) {
				if (l > w[c])
					fprintf(f, "%.*s...", (int)w[c] - 3, v);
				else
					fprintf(f, "%s%*s", v, (int)(w[c] - l), "");
			} else {
				fputs(v, f);
			}
		}
		fputc('\n', f);
	}
	free(w);
}
