/* test_engine.c - the query engine on fixture data: operators, aggregates, joins, frames, the
 * bundled scripts, and the central property: a plan merged from several agents equals the same
 * plan run on one source holding all their data. */
#include "fixture.h"
#include "engine/sketch.h"
#include "core/catalog.h"

#include <inttypes.h>
#include <math.h>

#ifndef WISP_SCRIPTS_DIR
#error "WISP_SCRIPTS_DIR must point at scripts/pxl-lua"
#endif

/* The same sources with every scan forced to plain rows: the executor's time collapsing and the
 * ring's rollups must not change any result. */
static int rows_only_scan(void *ud, const char *table, int64_t t0, int64_t t1, int flags,
			  int (*chunk)(void *, const struct table *), void *arg)
{
	(void)flags;
	return fix_multi_scan(ud, table, t0, t1, 0, chunk, arg);
}

static bool force_rows;

static struct table *run_local(struct qctx *q, const char *src, const char *const *argv, struct ring **rings,
			       int n)
{
	char err[512];
	struct plan *p = fix_compile("test.lua", src, argv, err, sizeof(err));
	if (!p)
		fail_msg("compile: %s", err);
	struct fix_multi m = {rings, n};
	struct scan_source s = {force_rows ? rows_only_scan : fix_multi_scan, &m};
	struct table *outs[8] = {0};
	bool trunc[8];
	if (exec_local(q, p, &s, outs, trunc) < 0)
		fail_msg("exec: %s", q->err);
	for (int d = 1; d < p->ndisplays; d++)
		table_free(outs[d]);
	plan_free(p);
	return outs[0];
}

static struct table *run_distributed(struct qctx *q, const char *src, const char *const *argv,
				     struct ring **rings, int n)
{
	char err[512];
	struct plan *p = fix_compile("test.lua", src, argv, err, sizeof(err));
	if (!p)
		fail_msg("compile: %s", err);
	struct table *outs[8] = {0};
	bool trunc[8];
	if (fix_run_distributed(q, p, rings, n, outs, trunc) < 0)
		fail_msg("exec: %s", q->err);
	for (int d = 1; d < p->ndisplays; d++)
		table_free(outs[d]);
	plan_free(p);
	return outs[0];
}

/* Tables equal cell by cell (stacks and strings by content, floats within 1e-9 relative). */
static void assert_tables_equal(struct qctx *qa, const struct table *a, struct qctx *qb, const struct table *b)
{
	assert_int_equal(a->ncols, b->ncols);
	assert_int_equal(a->nrows, b->nrows);
	for (int c = 0; c < a->ncols; c++) {
		assert_string_equal(a->cols[c].name, b->cols[c].name);
		assert_int_equal(a->cols[c].type, b->cols[c].type);
		for (size_t r = 0; r < a->nrows; r++) {
			const struct column *x = &a->cols[c], *y = &b->cols[c];
			switch (x->type) {
			case VT_STRING: assert_string_equal(x->v.s[r], y->v.s[r]); break;
			case VT_STACK: assert_string_equal(qctx_stack_folded(qa, x->v.k[r], FRAME_LINE), qctx_stack_folded(qb, y->v.k[r], FRAME_LINE)); break;
			case VT_FLOAT:
				if (fabs(x->v.f[r] - y->v.f[r]) > 1e-9 * fmax(1.0, fabs(x->v.f[r])))
					fail_msg("%s row %zu: %.17g != %.17g", x->name, r, x->v.f[r], y->v.f[r]);
				break;
			case VT_BOOL: assert_int_equal(x->v.b[r], y->v.b[r]); break;
			default:
				if (x->v.i[r] != y->v.i[r])
					fail_msg("%s row %zu: %lld != %lld", x->name, r, (long long)x->v.i[r],
						 (long long)y->v.i[r]);
				break;
			}
		}
	}
}

static const char *script_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", WISP_SCRIPTS_DIR, name);
	return buf;
}

