/* test_property.c - the engine's central property, on random scripts: running a script on N
 * agents and merging their partial results (through the real wire encoding) gives the same
 * answer as running it on one source holding all their data. Hundreds of scripts with random
 * filters, computed columns, frames, groupings, aggregates (count, sum, min, max, mean),
 * coordinator-side filters, joins and unions, over 3 to 5 synthetic agents with different seeds.
 * Counts, sums, min and max must match exactly; means within 1e-9 relative.
 *
 * WISP_PROPERTY_SCRIPTS=N sets how many (default 200); a failing script is printed in full. */
#include "fixture.h"
#include "ring/synthetic.h"

#include <math.h>

#define S0 1800000000LL
#define SPAN 600

static uint64_t rng;

static int pick(int n)
{
	return (int)(fix_rand(&rng) % (uint64_t)n);
}

struct gen {
	char buf[8192];
	size_t len;
};

static void emit(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g->len += (size_t)vsnprintf(g->buf + g->len, sizeof(g->buf) - g->len, fmt, ap);
	va_end(ap);
}

static const char *predicate(void)
{
	static const char *const p[] = {
		"df.cpu:le(1)", "df.pid:ge(1100)", "px.contains(df.comm, 'w')", "px.in_(df.cpu, {0, 2, 3})",
		"px.has_function(df.stack, 'read')", "px.not_(px.in_kernel(df.stack))", "df.count:gt(0)",
		"px.or_(df.cpu:eq(0), px.startswith(df.comm, 'e'))", "px.depth(df.stack):ge(12)",
		"px.and_(df.tid:ne(df.pid), df.cpu:lt(3))", "df.node:ne('a1')", "px.endswith(px.leaf(df.stack), 'row')",
	};
	return p[pick(sizeof(p) / sizeof(p[0]))];
}

/* One random script; keys and aggregate outputs are collected so the result is sorted fully. */
static void random_script(struct gen *g)
{
	const char *keys_pool[8];
	int nkeys_pool = 0;
	g->len = 0;
	emit(g, "local df = px.DataFrame{table='stack_samples', start_time=%lld, end_time=%lld}\n",
	     (long long)((S0 + pick(300)) * 1000000000LL), (long long)((S0 + 600 + pick(300)) * 1000000000LL));
	for (int f = pick(3); f > 0; f--)
		emit(g, "df = df:filter(%s)\n", predicate());
	keys_pool[nkeys_pool++] = "node";
	keys_pool[nkeys_pool++] = "comm";
	keys_pool[nkeys_pool++] = "cpu";
	keys_pool[nkeys_pool++] = "pid";
	if (pick(2)) {
		emit(g, "df.leaf = px.leaf(df.stack)\n");
		keys_pool[nkeys_pool++] = "leaf";
	}
	if (pick(2)) {
		emit(g, "df.b = px.bin(df.time_, '%ds')\n", 30 * (1 + pick(10)));
		keys_pool[nkeys_pool++] = "b";
	}
	if (pick(2)) {
		emit(g, "df.x = px.float(df.tid %% 7) / 3 + df.cpu\n");
	} else {
		emit(g, "df.x = df.cpu * 2 + 1\n");
	}
	if (!pick(4)) {
		emit(g, "df = df:frames{name = 'fn', leaf = 'is_leaf'}\n");
		keys_pool[nkeys_pool++] = "fn";
	}
	/* Group-by keys (possibly none) and aggregates. */
	int nk = pick(4);
	char keys[256] = "";
	const char *chosen[4];
	int nchosen = 0;
	for (int i = 0; i < nk; i++) {
		const char *k = keys_pool[pick(nkeys_pool)];
		bool dup = false;
		for (int j = 0; j < nchosen; j++)
			dup |= !strcmp(chosen[j], k);
		if (dup)
			continue;
		chosen[nchosen++] = k;
		size_t l = strlen(keys);
		snprintf(keys + l, sizeof(keys) - l, "%s'%s'", nchosen > 1 ? ", " : "", k);
	}
	static const char *const aggs[] = {"n = px.count()", "s = px.sum('count')", "lo = px.min('cpu')",
					   "hi = px.max('tid')", "avg = px.mean('x')", "m = px.max('x')",
					   "sx = px.sum('x')", "dt = px.count_distinct('tid')", "q = px.quantiles('x')"};
	char agg[256] = "";
	int na = 1 + pick(4), used = 0;
	for (int i = 0; i < na; i++) {
		int a = pick(9);
		if (used & (1 << a))
			continue;
		used |= 1 << a;
		size_t l = strlen(agg);
		snprintf(agg + l, sizeof(agg) - l, "%s%s", l ? ", " : "", aggs[a]);
	}
	if (nchosen)
		emit(g, "local g = df:groupby{%s}:agg{%s}\n", keys, agg);
	else
		emit(g, "local g = df:agg{%s}\n", agg);
	/* Coordinator-side work after the merge. */
	switch (pick(6)) {
	case 0:
		emit(g, "g = g:merge(g:agg{total_groups = px.count()})\n");
		break;
	case 1:
		if (nchosen) {
			emit(g, "local other = df:groupby{'%s'}:agg{k2 = px.sum('count')}\n", chosen[0]);
			emit(g, "g = g:merge(other, {how = '%s', on = {'%s'}})\n", pick(2) ? "inner" : "left", chosen[0]);
		}
		break;
	case 2:
		emit(g, "g = px.union(g, g)\n");
		break;
	case 3:
		if (used & 1)
			emit(g, "g = g:filter(g.n:gt(1))\n");
		break;
	default:
		/* A second aggregation of the first one's sums: pushed down to the agents. */
		if ((used & 2) && nchosen) {
			emit(g, "g.w = px.select(g.%s:ne(%s), g.s * 2, 0)\n", chosen[0],
			     !strcmp(chosen[0], "cpu") || !strcmp(chosen[0], "pid") || !strcmp(chosen[0], "b") ? "1" : "'x'");
			emit(g, "g = g:groupby{'%s'}:agg{s2 = px.sum('s'), w = px.sum('w'), k = px.max('%s')}\n",
			     chosen[0], chosen[0]);
		}
		break;
	}
	emit(g, "px.display(g:sort(g:columns()), 'out')\n");
}

