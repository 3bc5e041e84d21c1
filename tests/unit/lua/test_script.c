/* test_script.c - the Lua sandbox and the script API: limits, forbidden functions, error
 * messages naming the script line, script arguments, time parsing. */
#include "fixture.h"
#include "core/timeparse.h"
#include "core/clock.h"

static struct script_limits fast_limits = {16u << 20, 1000000000LL, 50000000ULL};

/* Compiles src; returns the error message (static buffer), or NULL when it compiled. */
static const char *compile_err(const char *src, const char *const *argv)
{
	static char err[1024];
	int argc = 0;
	while (argv && argv[argc])
		argc++;
	struct script_input in = {"s.lua", src, strlen(src), argv, argc, FIX_T0};
	struct plan *p = NULL;
	char *log = NULL;
	int rc = script_compile(&in, &fast_limits, &p, &log, err, sizeof(err));
	plan_free(p);
	free(log);
	return rc == 0 ? NULL : err;
}

#define SRC_OK "local df = px.DataFrame{table='stack_samples'}\npx.display(df, 'x')\n"

static void valid_script_compiles(void **state)
{
	(void)state;
	assert_null(compile_err(SRC_OK, NULL));
}

static void errors_name_the_line(void **state)
{
	(void)state;
	const char *e;
	e = compile_err("local x = 1\nlocal y = = 2\n", NULL);
	assert_non_null(strstr(e, "s.lua:2:"));
	e = compile_err("local df = px.DataFrame{table='stack_samples'}\n\nlocal y = df.nope\n", NULL);
	assert_non_null(strstr(e, "s.lua:3: unknown column 'nope'"));
	e = compile_err("local df = px.DataFrame{table='stack_samples'}\npx.display(df:filter(px.eq(df.comm, 3)))\n", NULL);
	assert_non_null(strstr(e, "s.lua:2:"));
	assert_non_null(strstr(e, "cannot compare"));
	e = compile_err("px.display(px.DataFrame{table='stack_samples', start_time='yesterday'})\n", NULL);
	assert_non_null(strstr(e, "s.lua:1: bad time 'yesterday'"));
	e = compile_err("px.display(px.DataFrame{table='stack_samples', start_time='-1m', end_time='-2m'})\n", NULL);
	assert_non_null(strstr(e, "empty time range"));
	e = compile_err("local df = px.DataFrame{table='ghosts'}\n", NULL);
	assert_non_null(strstr(e, "s.lua:1: unknown table 'ghosts'"));
	e = compile_err("error('custom failure')\n", NULL);
	assert_non_null(strstr(e, "s.lua:1: custom failure"));
	e = compile_err("local df = px.DataFrame{table='stack_samples'}\n", NULL);
	assert_non_null(strstr(e, "displayed nothing"));
	e = compile_err("local df = px.DataFrame{table='stack_samples'}\npx.display(df:filter(df.comm:matches('(x')))\n", NULL);
	assert_non_null(strstr(e, "s.lua:2: matches: bad regex '(x'"));
	e = compile_err("local df = px.DataFrame{table='stack_samples'}\npx.display(df:groupby('pid'):agg{x = px.sum('comm')})\n", NULL);
	assert_non_null(strstr(e, "needs a number column"));
}

/* Expression strings: a parse error, an unknown column or function, and a type error all name
 * the script line and the cause. */
