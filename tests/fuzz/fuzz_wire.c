/* fuzz_wire.c - fuzzing the wire decoder: one input is one websocket message as any peer might
 * send it. Every reader of net/proto.h reads it (whatever its type: a reader must cope with any
 * map), tables in it are decoded as the coordinator and the CLI decode them, and a real agent
 * over a fixed ring answers it when it is an exec or snapshot request, so hostile plans reach
 * the plan decoder, plan_split and the agent's execution.
 *
 * Seeds (fuzz_wire_replay --make-seeds DIR): the exec request of every bundled script and the
 * agent's answer to it, a snapshot request and answer, and one of each client message. */
#include "fuzz.h"
#include "agent/agent.h"
#include "net/proto.h"
#include "engine/codec.h"
#include "engine/plan.h"
#include "core/qctx.h"
#include "core/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct agent *fixture(void)
{
	static struct agent *a;
	if (!a && !(a = fuzz_agent_new("fuzz-node")))
		abort();
	return a;
}

/* Decodes every table of the array tables (as merge.c and the CLI do) and frees them. */
static void decode_tables(const msgpack_object *tables)
{
	if (!tables || tables->type != MSGPACK_OBJECT_ARRAY)
		return;
	struct qctx q;
	qctx_init(&q);
	q.mem_limit = 256u << 20;
	for (uint32_t i = 0; i < tables->via.array.size; i++) {
		struct table *t = NULL;
		if (codec_unpack_table(&q, &tables->via.array.ptr[i], &t) == 0)
			table_free(t);
	}
	qctx_destroy(&q);
}

