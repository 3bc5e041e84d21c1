/* rx_budget.c - the memory of messages being reassembled, and which connections may read on.
 *
 * Each connection reassembles one message at a time (net/ws_peer.h); what its buffer holds counts
 * in its pool: agents' in one, every other connection's in the other, each with a budget
 * (coord_internal.h: RX_BUDGET or wispd's --receive-mb, and RX_OTHERS_BUDGET). A message's
 * buffer grows ahead of its fragments: after each one it is made room for the next
 * (RX_FRAGMENT_MAX bytes) when the pool's budget allows. When it does not, the connection waits: lws stops reading its socket, and TCP
 * holds its sender back until a message of the pool completes or is dropped. A flood of large
 * answers is then received a pool's budget at a time instead of failing; before (until
 * 2026-12-06) the connection that would pass the budget was closed, and a 100-agent fleet whose
 * flame graph answers are 2.4 MB each lost a third of its queries.
 *
 * Invariants:
 * - c->rx_held[p] is the sum of rx_held over the linked sessions s with s->rx_pool == p, and
 *   s->rx_held is s->peer.rx_cap as of its last rx_account;
 * - a pool's oldest message (the one whose first fragment came first) is never kept waiting, so
 *   a pool never waits on itself: it holds at most its budget, plus that message (its limit,
 *   PROTO_MAX_MESSAGE or PROTO_CLIENT_MAX_MESSAGE), plus a first fragment's buffer of
 *   WS_PEER_KEEP_BYTES per connection (a message's start is always taken);
 * - a waiting session has a message in progress and its reading off. Its time waiting counts
 *   against its timeouts (coordinator.c's sweep) like any other: a pool full of messages that never
 *   end is emptied at the idle timeout, and a connection held back so long is better closed. */
#include "coord_internal.h"

#include <assert.h>
#include <libwebsockets.h>

static int pool_of(const struct session *s)
{
	return s->role == ROLE_AGENT ? RX_POOL_AGENTS : RX_POOL_OTHERS;
}

void coordinator_set_receive_budget(struct coordinator *c, size_t bytes)
{
	c->rx_budget[RX_POOL_AGENTS] = bytes;
}

size_t session_max_message(const struct session *s)
{
	return s->role == ROLE_AGENT ? PROTO_MAX_MESSAGE : PROTO_CLIENT_MAX_MESSAGE;
}

void rx_account(struct coordinator *c, struct session *s)
{
	assert(c->rx_held[s->rx_pool] >= s->rx_held);
	c->rx_held[s->rx_pool] -= s->rx_held;
	s->rx_pool = pool_of(s); /* an agent's hello moved it */
	s->rx_held = s->peer.rx_cap;
	c->rx_held[s->rx_pool] += s->rx_held;
}

/* Does s have a message in progress (one it will keep)? */
static bool in_progress(const struct session *s)
{
	return s->linked && !s->closing && s->peer.rx_since_ns && !s->peer.rx_overflow;
}

/* The session of pool whose message in progress began first, or NULL. */
static const struct session *oldest(const struct coordinator *c, int pool)
{
	const struct session *o = NULL;
	for (const struct session *s = c->sessions; s; s = s->next)
		if (s->rx_pool == pool && in_progress(s) && (!o || s->peer.rx_since_ns < o->peer.rx_since_ns))
			o = s;
	return o;
}

/* Makes room in s's buffer for its next fragment when its pool's budget (or its being the
 * pool's oldest) allows: true when it may read on. */
static bool admit(struct coordinator *c, struct session *s, const struct session *first)
{
	size_t max = session_max_message(s);
	size_t next = ws_peer_rx_next_cap(&s->peer, RX_FRAGMENT_MAX, max);
	if (next > s->peer.rx_cap) {
		if (c->rx_held[s->rx_pool] + (next - s->peer.rx_cap) > c->rx_budget[s->rx_pool] && s != first)
			return false;
		if (!ws_peer_rx_reserve(&s->peer, RX_FRAGMENT_MAX, max))
			return false; /* out of memory: wait for memory to come back, as for the budget */
		rx_account(c, s);
	}
	return true;
}

static void set_waiting(struct coordinator *c, struct session *s, bool waiting)
{
	if (waiting) {
		c->rx_waits++;
		c->metrics.rx_waits++;
	} else {
		c->rx_waits--;
	}
	s->rx_waiting = waiting;
	if (s->peer.wsi)
		lws_rx_flow_control(s->peer.wsi, !waiting);
}

void rx_fragment_taken(struct coordinator *c, struct session *s)
{
	/* lws reads nothing more once reading is off, so a waiting session gets no fragment; were one
	 * to come, it was taken all the same and s keeps waiting. */
	if (s->rx_waiting)
		return;
	if (in_progress(s) && !admit(c, s, oldest(c, s->rx_pool)))
		set_waiting(c, s, true);
}

void rx_freed(struct coordinator *c)
{
	if (!c->rx_waits)
		return;
	const struct session *first[RX_POOLS] = {oldest(c, RX_POOL_AGENTS), oldest(c, RX_POOL_OTHERS)};
	for (struct session *s = c->sessions; s && c->rx_waits; s = s->next)
		if (s->rx_waiting && (!in_progress(s) || admit(c, s, first[s->rx_pool])))
			set_waiting(c, s, false);
}

void rx_forget(struct coordinator *c, struct session *s)
{
	if (s->rx_waiting)
		set_waiting(c, s, false); /* a closing connection's bytes are read and dropped */
	rx_account(c, s);
	rx_freed(c);
}