static void filter_map_agg_sort(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 11, 3000);
	struct qctx q;
	qctx_init(&q);
	struct table *t = run_local(&q,
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"df = df:filter(px.and_(df.pid:ge(101), px.not_(df.comm:eq('cron'))))\n"
		"df.ms = px.int((df.time_ - px.time(0)) / 1000000)\n"
		"local g = df:groupby{'pid', 'comm'}:agg{n = px.count(), s = px.sum('count'), lo = px.min('ms'),\n"
		"  hi = px.max('ms'), avg = px.mean('cpu'), c = px.any('comm')}\n"
		"px.display(g:sort('pid', 'desc'), 'out')\n", NULL, &r, 1);
	assert_int_equal(t->nrows, 2); /* pids 101 (worker), 102 (db); 103 is cron */
	assert_int_equal(t->cols[table_find(t, "pid")].v.i[0], 102);
	assert_string_equal(t->cols[table_find(t, "comm")].v.s[1], "worker");
	int64_t n0 = t->cols[table_find(t, "n")].v.i[0], n1 = t->cols[table_find(t, "n")].v.i[1];
	assert_true(n0 > 500 && n1 > 500 && n0 + n1 < 3000);
	assert_int_equal(n0, t->cols[table_find(t, "s")].v.i[0]);
	assert_true(t->cols[table_find(t, "lo")].v.i[0] < t->cols[table_find(t, "hi")].v.i[0]);
	double avg = t->cols[table_find(t, "avg")].v.f[0];
	assert_true(avg > 1.0 && avg < 2.0); /* cpu uniform over 0..3 */
	table_free(t);
	qctx_destroy(&q);
	ring_free(r);
}

/* A regex filter selects exactly what the equivalent contains/eq filters select. */
static void regex_filter(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 17, 3000);
	struct qctx q1, q2;
	qctx_init(&q1);
	qctx_init(&q2);
	struct table *a = run_local(&q1,
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"df = df:filter(df.comm:matches('^(api|db)$'))\n"
		"px.display(df:groupby('comm'):agg{n = px.sum('count')}:sort('comm'), 'x')\n", NULL, &r, 1);
	struct table *b = run_local(&q2,
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"df = df:filter(px.in_(df.comm, {'api', 'db'}))\n"
		"px.display(df:groupby('comm'):agg{n = px.sum('count')}:sort('comm'), 'x')\n", NULL, &r, 1);
	assert_int_equal(a->nrows, 2);
	assert_tables_equal(&q1, a, &q2, b);
	table_free(a);
	table_free(b);
	qctx_destroy(&q1);
	qctx_destroy(&q2);
	ring_free(r);
}

static void frames_and_join(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 12, 2000);
	struct qctx q;
	qctx_init(&q);
	/* Every stack ends in main: main's total is all samples, its self share is zero. */
	struct table *t = run_local(&q,
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"local st = df:groupby('stack'):agg{n = px.sum('count')}\n"
		"local fr = st:frames{}\n"
		"fr.self = px.select(fr.leaf, fr.n, 0)\n"
		"local f = fr:groupby('function'):agg{total = px.sum('n'), self = px.sum('self')}\n"
		"local all = st:agg{all = px.sum('n')}\n"
		"f = f:merge(all)\n"
		"px.display(f:filter(f['function']:eq('main')), 'main')\n", NULL, &r, 1);
	assert_int_equal(t->nrows, 1);
	assert_int_equal(t->cols[table_find(t, "total")].v.i[0], 2000);
	assert_int_equal(t->cols[table_find(t, "all")].v.i[0], 2000);
	assert_int_equal(t->cols[table_find(t, "self")].v.i[0], 0);
	table_free(t);
	qctx_destroy(&q);
	ring_free(r);
}

static void left_join_fills_zero(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 13, 500);
	struct qctx q;
	qctx_init(&q);
	struct table *t = run_local(&q,
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"local a = df:groupby('pid'):agg{n = px.count()}\n"
		"local b = df:filter(df.pid:eq(100)):groupby('pid'):agg{m = px.count()}\n"
		"px.display(a:merge(b, {how='left', on={'pid'}}):sort('pid'), 'j')\n", NULL, &r, 1);
	assert_int_equal(t->nrows, 4);
	assert_int_equal(table_find(t, "pid_x"), -1); /* merge{on=...}: one copy of the key */
	assert_int_equal(t->cols[table_find(t, "pid")].v.i[0], 100);
	assert_int_equal(t->cols[table_find(t, "m")].v.i[0], t->cols[table_find(t, "n")].v.i[0]);
	for (size_t i = 1; i < 4; i++)
		assert_int_equal(t->cols[table_find(t, "m")].v.i[i], 0);
	table_free(t);
	qctx_destroy(&q);
	ring_free(r);
}

