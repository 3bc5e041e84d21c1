/* render.c - output formats of the CLI (see render.h).
 *
 * -o json prints one document: {"tables":[{"name":..., "columns":[...], "rows":[[...], ...]}]}.
 * Times are integers (ns since the epoch) in JSON and CSV, ISO 8601 in the aligned table; stacks
 * are printed in folded form (root;...;leaf). */
#include "render.h"
#include "engine/expr.h"
#include "core/qctx.h"
#include "core/table.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int output_format_parse(const char *s, enum output_format *out)
{
	static const char *const names[] = {"table", "json", "csv", "folded"};
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*out = (enum output_format)i;
			return 0;
		}
	return -1;
}

/* Formats one value for text output into buf. */
static const char *cell(struct qctx *q, const struct column *c, size_t r, char *buf, size_t len, bool iso_time)
{
	switch (c->type) {
	case VT_BOOL:
		return c->v.b[r] ? "true" : "false";
	case VT_INT:
		snprintf(buf, len, "%" PRId64, c->v.i[r]);
		return buf;
	case VT_FLOAT:
		/* Two decimals for everyday magnitudes (percents, means); %g for the rest. */
		if (c->v.f[r] == 0 || (isfinite(c->v.f[r]) && fabs(c->v.f[r]) >= 0.01 && fabs(c->v.f[r]) < 1e9))
			snprintf(buf, len, "%.2f", c->v.f[r]);
		else
			snprintf(buf, len, "%.4g", c->v.f[r]);
		return buf;
	case VT_TIME:
		if (iso_time) {
			time_t s = (time_t)(c->v.i[r] / 1000000000LL);
			struct tm tm;
			gmtime_r(&s, &tm);
			size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
			snprintf(buf + n, len - n, ".%03dZ", (int)((c->v.i[r] % 1000000000LL) / 1000000));
		} else {
			snprintf(buf, len, "%" PRId64, c->v.i[r]);
		}
		return buf;
	case VT_STRING:
		return c->v.s[r];
	case VT_STACK: {
		const char *f = qctx_stack_folded(q, c->v.k[r]);
		return f ? f : "";
	}
	default:
		return "";
	}
}

static bool numeric(enum vtype t)
{
	return t == VT_INT || t == VT_FLOAT;
}

static void render_aligned(FILE *f, struct qctx *q, const struct table *t, bool titled)
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
			size_t l = strlen(cell(q, &t->cols[c], r, buf, sizeof(buf), true));
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
			const char *v = cell(q, &t->cols[c], r, buf, sizeof(buf), true);
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

static void json_string(FILE *f, const char *s)
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

static void render_json(FILE *f, struct qctx *q, struct table *const *tables, int n)
{
	char buf[64];
	fputs("{\"tables\":[", f);
	for (int i = 0; i < n; i++) {
		const struct table *t = tables[i];
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		json_string(f, t->name ? t->name : "");
		fputs(",\"columns\":[", f);
		for (int c = 0; c < t->ncols; c++) {
			if (c)
				fputc(',', f);
			json_string(f, t->cols[c].name);
		}
		fputs("],\"types\":[", f);
		for (int c = 0; c < t->ncols; c++) {
			if (c)
				fputc(',', f);
			json_string(f, vtype_name(t->cols[c].type));
		}
		fputs("],\"rows\":[", f);
		for (size_t r = 0; r < t->nrows; r++) {
			fputs(r ? ",[" : "[", f);
			for (int c = 0; c < t->ncols; c++) {
				const struct column *col = &t->cols[c];
				if (c)
					fputc(',', f);
				if (col->type == VT_STRING || col->type == VT_STACK)
					json_string(f, cell(q, col, r, buf, sizeof(buf), false));
				else if (col->type == VT_FLOAT && !isfinite(col->v.f[r]))
					fputs("null", f);
				else if (col->type == VT_FLOAT)
					fprintf(f, "%.17g", col->v.f[r]);
				else
					fputs(cell(q, col, r, buf, sizeof(buf), false), f);
			}
			fputc(']', f);
		}
		fputs("]}", f);
	}
	fputs("]}\n", f);
}

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

static void render_csv(FILE *f, struct qctx *q, const struct table *t, bool titled)
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
				csv_field(f, cell(q, &t->cols[c], r, buf, sizeof(buf), false));
		}
		fputs("\r\n", f);
	}
}

/* Folded output: the stack column (a stack, or a string column named stack/folded/frames) and a
 * count column (named count/samples, else the last integer column). A table with integer
 * columns `baseline` and `current` prints both ("stack baseline current"), as flamegraph.pl's
 * difffolded input. */
static int render_folded(FILE *f, struct qctx *q, const struct table *t)
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
			fprintf(f, "%s %" PRId64 " %" PRId64 "\n", cell(q, &t->cols[sc], r, buf, sizeof(buf), false),
				t->cols[bc].v.i[r], t->cols[kc].v.i[r]);
		return 0;
	}
	for (int c = t->ncols - 1; cc < 0 && c >= 0; c--)
		if (t->cols[c].type == VT_INT)
			cc = c;
	if (sc < 0 || cc < 0) {
		fprintf(stderr, "wisp: -o folded needs a table with a stack column and a count column; "
				"table '%s' has neither\n", t->name ? t->name : "");
		return -1;
	}
	for (size_t r = 0; r < t->nrows; r++)
		fprintf(f, "%s %" PRId64 "\n", cell(q, &t->cols[sc], r, buf, sizeof(buf), false), t->cols[cc].v.i[r]);
	return 0;
}

int render_tables(FILE *f, struct qctx *q, struct table *const *tables, int n, enum output_format fmt)
{
	int rc = 0;
	switch (fmt) {
	case OUT_JSON:
		render_json(f, q, tables, n);
		break;
	case OUT_TABLE:
		for (int i = 0; i < n; i++) {
			if (i)
				fputc('\n', f);
			render_aligned(f, q, tables[i], n > 1 || !tables[i]->nrows);
		}
		break;
	case OUT_CSV:
		for (int i = 0; i < n; i++) {
			if (i)
				fputs("\r\n", f);
			render_csv(f, q, tables[i], n > 1);
		}
		break;
	case OUT_FOLDED:
		for (int i = 0; i < n && rc == 0; i++)
			rc = render_folded(f, q, tables[i]);
		break;
	}
	return rc;
}
