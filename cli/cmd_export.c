/* cmd_export.c - `wisp export s3://BUCKET/PREFIX [--start -1h] [--end now] [--interval DUR]
 * [--format wispsnap|pprof]`: every agent's ring
 * over the range, through the coordinator, into object storage, laid out as export/export.h
 * says (a snapshot and a manifest per node). The range is resolved once here so every node's
 * objects share one name; an export of the same range again writes the same keys. --interval DUR
 * exports the last closed interval [k * DUR, (k + 1) * DUR) instead, for jobs run on a schedule:
 * each run names the same interval whatever second it starts in, so a rerun rewrites it and
 * runs tile time (a run that never happens leaves its interval out: wispd --export does not).
 *
 * --format pprof exports, per node, the bundled `profile` script over the range as a gzipped
 * pprof profile (PREFIX/NODE/START-END.pb.gz, CPU time from the node's rate) for other tools.
 *
 * Design: the export job uploads, not the agents. The job holds the store's credentials (one
 * Secret for one CronJob); agents need no route to the store; the coordinator already gathers
 * snapshots. The cost is that the bytes pass through the coordinator and the job. */
#include "cli.h"
#include "core/clock.h"
#include "core/timeparse.h"
#include "export/export.h"
#include "core/table.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The export being run: one per process. */
static struct {
	struct s3_config s3;
	struct s3_url url;
	int64_t t0, t1;
	int uploaded, failed;
} ex;

/* Uploads one node's snapshot and its manifest. 0, or -1 with the reason printed. */
static int export_node(const char *node, const void *data, size_t len)
{
	struct export_manifest m;
	char err[1024];
	if (export_put(&ex.s3, &ex.url, node, ex.t0, ex.t1, data, len, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "wisp: export: %s: %s\n", node, err);
		return -1;
	}
	printf("s3://%s/%s\t%zu bytes\t%" PRIu64 " samples\n", ex.url.bucket, m.object, len, m.samples);
	return 0;
}

static int upload_snapshots(const struct cli *o, const struct proto_msg *m)
{
	struct proto_answer a;
	(void)o;
	proto_read_answer(m, &a);
	cli_print_warnings(a.warnings);
	for (uint32_t i = 0; a.files && i < a.files->via.array.size; i++) {
		char node[128];
		const void *data;
		size_t len;
		if (!proto_read_snapshot_file(&a.files->via.array.ptr[i], node, sizeof(node), &data, &len)) {
			fprintf(stderr, "wisp: export: a malformed snapshot in the coordinator's answer\n");
			ex.failed++;
			continue;
		}
		for (char *p = node; *p; p++) /* a node name is one path segment */
			if (*p == '/')
				*p = '_';
		if (export_node(node, data, len) == 0)
			ex.uploaded++;
		else
			ex.failed++;
	}
	if (!ex.uploaded && !ex.failed)
		fprintf(stderr, "wisp: export: no agent sent a snapshot\n");
	return ex.failed || !ex.uploaded ? 1 : 0;
}

struct pprof_job {
	const char *node;
	const struct pprof_opts *rates;
};

/* One node's profile, rendered and uploaded. */
static int upload_profile(struct qctx *q, struct table **t, int n, const struct proto_answer *a, void *arg)
{
	const struct pprof_job *job = arg;
	char *buf = NULL, err[1024];
	size_t len = 0;
	uint64_t samples = 0;
	struct export_manifest m;
	(void)a;
	int col = n ? table_find(t[0], "samples") : -1;
	for (size_t r = 0; col >= 0 && r < t[0]->nrows; r++)
		samples += (uint64_t)t[0]->cols[col].v.i[r];
	FILE *f = open_memstream(&buf, &len);
	int rc = f ? render_pprof(f, q, t, n, job->rates, err, sizeof(err)) : -1;
	if (f && fclose(f) != 0)
		rc = -1;
	if (rc == 0)
		rc = export_put_object(&ex.s3, &ex.url, job->node, ex.t0, ex.t1, "pprof", "pb.gz", "application/octet-stream",
				       buf, len, samples, &m, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "wisp: export: %s: %s\n", job->node, f ? err : "out of memory");
	else
		printf("s3://%s/%s\t%zu bytes\t%" PRIu64 " samples\n", ex.url.bucket, m.object, len, samples);
	free(buf);
	return rc < 0;
}

