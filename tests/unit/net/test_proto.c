/* test_proto.c - the wire protocol: every message packed by proto.c reads back as it was sent,
 * omitted fields get their documented defaults, out-of-range limits are clamped, and what is not
 * a message is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"
#include "net/proto.h"
#include "engine/codec.h"

/* A string literal and its length, for hand-made messages. */
#define LIT(s) s, sizeof(s) - 1

/* Parses what b holds into m (asserting it is a message). */
static void parse(struct proto_msg *m, const struct proto_buf *b)
{
	assert_int_equal(proto_msg_parse(m, b->sb.data, b->sb.size), 0);
}

static void not_messages_are_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {"\xde\xad\xbe\xef", "\x93\x01\x02\x03", "\x81\xa1\x61\x01", ""};
	for (int i = 0; i < 4; i++) {
		struct proto_msg m;
		assert_int_equal(proto_msg_parse(&m, bad[i], strlen(bad[i])), -1);
		proto_msg_destroy(&m);
	}
	struct proto_msg m; /* {"type":"foo"}: a message, of a type nobody knows */
	assert_int_equal(proto_msg_parse(&m, LIT("\x81\xa4type\xa3" "foo")), 0);
	assert_int_equal(m.type, PT_UNKNOWN);
	assert_string_equal(m.type_name, "foo");
	proto_msg_destroy(&m);
}

static void run_round_trip_and_defaults(void **state)
{
	(void)state;
	const char *argv[] = {"--pid", "42"};
	struct run_request r = {.id = 7, .name = "top.lua", .script = "px.display(x)", .script_len = 13,
				.argv = argv, .argc = 2, .max_rows = 5, .timeout_ms = 900000, .mem_limit_mb = 3};
	struct proto_buf b;
	struct proto_msg m;
	struct run_request got;
	char err[128];
	proto_buf_init(&b);
	proto_pack_run(&b.pk, &r);
	parse(&m, &b);
	assert_int_equal(m.type, PT_RUN);
	assert_int_equal(m.id, 7);
	assert_int_equal(proto_read_run(m.obj, m.id, &got, err, sizeof(err)), 0);
	assert_string_equal(got.name, "top.lua");
	assert_int_equal(got.script_len, 13);
	assert_memory_equal(got.script, "px.display(x)", 13);
	assert_int_equal(got.max_rows, 5);
	assert_int_equal(got.timeout_ms, QUERY_MAX_TIMEOUT_MS); /* clamped */
	assert_int_equal(got.mem_limit_mb, 3);
	int argc;
	char **args = proto_read_args(got.args, &argc);
	assert_int_equal(argc, 2);
	assert_string_equal(args[0], "--pid");
	assert_string_equal(args[1], "42");
	assert_null(args[2]);
	for (int i = 0; i < argc; i++)
		free(args[i]);
	free(args);
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);

	/* {"type":"run","script":"x"}: every limit takes its default. */
	assert_int_equal(proto_msg_parse(&m, LIT("\x82\xa4type\xa3run\xa6script\xa1x")), 0);
	assert_int_equal(proto_read_run(m.obj, m.id, &got, err, sizeof(err)), 0);
	assert_string_equal(got.name, "script.lua");
	assert_int_equal(got.max_rows, QUERY_MAX_ROWS);
	assert_int_equal(got.timeout_ms, QUERY_TIMEOUT_MS);
	assert_int_equal(got.mem_limit_mb, QUERY_MEM_MB);
	assert_null(got.args);
	proto_msg_destroy(&m);

	/* {"type":"run"}: no script. */
	assert_int_equal(proto_msg_parse(&m, LIT("\x81\xa4type\xa3run")), 0);
	assert_int_equal(proto_read_run(m.obj, m.id, &got, err, sizeof(err)), -1);
	assert_string_equal(err, "run: the request has no script");
	proto_msg_destroy(&m);
}

static void snapshot_request_defaults(void **state)
{
	(void)state;
	struct snapshot_request r = {.id = 3, .start = "-2h", .end = "-1h", .timeout_ms = 70000}, got;
	struct proto_buf b;
	struct proto_msg m;
	proto_buf_init(&b);
	proto_pack_snapshot_request(&b.pk, &r);
	parse(&m, &b);
	assert_int_equal(m.type, PT_SNAPSHOT);
	proto_read_snapshot_request(m.obj, m.id, &got);
	assert_int_equal(got.id, 3);
	assert_string_equal(got.start, "-2h");
	assert_string_equal(got.end, "-1h");
	assert_int_equal(got.timeout_ms, 70000);
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);
	assert_int_equal(proto_msg_parse(&m, LIT("\x81\xa4type\xa8snapshot")), 0);
	proto_read_snapshot_request(m.obj, m.id, &got);
	assert_string_equal(got.start, SNAPSHOT_START);
	assert_string_equal(got.end, SNAPSHOT_END);
	assert_int_equal(got.timeout_ms, SNAPSHOT_TIMEOUT_MS);
	proto_msg_destroy(&m);
}

