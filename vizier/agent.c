/* agent.c - the agent: answers "exec" requests by running plan bridges over its ring, and keeps
 * a websocket link to the coordinator (hello, heartbeats, reconnect with backoff). */
#include "wispd.h"
#include "core/clock.h"
#include "collector.h"
#include "jobs.h"
#include "ws_peer.h"
#include "engine/codec.h"
#include "engine/exec.h"
#include "ring/ring.h"
#include "ring/snapshot.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- query execution --------------------------------------------------------------------- */

static void pack_error_result(msgpack_packer *pk, int64_t qid, const char *node, const char *err)
{
	msgpack_pack_map(pk, 4);
	mp_pack_str(pk, "type");
	mp_pack_str(pk, "result");
	mp_pack_str(pk, "qid");
	msgpack_pack_int64(pk, qid);
	mp_pack_str(pk, "node");
	mp_pack_str(pk, node);
	mp_pack_str(pk, "error");
	mp_pack_str(pk, err);
}

/* A "snapshot" request: this ring's batches over [t0, t1) as one snapshot file. */
static void agent_snapshot(struct wispd *d, const msgpack_object *req, msgpack_packer *pk)
{
	int64_t qid = 0, t0 = 0, t1 = 0;
	char err[512];
	void *buf = NULL;
	size_t len = 0;
	mp_int(mp_get(req, "qid"), &qid);
	if (!mp_int(mp_get(req, "t0"), &t0) || !mp_int(mp_get(req, "t1"), &t1) || t1 <= t0) {
		pack_error_result(pk, qid, d->node, "snapshot: bad time range");
		return;
	}
	if (!d->ring || ring_snapshot(d->ring, t0, t1, &buf, &len, err, sizeof(err)) < 0) {
		pack_error_result(pk, qid, d->node, d->ring ? err : "this process has no ring");
		return;
	}
	msgpack_pack_map(pk, 4);
	mp_pack_str(pk, "type"); mp_pack_str(pk, "result");
	mp_pack_str(pk, "qid"); msgpack_pack_int64(pk, qid);
	mp_pack_str(pk, "node"); mp_pack_str(pk, d->node);
	mp_pack_str(pk, "snapshot");
	msgpack_pack_bin(pk, len);
	msgpack_pack_bin_body(pk, buf, len);
	free(buf);
}

void agent_execute(struct wispd *d, const msgpack_object *exec, msgpack_sbuffer *out)
{
	msgpack_packer pk;
	struct plan *plan = NULL;
	struct qctx q;
	char err[512];
	int64_t qid = 0, timeout_ms = 10000, mem_mb = 0;
	struct table **tables = NULL;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	if (mp_str_eq(mp_get(exec, "type"), "snapshot")) {
		agent_snapshot(d, exec, &pk);
		return;
	}
	qctx_init(&q);
	mp_int(mp_get(exec, "qid"), &qid);
	mp_int(mp_get(exec, "timeout_ms"), &timeout_ms);
	mp_int(mp_get(exec, "mem_limit_mb"), &mem_mb);
	if (codec_unpack_plan(mp_get(exec, "plan"), &plan, err, sizeof(err)) < 0 || plan_split(plan) < 0) {
		pack_error_result(&pk, qid, d->node, plan ? "out of memory" : err);
		goto out;
	}
	if (!d->ring) {
		pack_error_result(&pk, qid, d->node, "this process has no ring");
		goto out;
	}
	q.node = d->node;
	q.deadline_ns = mono_now_ns() + (timeout_ms > 0 ? timeout_ms : 10000) * 1000000LL;
	q.mem_limit = mem_mb > 0 ? (size_t)mem_mb << 20 : (size_t)1 << 30;
	tables = calloc(plan->nbridges ? plan->nbridges : 1, sizeof(*tables));
	struct scan_source src = {ring_scan, d->ring};
	int64_t t0 = mono_now_ns();
	for (int b = 0; tables && b < plan->nbridges; b++)
		if (exec_bridge(&q, plan, &plan->bridges[b], &src, &tables[b]) < 0)
			break;
	if (!tables || qctx_failed(&q)) {
		char msg[600];
		snprintf(msg, sizeof(msg), "agent %s: %s", d->node, tables ? q.err : "out of memory");
		pack_error_result(&pk, qid, d->node, msg);
		goto out;
	}
	msgpack_pack_map(&pk, 5);
	mp_pack_str(&pk, "type");
	mp_pack_str(&pk, "result");
	mp_pack_str(&pk, "qid");
	msgpack_pack_int64(&pk, qid);
	mp_pack_str(&pk, "node");
	mp_pack_str(&pk, d->node);
	mp_pack_str(&pk, "exec_us");
	msgpack_pack_int64(&pk, (mono_now_ns() - t0) / 1000);
	mp_pack_str(&pk, "tables");
	msgpack_pack_array(&pk, plan->nbridges);
	for (int b = 0; b < plan->nbridges; b++)
		codec_pack_table(&pk, tables[b]);
out:
	if (tables)
		for (int b = 0; b < plan->nbridges; b++)
			table_free(tables[b]);
	free(tables);
	plan_free(plan);
	qctx_destroy(&q);
}

