/* fuzz_args.c - fuzzing the script argument parser: `wisp run NAME -- ARGS...` as any user might
 * type it. Input: one byte choosing the script (a bundled one, or every_type below, which takes
 * each argument type px.args knows), then the arguments, separated by NUL bytes. The script
 * compiles with them in the sandbox (px.args, parse_time, parse_duration, the builders they
 * feed) and, when it compiles, its plan runs over a fixed ring: an argument that passes the
 * parser reaches time ranges, bins, limits and filters. Bad arguments must give errors.
 *
 * Seeds (fuzz_args_replay --make-seeds DIR): each script with the arguments its help names. */
#include "fuzz.h"
#include "support/exec_local.h"
#include "engine/plan.h"
#include "lua/script.h"
#include "ring/ring.h"
#include "core/qctx.h"
#include "core/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char every_type[] =
	"local a = px.args{s = {default = 'x'}, i = {type = 'int', default = 5}, n = {type = 'number', default = 1.5},\n"
	"  b = {type = 'bool', default = false}, t = {type = 'time', default = '-5m'}, e = {type = 'time'},\n"
	"  d = {type = 'duration', default = '10s'}, limit = 10}\n"
	"local df = px.DataFrame{table = 'stack_samples', start_time = a.t, end_time = a.e}\n"
	"if a.b then df = df:filter(df.comm:eq(a.s)) end\n"
	"df.time_ = px.bin(df.time_, a.d)\n"
	"local g = df:groupby('time_'):agg{n = px.sum('count')}\n"
	"g.x = px.float(g.n) * a.n + a.i\n"
	"px.display(g:sort('time_'):head(a.limit))\n";

static const char *const names[] = {"every_type", "top_functions", "flamegraph", "processes", "threads", "node_cpu",
				    "kernel_vs_user", "containers", "ring_stats", "diff", "diff_flamegraph"};
#define NSCRIPTS (sizeof(names) / sizeof(names[0]))

struct script {
	char *src;
	size_t len;
};

static const struct script *script_at(size_t i)
{
	static struct script scripts[NSCRIPTS];
	static bool loaded;
	if (!loaded) {
		scripts[0].src = strdup(every_type);
		scripts[0].len = strlen(every_type);
		for (size_t k = 1; k < NSCRIPTS; k++)
			if (!(scripts[k].src = fuzz_bundled_source(names[k], &scripts[k].len)))
				abort();
		loaded = true;
	}
	return &scripts[i % NSCRIPTS];
}

static struct ring *fixture(void)
{
	static struct ring *r;
	if (!r && !(r = fuzz_ring_new("fuzz-node")))
		abort();
	return r;
}

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const struct script *sc = script_at(data[0]);
	char *copy = malloc(size); /* the arguments, each NUL-terminated */
	const char *argv[MAX_ARGS];
	int argc = 0;
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	for (char *p = copy, *end = copy + size - 1; p < end && argc < MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;

	struct script_input in = {names[data[0] % NSCRIPTS], sc->src, sc->len, argv, argc,
				  (FUZZ_DATA_SEC + FUZZ_DATA_SECONDS) * 1000000000LL};
	struct script_limits lim = {16u << 20, 1000000000LL, 20000000ULL};
	struct plan *p = NULL;
	char *log = NULL, err[512];
	if (script_compile(&in, &lim, &p, &log, err, sizeof(err)) == 0) {
		struct table *outs[16] = {0};
		bool truncated[16];
		struct qctx q;
		qctx_init(&q);
		q.mem_limit = 256u << 20;
		struct scan_source src = {ring_scan, fixture()};
		if (p->ndisplays <= 16 && exec_local(&q, p, &src, outs, truncated) == 0)
			for (int d = 0; d < p->ndisplays; d++)
				table_free(outs[d]);
		qctx_destroy(&q);
	}
	plan_free(p);
	free(log);
	free(copy);
	return 0;
}

/* ---- seeds ----------------------------------------------------------------------------------- */

int fuzz_make_seeds(const char *dir)
{
	/* Per script: its index, then arguments as a user would give them. */
	static const struct {
		int script;
		const char *args[12];
	} seeds[] = {
		{0, {"--s", "burn", "--i", "42", "--n", "0.25", "--b", "yes", "--t", "-1m", "--d", "1s"}},
		{0, {"--e=-30s", "--t=2027-01-15T08:00:00Z", "--limit", "3"}},
		{1, {"--start", "-10m", "--end", "now", "--pid", "1", "--limit", "5"}},
		{2, {"--comm", "burn", "--node", "fuzz-node"}},
		{3, {"--limit", "1000"}},
		{4, {"--start", "-90s"}},
		{5, {"--bin", "250ms", "--hz", "20"}},
		{6, {"--start", "-1h"}},
		{7, {"--limit", "7"}},
		{8, {NULL}},
		{9, {"--baseline-start", "-2m", "--baseline-end", "-1m", "--start", "-1m", "--by", "total"}},
		{10, {"--baseline-start", "-120s", "--baseline-end", "-60s"}},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		char buf[1024], name[64];
		size_t n = 0;
		buf[n++] = (char)seeds[i].script;
		for (int k = 0; k < 12 && seeds[i].args[k]; k++) {
			size_t l = strlen(seeds[i].args[k]) + 1;
			memcpy(buf + n, seeds[i].args[k], l);
			n += l;
		}
		snprintf(name, sizeof(name), "%s-%zu", names[seeds[i].script], i);
		rc |= fuzz_write_seed(dir, name, buf, n);
	}
	return rc;
}