static void hello_roles(void **state)
{
	(void)state;
	struct agent_status st = {.rows = 10, .samples = 20, .ring_bytes = 30, .oldest_ns = -5, .hz = 99, .cpus = 2,
				  .lost_samples = 1};
	struct proto_buf b;
	struct proto_msg m;
	struct hello h;
	char err[128];
	proto_buf_init(&b);
	proto_pack_hello_agent(&b.pk, "node-1", &st, "9f3a");
	parse(&m, &b);
	assert_int_equal(m.type, PT_HELLO);
	assert_int_equal(proto_read_hello(m.obj, &h, err, sizeof(err)), 0);
	assert_true(h.agent);
	assert_string_equal(h.node, "node-1");
	assert_string_equal(h.instance, "9f3a");
	struct agent_status back;
	proto_read_status(h.status, &back);
	assert_int_equal(back.rows, 10);
	assert_int_equal(back.samples, 20);
	assert_int_equal(back.ring_bytes, 30);
	assert_int_equal(back.oldest_ns, -5);
	assert_int_equal(back.hz, 99);
	assert_int_equal(back.cpus, 2);
	assert_int_equal(back.lost_samples, 1);
	assert_true(back.version[0] != '\0'); /* the build's version */
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);
	/* {"type":"hello","role":"agent"}: an agent must name its node. */
	assert_int_equal(proto_msg_parse(&m, LIT("\x82\xa4type\xa5hello\xa4role\xa5" "agent")), 0);
	assert_int_equal(proto_read_hello(m.obj, &h, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "role must be"));
	proto_msg_destroy(&m);
}

static void exec_and_results(void **state)
{
	(void)state;
	char err[256];
	struct plan *p = fix_compile("t.lua", "px.display(px.DataFrame{table='stack_samples'}:head(3), 'x')", NULL,
				     err, sizeof(err));
	assert_non_null(p);
	struct proto_buf b;
	struct proto_msg m;
	struct exec_request e;
	proto_buf_init(&b);
	proto_pack_exec(&b.pk, 12, 500, 64, p);
	parse(&m, &b);
	assert_int_equal(proto_read_exec(&m, &e, err, sizeof(err)), 0);
	assert_false(e.snapshot);
	assert_int_equal(e.qid, 12);
	assert_int_equal(e.timeout_ms, 500);
	assert_int_equal(e.mem_limit_mb, 64);
	struct plan *back = NULL;
	assert_int_equal(codec_unpack_plan(e.plan, &back, err, sizeof(err)), 0);
	assert_int_equal(back->nnodes, p->nnodes);
	plan_free(back);
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);

	proto_buf_init(&b);
	proto_pack_snapshot_exec(&b.pk, 13, 100, 50); /* an empty range is refused */
	parse(&m, &b);
	assert_int_equal(proto_read_exec(&m, &e, err, sizeof(err)), -1);
	assert_string_equal(err, "snapshot: bad time range");
	assert_int_equal(e.qid, 13);
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);

	struct agent_result r;
	msgpack_unpacked u;
	proto_buf_init(&b);
	proto_pack_result_error(&b.pk, 14, "n1", "agent n1: query deadline exceeded");
	msgpack_unpacked_init(&u);
	assert_true(mp_unpack(&u, b.sb.data, b.sb.size));
	proto_read_agent_result(&u.data, &r);
	assert_int_equal(r.qid, 14);
	assert_string_equal(r.node, "n1");
	assert_string_equal(r.error, "agent n1: query deadline exceeded");
	assert_null(r.tables);
	msgpack_unpacked_destroy(&u);
	proto_buf_destroy(&b);

	proto_buf_init(&b);
	proto_pack_result_snapshot(&b.pk, 15, "n2", "WISPSNAP", 8);
	msgpack_unpacked_init(&u);
	assert_true(mp_unpack(&u, b.sb.data, b.sb.size));
	proto_read_agent_result(&u.data, &r);
	assert_null(r.error);
	assert_int_equal(r.exec_us, -1);
	assert_int_equal(r.snapshot_len, 8);
	assert_memory_equal(r.snapshot, "WISPSNAP", 8);
	msgpack_unpacked_destroy(&u);
	proto_buf_destroy(&b);
	plan_free(p);
}

