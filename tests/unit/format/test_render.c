/* test_render.c - the output formats: a value that holds terminal control sequences never
 * reaches the terminal raw through the aligned table (issue 15), and JSON and CSV keep every
 * byte of it, escaped as their grammars say. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "format/render.h"
#include "core/qctx.h"
#include "core/table.h"

/* A one-row table: comm (a string with an escape sequence, a bell and a C1 CSI), pid. */
static struct table *hostile_table(void)
{
	const char *names[] = {"comm", "pid"};
	enum vtype types[] = {VT_STRING, VT_INT};
	struct table *t = table_new(2, names, types);
	assert_non_null(t);
	assert_int_equal(table_reserve(t, 1), 0);
	t->cols[0].v.s[0] = "\x1b]0;owned\x07" "evil\xc2\x9b" "2J";
	t->cols[1].v.i[0] = 42;
	t->nrows = 1;
	table_set_name(t, "procs\x1b[2J");
	return t;
}

/* Renders t in fmt into a new string (caller frees). */
static char *render(struct table *t, enum output_format fmt)
{
	char *out = NULL, err[256];
	size_t len = 0;
	struct qctx q;
	qctx_init(&q);
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	assert_int_equal(render_tables(f, &q, &t, 1, fmt, err, sizeof(err)), 0);
	fclose(f);
	qctx_destroy(&q);
	return out;
}

static void table_escapes_controls(void **state)
{
	(void)state;
	struct table *t = hostile_table();
	for (int titled = 0; titled < 2; titled++) {
		struct table *two[2] = {t, t};
		char *out = NULL, err[256];
		size_t len = 0;
		struct qctx q;
		qctx_init(&q);
		FILE *f = open_memstream(&out, &len);
		assert_int_equal(render_tables(f, &q, two, titled ? 2 : 1, OUT_TABLE, err, sizeof(err)), 0);
		fclose(f);
		qctx_destroy(&q);
		for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
			assert_true(*p >= 0x20 || *p == '\n');
			assert_false(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f);
		}
		assert_non_null(strstr(out, "\\x1b]0;owned\\x07evil\\xc2\\x9b2J"));
		if (titled)
			assert_non_null(strstr(out, "procs\\x1b[2J"));
		free(out);
	}
	table_free(t);
}

static void json_and_csv_keep_bytes(void **state)
{
	(void)state;
	struct table *t = hostile_table();
	char *json = render(t, OUT_JSON), *csv = render(t, OUT_CSV);
	assert_non_null(strstr(json, "\"\\u001b]0;owned\\u0007evil\xc2\x9b" "2J\""));
	assert_non_null(strstr(csv, "\x1b]0;owned\x07" "evil\xc2\x9b" "2J,42"));
	free(json);
	free(csv);
	table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_escapes_controls),
		cmocka_unit_test(json_and_csv_keep_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