/* The bundled top_functions: ordering, percents of the filtered samples, self <= total. */
static void top_functions_script(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 14, 4000);
	struct qctx q;
	qctx_init(&q);
	char path[512];
	size_t len;
	char *src = fix_read_file(script_path("top_functions.lua", path, sizeof(path)), &len);
	const char *argv[] = {"--start", "-2h", "--pid", "101", NULL};
	struct table *t = run_local(&q, src, argv, &r, 1);
	const char *cols[] = {"function", "self_samples", "self_percent", "total_samples", "total_percent"};
	assert_int_equal(t->ncols, 5);
	for (int c = 0; c < 5; c++)
		assert_string_equal(t->cols[c].name, cols[c]);
	assert_true(t->nrows > 3);
	double self_pct_sum = 0;
	for (size_t i = 0; i < t->nrows; i++) {
		self_pct_sum += t->cols[2].v.f[i];
		assert_true(t->cols[1].v.i[i] <= t->cols[3].v.i[i]);
		if (i)
			assert_true(t->cols[1].v.i[i] <= t->cols[1].v.i[i - 1]);
		if (!strcmp(t->cols[0].v.s[i], "main"))
			assert_true(fabs(t->cols[4].v.f[i] - 100.0) < 1e-9);
	}
	assert_true(fabs(self_pct_sum - 100.0) < 1e-6); /* every sample has exactly one leaf */
	free(src);
	table_free(t);
	qctx_destroy(&q);
	ring_free(r);
}

/* Frames with lines and raw names (core/frame.h): views fold lines of one function together,
 * keep them apart with 'line', give the raw name with 'raw'; the bundled scripts follow --lines. */
static struct ring *lines_ring(void)
{
	struct ring_config cfg = {16u << 20, "n1", 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&cfg);
	assert_non_null(r);
	/* Frames of every form (core/frame.h): plain, with a line, a raw name, a module. */
	static const char *const a[] = {"scramble\x1f/src/inl.c:25", "inline_phase\x1f/src/inl.c:34", "main\x1f\x1f\x1f/usr/bin/inl\x1f" "0a0b"};
	static const char *const b[] = {"scramble\x1f/src/inl.c:24", "inline_phase\x1f/src/inl.c:34", "main"};
	static const char *const c[] = {"Foo::bar()\x1f\x1f_ZN3Foo3barEv\x1f/usr/lib/libfoo.so\x1f", "main"};
	const char *const *stacks[] = {a, a, a, b, c, c};
	for (int i = 0; i < 6; i++) {
		struct ring_sample rs = {.time_ns = FIX_T0 + i * 10000000LL, .pid = 7, .tid = 7, .count = 1,
					 .comm = "inl", .frames = (const char **)stacks[i],
					 .nframes = (uint16_t)(stacks[i] == c ? 2 : 3)};
		assert_int_equal(ring_append(r, &rs), 0);
	}
	return r;
}

/* The (string, int) rows of t's columns c0 and c1 as "s=n;" in row order. */
static const char *rows_of(const struct table *t, const char *c0, const char *c1)
{
	static char out[1024];
	size_t used = 0;
	int a = table_find(t, c0), b = table_find(t, c1);
	assert_true(a >= 0 && b >= 0);
	for (size_t i = 0; i < t->nrows; i++)
		used += (size_t)snprintf(out + used, sizeof(out) - used, "%s=%" PRId64 ";", t->cols[a].v.s[i], t->cols[b].v.i[i]);
	return out;
}

