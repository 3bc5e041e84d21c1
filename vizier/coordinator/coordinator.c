/* coordinator.c - the coordinator's websocket protocol: sessions opening and closing, and the
 * one switch over what each message asks for (see coordinator.h and coord_internal.h). */
#include "coord_internal.h"
#include "net/service.h"
#include "lua/script.h"
#include "core/clock.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int session_message(struct coordinator *c, struct session *s, const char *data, size_t len)
{
	struct proto_msg m;
	char err[256];
	int rc = 0;
	if (proto_msg_parse(&m, data, len) < 0) {
		session_error(s, 0, "malformed message: expected a msgpack map with a \"type\"");
		if (s->role == ROLE_AGENT) /* whatever it was answering, that answer is lost */
			agent_gone(c, s, "sent a malformed message");
		goto out;
	}
	s->last_seen_ns = mono_now_ns();
	bool agent = s->role == ROLE_AGENT;
	switch (m.type) {
	case PT_HELLO: {
		struct hello h;
		if (proto_read_hello(m.obj, &h, err, sizeof(err)) < 0)
			session_error(s, m.id, "%s", err);
		else if (!h.agent)
			s->role = ROLE_CLIENT;
		else if (register_agent(c, s, &h) < 0)
			rc = -1;
		goto out;
	}
	case PT_HEARTBEAT:
		if (!agent)
			break;
		store_status(s, proto_heartbeat_status(m.obj));
		goto out;
	case PT_RESULT:
		if (!agent)
			break;
		result_arrived(c, s, &m, data, len);
		goto out;
	case PT_RUN:
	case PT_SUBSCRIBE:
	case PT_UNSUBSCRIBE:
	case PT_SNAPSHOT:
	case PT_AGENTS:
		if (agent)
			break;
		s->role = ROLE_CLIENT;
		if (m.type == PT_RUN)
			handle_run(c, s, &m);
		else if (m.type == PT_SUBSCRIBE)
			handle_subscribe(c, s, &m);
		else if (m.type == PT_UNSUBSCRIBE)
			handle_unsubscribe(c, s, m.id);
		else if (m.type == PT_SNAPSHOT)
			handle_snapshot(c, s, &m);
		else
			handle_agents(c, s, m.id);
		goto out;
	default:
		break;
	}
	session_error(s, m.id, "unknown request type '%s'", m.type_name);
out:
	proto_msg_destroy(&m);
	return rc;
}

/* The oldest session that has not sent a whole message yet, from addr (any address when addr is
 * NULL); *n counts them. NULL when there is none. */
static struct session *oldest_pending(struct coordinator *c, const char *addr, int *n)
{
	struct session *old = NULL;
	*n = 0;
	for (struct session *s = c->sessions; s; s = s->next)
		if (s->role == ROLE_NONE && !s->closing && (!addr || !strcmp(s->addr, addr))) {
			(*n)++;
			if (!old || s->connected_ns < old->connected_ns)
				old = s;
		}
	return old;
}

/* Makes room for a new connection from addr: false when every place is taken by peers that
 * talk (then it is refused). */
static bool admit(struct coordinator *c, const char *addr)
{
	int n;
	struct session *old = oldest_pending(c, addr, &n);
	if (n >= MAX_PENDING_PER_ADDR)
		session_close(c, old, NULL);
	else if (c->nsessions >= MAX_SESSIONS && (old = oldest_pending(c, NULL, &n)))
		session_close(c, old, NULL);
	else if (c->nsessions >= MAX_SESSIONS)
		return false;
	return true;
}

int session_open(struct coordinator *c, struct session *s, struct lws *wsi, const char *addr)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	if (!admit(c, s->addr)) {
		static int64_t said_ns;
		if (mono_now_ns() - said_ns > 10000000000LL) { /* once in 10 s, not once a connection */
			said_ns = mono_now_ns();
			fprintf(stderr, "wispd: refusing a connection from %s: %d connections are open\n", s->addr,
				c->nsessions);
		}
		return -1; /* never linked: session_end knows it */
	}
	s->id = ++c->next_session;
	s->linked = true;
	s->peer.wsi = wsi;
	s->connected_ns = s->last_seen_ns = mono_now_ns();
	msgpack_sbuffer_init(&s->status);
	s->next = c->sessions;
	c->sessions = s;
	c->nsessions++;
	return 0;
}

void session_end(struct coordinator *c, struct session *s)
{
	if (!s->linked)
		return;
	for (struct session **ps = &c->sessions; *ps; ps = &(*ps)->next)
		if (*ps == s) {
			*ps = s->next;
			c->nsessions--;
			break;
		}
	if (s->role == ROLE_AGENT && !c->svc->stop) {
		fprintf(stderr, "wispd: agent %s disconnected\n", s->node);
		agent_gone(c, s, "disconnected during the query");
	}
	if (s->role == ROLE_CLIENT)
		live_client_gone(c, s);
	s->linked = false;
	s->peer.wsi = NULL;
	ws_peer_clear(&s->peer);
	session_account_rx(c, s);
	msgpack_sbuffer_destroy(&s->status);
	service_memory_freed(c->svc);
}