void agent_pack_status(struct wispd *d, msgpack_packer *pk)
{
	struct ring_stats rs = {0};
	struct collector_stats cs = {0};
	if (d->ring)
		ring_get_stats(d->ring, &rs);
	if (d->collector)
		collector_get_stats(d->collector, &cs);
	msgpack_pack_map(pk, 13);
	mp_pack_str(pk, "rows"); msgpack_pack_uint64(pk, rs.rows);
	mp_pack_str(pk, "samples"); msgpack_pack_uint64(pk, rs.samples);
	mp_pack_str(pk, "ring_bytes"); msgpack_pack_uint64(pk, rs.bytes);
	mp_pack_str(pk, "ring_budget"); msgpack_pack_uint64(pk, rs.budget);
	mp_pack_str(pk, "evicted_rows"); msgpack_pack_uint64(pk, rs.evicted_rows);
	mp_pack_str(pk, "stacks"); msgpack_pack_uint64(pk, rs.stacks);
	mp_pack_str(pk, "oldest_ns"); msgpack_pack_int64(pk, rs.oldest_ns);
	mp_pack_str(pk, "newest_ns"); msgpack_pack_int64(pk, rs.newest_ns);
	mp_pack_str(pk, "hz"); msgpack_pack_int(pk, cs.hz);
	mp_pack_str(pk, "cpus"); msgpack_pack_int(pk, cs.ncpus);
	mp_pack_str(pk, "bpf_samples"); msgpack_pack_uint64(pk, cs.bpf_samples);
	mp_pack_str(pk, "lost_samples"); msgpack_pack_uint64(pk, cs.bpf_lost + cs.append_failed);
	mp_pack_str(pk, "version"); mp_pack_str(pk, WISP_VERSION);
}

/* ---- link to the coordinator ------------------------------------------------------------ */

struct agent_link {
	struct wispd *d;
	char host[256], path[256];
	int port;
	struct ws_peer peer;          /* peer.wsi NULL while disconnected */
	uint64_t generation;          /* bumped on every (re)connection */
	lws_sorted_usec_list_t reconnect_sul, heartbeat_sul;
	int backoff_ms;
	bool connected, warned;
};

static void send_msg(struct agent_link *l, msgpack_sbuffer *sb)
{
	if (l->peer.wsi)
		ws_peer_send(&l->peer, sb->data, sb->size);
}

static void send_hello(struct agent_link *l)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	mp_pack_str(&pk, "type"); mp_pack_str(&pk, "hello");
	mp_pack_str(&pk, "role"); mp_pack_str(&pk, "agent");
	mp_pack_str(&pk, "node"); mp_pack_str(&pk, l->d->node);
	mp_pack_str(&pk, "status"); agent_pack_status(l->d, &pk);
	send_msg(l, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static void heartbeat_cb(lws_sorted_usec_list_t *sul)
{
	struct agent_link *l = lws_container_of(sul, struct agent_link, heartbeat_sul);
	if (l->peer.wsi && l->connected) {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 2);
		mp_pack_str(&pk, "type"); mp_pack_str(&pk, "heartbeat");
		mp_pack_str(&pk, "status"); agent_pack_status(l->d, &pk);
		send_msg(l, &sb);
		msgpack_sbuffer_destroy(&sb);
	}
	lws_sul_schedule(l->d->ctx, 0, &l->heartbeat_sul, heartbeat_cb, 2 * LWS_US_PER_SEC);
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
	struct agent_link *l = lws_container_of(sul, struct agent_link, reconnect_sul);
	struct lws_client_connect_info ci = {0};
	ci.context = l->d->ctx;
	ci.address = l->host;
	ci.port = l->port;
	ci.path = l->path;
	ci.host = l->host;
	ci.origin = l->host;
	ci.protocol = WISP_PROTOCOL;
	ci.pwsi = &l->peer.wsi;
	ci.userdata = l;
	if (!lws_client_connect_via_info(&ci)) {
		l->peer.wsi = NULL;
		lws_sul_schedule(l->d->ctx, 0, &l->reconnect_sul, connect_now, l->backoff_ms * LWS_US_PER_MS);
	}
}