/* --format pprof: the profile script per node, every row of it (a profile cut short would
 * misstate every total). */
static int export_profiles(const struct cli *opts)
{
	struct cli whole = *opts;
	const struct cli *o = &whole;
	whole.max_rows = INT64_MAX;
	struct pprof_opts rates;
	char t0s[32], t1s[32];
	int rc = cli_fetch_rates(o, &rates), failed = 0;
	snprintf(t0s, sizeof(t0s), "%" PRId64, ex.t0);
	snprintf(t1s, sizeof(t1s), "%" PRId64, ex.t1);
	if (rc == 0 && !rates.nrates)
		fprintf(stderr, "wisp: export: the coordinator has no agents\n");
	for (int i = 0; rc == 0 && i < rates.nrates; i++) {
		const char *argv[] = {"--node", rates.rates[i].node, "--start", t0s, "--end", t1s, "--limit", "10000000"};
		struct pprof_job job = {rates.rates[i].node, &rates};
		failed += cli_run_script(o, "profile", argv, 8, upload_profile, &job) != 0;
	}
	if (rc == 0 && (failed || !rates.nrates))
		rc = 1;
	cli_rates_free(&rates);
	return rc;
}

int cmd_export(const struct cli *o)
{
	char err[1024], t0s[32], t1s[32];
	int64_t now = wall_now_ns();
	if (!o->script || s3_url_parse(o->script, &ex.url, err, sizeof(err)) < 0) {
		fprintf(stderr, "wisp: export: %s\n", o->script ? err : "needs s3://BUCKET/PREFIX");
		return 2;
	}
	int64_t every;
	if (o->interval) {
		if (parse_duration(o->interval, &every) < 0 || every < 1000000000LL) {
			fprintf(stderr, "wisp: export: --interval must be a duration of at least 1s (10m, 1h)\n");
			return 2;
		}
		int64_t closed = now - EXPORT_GRACE_S * 1000000000LL;
		ex.t1 = closed / every * every;
		ex.t0 = ex.t1 - every;
	} else if (parse_time(o->start, now, &ex.t0) < 0 || parse_time(o->end, now, &ex.t1) < 0 || ex.t1 <= ex.t0) {
		fprintf(stderr, "wisp: export: bad time range --start %s --end %s\n", o->start, o->end);
		return 2;
	}
	if (s3_config_load(&ex.s3, err, sizeof(err)) < 0) {
		fprintf(stderr, "wisp: export: %s\n", err);
		return 2;
	}
	if (o->format && strcmp(o->format, "wispsnap")) {
		if (strcmp(o->format, "pprof")) {
			fprintf(stderr, "wisp: export: --format must be wispsnap or pprof\n");
			return 2;
		}
		return export_profiles(o);
	}
	snprintf(t0s, sizeof(t0s), "%" PRId64, ex.t0);
	snprintf(t1s, sizeof(t1s), "%" PRId64, ex.t1);
	double timeout_s = o->timeout_s < SNAPSHOT_TIMEOUT_MS / 1000.0 ? SNAPSHOT_TIMEOUT_MS / 1000.0 : o->timeout_s;
	struct snapshot_request r = {.id = 1, .start = t0s, .end = t1s, .timeout_ms = (int64_t)(timeout_s * 1000)};
	struct proto_buf req;
	proto_buf_init(&req);
	proto_pack_snapshot_request(&req.pk, &r);
	int rc = cli_exchange(o, &req, timeout_s + 5, PT_SNAPSHOTS, upload_snapshots);
	proto_buf_destroy(&req);
	return rc;
}