static void frame_views(void **state)
{
	(void)state;
	struct ring *r = lines_ring();
	char path[512];
	size_t len;
	char *top = fix_read_file(script_path("top_functions.lua", path, sizeof(path)), &len);
	char *fg = fix_read_file(script_path("flamegraph.lua", path, sizeof(path)), &len);
	const char *plain[] = {"--start", "-2h", NULL}, *lines[] = {"--start", "-2h", "--lines", NULL};
	struct {
		const char *src;
		const char *const *argv;
		const char *c0, *c1, *want;
	} cases[] = {
		{top, plain, "function", "self_samples", "scramble=4;Foo::bar()=2;main=0;inline_phase=0;"},
		{top, lines, "function", "self_samples",
		 "scramble inl.c:25=3;Foo::bar()=2;scramble inl.c:24=1;main=0;inline_phase inl.c:34=0;"},
		{fg, plain, "stack", "samples", "inl;main;inline_phase;scramble=4;inl;main;Foo::bar()=2;"},
		{fg, lines, "stack", "samples",
		 "inl;main;inline_phase inl.c:34;scramble inl.c:25=3;inl;main;Foo::bar()=2;inl;main;inline_phase inl.c:34;scramble inl.c:24=1;"},
		{"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		 "df.f = px.leaf(df.stack, 'raw')\n"
		 "df = df:filter(px.has_function(df.stack, '_ZN3Foo'))\n"
		 "px.display(df:groupby('f'):agg{n = px.sum('count')}, 'raw')\n",
		 NULL, "f", "n", "_ZN3Foo3barEv=2;"},
		{"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		 "df.f = px.leaf(df.stack, 'raw')\n"
		 "df = df:filter(px.has_function(df.stack, 'libfoo.so'))\n"
		 "px.display(df:groupby('f'):agg{n = px.sum('count')}, 'module')\n",
		 NULL, "f", "n", "_ZN3Foo3barEv=2;"},
		{"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		 "local fr = df:frames{view = 'line'}\n"
		 "fr = fr:filter(fr['function']:startswith('scramble'))\n"
		 "px.display(fr:groupby('function'):agg{n = px.sum('count')}:sort('n', 'desc'), 'lines')\n",
		 NULL, "function", "n", "scramble inl.c:25=3;scramble inl.c:24=1;"},
		/* px.view: a stack whose frames are the view's names, so a grouping folds what the
		 * view does not show, and every view of it is itself. */
		{"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		 "df.stack = px.view(df.stack, 'raw')\n"
		 "local g = df:groupby('stack'):agg{n = px.sum('count')}:sort{{'n', 'desc'}}\n"
		 "g.f = px.folded(g.stack, 'line')\n"
		 "px.display(g, 'raw')\n",
		 NULL, "f", "n", "main;inline_phase;scramble=4;main;_ZN3Foo3barEv=2;"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct qctx q;
		qctx_init(&q);
		struct table *t = run_local(&q, cases[i].src, cases[i].argv, &r, 1);
		assert_string_equal(rows_of(t, cases[i].c0, cases[i].c1), cases[i].want);
		table_free(t);
		qctx_destroy(&q);
	}
	char err[512];
	const char *bad = "local df = px.DataFrame{table='stack_samples'}\ndf.f = px.leaf(df.stack, 'lines')\npx.display(df, 'x')\n";
	assert_null(fix_compile("bad.lua", bad, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "'function', 'line' or 'raw'"));
	free(top);
	free(fg);
	ring_free(r);
}

/* Frame kinds (core/frame.h): px.frames keeps the frames of the kinds asked for, in order, and
 * --lang does it for the bundled scripts, dropping samples left without frames; here and through
 * the wire, where the stacks it made travel as any other. */
static void frame_kinds(void **state)
{
	(void)state;
	struct ring_config cfg = {16u << 20, "n1", 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&cfg);
	assert_non_null(r);
	static const char *const a[] = {"k_fn", "c_fn", "hot\x1f/app.py:3\x1f\x1f\x1f\x1fpython",
					"<module>\x1f/app.py:9\x1f\x1f\x1f\x1fpython", "main\x1f\x1f\x1f/usr/bin/python3\x1f"};
	static const char *const b[] = {"c_only", "main"};
	for (int i = 0; i < 3; i++) {
		struct ring_sample rs = {.time_ns = FIX_T0 + i * 10000000LL, .pid = 7, .tid = 7, .count = 1, .comm = "py",
					 .frames = (const char **)(i < 2 ? a : b), .nframes = (uint16_t)(i < 2 ? 5 : 2),
					 .nkernel = (uint16_t)(i < 2 ? 1 : 0)};
		assert_int_equal(ring_append(r, &rs), 0);
	}
	char path[512];
	size_t len;
	char *fg = fix_read_file(script_path("flamegraph.lua", path, sizeof(path)), &len);
	const char *py[] = {"--start", "-2h", "--by", "none", "--lang", "python", NULL};
	const char *mixed[] = {"--start", "-2h", "--by", "none", "--lang", "python,native", NULL};
	const char *kernel[] = {"--start", "-2h", "--by", "none", "--lang", "kernel", NULL};
	/* A viewed stack (px.view) keeps its Python frames Python and its kernel frames kernel. */
	const char *viewed = "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
			     "df.stack = px.frames(px.view(df.stack, 'line'), 'python,kernel')\n"
			     "df = df:filter('depth(stack) > 0')\n"
			     "local g = df:groupby('stack'):agg{samples = px.sum('count')}\n"
			     "g.stack = px.folded(g.stack)\n"
			     "px.display(g, 'viewed')\n";
	struct {
		const char *src;
		const char *const *argv;
		const char *want;
	} cases[] = {
		{fg, py, "<module>;hot=2;"},
		{fg, mixed, "main;<module>;hot;c_fn=2;main;c_only=1;"},
		{fg, kernel, "k_fn_[k]=2;"},
		{viewed, NULL, "<module> app.py:9;hot app.py:3;k_fn_[k]=2;"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int wire = 0; wire < 2; wire++) {
			struct qctx q;
			qctx_init(&q);
			struct table *t = wire ? run_distributed(&q, cases[i].src, cases[i].argv, &r, 1) :
						 run_local(&q, cases[i].src, cases[i].argv, &r, 1);
			assert_string_equal(rows_of(t, "stack", "samples"), cases[i].want);
			table_free(t);
			qctx_destroy(&q);
		}
	char err[512];
	const char *bad = "local df = px.DataFrame{table='stack_samples'}\ndf.s = px.frames(df.stack, 'pyhton')\npx.display(df, 'x')\n";
	assert_null(fix_compile("bad.lua", bad, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "'python', 'native' or 'kernel'"));
	free(fg);
	ring_free(r);
}

/* Distributed == single node, for every bundled script and some ad-hoc plans. */
/* Script `distributed` (with argv), merged from the three rings through the wire, answers what `local` does
 * over them in one process, and with some rows. */
static void same_answer(const char *distributed, const char *local, const char *const *argv, struct ring *rings[3])
{
	struct qctx q1, q2;
	qctx_init(&q1);
	qctx_init(&q2);
	struct table *a = run_distributed(&q1, distributed, argv, rings, 3), *b = run_local(&q2, local, argv, rings, 3);
	assert_true(a->nrows > 0);
	assert_tables_equal(&q1, a, &q2, b);
	table_free(a);
	table_free(b);
	qctx_destroy(&q1);
	qctx_destroy(&q2);
}

static void merged_equals_single_node(void **state)
{
	(void)state;
	struct ring *rings[3] = {fix_ring("a", 21, 3000), fix_ring("b", 22, 2000), fix_ring("c", 23, 2500)};
	static const char *const scripts[] = {"top_functions.lua", "flamegraph.lua", "processes.lua"};
	const char *argv[] = {"--start", "-2h", NULL};
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		char path[512];
		size_t len;
		char *src = fix_read_file(script_path(scripts[i], path, sizeof(path)), &len);
		print_message("script %s\n", scripts[i]);
		same_answer(src, src, argv, rings);
		free(src);
	}
	static const char *const adhoc[] = {
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"df.bucket = px.bin(df.time_, '5s')\n"
		"px.display(df:groupby{'node','bucket'}:agg{n=px.count(), m=px.mean('cpu'), lo=px.min('tid'),"
		" hi=px.max('tid')}:sort{'node','bucket'}, 'x')\n",
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"df = df:filter(px.or_(df.comm:contains('o'), df.cpu:gt(2)))\n"
		"px.display(df:agg{n=px.count(), s=px.sum('cpu'), d=px.max('pid')}, 'x')\n",
		("local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		 "px.display(df:filter(df.pid:eq(102)):sort{{'time_','desc'}}:head(7):select{'node','time_','tid'}, 'x')\n"),
	};
	for (size_t i = 0; i < sizeof(adhoc) / sizeof(adhoc[0]); i++) {
		struct qctx q1, q2;
		qctx_init(&q1);
		qctx_init(&q2);
		struct table *a = run_local(&q1, adhoc[i], NULL, rings, 3);
		struct table *b = run_distributed(&q2, adhoc[i], NULL, rings, 3);
		assert_true(a->nrows > 0);
		assert_tables_equal(&q1, a, &q2, b);
		table_free(a);
		table_free(b);
		qctx_destroy(&q1);
		qctx_destroy(&q2);
	}
	for (int i = 0; i < 3; i++)
		ring_free(rings[i]);
}

/* Collapsed scans (per series, per stack rollup, per thread rollup; whole and partial batches,
 * hot rows) give exactly the results of plain row scans, for every bundled script and windows
 * that cut batches. */
static void collapsing_changes_nothing(void **state)
{
	(void)state;
	struct ring *rings[2] = {fix_ring("a", 41, 40000), fix_ring("b", 42, 25000)};
	static const char *const scripts[] = {"top_functions.lua", "flamegraph.lua", "processes.lua"};
	static const char *const starts[] = {"-2h", "2023-11-14T22:15:27Z", "1700000123000000000"};
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		char path[512];
		size_t len;
		char *src = fix_read_file(script_path(scripts[i], path, sizeof(path)), &len);
		for (size_t w = 0; w < sizeof(starts) / sizeof(starts[0]); w++) {
			const char *argv[] = {"--start", starts[w], "--limit", "100000", NULL};
			struct qctx q1, q2;
			qctx_init(&q1);
			qctx_init(&q2);
			force_rows = false;
			struct table *a = run_local(&q1, src, argv, rings, 2);
			force_rows = true;
			struct table *b = run_local(&q2, src, argv, rings, 2);
			force_rows = false;
			print_message("%s --start %s: %zu rows\n", scripts[i], starts[w], a->nrows);
			assert_true(a->nrows > 0);
			assert_tables_equal(&q1, a, &q2, b);
			table_free(a);
			table_free(b);
			qctx_destroy(&q1);
			qctx_destroy(&q2);
		}
		free(src);
	}
	static const char *const adhoc[] = {
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"px.display(df:groupby{'cpu','comm'}:agg{n=px.sum('count'), hi=px.max('pid')}:sort{'cpu','comm'}, 'x')\n",
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"df = df:filter(px.has_function(df.stack, 'hash'))\n"
		"px.display(df:groupby('tid'):agg{n=px.sum('count')}:sort('tid'), 'x')\n",
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"px.display(df:agg{n=px.sum('count')}, 'x')\n",
	};
	for (size_t i = 0; i < sizeof(adhoc) / sizeof(adhoc[0]); i++) {
		struct qctx q1, q2;
		qctx_init(&q1);
		qctx_init(&q2);
		struct table *a = run_local(&q1, adhoc[i], NULL, rings, 2);
		force_rows = true;
		struct table *b = run_local(&q2, adhoc[i], NULL, rings, 2);
		force_rows = false;
		assert_tables_equal(&q1, a, &q2, b);
		table_free(a);
		table_free(b);
		qctx_destroy(&q1);
		qctx_destroy(&q2);
	}
	ring_free(rings[0]);
	ring_free(rings[1]);
}

/* px.quantiles against exact quantiles of the same values (smallest value whose cumulative
 * weight reaches q x total): within QUANTILE_ERROR, relative. */
static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void quantiles_within_bound(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 61, 20000);
	struct qctx q1, q2;
	qctx_init(&q1);
	qctx_init(&q2);
	/* Values spread over decades: time_ offsets in ms, weighted by rows. */
	const char *body = "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
			   "df.v = px.int((df.time_ - px.time(1700000000000000000)) / 1000000) + 1\n";
	char src1[1024], src2[1024];
	snprintf(src1, sizeof(src1), "%spx.display(df:agg{v = px.quantiles('v')}, 'q')\n", body);
	snprintf(src2, sizeof(src2), "%spx.display(df:select{'v'}, 'rows')\n", body);
	struct table *qt = run_local(&q1, src1, NULL, &r, 1), *rows = run_local(&q2, src2, NULL, &r, 1);
	size_t n = rows->nrows;
	int64_t *vals = malloc(n * sizeof(*vals));
	memcpy(vals, rows->cols[0].v.i, n * sizeof(*vals));
	qsort(vals, n, sizeof(*vals), cmp_i64);
	static const double qs[3] = {0.5, 0.9, 0.99};
	for (int k = 0; k < 3; k++) {
		size_t idx = (size_t)ceil(qs[k] * (double)n) - 1;
		double exact = (double)vals[idx], got = qt->cols[k].v.f[0];
		print_message("p%g: exact %.0f, sketch %.1f\n", qs[k] * 100, exact, got);
		assert_true(fabs(got - exact) <= QUANTILE_ERROR * exact + 1e-9);
	}
	free(vals);
	table_free(qt);
	table_free(rows);
	qctx_destroy(&q1);
	qctx_destroy(&q2);
	ring_free(r);
}