static void schedule_reconnect(struct agent_link *l)
{
	l->peer.wsi = NULL;
	l->connected = false;
	ws_peer_clear(&l->peer);
	if (l->d->stop)
		return;
	lws_sul_schedule(l->d->ctx, 0, &l->reconnect_sul, connect_now, l->backoff_ms * LWS_US_PER_MS);
	l->backoff_ms = l->backoff_ms * 2 > 5000 ? 5000 : l->backoff_ms * 2;
}

struct exec_task {
	struct wispd *d;
	uint64_t generation;
	char *msg;   /* the exec request (msgpack) */
	size_t len;
	msgpack_sbuffer reply;
};

static void exec_done(void *arg)
{
	struct exec_task *t = arg;
	struct agent_link *l = t->d->link;
	if (l && l->connected && l->generation == t->generation)
		send_msg(l, &t->reply);
	msgpack_sbuffer_destroy(&t->reply);
	free(t->msg);
	free(t);
}

static void exec_run(void *arg)
{
	struct exec_task *t = arg;
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	msgpack_sbuffer_init(&t->reply);
	if (mp_unpack(&u, t->msg, t->len))
		agent_execute(t->d, &u.data, &t->reply);
	msgpack_unpacked_destroy(&u);
	inbox_post(t->d->inbox, exec_done, t);
}

static void on_message(struct agent_link *l, const char *data, size_t len)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	if (!mp_unpack(&u, data, len)) {
		lwsl_warn("wispd: malformed message from the coordinator\n");
		goto out;
	}
	const msgpack_object *type = mp_get(&u.data, "type");
	if (mp_str_eq(type, "exec") || mp_str_eq(type, "snapshot")) {
		struct exec_task *t = calloc(1, sizeof(*t));
		if (!t || !(t->msg = malloc(len))) {
			free(t);
			goto out;
		}
		memcpy(t->msg, data, len);
		t->len = len;
		t->d = l->d;
		t->generation = l->generation;
		if (jobs_submit(l->d->jobs, exec_run, t) < 0) {
			free(t->msg);
			free(t);
		}
	} else if (mp_str_eq(type, "welcome")) {
		fprintf(stderr, "wispd: agent %s registered with the coordinator at %s:%d\n", l->d->node,
			l->host, l->port);
		l->warned = false;
	} else if (mp_str_eq(type, "error")) {
		char msg[512] = "";
		mp_str(mp_get(&u.data, "message"), msg, sizeof(msg));
		fprintf(stderr, "wispd: coordinator says: %s\n", msg);
	}
out:
	msgpack_unpacked_destroy(&u);
}

static int link_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wispd *d = lws_context_user(lws_get_context(wsi));
	struct agent_link *l = d->link;
	(void)user;
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
		inbox_drain(d->inbox);
		return 0;
	}
	if (!l) /* shutting down */
		return reason == LWS_CALLBACK_CLIENT_ESTABLISHED ? -1 : 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		l->peer.wsi = wsi;
		l->connected = true;
		l->generation++;
		l->backoff_ms = 250;
		send_hello(l);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		int r = ws_peer_receive(&l->peer, in, len, WISP_MAX_MESSAGE);
		if (r < 0)
			return -1;
		if (r == 1) {
			on_message(l, l->peer.rx, l->peer.rx_len);
			ws_peer_consume(&l->peer);
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return ws_peer_on_writeable(&l->peer);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!l->warned)
			fprintf(stderr, "wispd: cannot reach the coordinator at %s:%d (%s); retrying\n", l->host,
				l->port, in ? (const char *)in : "connection failed");
		l->warned = true;
		schedule_reconnect(l);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		fprintf(stderr, "wispd: lost the coordinator at %s:%d; reconnecting\n", l->host, l->port);
		l->warned = true;
		schedule_reconnect(l);
		break;
	default:
		break;
	}
	return 0;
}

const struct lws_protocols agent_link_protocol = {WISP_PROTOCOL, link_callback, 0, 65536, 0, NULL, 0};

struct agent_link *agent_link_start(struct wispd *d, const char *url, char *err, size_t errlen)
{
	struct agent_link *l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->d = d;
	l->backoff_ms = 250;
	if (ws_url_parse(url, l->host, sizeof(l->host), &l->port, l->path, sizeof(l->path)) < 0) {
		snprintf(err, errlen, "--coordinator: expected ws://HOST:PORT, got '%s'", url);
		free(l);
		return NULL;
	}
	d->link = l;
	connect_now(&l->reconnect_sul);
	lws_sul_schedule(d->ctx, 0, &l->heartbeat_sul, heartbeat_cb, 2 * LWS_US_PER_SEC);
	return l;
}

void agent_link_free(struct agent_link *l)
{
	if (!l)
		return;
	lws_sul_cancel(&l->reconnect_sul);
	lws_sul_cancel(&l->heartbeat_sul);
	ws_peer_clear(&l->peer);
	if (l->d->link == l)
		l->d->link = NULL;
	free(l);
}