static void live_messages(void **state)
{
	(void)state;
	char err[256];
	struct proto_buf b;
	struct proto_msg m;
	struct run_request r;
	const char *argv[] = {"--pid", "7"};
	/* subscribe: run's fields and the interval and window, clamped */
	struct run_request in = {.id = 3, .name = "top.lua", .script = "x", .script_len = 1, .argv = argv, .argc = 2,
				 .every_ms = 50, .window_ms = 10};
	proto_buf_init(&b);
	proto_pack_subscribe(&b.pk, &in);
	parse(&m, &b);
	assert_int_equal(m.type, PT_SUBSCRIBE);
	assert_int_equal(proto_read_run(m.obj, m.id, &r, err, sizeof(err)), 0);
	assert_int_equal(r.every_ms, LIVE_MIN_EVERY_MS);
	assert_int_equal(r.window_ms, LIVE_MIN_EVERY_MS);
	assert_int_equal(r.args->via.array.size, 2);
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);
	in.every_ms = in.window_ms = 0; /* defaults */
	proto_buf_init(&b);
	proto_pack_subscribe(&b.pk, &in);
	parse(&m, &b);
	assert_int_equal(proto_read_run(m.obj, m.id, &r, err, sizeof(err)), 0);
	assert_int_equal(r.every_ms, LIVE_EVERY_MS);
	assert_int_equal(r.window_ms, LIVE_WINDOW_MS);
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);
	proto_buf_init(&b);
	proto_pack_unsubscribe(&b.pk, 3);
	parse(&m, &b);
	assert_int_equal(m.type, PT_UNSUBSCRIBE);
	assert_int_equal(m.id, 3);
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);

	/* exec with ranges, and ranges that are refused */
	struct plan *p = fix_compile("t.lua", "px.display(px.DataFrame{table='stack_samples'}:head(3), 'x')", NULL,
				     err, sizeof(err));
	assert_non_null(p);
	static struct exec_request e;
	const int64_t ranges[3][2] = {{10, 20}, {20, 35}, {35, 36}};
	proto_buf_init(&b);
	proto_pack_exec_ranges(&b.pk, 9, 500, 64, p, ranges, 3);
	parse(&m, &b);
	assert_int_equal(proto_read_exec(&m, &e, err, sizeof(err)), 0);
	assert_int_equal(e.nranges, 3);
	assert_int_equal(e.ranges[1][0], 20);
	assert_int_equal(e.ranges[2][1], 36);
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);
	const int64_t empty[1][2] = {{20, 20}};
	proto_buf_init(&b);
	proto_pack_exec_ranges(&b.pk, 9, 500, 64, p, empty, 1);
	parse(&m, &b);
	assert_int_equal(proto_read_exec(&m, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "range 0 is not a time range"));
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);
	static int64_t many[EXEC_MAX_RANGES + 1][2];
	for (int i = 0; i <= EXEC_MAX_RANGES; i++)
		many[i][0] = i, many[i][1] = i + 1;
	proto_buf_init(&b);
	proto_pack_exec_ranges(&b.pk, 9, 500, 64, p, (const int64_t(*)[2])many, EXEC_MAX_RANGES + 1);
	parse(&m, &b);
	assert_int_equal(proto_read_exec(&m, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most 256"));
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);
	plan_free(p);

	/* a tick: its envelope, then the shared body, read as one message */
	char *warnings[] = {"agent a2 left"};
	struct query_stats st = {.agents = 2, .answered = 1, .ms = 4.0};
	struct live_tick t = {.tick = 7, .time_ns = 3000000000, .window_start_ns = 1000000000, .watchers = 2};
	proto_buf_init(&b);
	proto_pack_tick_head(&b.pk, 11, 4);
	proto_pack_tick_body(&b.pk, &t, NULL, 0, warnings, 1, "", &st);
	parse(&m, &b);
	assert_int_equal(m.type, PT_TICK);
	assert_int_equal(m.id, 11);
	struct live_tick back;
	proto_read_tick(m.obj, &back);
	assert_int_equal(back.tick, 7);
	assert_int_equal(back.time_ns, 3000000000);
	assert_int_equal(back.window_start_ns, 1000000000);
	assert_int_equal(back.watchers, 2);
	assert_int_equal(back.skipped, 4);
	struct proto_answer a;
	proto_read_answer(&m, &a);
	assert_int_equal(a.tables->via.array.size, 0);
	char w[64];
	assert_true(proto_string_at(a.warnings, 0, w, sizeof(w)));
	assert_string_equal(w, "agent a2 left");
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);
}