/* Filters narrow a selection, maps write computed columns at the selected rows only, and later
 * filters read those columns: the result equals one combined filter before the map. */
static void selection_through_filters_and_maps(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 12, 4000);
	const char *agg = "local g = df:groupby{'pid', 'x'}:agg{n = px.count(), s = px.sum('x'), c = px.sum('count')}\n"
			  "px.display(g:sort{'pid', 'x'}, 'out')\n";
	char a[1024], b[1024];
	snprintf(a, sizeof(a),
		 "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		 "df = df:filter(df.pid:ge(101))\n"
		 "df.x = df.cpu * 10\n"
		 "df = df:filter(df.x:ge(20))\n"
		 "df.y = df.x + 1\n"
		 "df = df:filter(df.y:ne(31))\n%s", agg);
	snprintf(b, sizeof(b),
		 "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		 "df = df:filter(px.and_(df.pid:ge(101), px.and_(df.cpu:ge(2), df.cpu:ne(3))))\n"
		 "df.x = df.cpu * 10\n%s", agg);
	struct qctx qa, qb;
	qctx_init(&qa);
	qctx_init(&qb);
	force_rows = true; /* every row through the pipeline, no collapsed scans */
	struct table *ta = run_local(&qa, a, NULL, &r, 1), *tb = run_local(&qb, b, NULL, &r, 1);
	force_rows = false;
	assert_true(ta->nrows > 0);
	assert_tables_equal(&qa, ta, &qb, tb);
	table_free(ta);
	table_free(tb);
	qctx_destroy(&qa);
	qctx_destroy(&qb);
	ring_free(r);
}

