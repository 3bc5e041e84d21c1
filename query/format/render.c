/* render.c - choosing an output format and formatting single values (see render.h); each
 * format is its own file (text.c, json.c, csv.c, folded.c, pprof.c). */
#include "render.h"
#include "render_internal.h"
#include "core/qctx.h"
#include "core/table.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int output_format_parse(const char *s, enum output_format *out)
{
	static const char *const names[] = {"table", "json", "csv", "folded", "pprof"};
	for (int i = 0; i < 5; i++)
		if (!strcmp(s, names[i])) {
			*out = (enum output_format)i;
			return 0;
		}
	return -1;
}

/* Formats one value for text output into buf. */
const char *render_cell(struct qctx *q, const struct column *c, size_t r, char *buf, size_t len, bool iso_time)
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
		const char *f = qctx_stack_folded(q, c->v.k[r], FRAME_FUNCTION);
		return f ? f : "";
	}
	default:
		return "";
	}
}

int render_tables(FILE *f, struct qctx *q, struct table *const *tables, int n, enum output_format fmt, char *err,
		  size_t errlen)
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
			rc = render_folded(f, q, tables[i], err, errlen);
		break;
	case OUT_PPROF:
		rc = render_pprof(f, q, tables, n, NULL, err, errlen);
		break;
	}
	return rc;
}
