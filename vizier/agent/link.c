/* link.c - the agent's link to its coordinator (see link.h).
 *
 * Threads: the link lives on the lws service thread. A request is copied into a task for a
 * worker, which answers it through the agent; the answer comes back through the inbox and is
 * sent only if the connection it arrived on is still the current one (the generation). */
#include "link.h"
#include "agent.h"
#include "net/proto.h"
#include "net/service.h"
#include "net/ws_client.h"
#include "net/ws_peer.h"

#include "core/clock.h"

#include <libwebsockets.h>
#include <sys/random.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEARTBEAT_US (2 * LWS_US_PER_SEC)
#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 2000 /* a restarted coordinator has its agents back within about 2.5 s */

struct agent_link {
	struct service *svc;
	struct agent *agent;
	struct ws_endpoint ep;
	struct ws_peer peer;          /* peer.wsi NULL while disconnected */
	uint64_t generation;          /* bumped on every (re)connection */
	char instance[17];            /* this process's id, the same on every reconnection: it lets the
				       * coordinator hand this node name back to us, not to another */
	uint64_t rng;                 /* reconnection jitter */
	lws_sorted_usec_list_t reconnect_sul, heartbeat_sul;
	int backoff_ms;
	bool connected, warned;
	char said[256];               /* the coordinator's last error, said once until it changes or
				       * the agent registers (a refused token is retried every 2 s) */
};

static void send_buf(struct agent_link *l, const struct proto_buf *b)
{
	if (l->peer.wsi)
		ws_peer_send(&l->peer, b->sb.data, b->sb.size);
}

static void send_hello(struct agent_link *l)
{
	struct agent_status st;
	struct proto_buf b;
	agent_get_status(l->agent, &st);
	proto_buf_init(&b);
	proto_pack_hello_agent(&b.pk, agent_node(l->agent), &st, l->instance);
	send_buf(l, &b);
	proto_buf_destroy(&b);
}

static void heartbeat_cb(lws_sorted_usec_list_t *sul)
{
	struct agent_link *l = lws_container_of(sul, struct agent_link, heartbeat_sul);
	if (l->peer.wsi && l->connected) {
		struct agent_status st;
		struct proto_buf b;
		agent_get_status(l->agent, &st);
		proto_buf_init(&b);
		proto_pack_heartbeat(&b.pk, &st);
		send_buf(l, &b);
		proto_buf_destroy(&b);
	}
	service_trim(l->svc);
	lws_sul_schedule(l->svc->ctx, 0, &l->heartbeat_sul, heartbeat_cb, HEARTBEAT_US);
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
	struct agent_link *l = lws_container_of(sul, struct agent_link, reconnect_sul);
	if (!ws_client_connect(l->svc->ctx, &l->ep, &l->peer.wsi, l)) {
		l->peer.wsi = NULL;
		lws_sul_schedule(l->svc->ctx, 0, &l->reconnect_sul, connect_now, l->backoff_ms * LWS_US_PER_MS);
	}
}

