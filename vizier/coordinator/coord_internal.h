/* coord_internal.h - the coordinator's state, shared by its parts: the protocol switch
 * (coordinator.c), the sessions of agents and clients (registry.c), a query's life from script
 * to answers (query.c), merging the answers (merge.c), snapshot gathering (snapshot.c) and live
 * subscriptions, whose every tick is a query over the newest slice of time (live.c).
 * Private to vizier/coordinator/.
 *
 * A query's life: a client sends "run" -> a worker compiles the script into a plan in a script
 * helper -> the service thread sends the plan as "exec" to every connected agent (and hands it
 * to the in-process agent in standalone mode) -> answers are gathered until all arrived or the
 * deadline passes -> a worker merges the partial results and runs the rest of the plan -> the
 * reply goes back to the client. A snapshot request fans out the same way and gathers files.
 *
 * Threads: every session and query field is touched only by the lws service thread, except
 * while a worker task owns a query (q->busy): then only that task touches it. */
#ifndef WISP_COORD_INTERNAL_H
#define WISP_COORD_INTERNAL_H

#include "coordinator.h"
#include "web.h"
#include "net/proto.h"
#include "net/tokens.h"
#include "net/ws_peer.h"
#include "core/qctx.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

/* Idle script helper processes kept for the next queries (one per worker is plenty). */
#define SCRIPT_HELPERS 4

/* What one coordinator holds for its peers, whoever they are:
 * - at most MAX_SESSIONS connections, of which at most MAX_PENDING_PER_ADDR from one address
 *   have not yet sent a whole first message: a new connection pushes out the oldest such one
 *   (from its address, else anywhere), so a flood of idle connections never locks others out;
 * - a connection that has sent nothing whole within the idle timeout, a message that takes longer
 *   than it to arrive, and a client with nothing in flight for that long are closed;
 * - an agent silent for AGENT_SILENT_NS (it heartbeats every 2 s) is closed;
 * - messages being reassembled hold RX_BUDGET bytes for agents and RX_OTHERS_BUDGET for every
 *   other connection: one whose message would grow past that waits, unread, for room
 *   (rx_budget.c). */
#define MAX_SESSIONS 4096
#define MAX_PENDING_PER_ADDR 64
#define IDLE_TIMEOUT_S 30 /* --idle-timeout */
#define AGENT_SILENT_NS (30 * 1000000000LL)
#define RX_BUDGET ((size_t)256 << 20)
#define RX_OTHERS_BUDGET ((size_t)64 << 20)
#define RX_FRAGMENT_MAX 65536 /* the most lws hands over at once (the protocol's rx_buffer_size) */
enum { RX_POOL_AGENTS, RX_POOL_OTHERS, RX_POOLS };
/* A connection being closed stays this long, so that the peer reads why: closing a socket with
 * bytes unread (a peer still sending a refused message) resets it, and the peer's kernel drops
 * the error it had not read yet. What it sends meanwhile is read and dropped. */
#define CLOSE_GRACE_S 3

enum role { ROLE_NONE, ROLE_AGENT, ROLE_CLIENT };

/* What /metrics counts that no agent status holds (metrics.c). Service thread only. */
enum { QK_RUN, QK_SNAPSHOT, QK_LIVE, QK_KINDS };
#define QUERY_BUCKETS 12
struct coord_metrics {
	uint64_t queries[QK_KINDS][2];                /* [kind][failed] */
	uint64_t duration_le[QK_KINDS][QUERY_BUCKETS]; /* queries at most metrics.c's bucket bound */
	double duration_sum[QK_KINDS];                 /* seconds */
	uint64_t rx_bytes, tx_bytes;                   /* websocket payload, every session */
	uint64_t refused_token;                        /* upgrades refused: no or unknown token */
	uint64_t rx_waits;                             /* times a connection waited for reassembly room */
	uint64_t refused_grant;                        /* requests refused: the token's role lacks it */
};

/* One websocket connection (lws per-session data). */
struct session {
	struct session *next;
	uint64_t id;            /* never reused: queries name their client and agents by id */
	struct ws_peer peer;
	enum role role;
	char node[64];          /* agents: node name */
	char instance[33];      /* agents: the process's id across reconnects ("" when it sent none) */
	char contested_by[64];  /* agents: address of another agent refused this name, or "" */
	int64_t contested_ns;   /* ... when it last tried (CLOCK_MONOTONIC) */
	char addr[64];          /* peer address */
	unsigned grants;        /* what its token allows (net/tokens.h), read at the upgrade */
	int64_t connected_ns, last_seen_ns; /* CLOCK_MONOTONIC; last_seen: its last whole message */
	size_t rx_held;         /* bytes of its reassembly buffer, as counted in c->rx_held[rx_pool] */
	int rx_pool;            /* RX_POOL_*: where rx_held is counted */
	bool rx_waiting;        /* its reading is off until its pool has room (rx_budget.c) */
	bool linked;            /* in c->sessions (session_open .. session_end) */
	bool closing;           /* being closed: what it still sends is ignored */
	msgpack_sbuffer status; /* agents: last status map (msgpack) */
	struct web_reply web;   /* a plain HTTP connection (never a session above): the file it gets */
};

