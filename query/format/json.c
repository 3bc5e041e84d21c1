/* json.c - one JSON document for all tables:
 *   {"tables":[{"name":"...","columns":[...],"types":[...],"rows":[[...],...]},...]}
 * Times are integers (ns since the epoch), stacks folded strings, non-finite floats null. */
#include "render_internal.h"
#include "core/qctx.h"
#include "core/table.h"

#include <math.h>

void render_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void render_json_tables(FILE *f, struct qctx *q, struct table *const *tables, int n)
{
	char buf[64];
	fputs("\"tables\":[", f);
	for (int i = 0; i < n; i++) {
		const struct table *t = tables[i];
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		render_json_string(f, t->name ? t->name : "");
		fputs(",\"columns\":[", f);
		for (int c = 0; c < t->ncols; c++) {
			if (c)
				fputc(',', f);
			render_json_string(f, t->cols[c].name);
		}
		fputs("],\"types\":[", f);
		for (int c = 0; c < t->ncols; c++) {
			if (c)
				fputc(',', f);
			render_json_string(f, vtype_name(t->cols[c].type));
		}
		fputs("],\"rows\":[", f);
		for (size_t r = 0; r < t->nrows; r++) {
			fputs(r ? ",[" : "[", f);
			for (int c = 0; c < t->ncols; c++) {
				const struct column *col = &t->cols[c];
				if (c)
					fputc(',', f);
				if (col->type == VT_STRING || col->type == VT_STACK)
					render_json_string(f, render_cell(q, col, r, buf, sizeof(buf), false));
				else if (col->type == VT_FLOAT && !isfinite(col->v.f[r]))
					fputs("null", f);
				else if (col->type == VT_FLOAT)
					fprintf(f, "%.17g", col->v.f[r]);
				else
					fputs(render_cell(q, col, r, buf, sizeof(buf), false), f);
			}
			fputc(']', f);
		}
		fputs("]}", f);
	}
	fputc(']', f);
}

void render_json(FILE *f, struct qctx *q, struct table *const *tables, int n)
{
	fputc('{', f);
	render_json_tables(f, q, tables, n);
	fputs("}\n", f);
}