static void read_everything(const struct proto_msg *m)
{
	char err[256], buf[256];
	struct hello h;
	if (proto_read_hello(m->obj, &h, err, sizeof(err)) == 0 && h.status) {
		struct agent_status st;
		proto_read_status(h.status, &st);
	}
	const msgpack_object *hb = proto_heartbeat_status(m->obj);
	if (hb) {
		struct agent_status st;
		proto_read_status(hb, &st);
	}
	struct run_request run;
	if (proto_read_run(m->obj, m->id, &run, err, sizeof(err)) == 0) {
		int argc;
		char **argv = proto_read_args(run.args, &argc);
		for (int i = 0; argv && i < argc; i++)
			free(argv[i]);
		free(argv);
	}
	struct snapshot_request snap;
	proto_read_snapshot_request(m->obj, m->id, &snap);
	struct agent_result res;
	proto_read_agent_result(m->obj, &res);
	decode_tables(res.tables);
	struct proto_answer *ans = malloc(sizeof(*ans));
	if (!ans)
		return;
	proto_read_answer(m, ans);
	decode_tables(ans->tables);
	if (ans->stats) {
		struct query_stats qs;
		proto_read_stats(ans->stats, &qs);
	}
	for (uint32_t i = 0; ans->agents && ans->agents->type == MSGPACK_OBJECT_ARRAY && i < ans->agents->via.array.size; i++) {
		struct agent_info ai;
		proto_read_agent_info(&ans->agents->via.array.ptr[i], &ai);
	}
	for (uint32_t i = 0; ans->files && ans->files->type == MSGPACK_OBJECT_ARRAY && i < ans->files->via.array.size; i++) {
		const void *data;
		size_t len;
		proto_read_snapshot_file(&ans->files->via.array.ptr[i], buf, sizeof(buf), &data, &len);
	}
	for (uint32_t i = 0; ans->warnings && ans->warnings->type == MSGPACK_OBJECT_ARRAY && i < ans->warnings->via.array.size; i++)
		proto_string_at(ans->warnings, i, buf, sizeof(buf));
	free(ans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent *a = fixture();
	struct proto_msg m;
	if (proto_msg_parse(&m, (const char *)data, size) == 0) {
		read_everything(&m);
		if (m.type == PT_EXEC || m.type == PT_SNAPSHOT) {
			struct proto_buf out;
			proto_buf_init(&out);
			agent_answer(a, &m, &out);
			proto_buf_destroy(&out);
		}
	}
	proto_msg_destroy(&m);
	return 0;
}

/* ---- seeds ----------------------------------------------------------------------------------- */

static int seed(const char *dir, const char *name, struct proto_buf *b)
{
	int rc = fuzz_write_seed(dir, name, b->sb.data, b->sb.size);
	proto_buf_destroy(b);
	proto_buf_init(b);
	return rc;
}

/* The fixture agent's answer to request req, as a seed. */
static int seed_answer(const char *dir, const char *name, struct proto_buf *req, struct proto_buf *b)
{
	struct proto_msg m;
	int rc = -1;
	if (proto_msg_parse(&m, req->sb.data, req->sb.size) == 0) {
		agent_answer(fixture(), &m, b);
		rc = seed(dir, name, b);
	}
	proto_msg_destroy(&m);
	return rc;
}

int fuzz_make_seeds(const char *dir)
{
	static const char *const scripts[] = {"top_functions", "flamegraph", "processes", "threads", "node_cpu",
					      "kernel_vs_user", "containers", "ring_stats", "diff", "diff_flamegraph"};
	struct proto_buf b, req;
	char name[96];
	int rc = 0, planned = 0;
	proto_buf_init(&b);
	proto_buf_init(&req);
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		struct plan *p = fuzz_bundled_plan(scripts[i]);
		if (!p)
			continue;
		planned++;
		proto_pack_exec(&req.pk, 1, 10000, 1024, p);
		snprintf(name, sizeof(name), "exec-%s", scripts[i]);
		rc |= fuzz_write_seed(dir, name, req.sb.data, req.sb.size);
		snprintf(name, sizeof(name), "result-%s", scripts[i]);
		rc |= seed_answer(dir, name, &req, &b);
		proto_buf_destroy(&req);
		proto_buf_init(&req);
		plan_free(p);
	}
	int64_t t0 = FUZZ_DATA_SEC * 1000000000LL, t1 = t0 + 10 * 1000000000LL;
	proto_pack_snapshot_exec(&req.pk, 2, t0, t1);
	rc |= fuzz_write_seed(dir, "exec-snapshot", req.sb.data, req.sb.size);
	rc |= seed_answer(dir, "result-snapshot", &req, &b);
	proto_buf_destroy(&req);

	const char *argv[] = {"--pid", "42", "--window", "5m"};
	struct run_request run = {.id = 7, .name = "top.lua", .script = "return px.df('stack_samples')",
				  .argc = 4, .argv = argv, .max_rows = 10, .timeout_ms = 5000, .mem_limit_mb = 64};
	run.script_len = strlen(run.script);
	proto_pack_run(&b.pk, &run);
	rc |= seed(dir, "run", &b);
	struct snapshot_request sr = {.id = 8, .start = "-10m", .end = "now", .timeout_ms = 1000};
	proto_pack_snapshot_request(&b.pk, &sr);
	rc |= seed(dir, "snapshot", &b);
	proto_pack_agents_request(&b.pk, 9);
	rc |= seed(dir, "agents", &b);
	struct agent_status st;
	agent_get_status(fixture(), &st);
	proto_pack_hello_agent(&b.pk, "node-a", &st, "0123456789abcdef");
	rc |= seed(dir, "hello", &b);
	proto_pack_heartbeat(&b.pk, &st);
	rc |= seed(dir, "heartbeat", &b);
	proto_pack_welcome(&b.pk, "coordinator");
	rc |= seed(dir, "welcome", &b);
	proto_pack_error(&b.pk, 7, "no such table", "printed");
	rc |= seed(dir, "error", &b);
	char *warnings[] = {"agent x: did not answer"};
	struct query_stats qs = {3, 2, 1.5, 20.0, 4.0, "node-a", 12345, 0.5, 10, 30.0};
	proto_pack_result(&b.pk, 7, NULL, 0, warnings, 1, "log", &qs);
	rc |= seed(dir, "answer", &b);
	struct agent_entry ae = {"node-a", "remote", "127.0.0.1", 10.0, 0.5, NULL, 0};
	proto_pack_agents(&b.pk, 9, "coordinator", &ae, 1);
	rc |= seed(dir, "agents-answer", &b);
	struct snapshot_file sf = {"node-a", "WISPSNAP", 8};
	proto_pack_snapshots(&b.pk, 8, &sf, 1, warnings, 1);
	rc |= seed(dir, "snapshots-answer", &b);
	proto_buf_destroy(&b);
	printf("%d bundled scripts planned\n", planned);
	return rc || planned < 5 ? -1 : 0;
}
