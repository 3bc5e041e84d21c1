/* text.c - the aligned table for terminals: numbers right-aligned, long text cut at 120
 * characters (the last column never), times in ISO 8601. Control characters in names and values
 * (a process may name itself "\x1b]0;..." to drive the terminal) are printed as \xHH, never raw. */
#include "render_internal.h"
#include "core/qctx.h"
#include "core/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool numeric(enum vtype t)
{
	return t == VT_INT || t == VT_FLOAT;
}

/* Is byte i of s the start of a control character: C0, DEL, or C1 (UTF-8 0xc2 0x80..0x9f)? */
static size_t control_at(const unsigned char *s)
{
	if (*s < 0x20 || *s == 0x7f)
		return 1;
	return s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f ? 2 : 0;
}

/* s, or a copy (in q's arena) with each control character's bytes written as \xHH. */
static const char *printable(struct qctx *q, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0, bad = 0;
	for (; p[n]; n++)
		bad += control_at(p + n) != 0;
	if (!bad)
		return s;
	char *out = malloc(4 * n + 1), *o = out;
	if (!out)
		return "?";
	for (size_t i = 0; i < n;) {
		size_t k = control_at(p + i);
		if (!k) {
			*o++ = (char)p[i++];
			continue;
		}
		for (; k > 0; k--, i++)
			o += sprintf(o, "\\x%02x", p[i]);
	}
	*o = '\0';
	const char *copy = qctx_strndup(q, out, (size_t)(o - out));
	free(out);
	return copy ? copy : "?";
}

static const char *cell_text(struct qctx *q, const struct column *c, size_t r, char *buf, size_t len)
{
	return printable(q, render_cell(q, c, r, buf, len, true));
}

void render_aligned(FILE *f, struct qctx *q, const struct table *t, bool titled)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(size_t));
	char buf[64];
	if (!w)
		return;
	if (titled)
		fprintf(f, "%s%s\n", printable(q, t->name ? t->name : ""), t->nrows ? "" : " (no rows)");
	for (int c = 0; c < t->ncols; c++) {
		w[c] = strlen(printable(q, t->cols[c].name));
		for (size_t r = 0; r < t->nrows; r++) {
			size_t l = strlen(cell_text(q, &t->cols[c], r, buf, sizeof(buf)));
			if (l > w[c])
				w[c] = l;
		}
		if (w[c] > 120 && c < t->ncols - 1)
			w[c] = 120;
	}
	for (int c = 0; c < t->ncols; c++) {
		bool right = numeric(t->cols[c].type);
		const char *name = printable(q, t->cols[c].name);
		fprintf(f, "%s%*s%s", c ? "  " : "", right ? (int)w[c] : 0, right ? name : "", right ? "" : name);
		if (!right && c < t->ncols - 1)
			fprintf(f, "%*s", (int)(w[c] - strlen(name)), "");
	}
	fputc('\n', f);
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *v = cell_text(q, &t->cols[c], r, buf, sizeof(buf));
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
