/* fuzz_handler.c - fuzzing the coordinator's websocket message handler: every message any peer
 * sends, in any order, from clients and agents at once. One input is a conversation: records of
 * [slot byte][length, 2 bytes little-endian][message]; slot & 3 picks one of four connections
 * (from two addresses), slot & 0x80 closes that connection first and opens a new one in its
 * place. The coordinator is real (vizier/coordinator/, compiling scripts in this process, with
 * an in-process agent over a fixed ring, so every query also has an honest answer); only the
 * sockets are missing: sessions are opened, fed and ended through the calls lws's callback
 * makes (coord_internal.h), what the coordinator sends is dropped, and worker jobs run inline
 * (jobs_new(0)), so a conversation plays the same way every time. After the last record every
 * connection closes and the coordinator is freed: nothing may be left over or leak.
 *
 * Seeds (fuzz_handler_replay --make-seeds DIR): a query with three agents answering, a snapshot,
 * the agents listing and heartbeats, a contested node name and its owner's return, an agent
 * dying mid-query. */
#include "fuzz.h"
#include "coordinator/coord_internal.h"
#include "agent/agent.h"
#include "net/service.h"
#include "net/ws_server.h"
#include "engine/plan.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4
static const char *const slot_addr[SLOTS] = {"10.0.0.1", "10.0.0.2", "10.0.0.2", "10.0.0.2"};

static struct service *service(void)
{
	static struct service svc;
	static const struct lws_protocols protocols[] = {{"fuzz", lws_callback_http_dummy, 0, 0, 0, NULL, 0},
							 {NULL, NULL, 0, 0, 0, NULL, 0}};
	char err[256];
	if (!svc.ctx) {
		lws_set_log_level(LLL_ERR, NULL);
		svc.inbox = inbox_new();
		svc.jobs = jobs_new(0);
		if (!svc.inbox || !svc.jobs || !(svc.ctx = ws_server_context(NULL, protocols, &svc, &(struct ws_tls){0}, err, sizeof(err))))
			abort();
		inbox_set_context(svc.inbox, svc.ctx);
	}
	return &svc;
}

static struct agent *local_agent(void)
{
	static struct agent *a;
	if (!a && !(a = fuzz_agent_new("coordinator-node")))
		abort();
	return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct service *svc = service();
	struct coordinator *c = coordinator_new(svc, "fuzz-coordinator", 0, NULL);
	static struct session slots[SLOTS];
	if (!c)
		abort();
	coordinator_set_local(c, local_agent());
	for (int i = 0; i < SLOTS; i++)
		session_open(c, &slots[i], NULL, slot_addr[i], GRANT_ALL);
	while (size >= 3) {
		struct session *s = &slots[data[0] & 3];
		bool reopen = data[0] & 0x80;
		size_t len = data[1] | (size_t)data[2] << 8;
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (reopen) {
			session_end(c, s);
			session_open(c, s, NULL, slot_addr[s - slots], GRANT_ALL);
		}
		/* As coord_callback: a closing connection's messages are dropped. */
		if (s->linked && !s->closing && session_message(c, s, (const char *)data, len) < 0)
			session_close(c, s, NULL);
		inbox_drain(svc->inbox);
		data += len;
		size -= len;
	}
	for (int i = 0; i < SLOTS; i++)
		session_end(c, &slots[i]);
	inbox_drain(svc->inbox);
	coordinator_stop(c);
	coordinator_free(c);
	return 0;
}

/* ---- seeds ----------------------------------------------------------------------------------- */

/* A conversation being written. */
struct talk {
	uint8_t *buf;
	size_t len, cap;
};

static void say(struct talk *t, int slot, struct proto_buf *b)
{
	size_t n = b->sb.size > 0xffff ? 0xffff : b->sb.size;
	if (t->len + 3 + n > t->cap) {
		t->cap = (t->len + 3 + n) * 2;
		t->buf = realloc(t->buf, t->cap);
		if (!t->buf)
			abort();
	}
	t->buf[t->len++] = (uint8_t)slot;
	t->buf[t->len++] = (uint8_t)(n & 0xff);
	t->buf[t->len++] = (uint8_t)(n >> 8);
	memcpy(t->buf + t->len, b->sb.data, n);
	t->len += n;
	proto_buf_destroy(b);
	proto_buf_init(b);
}

static int done(struct talk *t, const char *dir, const char *name)
{
	int rc = fuzz_write_seed(dir, name, t->buf, t->len);
	t->len = 0;
	return rc;
}