/* Does a query still wait on an answer for client session s, or does it watch a live one? */
static bool has_query(const struct coordinator *c, const struct session *s)
{
	for (const struct query *q = c->queries; q; q = q->next)
		if (q->client == s->id)
			return true;
	return live_watches(c, s);
}

/* Every second: close the connections the limits in coord_internal.h say must go, and trim the
 * heap if queries or connections ended (service_trim). */
static void sweep(lws_sorted_usec_list_t *sul)
{
	struct coordinator *c = lws_container_of(sul, struct coordinator, sweep_sul);
	int64_t now = mono_now_ns();
	for (struct session *s = c->sessions; s; s = s->next) {
		char why[160] = "";
		int64_t quiet = now - s->last_seen_ns;
		if (s->closing)
			continue;
		if (s->peer.rx_since_ns && now - s->peer.rx_since_ns > c->idle_timeout_ns)
			snprintf(why, sizeof(why), "a message took longer than %lld s to arrive",
				 (long long)(c->idle_timeout_ns / 1000000000LL));
		else if (s->role == ROLE_AGENT && quiet > AGENT_SILENT_NS)
			snprintf(why, sizeof(why), "no heartbeat for %lld s", (long long)(quiet / 1000000000LL));
		else if (s->role != ROLE_AGENT && quiet > c->idle_timeout_ns && !has_query(c, s))
			snprintf(why, sizeof(why), "idle for %lld s", (long long)(quiet / 1000000000LL));
		if (why[0]) {
			if (s->role == ROLE_AGENT) {
				fprintf(stderr, "wispd: closing agent %s: %s\n", s->node, why);
				agent_gone(c, s, why);
			}
			session_close(c, s, why);
		}
	}
	service_trim(c->svc);
	lws_sul_schedule(c->svc->ctx, 0, &c->sweep_sul, sweep, LWS_US_PER_SEC);
}

static int coord_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct service *svc = lws_context_user(lws_get_context(wsi));
	const struct lws_protocols *proto = lws_get_protocol(wsi);
	struct coordinator *c = proto ? proto->user : NULL;
	struct session *s = user;
	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		inbox_drain(svc->inbox);
		break;
	case LWS_CALLBACK_ESTABLISHED: {
		char addr[64] = "";
		lws_get_peer_simple(wsi, addr, sizeof(addr));
		return c ? session_open(c, s, wsi, addr) : -1;
	}
	case LWS_CALLBACK_RECEIVE: {
		if (s->closing)
			break;
		/* The budget is checked before the fragment is allocated: checked after, every
		 * connection growing at once could each double its buffer past it. */
		if (c->rx_held - s->rx_held + ws_peer_rx_need(&s->peer, len) > RX_BUDGET) {
			session_close(c, s, "too many large messages are arriving at once; try again");
			break;
		}
		size_t max = s->role == ROLE_AGENT ? PROTO_MAX_MESSAGE : PROTO_CLIENT_MAX_MESSAGE;
		int r = ws_peer_receive(&s->peer, in, len, max);
		session_account_rx(c, s);
		if (r < 0) {
			char why[96];
			snprintf(why, sizeof(why), "message too large (limit %zu MiB)", max >> 20);
			session_close(c, s, why);
			break;
		}
		if (r == 1) {
			int rc = session_message(c, s, s->peer.rx, s->peer.rx_len);
			ws_peer_consume(&s->peer);
			session_account_rx(c, s);
			if (rc < 0)
				session_close(c, s, NULL);
		}
		break;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_peer_on_writeable(&s->peer);
	case LWS_CALLBACK_HTTP: /* the dashboard: GET of a file (web.h) */
		return web_request(wsi, &s->web, in);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return web_writeable(wsi, &s->web);
	case LWS_CALLBACK_CLOSED:
		if (c)
			session_end(c, s);
		break;
	default:
		break;
	}
	return 0;
}

void coordinator_protocol(struct coordinator *c, struct lws_protocols *out)
{
	*out = (struct lws_protocols){PROTO_NAME, coord_callback, sizeof(struct session), 65536, 0, c, 0};
}

void coordinator_start(struct coordinator *c)
{
	lws_sul_schedule(c->svc->ctx, 0, &c->sweep_sul, sweep, LWS_US_PER_SEC);
}

struct coordinator *coordinator_new(struct service *svc, const char *node, int idle_timeout_s,
				    const char *helper_exe)
{
	struct coordinator *c = calloc(1, sizeof(*c));
	if (!c || !(c->scripts = script_pool_new(helper_exe, SCRIPT_HELPERS))) {
		free(c);
		return NULL;
	}
	c->svc = svc;
	c->idle_timeout_ns = (idle_timeout_s > 0 ? idle_timeout_s : IDLE_TIMEOUT_S) * 1000000000LL;
	snprintf(c->node, sizeof(c->node), "%s", node);
	return c;
}

void coordinator_set_local(struct coordinator *c, struct agent *local)
{
	c->local = local;
}

void coordinator_stop(struct coordinator *c)
{
	if (!c)
		return;
	lws_sul_cancel(&c->sweep_sul);
	while (c->queries)
		query_free(c->queries);
	live_stop_all(c);
}

void coordinator_free(struct coordinator *c)
{
	if (!c)
		return;
	assert(!c->queries && !c->lives && !c->sessions);
	script_pool_free(c->scripts);
	free(c);
}