static void expression_string_errors(void **state)
{
	(void)state;
	const char *pre = "local df = px.DataFrame{table='stack_samples'}\n";
	char src[512];
	static const struct {
		const char *expr, *want;
	} cases[] = {
		{"pid >", "s.lua:2: bad expression \"pid >\": expected a value, got 'the end' at 6"},
		{"pidd == 1", "s.lua:2: bad expression \"pidd == 1\": unknown column 'pidd'"},
		{"nope(comm)", "unknown function 'nope'"},
		{"comm == 'x", "unfinished string at 9"},
		{"pid = 1", "unexpected '=' at 5"},
		{"pid in (1, comm)", "expected 'value'"},
		{"comm == 3", "s.lua:2:"},
		{"(pid == 1", "expected ')'"},
		{"pid == 1 pid", "unexpected 'pid'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(src, sizeof(src), "%spx.display(df:filter(\"%s\"))\n", pre, cases[i].expr);
		const char *e = compile_err(src, NULL);
		if (!strstr(e, cases[i].want))
			fail_msg("%s: got '%s', want '%s'", cases[i].expr, e, cases[i].want);
	}
}

static void forbidden_things(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"os.execute('true')", "io.open('/etc/passwd')", "require('socket')", "debug.getinfo(1)",
		"dofile('/etc/passwd')", "loadfile('/etc/passwd')", "collectgarbage('stop')", "package.loadlib('x','y')",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *e = compile_err(bad[i], NULL);
		assert_non_null(e);
		assert_non_null(strstr(e, "not available in Wisp scripts"));
	}
	/* load() takes text only; bytecode is refused (string.dump is gone too). */
	assert_non_null(strstr(compile_err("local f = load('\\27Lua\\84\\0')\nassert(f)\n", NULL), "s.lua:2"));
	assert_non_null(compile_err("return string.dump(print)", NULL));
	assert_null(compile_err("local f = load('return 1')\nassert(f() == 1)\n" SRC_OK, NULL));
	/* A precompiled chunk as the script itself. */
	const char bytecode[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n";
	struct script_input in = {"b.lua", bytecode, sizeof(bytecode) - 1, NULL, 0, FIX_T0};
	struct plan *p = NULL;
	char err[256];
	assert_int_equal(script_compile(&in, &fast_limits, &p, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bytecode"));
}

static void limits_stop_hostile_scripts(void **state)
{
	(void)state;
	int64_t t0 = mono_now_ns();
	const char *e = compile_err("while true do end", NULL);
	assert_non_null(strstr(e, "s.lua:1: script exceeded its"));
	/* pcall cannot swallow the stop. */
	e = compile_err("for i = 1, 10 do pcall(function() while true do end end) end\n" SRC_OK, NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "exceeded"));
	assert_true(mono_now_ns() - t0 < 5000000000LL);
	e = compile_err("local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1000) .. i end", NULL);
	assert_non_null(strstr(e, "memory limit"));
	e = compile_err("local s = ('x'):rep(2^40)", NULL);
	assert_non_null(e);
	e = compile_err("local function f() return f() + 1 end f()", NULL);
	assert_true(strstr(e, "stack overflow") || strstr(e, "memory limit"));
	e = compile_err("local s = 'x' for i = 1, 40 do s = s .. s end", NULL);
	assert_non_null(e);
}

/* Scripts that used to crash the script helper or wedge agents (issue 15) now get errors. */
static void hostile_expressions(void **state)
{
	(void)state;
	/* Too deep for the builders: an error, not a crash of the process. */
	const char *e = compile_err("local df = px.DataFrame{table='stack_samples'}\nlocal x = df.pid\n"
				    "for i = 1, 300 do x = x + 1 end\ndf.y = x\npx.display(df, 'x')\n", NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "too deep"));
	/* 25 additions in an expression string. */
	char src[2048] = "local df = px.DataFrame{table='stack_samples'}\ndf = df:filter('pid";
	for (int i = 0; i < 25; i++)
		strcat(src, " + 1");
	strcat(src, " > 0')\npx.display(df, 'x')\n");
	assert_null(compile_err(src, NULL));
	/* Backreferences would make matching unbounded. */
	e = compile_err("local df = px.DataFrame{table='stack_samples'}\n"
			"px.display(df:filter(df.comm:matches('(a+)+\\\\1')), 'x')\n", NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "s.lua:2: matches: "));
	assert_non_null(strstr(e, "backreference"));
	assert_null(compile_err("local df = px.DataFrame{table='stack_samples'}\n"
				"px.display(df:filter(df.comm:matches('a\\\\\\\\1')), 'x')\n", NULL)); /* \\1: a backslash, then 1 */
	/* A time beyond what int64 ns hold is a bad time, not an empty range. */
	e = compile_err("px.display(px.DataFrame{table='stack_samples', end_time='+100000d'}, 'x')\n", NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "bad time '+100000d'"));
}