static void schedule_reconnect(struct agent_link *l)
{
	l->peer.wsi = NULL;
	l->connected = false;
	ws_peer_clear(&l->peer);
	if (l->svc->stop)
		return;
	/* Jittered by up to a quarter, so a fleet that lost its coordinator does not knock at once. */
	l->rng = l->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	int delay_ms = l->backoff_ms - l->backoff_ms / 4 + (int)((l->rng >> 33) % (uint64_t)(l->backoff_ms / 2 + 1));
	lws_sul_schedule(l->svc->ctx, 0, &l->reconnect_sul, connect_now, delay_ms * LWS_US_PER_MS);
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

/* One request being answered on a worker. Owned by the task until answered, then by the
 * completion, which frees it. */
struct request_task {
	struct agent_link *link;
	uint64_t generation; /* of the connection the request came on */
	char *msg;           /* the request (msgpack), owned */
	size_t len;
	struct proto_buf reply;
};

static void request_answered(void *arg)
{
	struct request_task *t = arg;
	struct agent_link *l = t->link;
	if (l->connected && l->generation == t->generation)
		send_buf(l, &t->reply);
	proto_buf_destroy(&t->reply);
	free(t->msg);
	free(t);
	service_work_end(l->svc);
}

static void request_run(void *arg)
{
	struct request_task *t = arg;
	struct proto_msg m;
	proto_buf_init(&t->reply);
	if (proto_msg_parse(&m, t->msg, t->len) == 0)
		agent_answer(t->link->agent, &m, &t->reply);
	proto_msg_destroy(&m);
	inbox_post(t->link->svc->inbox, request_answered, t);
}

static void on_message(struct agent_link *l, const char *data, size_t len)
{
	struct proto_msg m;
	if (proto_msg_parse(&m, data, len) < 0) {
		lwsl_warn("wispd: malformed message from the coordinator\n");
		goto out;
	}
	if (m.type == PT_EXEC || m.type == PT_SNAPSHOT) {
		struct request_task *t = calloc(1, sizeof(*t));
		if (!t || !(t->msg = malloc(len))) {
			free(t);
			goto out;
		}
		memcpy(t->msg, data, len);
		t->len = len;
		t->link = l;
		t->generation = l->generation;
		if (jobs_submit(l->svc->jobs, request_run, t) < 0) {
			free(t->msg);
			free(t);
		} else {
			service_work_begin(l->svc);
		}
	} else if (m.type == PT_WELCOME) {
		fprintf(stderr, "wispd: agent %s registered with the coordinator at %s:%d\n", agent_node(l->agent),
			l->ep.host, l->ep.port);
		l->warned = false;
		l->said[0] = '\0';
	} else if (m.type == PT_ERROR) {
		struct proto_answer a;
		proto_read_answer(&m, &a);
		if (strncmp(l->said, a.message, sizeof(l->said) - 1)) {
			fprintf(stderr, "wispd: coordinator says: %s\n", a.message);
			snprintf(l->said, sizeof(l->said), "%.*s", (int)sizeof(l->said) - 1, a.message);
		}
	}
out:
	proto_msg_destroy(&m);
}

static int link_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct service *svc = lws_context_user(lws_get_context(wsi));
	(void)user;
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
		inbox_drain(svc->inbox);
		return 0;
	}
	const struct lws_protocols *proto = lws_get_protocol(wsi);
	struct agent_link *l = proto ? proto->user : NULL;
	if (!l) /* context-level callbacks (GET_THREAD_ID...) have no protocol */
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (svc->stop)
			return -1;
		l->peer.wsi = wsi;
		l->connected = true;
		l->generation++;
		l->backoff_ms = BACKOFF_FIRST_MS;
		send_hello(l);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		int r = ws_peer_receive(&l->peer, in, len, PROTO_MAX_MESSAGE);
		if (r < 0)
			return -1;
		if (r == 1) {
			on_message(l, l->peer.rx, l->peer.rx_len);
			ws_peer_consume(&l->peer);
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return ws_client_add_headers(wsi, &l->ep, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return ws_peer_on_writeable(&l->peer);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!l->warned && !svc->stop)
			fprintf(stderr, "wispd: cannot reach the coordinator at %s:%d (%s); retrying\n", l->ep.host,
				l->ep.port, ws_client_failure(in, &l->ep));
		l->warned = true;
		schedule_reconnect(l);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!svc->stop)
			fprintf(stderr, "wispd: lost the coordinator at %s:%d; reconnecting\n", l->ep.host, l->ep.port);
		l->warned = true;
		schedule_reconnect(l);
		break;
	default:
		break;
	}
	return 0;
}

struct agent_link *agent_link_new(struct service *svc, const char *url, const char *token_file, char *err,
				  size_t errlen)
{
	struct agent_link *l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->svc = svc;
	l->backoff_ms = BACKOFF_FIRST_MS;
	uint64_t id = 0;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint64_t)mono_now_ns() ^ ((uint64_t)getpid() << 32);
	snprintf(l->instance, sizeof(l->instance), "%016llx", (unsigned long long)id);
	l->rng = id;
	if (ws_endpoint_parse(url, &l->ep) < 0) {
		snprintf(err, errlen, "--coordinator: expected ws://HOST:PORT or wss://HOST:PORT, got '%s'", url);
		free(l);
		return NULL;
	}
	if (token_file && tokens_pick(token_file, GRANT_REGISTER, l->ep.token, sizeof(l->ep.token), err, errlen) < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void agent_link_stop(struct agent_link *l)
{
	if (!l)
		return;
	lws_sul_cancel(&l->reconnect_sul);
	lws_sul_cancel(&l->heartbeat_sul);
}

void agent_link_protocol(struct agent_link *l, struct lws_protocols *out)
{
	*out = (struct lws_protocols){PROTO_NAME, link_callback, 0, 65536, 0, l, 0};
}

void agent_link_start(struct agent_link *l, struct agent *a)
{
	l->agent = a;
	connect_now(&l->reconnect_sul);
	lws_sul_schedule(l->svc->ctx, 0, &l->heartbeat_sul, heartbeat_cb, HEARTBEAT_US);
}

void agent_link_free(struct agent_link *l)
{
	if (!l)
		return;
	ws_peer_clear(&l->peer);
	free(l);
}
