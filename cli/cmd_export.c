/* cmd_export.c - `wisp export s3://BUCKET/PREFIX [--start -1h] [--end now] [--interval DUR]`:
 * every agent's ring
 * over the range, through the coordinator, into object storage, laid out as export/export.h
 * says (a snapshot and a manifest per node). The range is resolved once here so every node's
 * objects share one name; an export of the same range again writes the same keys. --interval DUR
 * exports the last closed interval [k * DUR, (k + 1) * DUR) instead, for jobs run on a schedule:
 * each run names the same interval whatever second it starts in, so a rerun rewrites it and
 * runs tile time (a run that never happens leaves its interval out: wispd --export does not).
 *
 * Design: the export job uploads, not the agents. The job holds the store's credentials (one
 * Secret for one CronJob); agents need no route to the store; the coordinator already gathers
 * snapshots. The cost is that the bytes pass through the coordinator and the job. */
#include "cli.h"
#include "core/clock.h"
#include "core/timeparse.h"
#include "export/export.h"

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
