/* rogue_agent.c - an agent that lies, for the integration tests of a coordinator's defences.
 *
 *   rogue_agent ws://HOST:PORT NODE MODE SOURCE [INSTANCE]
 *
 * It holds a real ring (SOURCE, e.g. synthetic:...), answers every exec request through the real
 * agent code, then spoils the answer as MODE says:
 *   honest      sends it as it is (with INSTANCE: registers with that instance id)
 *   wrongtype   the first string column of each table claims to be float
 *   absurd      every integer becomes 2^62 + 5: more samples than anyone can have taken
 *   negative    every integer becomes negative
 *   huge        the first table gains 500,000 rows of made-up groups
 *   malformed   bytes that are not msgpack
 *   bad-zstd    compressed tables (tables_zstd) that are not zstd, claiming 8 MiB unpacked
 *   unlabelled  an error without the agent's name in it ("boom")
 *   silent      no answer at all (kill it mid-query)
 * Exit status: 2 on usage errors; otherwise it runs until killed. */
#include "agent/agent.h"
#include "net/proto.h"
#include "net/ws_client.h"
#include "net/ws_peer.h"
#include "engine/codec.h"
#include "core/clock.h"
#include "core/qctx.h"

#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rogue {
	struct agent *agent;
	const char *node, *mode, *instance;
	struct ws_endpoint ep;
	struct ws_peer peer;
	bool closed;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void spoil_table(const struct rogue *r, struct qctx *q, struct table *t, int index)
{
	if (!strcmp(r->mode, "wrongtype")) {
		for (int c = 0; c < t->ncols; c++)
			if (t->cols[c].type == VT_STRING) {
				t->cols[c].type = VT_FLOAT; /* the values' bits stay: whatever they read as */
				return;
			}
	} else if (!strcmp(r->mode, "absurd") || !strcmp(r->mode, "negative")) {
		for (int c = 0; c < t->ncols; c++)
			for (size_t i = 0; t->cols[c].type == VT_INT && i < t->nrows; i++)
				t->cols[c].v.i[i] = r->mode[0] == 'a' ? ((int64_t)1 << 62) + 5 : -t->cols[c].v.i[i] - 1000;
	} else if (!strcmp(r->mode, "huge") && index == 0 && t->nrows > 0) {
		size_t n = t->nrows, extra = 500000;
		if (table_reserve(t, n + extra) < 0)
			return;
		for (size_t i = 0; i < extra; i++) {
			for (int c = 0; c < t->ncols; c++)
				value_copy(&t->cols[c], n + i, &t->cols[c], 0);
			for (int c = 0; c < t->ncols; c++)
				if (t->cols[c].type == VT_STRING) {
					char name[32];
					int len = snprintf(name, sizeof(name), "rogue_group_%zu", i);
					t->cols[c].v.s[n + i] = qctx_strndup(q, name, (size_t)len);
					break;
				}
		}
		t->nrows = n + extra;
	}
}

/* A result whose tables_zstd is not zstd. */
static void begin_bad_zstd(msgpack_packer *pk, int64_t qid, const char *node, int64_t exec_us)
{
	static const char junk[] = "these bytes are not a zstd frame";
	msgpack_pack_map(pk, 6);
	mp_pack_str(pk, "type");
	mp_pack_str(pk, "result");
	mp_pack_str(pk, "qid");
	msgpack_pack_int64(pk, qid);
	mp_pack_str(pk, "node");
	mp_pack_str(pk, node);
	mp_pack_str(pk, "exec_us");
	msgpack_pack_int64(pk, exec_us);
	mp_pack_str(pk, "tables_size");
	msgpack_pack_uint64(pk, 8u << 20);
	mp_pack_str(pk, "tables_zstd");
	mp_pack_bin(pk, junk, sizeof(junk) - 1);
}