/* Agents 1..3 say hello (as node-1..3, instances 1..3). */
static void hellos(struct talk *t, struct proto_buf *b, const struct agent_status *st)
{
	for (int i = 1; i < SLOTS; i++) {
		char node[16], inst[17];
		snprintf(node, sizeof(node), "node-%d", i);
		snprintf(inst, sizeof(inst), "%016d", i);
		proto_pack_hello_agent(&b->pk, node, st, inst);
		say(t, i, b);
	}
}

/* The fixture agent's answer to req, re-labelled as node's. */
static void answer_as(struct talk *t, int slot, struct proto_buf *req, struct proto_buf *b)
{
	struct proto_msg m;
	if (proto_msg_parse(&m, req->sb.data, req->sb.size) == 0) {
		agent_answer(local_agent(), &m, b);
		say(t, slot, b);
	}
	proto_msg_destroy(&m);
}

int fuzz_make_seeds(const char *dir)
{
	struct talk t = {0};
	struct proto_buf b, req;
	struct agent_status st;
	size_t srclen;
	char *src = fuzz_bundled_source("top_functions", &srclen);
	struct plan *p = fuzz_bundled_plan("top_functions");
	int rc = 0;
	if (!src || !p)
		return -1;
	proto_buf_init(&b);
	proto_buf_init(&req);
	agent_get_status(local_agent(), &st);
	proto_pack_exec(&req.pk, 1, 10000, 1024, p); /* what the coordinator will send as query 1 */

	/* A query: three agents answer, the client gets the merge. */
	struct run_request run = {.id = 1, .name = "top_functions.lua", .script = src, .script_len = srclen,
				  .max_rows = 20, .timeout_ms = 10000, .mem_limit_mb = 256};
	hellos(&t, &b, &st);
	proto_pack_run(&b.pk, &run);
	say(&t, 0, &b);
	for (int i = 1; i < SLOTS; i++)
		answer_as(&t, i, &req, &b);
	rc |= done(&t, dir, "query");

	/* The same, but agent 2 dies and agent 3 sends garbage. */
	hellos(&t, &b, &st);
	proto_pack_run(&b.pk, &run);
	say(&t, 0, &b);
	answer_as(&t, 1, &req, &b);
	t.buf[t.len++] = 0x80 | 2, t.buf[t.len++] = 0, t.buf[t.len++] = 0;
	msgpack_pack_map(&b.pk, 2);
	mp_pack_str(&b.pk, "type"); mp_pack_str(&b.pk, "result");
	mp_pack_str(&b.pk, "qid"); msgpack_pack_int(&b.pk, 1);
	say(&t, 3, &b);
	rc |= done(&t, dir, "query-faults");

	/* A snapshot, the listing, heartbeats. */
	hellos(&t, &b, &st);
	struct snapshot_request sr = {.id = 2, .start = "-1h", .end = "now", .timeout_ms = 5000};
	proto_pack_snapshot_request(&b.pk, &sr);
	say(&t, 0, &b);
	proto_buf_destroy(&req);
	proto_buf_init(&req);
	int64_t t0 = FUZZ_DATA_SEC * 1000000000LL;
	proto_pack_snapshot_exec(&req.pk, 1, t0, t0 + 5000000000LL);
	for (int i = 1; i < SLOTS; i++)
		answer_as(&t, i, &req, &b);
	proto_pack_heartbeat(&b.pk, &st);
	say(&t, 1, &b);
	proto_pack_agents_request(&b.pk, 3);
	say(&t, 0, &b);
	rc |= done(&t, dir, "snapshot-agents");

	/* node-1 contested by another instance, then its owner reconnects. */
	proto_pack_hello_agent(&b.pk, "node-1", &st, "aaaaaaaaaaaaaaaa");
	say(&t, 1, &b);
	proto_pack_hello_agent(&b.pk, "node-1", &st, "bbbbbbbbbbbbbbbb");
	say(&t, 2, &b);
	proto_pack_hello_agent(&b.pk, "node-1", &st, "aaaaaaaaaaaaaaaa");
	say(&t, 3, &b);
	proto_pack_agents_request(&b.pk, 4);
	say(&t, 0, &b);
	rc |= done(&t, dir, "names");

	proto_buf_destroy(&b);
	proto_buf_destroy(&req);
	plan_free(p);
	free(src);
	free(t.buf);
	return rc;
}