/* What one agent answered to a query, or why it did not. */
struct answer {
	uint64_t session;     /* 0 = the in-process agent */
	char node[64];
	char *msg;            /* the agent's "result" message (msgpack, owned), NULL until it arrives */
	size_t len;
	int64_t arrived_ns;
	bool done;
	bool taken;           /* handed to a decoding task (service thread only; query.c) */
	char err[256];        /* why it has no result (disconnected, deadline) */
	char doubt[200];      /* a warning to give with its result, or "" (a contested node name) */
};

struct query {
	struct query *next;
	struct coordinator *c;
	uint64_t qid;             /* the coordinator's id, in exec requests and agents' results */
	uint64_t client;          /* session id of the client */
	int64_t request_id;       /* the client's id for the request */
	char name[128];           /* the script's name */
	char *script;             /* owned */
	size_t script_len;
	char **argv;              /* owned, NULL-terminated */
	int argc;
	int64_t max_rows, timeout_ms, mem_limit_mb, started_ns, now_ns;
	int64_t compiled_ns, fanned_ns;     /* CLOCK_MONOTONIC: script compiled, plan sent out */
	struct plan *plan;
	msgpack_sbuffer exec_msg; /* the request sent to agents (exec or snapshot) */
	char *log;                /* what the script printed */
	char err[1024];           /* compile error */
	struct answer *answers;
	int nanswers, pending;
	size_t held_bytes;        /* answers' messages held, within the query's memory limit */
	struct merge *merge;      /* owned: answers decoded as they arrive; NULL for snapshots and
				   * live ticks, which decode theirs after the last */
	int *batch, nbatch;       /* answers the running decoding task takes (owned; query.c) */
	lws_sorted_usec_list_t deadline_sul;
	msgpack_sbuffer reply;    /* to the client */
	bool busy;                /* a worker task owns the query */
	bool snapshot;            /* a snapshot request: answers are files, not partial results */
	struct live *live;        /* a live tick: the subscription it serves (plan borrowed from it) */
	enum { QUERY_DROPPED, QUERY_OK, QUERY_FAILED } outcome; /* as query_free counts it (metrics.c) */
	int nranges;              /* live: the time ranges asked for (exec_request), 0 otherwise */
	int64_t (*ranges)[2];     /* owned */
};

struct coordinator {
	struct service *svc;
	char node[64];               /* this coordinator's node name */
	struct agent *local;         /* standalone: the in-process agent, else NULL */
	struct script_pool *scripts; /* helper processes that compile scripts */
	struct session *sessions;
	int nsessions;
	struct query *queries;
	struct live *lives;          /* subscriptions (live.c) */
	struct tokens *tokens;       /* borrowed; NULL: every peer may do everything */
	int64_t refused_said_ns;     /* the last "refused a peer" line (said once in 10 s) */
	int64_t reload_said_ns;      /* the last "token file is bad" line (said once a minute) */
	uint64_t next_session, next_qid;
	int64_t idle_timeout_ns;     /* see IDLE_TIMEOUT_S */
	size_t rx_held[RX_POOLS];    /* bytes of the sessions' reassembly buffers, by pool */
	size_t rx_budget[RX_POOLS];  /* ... and what each pool may hold */
	int rx_waits;                /* sessions waiting for room */
	lws_sorted_usec_list_t sweep_sul; /* every second: the timeouts above */
	struct coord_metrics metrics;     /* metrics.c */
};

struct live;

/* ---- coordinator.c (the fuzzers drive sessions through these three, without sockets) --------- */
/* A connection from addr opened (wsi NULL: no socket; what is sent to it is dropped), its token
 * granting grants: s is zeroed and linked into c, or -1 when every place is taken (s stays
 * unlinked). */
int session_open(struct coordinator *c, struct session *s, struct lws *wsi, const char *addr, unsigned grants);
/* One whole message from s. -1: close the connection. */
int session_message(struct coordinator *c, struct session *s, const char *data, size_t len);
/* The connection closed: s is unlinked and its answers fail. Nothing when it was never linked. */
void session_end(struct coordinator *c, struct session *s);

/* ---- metrics.c ------------------------------------------------------------------------------- */
/* q ends (query_free): counted by kind, outcome and duration, unless it was dropped. */
void metrics_query_ended(struct coordinator *c, const struct query *q);
/* The Prometheus text exposition (format 0.0.4) of c and of every agent's last status: malloc'd,
 * *len its size; NULL when out of memory. */
char *metrics_render(struct coordinator *c, size_t *len);

/* ---- rx_budget.c ----------------------------------------------------------------------------- */
/* The largest message s may send (by its role). */
size_t session_max_message(const struct session *s);
/* Counts s's reassembly buffer, as it is now, in its pool. */
void rx_account(struct coordinator *c, struct session *s);
/* s took a fragment and its message goes on: room is made for the next, or s waits for it. */
void rx_fragment_taken(struct coordinator *c, struct session *s);
/* A message completed or was dropped: waiting sessions that now have room read on. */
void rx_freed(struct coordinator *c);
/* s's reassembly buffer is gone (closed or closing): counted, s waits no more, others may read. */
void rx_forget(struct coordinator *c, struct session *s);