/* The answer to request m, spoiled; false when the mode sends nothing. */
static bool answer(const struct rogue *r, const struct proto_msg *m, struct proto_buf *out)
{
	int64_t qid = 0;
	mp_int(mp_get(m->obj, "qid"), &qid);
	if (!strcmp(r->mode, "silent"))
		return false;
	if (!strcmp(r->mode, "malformed")) {
		msgpack_sbuffer_write(&out->sb, "\xc1\xc1 not msgpack", 14);
		return true;
	}
	if (!strcmp(r->mode, "unlabelled")) {
		proto_pack_result_error(&out->pk, qid, r->node, "boom");
		return true;
	}
	struct proto_buf honest;
	proto_buf_init(&honest);
	agent_answer(r->agent, m, &honest);
	if (!strcmp(r->mode, "honest")) {
		msgpack_sbuffer_write(&out->sb, honest.sb.data, honest.sb.size);
		proto_buf_destroy(&honest);
		return true;
	}
	msgpack_unpacked u, uz;
	struct agent_result res;
	struct qctx q;
	char *plain = NULL, err[200];
	size_t size = 0;
	qctx_init(&q);
	msgpack_unpacked_init(&u);
	msgpack_unpacked_init(&uz);
	if (mp_unpack(&u, honest.sb.data, honest.sb.size)) {
		proto_read_agent_result(&u.data, &res);
		if (res.tables_zstd && (plain = proto_result_unzstd(&res, PROTO_MAX_MESSAGE, &size, err, sizeof(err))) &&
		    mp_unpack(&uz, plain, size) && uz.data.type == MSGPACK_OBJECT_ARRAY)
			res.tables = &uz.data;
		if (!strcmp(r->mode, "bad-zstd")) { /* the honest tables, as compressed tables that are not */
			begin_bad_zstd(&out->pk, qid, r->node, res.exec_us);
			goto out;
		}
		int n = res.tables ? (int)res.tables->via.array.size : 0;
		struct table *tables[64] = {0};
		for (int i = 0; i < n && i < 64; i++)
			if (codec_unpack_table(&q, &res.tables->via.array.ptr[i], &tables[i]) == 0)
				spoil_table(r, &q, tables[i], i);
		proto_pack_result_tables(&out->pk, qid, r->node, res.exec_us, tables, n < 64 ? n : 64, false);
		for (int i = 0; i < 64; i++)
			table_free(tables[i]);
	}
out:
	free(plain);
	msgpack_unpacked_destroy(&uz);
	msgpack_unpacked_destroy(&u);
	qctx_destroy(&q);
	proto_buf_destroy(&honest);
	return true;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct rogue *r = lws_context_user(lws_get_context(wsi));
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED: {
		struct agent_status st;
		struct proto_buf b;
		r->peer.wsi = wsi;
		agent_get_status(r->agent, &st);
		proto_buf_init(&b);
		proto_pack_hello_agent(&b.pk, r->node, &st, r->instance);
		ws_peer_send(&r->peer, b.sb.data, b.sb.size);
		proto_buf_destroy(&b);
		break;
	}
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (ws_peer_receive(&r->peer, in, len, PROTO_MAX_MESSAGE) == 1) {
			struct proto_msg m;
			if (proto_msg_parse(&m, r->peer.rx, r->peer.rx_len) == 0 && (m.type == PT_EXEC || m.type == PT_SNAPSHOT)) {
				struct proto_buf out;
				proto_buf_init(&out);
				if (answer(r, &m, &out))
					ws_peer_send(&r->peer, out.sb.data, out.sb.size);
				proto_buf_destroy(&out);
			}
			proto_msg_destroy(&m);
			ws_peer_consume(&r->peer);
		}
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return ws_peer_on_writeable(&r->peer);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		r->closed = true;
		break;
	default:
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: rogue_agent ws://HOST:PORT NODE MODE SOURCE [INSTANCE]\n");
		return 2;
	}
	struct rogue r = {.node = argv[2], .mode = argv[3], .instance = argc > 5 ? argv[5] : "rogue"};
	char err[512];
	if (ws_endpoint_parse(argv[1], &r.ep) < 0) {
		fprintf(stderr, "rogue_agent: bad url\n");
		return 2;
	}
	struct agent_config ac = {.node = r.node, .ring_bytes = 32u << 20, .source = argv[4], .opt = {.hz = 99, .ringbuf_bytes = 1 << 20, .node = r.node}};
	if (!(r.agent = agent_new(&ac, err, sizeof(err)))) {
		fprintf(stderr, "rogue_agent: %s\n", err);
		return 2;
	}
	/* Back-filled history first (a synthetic source catches up with the clock), so its first
	 * answer already has rows to spoil. */
	for (int i = 0; i < 200; i++) {
		struct agent_status st;
		agent_get_status(r.agent, &st);
		if (st.samples > 0 && st.newest_ns >= wall_now_ns() - 5000000000LL)
			break;
		usleep(50 * 1000);
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	static const struct lws_protocols protocols[] = {{PROTO_NAME, callback, 0, 65536, 0, NULL, 0},
							 {NULL, NULL, 0, 0, 0, NULL, 0}};
	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context *ctx = ws_client_context(protocols, &r, &r.ep);
	if (!ctx || !ws_client_connect(ctx, &r.ep, NULL, NULL))
		return 2;
	while (!stop && !r.closed)
		lws_service(ctx, 0);
	lws_context_destroy(ctx);
	ws_peer_clear(&r.peer);
	agent_free(r.agent);
	return 0;
}