static void script_arguments(void **state)
{
	(void)state;
	const char *src = "local a = px.args{start = {default = '-5m', type = 'time'}, pid = {type = 'int'},\n"
			  "  limit = {default = 10}, name = {type = 'string'}}\n"
			  "assert(a.start == '-10m' and a.pid == 42 and a.limit == 10 and a.name == 'x y')\n" SRC_OK;
	const char *good[] = {"--start", "-10m", "--pid=42", "--name", "x y", NULL};
	assert_null(compile_err(src, good));
	const char *unknown[] = {"--color", "red", NULL};
	const char *e = compile_err(src, unknown);
	assert_non_null(strstr(e, "unknown script argument '--color'"));
	assert_non_null(strstr(e, "--pid"));
	const char *badint[] = {"--pid", "abc", NULL};
	assert_non_null(strstr(compile_err(src, badint), "'abc' is not a valid int"));
	const char *badtime[] = {"--start", "soon", NULL};
	assert_non_null(strstr(compile_err(src, badtime), "not a valid time"));
	const char *missing[] = {"--pid", NULL};
	assert_non_null(strstr(compile_err(src, missing), "needs a value"));
	/* A bool alone is a flag; a bool word after it is its value. */
	const char *flags = "local a = px.args{lines = {default = false, type = 'bool'}, pid = {type = 'int'}}\n"
			    "assert(a.lines == (a.pid == 1), 'lines ' .. tostring(a.lines))\n" SRC_OK;
	const char *flag_then[] = {"--lines", "--pid", "1", NULL}, *flag_last[] = {"--pid", "1", "--lines", NULL};
	const char *flag_false[] = {"--lines", "false", "--pid", "2", NULL}, *flag_none[] = {"--pid", "2", NULL};
	assert_null(compile_err(flags, flag_then));
	assert_null(compile_err(flags, flag_last));
	assert_null(compile_err(flags, flag_false));
	assert_null(compile_err(flags, flag_none));
}

static void time_parsing(void **state)
{
	(void)state;
	int64_t v, now = 1800000000000000000LL;
	assert_int_equal(parse_time("-5m", now, &v), 0);
	assert_int_equal(v, now - 300000000000LL);
	assert_int_equal(parse_time("-1h30m", now, &v), 0);
	assert_int_equal(v, now - 5400000000000LL);
	assert_int_equal(parse_time("-250ms", now, &v), 0);
	assert_int_equal(v, now - 250000000LL);
	assert_int_equal(parse_time("now", now, &v), 0);
	assert_int_equal(v, now);
	assert_int_equal(parse_time("2026-11-22T10:00:00Z", now, &v), 0);
	assert_int_equal(v, 1795341600000000000LL);
	assert_int_equal(parse_time("2026-11-22T10:00:00.5Z", now, &v), 0);
	assert_int_equal(v, 1795341600500000000LL);
	assert_int_equal(parse_time("123", now, &v), 0);
	assert_int_equal(v, 123);
	assert_int_equal(parse_time("-5x", now, &v), -1);
	assert_int_equal(parse_time("", now, &v), -1);
	assert_int_equal(parse_time("-", now, &v), -1);
	assert_int_equal(parse_time("2026-13-45T99:00:00Z", now, &v), -1);
	assert_int_equal(parse_duration("99999999999999d", &v), -1);
	/* Beyond int64 nanoseconds (found by fuzz_args): errors, not overflow. */
	assert_int_equal(parse_time("1013-01-15T08:00:00Z", now, &v), -1);
	assert_int_equal(parse_time("2263-01-01", now, &v), -1);
	assert_int_equal(parse_time("1677-01-01", now, &v), -1);
	assert_int_equal(parse_time("1678-01-01", now, &v), 0);
	assert_int_equal(parse_duration("50000d50000d", &v), 0);
	assert_int_equal(parse_duration("90000d90000d", &v), -1);
	assert_int_equal(parse_duration("10s", &v), 0);
	assert_int_equal(v, 10000000000LL);
}

static void print_goes_to_log(void **state)
{
	(void)state;
	struct script_input in = {"p.lua", "print('hello', 42)\n" SRC_OK, strlen("print('hello', 42)\n" SRC_OK), NULL, 0, FIX_T0};
	struct plan *p = NULL;
	char *log = NULL, err[256];
	assert_int_equal(script_compile(&in, &fast_limits, &p, &log, err, sizeof(err)), 0);
	assert_string_equal(log, "hello\t42\n");
	free(log);
	plan_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_script_compiles),
		cmocka_unit_test(errors_name_the_line),
		cmocka_unit_test(expression_string_errors),
		cmocka_unit_test(forbidden_things),
		cmocka_unit_test(limits_stop_hostile_scripts),
		cmocka_unit_test(hostile_expressions),
		cmocka_unit_test(script_arguments),
		cmocka_unit_test(time_parsing),
		cmocka_unit_test(print_goes_to_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