/* df:filter("...") builds the same plan as the builders: equal results. */
static void expression_strings_equal_builders(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 14, 3000);
	static const char *const pairs[][2] = {
		{"\"pid >= 101 and not (comm == 'cron')\"", "px.and_(df.pid:ge(101), px.not_(df.comm:eq('cron')))"},
		{"'cpu * 10 + 1 > 15 or pid in (101, 103)'", "px.or_((df.cpu * 10 + 1):gt(15), df.pid:in_{101, 103})"},
		{"\"startswith(comm, 'wo') and depth(stack) >= 2 and -cpu < 0\"",
		 "px.and_(px.and_(df.comm:startswith('wo'), px.depth(df.stack):ge(2)), (-df.cpu):lt(0))"},
		{"\"comm .. '!' ~= 'db!' and has_function(stack, 'main')\"",
		 "px.and_((df.comm .. '!'):ne('db!'), px.has_function(df.stack, 'main'))"},
		{"\"bin(time_, '10s') >= time(0) + duration('1s') and -2 < cpu\"",
		 "px.and_(px.bin(df.time_, '10s'):ge(px.time(0) + px.duration('1s')), px.lt(-2, df.cpu))"},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char a[1024], b[1024];
		const char *tail = "local g = df:groupby{'pid', 'comm'}:agg{n = px.sum('count')}\n"
				   "px.display(g:sort{'pid'}, 'out')\n";
		snprintf(a, sizeof(a), "local df = px.DataFrame{table='stack_samples', start_time=0}\ndf = df:filter(%s)\n%s",
			 pairs[i][0], tail);
		snprintf(b, sizeof(b), "local df = px.DataFrame{table='stack_samples', start_time=0}\ndf = df:filter(%s)\n%s",
			 pairs[i][1], tail);
		struct qctx qa, qb;
		qctx_init(&qa);
		qctx_init(&qb);
		struct table *ta = run_local(&qa, a, NULL, &r, 1), *tb = run_local(&qb, b, NULL, &r, 1);
		assert_true(ta->nrows > 0);
		assert_tables_equal(&qa, ta, &qb, tb);
		table_free(ta);
		table_free(tb);
		qctx_destroy(&qa);
		qctx_destroy(&qb);
	}
	ring_free(r);
}

