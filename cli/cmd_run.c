/* cmd_run.c - `wisp run FILE.lua|NAME [-- ARGS]`: sends the script, prints what it displayed in
 * the chosen format (what it printed and any warnings go to stderr), and with --stats where the
 * query's time went. For -o pprof it first asks for the agents, whose sampling rates turn
 * sample counts into CPU time. Running a script and reading the rates are shared with export
 * (cli.h). */
#include "cli.h"
#include "engine/codec.h"
#include "core/qctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The script run under way: one at a time per process (the exchange's handler takes no argument). */
static struct {
	cli_tables_fn use;
	void *arg;
} current;

int cli_unpack_tables(struct qctx *q, const msgpack_object *arr, struct table ***out, int *n)
{
	*out = NULL;
	*n = 0;
	if (!arr) {
		fprintf(stderr, "wisp: malformed answer from the coordinator\n");
		return -1;
	}
	int k = (int)arr->via.array.size, i;
	struct table **t = calloc(k ? k : 1, sizeof(*t));
	for (i = 0; t && i < k; i++)
		if (codec_unpack_table(q, &arr->via.array.ptr[i], &t[i]) < 0)
			break;
	if (!t || i < k) {
		fprintf(stderr, "wisp: malformed answer from the coordinator: %s\n", t ? q->err : "out of memory");
		cli_free_tables(t, k);
		return -1;
	}
	*out = t;
	*n = k;
	return 0;
}

void cli_free_tables(struct table **t, int n)
{
	for (int k = 0; t && k < n; k++)
		table_free(t[k]);
	free(t);
}

static int decode_result(const struct cli *o, const struct proto_msg *m)
{
	struct proto_answer a;
	struct qctx q;
	struct table **t;
	int n, rc = 1;
	(void)o;
	proto_read_answer(m, &a);
	if (a.log[0])
		fputs(a.log, stderr);
	cli_print_warnings(a.warnings);
	qctx_init(&q);
	if (cli_unpack_tables(&q, a.tables, &t, &n) == 0) {
		rc = current.use(&q, t, n, &a, current.arg);
		cli_free_tables(t, n);
	}
	qctx_destroy(&q);
	return rc;
}

int cli_run_script(const struct cli *o, const char *script, const char *const *argv, int argc, cli_tables_fn use,
		   void *arg)
{
	char name[256];
	size_t len = 0;
	char *src = script_load(script, &len, name, sizeof(name));
	if (!src)
		return 2;
	struct run_request r = {
		.id = 1, .script = src, .script_len = len, .argv = argv, .argc = argc, .max_rows = o->max_rows,
		.timeout_ms = (int64_t)(o->timeout_s * 1000), .mem_limit_mb = o->max_memory_mb, .name = name,
	};
	struct proto_buf req;
	proto_buf_init(&req);
	proto_pack_run(&req.pk, &r);
	free(src);
	current.use = use;
	current.arg = arg;
	int rc = cli_exchange(o, &req, o->timeout_s + 5, PT_RESULT, decode_result);
	proto_buf_destroy(&req);
	return rc;
}

/* ---- the agents' rates ---- */

static struct pprof_opts *rates_out;

/* The agents' rates; the most common one becomes the default. */
static int read_rates(const struct cli *o, const struct proto_msg *m)
{
	struct proto_answer a;
	struct pprof_opts *p = rates_out;
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
			p->default_hz = r[i].hz;
		}
	}
	p->rates = r;
	p->nrates = (int)n;
	return 0;
}

int cli_fetch_rates(const struct cli *o, struct pprof_opts *out)
{
	struct proto_buf req;
	memset(out, 0, sizeof(*out));
	proto_buf_init(&req);
	proto_pack_agents_request(&req.pk, 1);
	rates_out = out;
	int rc = cli_exchange(o, &req, o->timeout_s + 5, PT_AGENTS, read_rates);
	proto_buf_destroy(&req);
	return rc;
}

void cli_rates_free(struct pprof_opts *p)
{
	for (int i = 0; i < p->nrates; i++)
		free((char *)p->rates[i].node);
	free((void *)p->rates);
	memset(p, 0, sizeof(*p));
}

/* ---- wisp run ---- */

static int print_tables(struct qctx *q, struct table **t, int n, const struct proto_answer *a, void *arg)
{
	const struct cli *o = ((void **)arg)[0];
	const struct pprof_opts *pprof = ((void **)arg)[1];
	char err[512];
	int rc = (o->fmt == OUT_PPROF ? render_pprof(stdout, q, t, n, pprof, err, sizeof(err))
				      : render_tables(stdout, q, t, n, o->fmt, err, sizeof(err))) < 0;
	if (rc)
		fprintf(stderr, "wisp: %s\n", err);
	else if (o->stats)
		print_stats(a->stats);
	return rc;
}

int cmd_run(const struct cli *opts)
{
	struct cli whole = *opts;
	const struct cli *o = &whole;
	struct pprof_opts pprof = {0};
	if (o->fmt == OUT_PPROF && !o->max_rows_given) /* a profile cut short misstates every total */
		whole.max_rows = INT64_MAX;
	int rc = 0;
	if (!o->script) {
		fprintf(stderr, "wisp: run needs a script file or a bundled script name\n");
		return 2;
	}
	if (o->fmt == OUT_PPROF && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "wisp: -o pprof writes a gzipped profile: redirect it to a file (> cpu.pb.gz)\n");
		return 2;
	}
	if (o->fmt == OUT_PPROF)
		rc = cli_fetch_rates(o, &pprof);
	void *arg[2] = {(void *)o, &pprof};
	if (rc == 0)
		rc = cli_run_script(o, o->script, (const char *const *)o->script_args, o->nscript_args, print_tables, arg);
	cli_rates_free(&pprof);
	return rc;
}
