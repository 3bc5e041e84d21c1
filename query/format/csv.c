/* csv.c - RFC 4180 CSV (CRLF line ends, quoted fields where needed); several tables are
 * separated by a blank line and each titled "# name". Times are ns since the epoch. */
#include "render_internal.h"
#include "core/qctx.h"
#include "core/table.h"

#include <string.h>

static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void render_csv(FILE *f, struct qctx *q, const struct table *t, bool titled)
{
	char buf[64];
	if (titled)
		fprintf(f, "# %s\n", t->name ? t->name : "");
	for (int c = 0; c < t->ncols; c++) {
		if (c)
			fputc(',', f);
		csv_field(f, t->cols[c].name);
	}
	fputs("\r\n", f);
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			if (c)
				fputc(',', f);
			if (t->cols[c].type == VT_FLOAT)
				fprintf(f, "%.17g", t->cols[c].v.f[r]);
			else
				csv_field(f, render_cell(q, &t->cols[c], r, buf, sizeof(buf), false));
		}
		fputs("\r\n", f);
	}
}