/* sort + head keeps a heap of the top rows: the same rows, in the same order, as sorting all. */
static void sort_head_equals_full_sort(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 13, 5000);
	static const int keep[] = {0, 1, 3, 7, 40, 100000};
	for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		char src[1024];
		snprintf(src, sizeof(src),
			 "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
			 "local g = df:groupby{'pid', 'cpu', 'comm'}:agg{n = px.count()}\n"
			 "px.display(g:sort{{'n', 'desc'}, 'comm'}, 'all')\n" /* ties on n and comm */
			 "px.display(g:sort{{'n', 'desc'}, 'comm'}:head(%d), 'top')\n", keep[k]);
		char err[256];
		struct plan *p = fix_compile("t.lua", src, NULL, err, sizeof(err));
		assert_non_null(p);
		struct qctx q;
		qctx_init(&q);
		struct scan_source s = {ring_scan, r};
		struct table *out[2];
		bool trunc[2];
		assert_int_equal(exec_local(&q, p, &s, out, trunc), 0);
		size_t want = (size_t)keep[k] < out[0]->nrows ? (size_t)keep[k] : out[0]->nrows;
		assert_int_equal(out[1]->nrows, want);
		for (size_t i = 0; i < want; i++)
			for (int c = 0; c < out[0]->ncols; c++)
				assert_true(value_eq(out[0]->cols[c].type, &out[0]->cols[c].v, i, &out[1]->cols[c].v, i));
		table_free(out[0]);
		table_free(out[1]);
		plan_free(p);
		qctx_destroy(&q);
	}
	ring_free(r);
}

static void row_cap_truncates(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 15, 1000);
	char err[256];
	struct plan *p = fix_compile("t.lua",
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"px.display(df:select{'time_', 'pid'}, 'rows')\n", NULL, err, sizeof(err));
	assert_non_null(p);
	struct qctx q;
	qctx_init(&q);
	q.max_rows = 10;
	struct scan_source s = {ring_scan, r};
	struct table *out[1];
	bool trunc[1];
	assert_int_equal(exec_local(&q, p, &s, out, trunc), 0);
	assert_int_equal(out[0]->nrows, 10);
	assert_true(trunc[0]);
	table_free(out[0]);
	plan_free(p);
	qctx_destroy(&q);
	ring_free(r);
}

