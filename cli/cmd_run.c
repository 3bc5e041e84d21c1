/* cmd_run.c - `wisp run FILE.lua|NAME [-- ARGS]`: sends the script, prints what it displayed in
 * the chosen format (what it printed and any warnings go to stderr), and with --stats where the
 * query's time went. For -o pprof it first asks for the agents, whose sampling rates turn
 * sample counts into CPU time. */
#include "cli.h"
#include "engine/codec.h"
#include "core/qctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* -o pprof: each agent's node and rate (the names owned here, freed by cmd_run). One command
 * per process, so one set. */
static struct pprof_opts pprof;

/* "stats: ..." on stderr. */
static void print_stats(const msgpack_object *o)
{
	struct query_stats st;
	if (!o)
		return;
	proto_read_stats(o, &st);
	fprintf(stderr,
		"stats: %d/%d agents answered | compile %.2f ms | agents %.2f ms (slowest exec %.2f ms on %s) | "
		"%.1f KiB in | merge %.2f ms | %llu rows | total %.2f ms\n",
		st.answered, st.agents, st.compile_ms, st.agents_ms, st.slowest_exec_ms, st.slowest_node,
		(double)st.bytes_in / 1024.0, st.merge_ms, (unsigned long long)st.rows, st.ms);
}

static int print_result(const struct cli *o, const struct proto_msg *m)
{
	struct proto_answer a;
	struct qctx q;
	int rc = 1;
	proto_read_answer(m, &a);
	if (a.log[0])
		fputs(a.log, stderr);
	cli_print_warnings(a.warnings);
	if (!a.tables) {
		fprintf(stderr, "wisp: malformed answer from the coordinator\n");
		return 1;
	}
	qctx_init(&q);
	int n = (int)a.tables->via.array.size, i;
	struct table **t = calloc(n ? n : 1, sizeof(*t));
	for (i = 0; t && i < n; i++)
		if (codec_unpack_table(&q, &a.tables->via.array.ptr[i], &t[i]) < 0)
			break;
	if (!t || i < n) {
		fprintf(stderr, "wisp: malformed answer from the coordinator: %s\n", q.err);
	} else {
		char err[512];
		rc = (o->fmt == OUT_PPROF ? render_pprof(stdout, &q, t, n, &pprof, err, sizeof(err))
					  : render_tables(stdout, &q, t, n, o->fmt, err, sizeof(err))) < 0;
		if (rc)
			fprintf(stderr, "wisp: %s\n", err);
		else if (o->stats)
			print_stats(a.stats);
	}
	for (int k = 0; t && k < n; k++)
		table_free(t[k]);
	free(t);
	qctx_destroy(&q);
	return rc;
}

/* The agents' rates into pprof; the most common one becomes the default. */
static int read_rates(const struct cli *o, const struct proto_msg *m)
{
	struct proto_answer a;
	(void)o;
	proto_read_answer(m, &a);
	uint32_t n = a.agents ? a.agents->via.array.size : 0;
	struct pprof_rate *r = calloc(n ? n : 1, sizeof(*r));
	if (!r)
		return 1;
	int best = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct agent_info ai;
		proto_read_agent_info(&a.agents->via.array.ptr[i], &ai);
		r[i].hz = ai.status.hz;
		if (!(r[i].node = strdup(ai.node)))
			r[i].hz = 0;
		int same = 0;
		for (uint32_t k = 0; k <= i; k++)
			same += r[k].hz == r[i].hz;
		if (r[i].hz > 0 && same > best) {
			best = same;
			pprof.default_hz = r[i].hz;
		}
	}
	pprof.rates = r;
	pprof.nrates = (int)n;
	return 0;
}

static int fetch_rates(const struct cli *o)
{
	struct proto_buf req;
	proto_buf_init(&req);
	proto_pack_agents_request(&req.pk, 1);
	int rc = cli_exchange(o, &req, o->timeout_s + 5, PT_AGENTS, read_rates);
	proto_buf_destroy(&req);
	return rc;
}

int cmd_run(const struct cli *o)
{
	char path[4096];
	size_t len = 0;
	if (!o->script) {
		fprintf(stderr, "wisp: run needs a script file or a bundled script name\n");
		return 2;
	}
	if (script_find(o->script, path, sizeof(path)) < 0) {
		fprintf(stderr, "wisp: no script '%s' (not a file, not a bundled script; see `wisp scripts`)\n", o->script);
		return 2;
	}
	char *src = script_read(path, &len);
	if (!src) {
		fprintf(stderr, "wisp: cannot read %s: %s\n", path, strerror(errno ? errno : EFBIG));
		return 2;
	}
	const char *base = strrchr(path, '/');
	struct run_request r = {
		.id = 1, .script = src, .script_len = len, .argv = (const char *const *)o->script_args,
		.argc = o->nscript_args, .max_rows = o->max_rows, .timeout_ms = (int64_t)(o->timeout_s * 1000),
		.mem_limit_mb = o->max_memory_mb, .name = base ? base + 1 : path,
	};
	int rc = 0;
	if (o->fmt == OUT_PPROF && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "wisp: -o pprof writes a gzipped profile: redirect it to a file (> cpu.pb.gz)\n");
		rc = 2;
	} else if (o->fmt == OUT_PPROF) {
		rc = fetch_rates(o);
	}
	struct proto_buf req;
	proto_buf_init(&req);
	proto_pack_run(&req.pk, &r);
	free(src);
	if (rc == 0)
		rc = cli_exchange(o, &req, o->timeout_s + 5, PT_RESULT, print_result);
	proto_buf_destroy(&req);
	for (int i = 0; i < pprof.nrates; i++)
		free((char *)pprof.rates[i].node);
	free((void *)pprof.rates);
	return rc;
}