static bool tables_match(struct qctx *qa, const struct table *a, struct qctx *qb, const struct table *b, char *why,
			 size_t wl)
{
	if (a->ncols != b->ncols || a->nrows != b->nrows) {
		snprintf(why, wl, "shape %dx%zu vs %dx%zu", a->ncols, a->nrows, b->ncols, b->nrows);
		return false;
	}
	for (int c = 0; c < a->ncols; c++)
		for (size_t i = 0; i < a->nrows; i++) {
			const struct column *x = &a->cols[c], *y = &b->cols[c];
			bool eq = true;
			switch (x->type) {
			case VT_STRING: eq = !strcmp(x->v.s[i], y->v.s[i]); break;
			case VT_STACK: eq = !strcmp(qctx_stack_folded(qa, x->v.k[i], FRAME_LINE), qctx_stack_folded(qb, y->v.k[i], FRAME_LINE)); break;
			case VT_FLOAT: eq = fabs(x->v.f[i] - y->v.f[i]) <= 1e-9 * fmax(1.0, fabs(x->v.f[i])); break;
			case VT_BOOL: eq = x->v.b[i] == y->v.b[i]; break;
			default: eq = x->v.i[i] == y->v.i[i]; break;
			}
			if (!eq) {
				snprintf(why, wl, "column %s row %zu differs", x->name, i);
				return false;
			}
		}
	return true;
}

static void merged_equals_single_source(void **state)
{
	(void)state;
	const char *env = getenv("WISP_PROPERTY_SCRIPTS");
	int nscripts = env ? atoi(env) : 200, nonempty = 0;
	struct ring *rings[5];
	char name[8];
	int nagents_max = 5;
	for (int a = 0; a < nagents_max; a++) {
		struct synth_config sc = {2, 50, 150, 8, 24, (uint64_t)(100 + a), 1.0, 0, 0};
		snprintf(name, sizeof(name), "a%d", a);
		struct ring_config rc = {32u << 20, name, 0, RING_STACK_SAMPLES};
		rings[a] = ring_new(&rc);
		struct synth *s = synth_new(&sc, rings[a]);
		assert_int_equal(synth_fill(s, S0, SPAN), 0);
		synth_free(s); /* rows keep their stacks and threads */
	}
	rng = 12345;
	struct gen g;
	for (int i = 0; i < nscripts; i++) {
		int nagents = 3 + pick(3);
		random_script(&g);
		char err[512], why[256];
		struct plan *p1 = fix_compile("random.lua", g.buf, NULL, err, sizeof(err));
		struct plan *p2 = fix_compile("random.lua", g.buf, NULL, err, sizeof(err));
		if (!p1 || !p2)
			fail_msg("script %d did not compile: %s\n%s", i, err, g.buf);
		struct qctx q1, q2;
		qctx_init(&q1);
		qctx_init(&q2);
		struct fix_multi m = {rings, nagents};
		struct scan_source src = {fix_multi_scan, &m};
		struct table *single[1] = {0}, *merged[1] = {0};
		bool trunc[1];
		int r1 = exec_local(&q1, p1, &src, single, trunc);
		int r2 = fix_run_distributed(&q2, p2, rings, nagents, merged, trunc);
		if (r1 < 0 || r2 < 0)
			fail_msg("script %d failed: %s / %s\n%s", i, q1.err, q2.err, g.buf);
		if (!tables_match(&q1, single[0], &q2, merged[0], why, sizeof(why)))
			fail_msg("script %d over %d agents: merged != single source (%s)\n%s", i, nagents, why, g.buf);
		nonempty += single[0]->nrows > 0;
		table_free(single[0]);
		table_free(merged[0]);
		plan_free(p1);
		plan_free(p2);
		qctx_destroy(&q1);
		qctx_destroy(&q2);
	}
	print_message("%d random scripts, %d with rows: merged == single source\n", nscripts, nonempty);
	assert_true(nonempty > nscripts / 2);
	for (int a = 0; a < nagents_max; a++)
		ring_free(rings[a]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(merged_equals_single_source),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