/* ---- registry.c ------------------------------------------------------------------------------ */
/* Closes s (within CLOSE_GRACE_S), telling it why first when it can still hear it; its
 * reassembly buffer is freed at once. */
void session_close(struct coordinator *c, struct session *s, const char *why);
struct session *session_by_id(struct coordinator *c, uint64_t id);
void session_send(struct session *s, const msgpack_sbuffer *sb);
void session_error(struct session *s, int64_t id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Agents a query fans out to: connected agent sessions plus the in-process agent. */
int agent_count(const struct coordinator *c);
/* Registers s as an agent named h->node (welcome sent). A name held by another session of the
 * same agent process (same instance: it reconnected before the coordinator saw the old
 * connection die) passes to s; held by another agent, it is refused (error sent, -1) and the
 * holder's answers carry a warning for a while. */
int register_agent(struct coordinator *c, struct session *s, const struct hello *h);
/* Why agent session s's answers should be doubted now ("" when they should not). */
void agent_doubt(const struct session *s, char *buf, size_t len);
void store_status(struct session *s, const msgpack_object *status);
void handle_agents(struct coordinator *c, struct session *s, int64_t id);

/* ---- query.c --------------------------------------------------------------------------------- */
/* A new query for the request id of client session `client` (0: a live tick), linked into c;
 * NULL on OOM (the caller tells the client). */
struct query *query_new(struct coordinator *c, uint64_t client, int64_t id, int64_t timeout_ms);
void query_free(struct query *q);
/* q cannot go on: its client (or its live watchers) hear msg, and q is freed. */
void query_fail(struct query *q, const char *msg);
void handle_run(struct coordinator *c, struct session *s, const struct proto_msg *m);
/* Sends q->exec_msg to every agent (and the in-process one), then waits for the answers. */
void fan_out(struct query *q);
/* A result message arrived from agent session s. */
void result_arrived(struct coordinator *c, struct session *s, const struct proto_msg *m, const char *data, size_t len);
/* Agent session s went away: its pending answers become errors. */
void agent_gone(struct coordinator *c, struct session *s, const char *why);

/* ---- merge.c (workers) ----------------------------------------------------------------------- */
/* A query's answers being decoded: inputs[i][a] is agent a's table i (nagents = q->nanswers),
 * of ntables = nranges x nbridges (table i belongs to bridge i % nbridges). */
struct merge {
	struct query *q;      /* NULL until merge_begin */
	struct qctx qc;
	int ntables;
	struct table ***inputs;
	bool *answered;       /* per agent: its answer is in inputs */
	bool *decoded;        /* per agent: its answer was looked at (and its message freed) */
	char **warnings;
	int nwarn, maxwarn;
	struct query_stats st;
	int64_t last_ns;      /* when the last answer decoded arrived */
	size_t freed;         /* answers' message bytes freed since the service thread last looked */
	char first_err[700];  /* why the first agent without an answer has none */
};
/* 0, or -1 (error in m->qc); merge_end either way. Room for two warnings per agent and extra. */
int merge_begin(struct merge *m, struct query *q, int ntables, int extra_warnings);
/* Decodes every answer not yet decoded, warning (naming the agent) about each that is missing or
 * unusable. *last_ns: when the last answer arrived. -1 when no agent answered (error in m->qc). */
int merge_decode_all(struct merge *m, int64_t *last_ns);
/* Worker: decodes the answers q->batch names into q->merge, then gives q back (merge_decoded). */
void merge_decode_some(void *query);
void merge_warn(struct merge *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops agent a's tables (and gives their memory back to the query). */
void merge_drop_agent(struct merge *m, int a);
void merge_end(struct merge *m);
void merge_run(void *query);
/* On the service thread: sends q->reply and frees q. */
void merge_done(void *query);
/* query.c, on the service thread: the next step of a query no task holds (the merge once every
 * agent is accounted for, else decoding the answers that arrived). */
void query_advance(struct query *q);

/* ---- snapshot.c ------------------------------------------------------------------------------ */
void handle_snapshot(struct coordinator *c, struct session *s, const struct proto_msg *m);
void snapshot_collect(void *query); /* worker */

/* ---- live.c ---------------------------------------------------------------------------------- */
void handle_subscribe(struct coordinator *c, struct session *s, const struct proto_msg *m);
void handle_unsubscribe(struct coordinator *c, struct session *s, int64_t id);
/* Client session s went away: it watches nothing any more. */
void live_client_gone(struct coordinator *c, struct session *s);
/* Does client session s watch a subscription? (Then it is not idle.) */
bool live_watches(const struct coordinator *c, const struct session *s);
void live_merge_run(void *query); /* worker: a tick's answers into its window */
void live_tick_failed(struct query *q, const char *msg); /* service thread; q is freed after */
void live_stop_all(struct coordinator *c);

#endif