static void memory_limit_stops_query(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 16, 20000);
	char err[256];
	struct plan *p = fix_compile("t.lua",
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"df.f = px.folded(df.stack) .. px.string(df.time_)\n"
		"px.display(df:groupby('f'):agg{n=px.count()}, 'big')\n", NULL, err, sizeof(err));
	assert_non_null(p);
	struct qctx q;
	qctx_init(&q);
	q.mem_limit = 256 << 10;
	struct scan_source s = {ring_scan, r};
	struct table *out[1];
	bool trunc[1];
	assert_int_equal(exec_local(&q, p, &s, out, trunc), -1);
	assert_non_null(strstr(q.err, "memory limit"));
	plan_free(p);
	qctx_destroy(&q);
	ring_free(r);
}

/* Hostile but legal expressions (issue 15): deep nesting, a 5 KB literal, an `in` over 200,000
 * values. Each runs through the wire encoding and gives the answer a plain script gives. */
static void large_and_deep_expressions(void **state)
{
	(void)state;
	struct ring *rings[3] = {fix_ring("a", 1, 3000), fix_ring("b", 2, 3000), fix_ring("c", 3, 3000)};
	/* 150 levels of `e + 1`: deeper than the Lua stack's guaranteed room. */
	const char *deep = "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
			   "local e = df.pid\nfor i = 1, 150 do e = e + 1 end\ndf.x = e\n"
			   "px.display(df:groupby('x'):agg{n=px.sum('count')}:sort('x'), 'x')\n";
	const char *plain = "local df = px.DataFrame{table='stack_samples', start_time=0}\ndf.x = df.pid + 150\n"
			    "px.display(df:groupby('x'):agg{n=px.sum('count')}:sort('x'), 'x')\n";
	same_answer(deep, plain, NULL, rings);

	/* A 5,000-character literal crosses the wire whole. */
	struct qctx q1;
	char big[6000];
	snprintf(big, sizeof(big),
		 "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		 "df = df:filter(df.comm:ne(('x'):rep(5000)))\npx.display(df:agg{n=px.sum('count')}, 'x')\n");
	qctx_init(&q1);
	struct table *a = run_distributed(&q1, big, NULL, rings, 3);
	assert_int_equal(a->cols[0].v.i[0], 9000);
	table_free(a);
	qctx_destroy(&q1);

	/* in_ over 200,000 values (pids 0 .. 199,999) keeps every row, as the plain filter does. */
	const char *in = "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
			 "local set = {} for i = 0, 199999 do set[#set + 1] = i end\n"
			 "df = df:filter(df.pid:in_(set))\n"
			 "px.display(df:groupby('comm'):agg{n=px.sum('count')}:sort('comm'), 'x')\n";
	const char *all = "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
			  "px.display(df:groupby('comm'):agg{n=px.sum('count')}:sort('comm'), 'x')\n";
	same_answer(in, all, NULL, rings);
	/* ... and a set of strings with duplicates selects what eq does. */
	const char *strs = "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
			   "local set = {} for i = 1, 50 do set[#set + 1] = 'nope' .. i end\n"
			   "for i = 1, 50 do set[#set + 1] = 'api' end\n"
			   "px.display(df:filter(df.comm:in_(set)):agg{n=px.sum('count')}, 'x')\n";
	const char *one = "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
			  "px.display(df:filter(df.comm:eq('api')):agg{n=px.sum('count')}, 'x')\n";
	same_answer(strs, one, NULL, rings);
	for (int i = 0; i < 3; i++)
		ring_free(rings[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filter_map_agg_sort),
		cmocka_unit_test(regex_filter),
		cmocka_unit_test(frames_and_join),
		cmocka_unit_test(left_join_fills_zero),
		cmocka_unit_test(top_functions_script),
		cmocka_unit_test(frame_views),
		cmocka_unit_test(frame_kinds),
		cmocka_unit_test(merged_equals_single_node),
		cmocka_unit_test(collapsing_changes_nothing),
		cmocka_unit_test(quantiles_within_bound),
		cmocka_unit_test(selection_through_filters_and_maps),
		cmocka_unit_test(sort_head_equals_full_sort),
		cmocka_unit_test(expression_strings_equal_builders),
		cmocka_unit_test(row_cap_truncates),
		cmocka_unit_test(memory_limit_stops_query),
		cmocka_unit_test(large_and_deep_expressions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
