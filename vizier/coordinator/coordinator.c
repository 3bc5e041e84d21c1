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

/* What a request needs its connection's token to grant (an agent's hello: GRANT_REGISTER). */
static unsigned grant_needed(enum proto_type t)
{
	switch (t) {
	case PT_HEARTBEAT:
	case PT_RESULT: return GRANT_REGISTER;
	case PT_SNAPSHOT: return GRANT_ADMIN;
	case PT_RUN:
	case PT_SUBSCRIBE:
	case PT_UNSUBSCRIBE:
	case PT_AGENTS: return GRANT_READ;
	default: return 0;
	}
}

/* Whether s's token grants need; if not, s is told what it would take. */
static bool allowed(struct coordinator *c, struct session *s, int64_t id, unsigned need)
{
	if ((s->grants & need) == need)
		return true;
	c->metrics.refused_grant++;
	const char *role = tokens_role_name(s->grants);
	session_error(s, id, "not allowed: %s needs %s token, and this connection's token is a%s %s token",
		      need == GRANT_REGISTER ? "registering as an agent" : need == GRANT_ADMIN ? "a snapshot" : "a query",
		      need == GRANT_REGISTER ? "an agent" : need == GRANT_ADMIN ? "an admin" : "a read or admin",
		      role[0] == 'a' ? "n" : "", role);
	return false;
}

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
	if (!allowed(c, s, m.id, grant_needed(m.type)))
		goto out;
	switch (m.type) {
	case PT_HELLO: {
		struct hello h;
		if (proto_read_hello(m.obj, &h, err, sizeof(err)) < 0)
			session_error(s, m.id, "%s", err);
		else if (h.agent && !allowed(c, s, m.id, GRANT_REGISTER))
			rc = -1; /* a refused registration ends the connection */
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

int session_open(struct coordinator *c, struct session *s, struct lws *wsi, const char *addr, unsigned grants)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	s->grants = grants;
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
	rx_forget(c, s);
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
	if (c->tokens) { /* a rotated token file takes effect for new connections within a second */
		char err[320];
		int r = tokens_reload(c->tokens, err, sizeof(err));
		if (r > 0)
			fprintf(stderr, "wispd: token file reloaded: %d tokens\n", tokens_count(c->tokens));
		else if (r < 0 && now - c->reload_said_ns > 60000000000LL) {
			c->reload_said_ns = now;
			fprintf(stderr, "wispd: keeping the tokens held: %s\n", err);
		}
	}
	service_trim(c->svc);
	lws_sul_schedule(c->svc->ctx, 0, &c->sweep_sul, sweep, LWS_US_PER_SEC);
}

/* A websocket upgrade: 0 lets it proceed; 1 when it was refused with 401 (its token unknown). */
static int check_token(struct coordinator *c, struct lws *wsi)
{
	if (tokens_grants_of_request(c->tokens, wsi))
		return 0;
	c->metrics.refused_token++;
	int64_t now = mono_now_ns();
	if (now - c->refused_said_ns > 10000000000LL) { /* once in 10 s, not once a connection */
		char addr[64] = "";
		lws_get_peer_simple(wsi, addr, sizeof(addr));
		c->refused_said_ns = now;
		fprintf(stderr, "wispd: refused a connection from %s: %s\n", addr,
			lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) ? "unknown token" : "no token");
	}
	return lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED, "a token is needed (Authorization: Bearer)") ? -1
														  : 1;
}

/* A plain HTTP GET: /metrics (Prometheus; a read token when tokens are on), else a dashboard
 * file. The dashboard's files hold no data: its websocket carries the token. */
static int http_request(struct coordinator *c, struct lws *wsi, struct web_reply *r, const char *path)
{
	if (strcmp(path, "/metrics") && strncmp(path, "/metrics?", 9))
		return web_request(wsi, r, path);
	if (!(tokens_grants_of_request(c->tokens, wsi) & GRANT_READ)) {
		c->metrics.refused_token++;
		return web_status(wsi, HTTP_STATUS_UNAUTHORIZED, "/metrics needs a read or admin token (Authorization: Bearer)");
	}
	size_t len = 0;
	char *body = metrics_render(c, &len);
	return web_respond(wsi, r, "text/plain; version=0.0.4; charset=utf-8", body, len);
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
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: /* headers at hand: refuse an unknown token here */
		return c ? check_token(c, wsi) : -1;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: /* s is allocated, the headers still here */
		if (!c || !s)
			return -1;
		s->grants = tokens_grants_of_request(c->tokens, wsi);
		return s->grants ? 0 : -1;
	case LWS_CALLBACK_ESTABLISHED: {
		char addr[64] = "";
		lws_get_peer_simple(wsi, addr, sizeof(addr));
		return c ? session_open(c, s, wsi, addr, s->grants) : -1;
	}
	case LWS_CALLBACK_RECEIVE: {
		if (s->closing)
			break;
		size_t max = session_max_message(s);
		c->metrics.rx_bytes += len;
		int r = ws_peer_receive(&s->peer, in, len, max);
		rx_account(c, s);
		if (r < 0) {
			char why[96];
			snprintf(why, sizeof(why), "message too large (limit %zu MiB)", max >> 20);
			session_close(c, s, why);
			break;
		}
		if (r == 0) {
			rx_fragment_taken(c, s); /* room for the next fragment, or s waits for it */
			break;
		}
		int rc = session_message(c, s, s->peer.rx, s->peer.rx_len);
		ws_peer_consume(&s->peer);
		rx_account(c, s);
		rx_freed(c);
		if (rc < 0)
			session_close(c, s, NULL);
		break;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE: {
		uint64_t before = s->peer.tx_total;
		int r = ws_peer_on_writeable(&s->peer);
		c->metrics.tx_bytes += s->peer.tx_total - before;
		return r;
	}
	case LWS_CALLBACK_HTTP: /* /metrics, or the dashboard: GET of a file (web.h) */
		return c && s ? http_request(c, wsi, &s->web, in) : -1;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return s ? web_writeable(wsi, &s->web) : -1;
	case LWS_CALLBACK_CLOSED_HTTP: /* (s is NULL for a connection that never bound it) */
		if (s)
			web_reply_clear(&s->web);
		break;
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
	*out = (struct lws_protocols){PROTO_NAME, coord_callback, sizeof(struct session), RX_FRAGMENT_MAX, 0, c, 0};
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
	c->rx_budget[RX_POOL_AGENTS] = RX_BUDGET;
	c->rx_budget[RX_POOL_OTHERS] = RX_OTHERS_BUDGET;
	snprintf(c->node, sizeof(c->node), "%s", node);
	return c;
}

void coordinator_set_tokens(struct coordinator *c, struct tokens *tokens)
{
	c->tokens = tokens;
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
