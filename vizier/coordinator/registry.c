/* registry.c - the coordinator's sessions: sending to them, agents registering under unique node
 * names with their latest status, and the agents listing clients ask for. */
#include "coord_internal.h"
#include "agent/agent.h"
#include "net/service.h"
#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct session *session_by_id(struct coordinator *c, uint64_t id)
{
	for (struct session *s = c->sessions; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

void session_send(struct session *s, const msgpack_sbuffer *sb)
{
	if (s && s->peer.wsi)
		ws_peer_send(&s->peer, sb->data, sb->size);
}

void session_close(struct coordinator *c, struct session *s, const char *why)
{
	if (s->closing || !s->linked)
		return;
	if (why)
		session_error(s, 0, "%s", why);
	s->closing = true;
	ws_peer_drop_rx(&s->peer);
	rx_forget(c, s);
	if (s->peer.wsi)
		lws_set_timeout(s->peer.wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_GRACE_S);
}

void session_error(struct session *s, int64_t id, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct proto_buf b;
	proto_buf_init(&b);
	proto_pack_error(&b.pk, id, msg, NULL);
	session_send(s, &b.sb);
	proto_buf_destroy(&b);
}

int agent_count(const struct coordinator *c)
{
	int n = c->local ? 1 : 0;
	for (const struct session *s = c->sessions; s; s = s->next)
		n += s->role == ROLE_AGENT;
	return n;
}

/* How long a refused claim to a node name keeps the holder's answers in doubt. */
#define CONTEST_NS (60 * 1000000000LL)

/* The agent session holding node, other than self; NULL if none. */
static struct session *node_holder(struct coordinator *c, const struct session *self, const char *node)
{
	for (struct session *s = c->sessions; s; s = s->next)
		if (s != self && s->role == ROLE_AGENT && !strcmp(s->node, node))
			return s;
	return NULL;
}

void agent_doubt(const struct session *s, char *buf, size_t len)
{
	buf[0] = '\0';
	if (s->contested_by[0] && mono_now_ns() - s->contested_ns < CONTEST_NS)
		snprintf(buf, len, "another agent (from %s) claims the node name '%s' too and was refused: if that is "
				   "the real one, this one is an impostor", s->contested_by, s->node);
}

void store_status(struct session *s, const msgpack_object *status)
{
	if (!status || status->type != MSGPACK_OBJECT_MAP)
		return;
	msgpack_sbuffer_clear(&s->status);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &s->status, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, *status);
}

int register_agent(struct coordinator *c, struct session *s, const struct hello *h)
{
	struct session *holder = node_holder(c, s, h->node);
	if (c->local && !strcmp(agent_node(c->local), h->node)) {
		session_error(s, 0, "node name '%s' is this coordinator's own agent; give this agent another --node", h->node);
		return -1;
	}
	if (holder && h->instance[0] && !strcmp(holder->instance, h->instance)) {
		/* The same process again: its old connection is dead and nobody has noticed yet. */
		fprintf(stderr, "wispd: agent %s reconnected from %s; dropping its old connection\n", h->node, s->addr);
		agent_gone(c, holder, "reconnected during the query");
		holder->role = ROLE_NONE;
		if (holder->peer.wsi)
			lws_set_timeout(holder->peer.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	} else if (holder) {
		snprintf(holder->contested_by, sizeof(holder->contested_by), "%s", s->addr);
		holder->contested_ns = mono_now_ns();
		fprintf(stderr, "wispd: refused a second agent named %s from %s (the name is held from %s)\n", h->node,
			s->addr, holder->addr);
		session_error(s, 0, "node name '%s' is already registered; give this agent another --node", h->node);
		return -1;
	}
	s->role = ROLE_AGENT;
	snprintf(s->node, sizeof(s->node), "%s", h->node);
	snprintf(s->instance, sizeof(s->instance), "%s", h->instance);
	store_status(s, h->status);
	struct proto_buf b;
	proto_buf_init(&b);
	proto_pack_welcome(&b.pk, c->node);
	session_send(s, &b.sb);
	proto_buf_destroy(&b);
	fprintf(stderr, "wispd: agent %s connected from %s\n", s->node, s->addr);
	return 0;
}

void handle_agents(struct coordinator *c, struct session *s, int64_t id)
{
	int n = agent_count(c), k = 0;
	int64_t now = mono_now_ns();
	struct agent_entry entries[n ? n : 1];
	struct proto_buf local, b;
	proto_buf_init(&local);
	if (c->local) {
		struct agent_status st;
		agent_get_status(c->local, &st);
		proto_pack_status(&local.pk, &st);
		entries[k++] = (struct agent_entry){agent_node(c->local), "local", "in-process",
						    (double)(now - c->svc->started_ns) / 1e9, 0.0, local.sb.data, local.sb.size};
	}
	for (struct session *a = c->sessions; a && k < n; a = a->next)
		if (a->role == ROLE_AGENT)
			entries[k++] = (struct agent_entry){a->node, "remote", a->addr, (double)(now - a->connected_ns) / 1e9,
							    (double)(now - a->last_seen_ns) / 1e9, a->status.data, a->status.size};
	proto_buf_init(&b);
	proto_pack_agents(&b.pk, id, c->node, entries, k);
	session_send(s, &b.sb);
	proto_buf_destroy(&b);
	proto_buf_destroy(&local);
}