static void answers_to_clients(void **state)
{
	(void)state;
	struct proto_buf b;
	struct proto_msg m;
	struct proto_answer a;
	char *warnings[] = {"agent a2: did not answer within 10 ms"};
	struct query_stats st = {.agents = 2, .answered = 1, .compile_ms = 1.5, .slowest_exec_ms = 2.5,
				 .slowest_node = "a1", .bytes_in = 4096, .rows = 3, .ms = 9.0};
	proto_buf_init(&b);
	proto_pack_result(&b.pk, 5, NULL, 0, warnings, 1, "printed\n", &st);
	parse(&m, &b);
	assert_int_equal(m.type, PT_RESULT);
	assert_int_equal(m.id, 5);
	proto_read_answer(&m, &a);
	assert_non_null(a.tables);
	assert_int_equal(a.tables->via.array.size, 0);
	assert_string_equal(a.log, "printed\n");
	char w[128];
	assert_true(proto_string_at(a.warnings, 0, w, sizeof(w)));
	assert_string_equal(w, warnings[0]);
	assert_false(proto_string_at(a.warnings, 1, w, sizeof(w)));
	struct query_stats back;
	proto_read_stats(a.stats, &back);
	assert_int_equal(back.agents, 2);
	assert_int_equal(back.answered, 1);
	assert_true(back.compile_ms == 1.5 && back.slowest_exec_ms == 2.5 && back.ms == 9.0);
	assert_string_equal(back.slowest_node, "a1");
	assert_int_equal(back.bytes_in, 4096);
	assert_int_equal(back.rows, 3);
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);

	proto_buf_init(&b);
	proto_pack_error(&b.pk, 6, "no agents are connected to this coordinator", NULL);
	parse(&m, &b);
	assert_int_equal(m.type, PT_ERROR);
	proto_read_answer(&m, &a);
	assert_string_equal(a.message, "no agents are connected to this coordinator");
	assert_string_equal(a.log, "");
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);

	struct snapshot_file files[] = {{"n1", "abc", 3}};
	proto_buf_init(&b);
	proto_pack_snapshots(&b.pk, 8, files, 1, NULL, 0);
	parse(&m, &b);
	assert_int_equal(m.type, PT_SNAPSHOTS);
	proto_read_answer(&m, &a);
	char node[16];
	const void *data;
	size_t len;
	assert_true(proto_read_snapshot_file(&a.files->via.array.ptr[0], node, sizeof(node), &data, &len));
	assert_string_equal(node, "n1");
	assert_int_equal(len, 3);
	assert_memory_equal(data, "abc", 3);
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);

	struct proto_buf status;
	struct agent_status ast = {.samples = 77, .hz = 99, .oldest_ns = -5, .export_every_ns = 1, .kube_unnamed = 3};
	proto_buf_init(&status);
	proto_pack_status(&status.pk, &ast);
	struct agent_entry agents[] = {{"a1", "remote", "127.0.0.1", 2.0, 0.5, status.sb.data, status.sb.size},
				       {"a2", "local", "in-process", 1.0, 0.0, NULL, 0}};
	proto_buf_init(&b);
	proto_pack_agents(&b.pk, 9, "coord", agents, 2);
	parse(&m, &b);
	assert_int_equal(m.type, PT_AGENTS);
	proto_read_answer(&m, &a);
	assert_int_equal(a.agents->via.array.size, 2);
	struct agent_info info;
	proto_read_agent_info(&a.agents->via.array.ptr[0], &info);
	assert_string_equal(info.node, "a1");
	assert_string_equal(info.kind, "remote");
	assert_string_equal(info.address, "127.0.0.1");
	assert_true(info.connected_s == 2.0 && info.last_seen_s == 0.5);
	assert_int_equal(info.status.samples, 77);
	assert_int_equal(info.status.hz, 99);
	assert_int_equal(info.status.oldest_ns, -5);
	assert_int_equal(info.status.export_every_ns, 1);
	assert_int_equal(info.status.kube_unnamed, 3);
	assert_int_equal(info.status.kube_pods, 0);
	assert_string_equal(info.status.version, proto_wisp_version());
	proto_read_agent_info(&a.agents->via.array.ptr[1], &info);
	assert_int_equal(info.status.samples, 0); /* no status: an empty map */
	proto_msg_destroy(&m);
	proto_buf_destroy(&b);
	proto_buf_destroy(&status);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(not_messages_are_refused),
		cmocka_unit_test(run_round_trip_and_defaults),
		cmocka_unit_test(snapshot_request_defaults),
		cmocka_unit_test(hello_roles),
		cmocka_unit_test(exec_and_results),
		cmocka_unit_test(live_messages),
		cmocka_unit_test(answers_to_clients),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
