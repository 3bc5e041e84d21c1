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

/* One whole message from session s. -1 closes the connection. */
static int handle_message(struct coordinator *c, struct session *s, const char *data, size_t len)
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
	case PT_SNAPSHOT:
	case PT_AGENTS:
		if (agent)
			break;
		s->role = ROLE_CLIENT;
		if (m.type == PT_RUN)
			handle_run(c, s, &m);
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
	case LWS_CALLBACK_ESTABLISHED:
		if (!c)
			return -1;
		memset(s, 0, sizeof(*s));
		s->id = ++c->next_session;
		s->peer.wsi = wsi;
		s->connected_ns = s->last_seen_ns = mono_now_ns();
		msgpack_sbuffer_init(&s->status);
		lws_get_peer_simple(wsi, s->addr, sizeof(s->addr));
		s->next = c->sessions;
		c->sessions = s;
		break;
	case LWS_CALLBACK_RECEIVE: {
		size_t max = s->role == ROLE_AGENT ? PROTO_MAX_MESSAGE : PROTO_CLIENT_MAX_MESSAGE;
		int r = ws_peer_receive(&s->peer, in, len, max);
		if (r < 0) {
			session_error(s, 0, "message too large (limit %zu MiB)", max >> 20);
			break;
		}
		if (r == 1) {
			int rc = handle_message(c, s, s->peer.rx, s->peer.rx_len);
			ws_peer_consume(&s->peer);
			if (rc < 0)
				lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, 1);
		}
		break;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_peer_on_writeable(&s->peer);
	case LWS_CALLBACK_CLOSED:
		for (struct session **ps = c ? &c->sessions : NULL; ps && *ps; ps = &(*ps)->next)
			if (*ps == s) {
				*ps = s->next;
				break;
			}
		if (c && s->role == ROLE_AGENT && !svc->stop) {
			fprintf(stderr, "wispd: agent %s disconnected\n", s->node);
			agent_gone(c, s, "disconnected during the query");
		}
		s->peer.wsi = NULL;
		ws_peer_clear(&s->peer);
		msgpack_sbuffer_destroy(&s->status);
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

struct coordinator *coordinator_new(struct service *svc, const char *node)
{
	struct coordinator *c = calloc(1, sizeof(*c));
	if (!c || !(c->scripts = script_pool_new("/proc/self/exe", SCRIPT_HELPERS))) {
		free(c);
		return NULL;
	}
	c->svc = svc;
	snprintf(c->node, sizeof(c->node), "%s", node);
	return c;
}

void coordinator_set_local(struct coordinator *c, struct agent *local)
{
	c->local = local;
}

void coordinator_stop(struct coordinator *c)
{
	while (c && c->queries)
		query_free(c->queries);
}

void coordinator_free(struct coordinator *c)
{
	if (!c)
		return;
	assert(!c->queries && !c->sessions);
	script_pool_free(c->scripts);
	free(c);
}
