/* coordinator.c - the coordinator: a websocket server for agents and clients.
 *
 * A query's life: a client sends "run" (script + args) -> a worker compiles the script into a
 * plan (query/lua/script.c) -> the service thread sends the plan as "exec" to every connected
 * agent (and hands it to the in-process agent in standalone mode) -> answers are gathered until
 * all arrived or the deadline passes -> a worker merges the agents' partial results and runs the
 * rest of the plan (exec_finish) -> the reply goes back to the client. Agents that fail, vanish or
 * miss the deadline are reported as warnings; the query fails only if no agent answered.
 *
 * Threads: every session and query field is touched only by the lws service thread, except
 * while a worker task owns a query (q->busy): then only that task touches it. */
#include "wispd.h"
#include "core/timeparse.h"
#include "core/clock.h"
#include "jobs.h"
#include "ws_peer.h"
#include "engine/codec.h"
#include "engine/exec.h"
#include "lua/script.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Memory one query may hold on each agent and on the coordinator (clients choose with
 * --max-memory). */
#define QUERY_DEFAULT_MEM_MB 1024
#define QUERY_MAX_MEM_MB (64 * 1024)
/* Idle script helper processes kept for the next queries (one per worker is plenty). */
#define SCRIPT_HELPERS 4

enum role { ROLE_NONE, ROLE_AGENT, ROLE_CLIENT };

struct session {
	struct session *next;
	uint64_t id;
	struct ws_peer peer;
	enum role role;
	char node[64];        /* agents: node name */
	char addr[64];        /* peer address */
	int64_t connected_ns, last_seen_ns;
	msgpack_sbuffer status; /* agents: last status map (msgpack) */
};

struct answer {
	uint64_t session;     /* 0 = the in-process agent */
	char node[64];
	char *msg;            /* the agent's "result" message (msgpack), NULL until it arrives */
	size_t len;
	int64_t arrived_ns;
	bool done;
	char err[256];        /* why it has no result (disconnected, deadline) */
};

struct query {
	struct query *next;
	struct coordinator *c;
	uint64_t qid;
	uint64_t client;          /* session id of the client */
	int64_t request_id;       /* the client's id for the request */
	char name[128];
	char *script;
	size_t script_len;
	char **argv;
	int argc;
	int64_t max_rows, timeout_ms, mem_limit_mb, started_ns, now_ns;
	int64_t compiled_ns, fanned_ns;     /* CLOCK_MONOTONIC: script compiled, plan sent out */
	struct plan *plan;
	msgpack_sbuffer exec_msg; /* the "exec" request sent to agents */
	char *log;                /* what the script printed */
	char err[1024];           /* compile error */
	struct answer *answers;
	int nanswers, pending;
	lws_sorted_usec_list_t deadline_sul;
	msgpack_sbuffer reply;    /* to the client */
	bool busy;                /* a worker task owns the query */
	bool snapshot;            /* a snapshot request: answers are files, not partial results */
};

struct coordinator {
	struct wispd *d;
	struct script_pool *scripts; /* helper processes that compile scripts */
	struct session *sessions;
	struct query *queries;
	uint64_t next_session, next_qid;
};

/* ---- helpers --------------------------------------------------------------------------------- */

static struct session *session_by_id(struct coordinator *c, uint64_t id)
{
	for (struct session *s = c->sessions; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void send_sbuf(struct session *s, msgpack_sbuffer *sb)
{
	if (s && s->peer.wsi)
		ws_peer_send(&s->peer, sb->data, sb->size);
}

static void send_error(struct session *s, int64_t id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void send_error(struct session *s, int64_t id, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	mp_pack_str(&pk, "type"); mp_pack_str(&pk, "error");
	mp_pack_str(&pk, "id"); msgpack_pack_int64(&pk, id);
	mp_pack_str(&pk, "message"); mp_pack_str(&pk, msg);
	send_sbuf(s, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static void query_free(struct query *q)
{
	struct coordinator *c = q->c;
	for (struct query **pq = &c->queries; *pq; pq = &(*pq)->next)
		if (*pq == q) {
			*pq = q->next;
			break;
		}
	lws_sul_cancel(&q->deadline_sul);
	free(q->script);
	for (int i = 0; i < q->argc; i++)
		free(q->argv[i]);
	free(q->argv);
	plan_free(q->plan);
	msgpack_sbuffer_destroy(&q->exec_msg);
	msgpack_sbuffer_destroy(&q->reply);
	free(q->log);
	for (int i = 0; i < q->nanswers; i++)
		free(q->answers[i].msg);
	free(q->answers);
	free(q);
}

/* ---- merge (worker) ------------------------------------------------------------------------- */

static void pack_str_array(msgpack_packer *pk, char **v, int n)
{
	msgpack_pack_array(pk, n);
	for (int i = 0; i < n; i++)
		mp_pack_str(pk, v[i]);
}

static void merge_done(void *arg);

static void merge_run(void *arg)
{
	struct query *q = arg;
	struct plan *p = q->plan;
	struct qctx qc;
	msgpack_unpacked *u = calloc(q->nanswers ? q->nanswers : 1, sizeof(*u));
	struct table ***inputs = calloc(p->nbridges ? p->nbridges : 1, sizeof(*inputs));
	struct table **outs = calloc(p->ndisplays, sizeof(*outs));
	bool *trunc = calloc(p->ndisplays, sizeof(*trunc));
	char **warnings = calloc(q->nanswers + p->ndisplays + 1, sizeof(*warnings));
	int nwarn = 0, nok = 0, nagents = q->nanswers;
	char first_err[600] = "";
	msgpack_packer pk;

	qctx_init(&qc);
	qc.max_rows = (size_t)q->max_rows;
	qc.mem_limit = (size_t)q->mem_limit_mb << 20;
	qc.deadline_ns = mono_now_ns() + 10000000000LL;
	int64_t merge_start = mono_now_ns(), last_ns = q->fanned_ns, slowest_us = -1;
	uint64_t bytes_in = 0, rows_out = 0;
	const char *slowest = "";
	msgpack_sbuffer_init(&q->reply);
	msgpack_packer_init(&pk, &q->reply, msgpack_sbuffer_write);
	if (!u || !inputs || !outs || !trunc || !warnings) {
		qctx_fail(&qc, "out of memory");
		goto reply;
	}
	for (int b = 0; b < p->nbridges; b++)
		if (!(inputs[b] = calloc(nagents ? nagents : 1, sizeof(struct table *)))) {
			qctx_fail(&qc, "out of memory");
			goto reply;
		}
	for (int a = 0; a < nagents; a++) {
		struct answer *an = &q->answers[a];
		char msg[600] = "";
		msgpack_unpacked_init(&u[a]);
		bytes_in += an->len;
		if (an->msg && an->arrived_ns > last_ns)
			last_ns = an->arrived_ns;
		if (!an->msg) {
			snprintf(msg, sizeof(msg), "agent %s: %s", an->node, an->err[0] ? an->err : "no answer");
		} else if (!mp_unpack(&u[a], an->msg, an->len)) {
			snprintf(msg, sizeof(msg), "agent %s: malformed result", an->node);
		} else if (mp_str(mp_get(&u[a].data, "error"), msg, sizeof(msg))) {
			/* the agent's own message */
		} else {
			const msgpack_object *tabs = mp_get(&u[a].data, "tables");
			int64_t us;
			if (mp_int(mp_get(&u[a].data, "exec_us"), &us) && us > slowest_us) {
				slowest_us = us;
				slowest = an->node;
			}
			if (!tabs || tabs->type != MSGPACK_OBJECT_ARRAY || tabs->via.array.size != (uint32_t)p->nbridges) {
				snprintf(msg, sizeof(msg), "agent %s: result has the wrong number of tables", an->node);
			} else {
				int b;
				for (b = 0; b < p->nbridges; b++)
					if (codec_unpack_table(&qc, &tabs->via.array.ptr[b], &inputs[b][a]) < 0)
						break;
				if (b < p->nbridges) {
					snprintf(msg, sizeof(msg), "agent %s: %s", an->node, qc.err);
					qc.err[0] = '\0';
					for (int k = 0; k < b; k++) {
						table_free(inputs[k][a]);
						inputs[k][a] = NULL;
					}
				} else {
					nok++;
				}
			}
		}
		if (msg[0]) {
			if (!first_err[0])
				snprintf(first_err, sizeof(first_err), "%s", msg);
			warnings[nwarn++] = strdup(msg);
		}
	}
	if (nok == 0) {
		qctx_fail(&qc, "%s", first_err[0] ? first_err : "no agent answered");
		goto reply;
	}
	if (exec_finish(&qc, p, (struct table *const *const *)inputs, nagents, outs, trunc) < 0)
		goto reply;
	for (int d = 0; d < p->ndisplays; d++)
		rows_out += outs[d]->nrows;
	for (int d = 0; d < p->ndisplays; d++)
		if (trunc[d]) {
			char msg[300];
			snprintf(msg, sizeof(msg), "table %s truncated to %lld rows (raise with --max-rows)",
				 p->displays[d].name, (long long)q->max_rows);
			warnings[nwarn++] = strdup(msg);
		}
reply:
	if (qctx_failed(&qc)) {
		msgpack_pack_map(&pk, 4);
		mp_pack_str(&pk, "type"); mp_pack_str(&pk, "error");
		mp_pack_str(&pk, "id"); msgpack_pack_int64(&pk, q->request_id);
		mp_pack_str(&pk, "message"); mp_pack_str(&pk, qc.err);
		mp_pack_str(&pk, "log"); mp_pack_str(&pk, q->log ? q->log : "");
	} else {
		msgpack_pack_map(&pk, 6);
		mp_pack_str(&pk, "type"); mp_pack_str(&pk, "result");
		mp_pack_str(&pk, "id"); msgpack_pack_int64(&pk, q->request_id);
		mp_pack_str(&pk, "tables");
		msgpack_pack_array(&pk, p->ndisplays);
		for (int d = 0; d < p->ndisplays; d++)
			codec_pack_table(&pk, outs[d]);
		mp_pack_str(&pk, "warnings");
		pack_str_array(&pk, warnings, nwarn);
		mp_pack_str(&pk, "log"); mp_pack_str(&pk, q->log ? q->log : "");
		int64_t now = mono_now_ns();
		mp_pack_str(&pk, "stats");
		msgpack_pack_map(&pk, 10);
		mp_pack_str(&pk, "agents"); msgpack_pack_int(&pk, nagents);
		mp_pack_str(&pk, "answered"); msgpack_pack_int(&pk, nok);
		mp_pack_str(&pk, "compile_ms"); msgpack_pack_double(&pk, (double)(q->compiled_ns - q->started_ns) / 1e6);
		mp_pack_str(&pk, "agents_ms"); msgpack_pack_double(&pk, (double)(last_ns - q->fanned_ns) / 1e6);
		mp_pack_str(&pk, "slowest_exec_ms"); msgpack_pack_double(&pk, (double)slowest_us / 1e3);
		mp_pack_str(&pk, "slowest_node"); mp_pack_str(&pk, slowest);
		mp_pack_str(&pk, "bytes_in"); msgpack_pack_uint64(&pk, bytes_in);
		mp_pack_str(&pk, "merge_ms"); msgpack_pack_double(&pk, (double)(now - merge_start) / 1e6);
		mp_pack_str(&pk, "rows"); msgpack_pack_uint64(&pk, rows_out);
		mp_pack_str(&pk, "ms"); msgpack_pack_double(&pk, (double)(now - q->started_ns) / 1e6);
	}
	for (int b = 0; inputs && b < p->nbridges; b++) {
		for (int a = 0; inputs[b] && a < nagents; a++)
			table_free(inputs[b][a]);
		free(inputs[b]);
	}
	for (int d = 0; outs && d < p->ndisplays; d++)
		table_free(outs[d]);
	for (int a = 0; u && a < nagents; a++)
		msgpack_unpacked_destroy(&u[a]);
	for (int w = 0; warnings && w < nwarn; w++)
		free(warnings[w]);
	free(warnings);
	free(u);
	free(inputs);
	free(outs);
	free(trunc);
	qctx_destroy(&qc);
	inbox_post(q->c->d->inbox, merge_done, q);
}

static void merge_done(void *arg)
{
	struct query *q = arg;
	q->busy = false;
	send_sbuf(session_by_id(q->c, q->client), &q->reply);
	query_free(q);
}

static void snapshot_collect(void *arg);

static void start_merge(struct query *q)
{
	lws_sul_cancel(&q->deadline_sul);
	q->busy = true;
	if (jobs_submit(q->c->d->jobs, q->snapshot ? snapshot_collect : merge_run, q) < 0) {
		q->busy = false;
		send_error(session_by_id(q->c, q->client), q->request_id, "out of memory");
		query_free(q);
	}
}

/* Records agent a's answer (msg, owned from now on) or why there is none (err); starts the
 * merge once every agent is accounted for and no task owns the query. */
static void answer_arrived(struct query *q, struct answer *a, char *msg, size_t len, const char *err)
{
	if (a->done) {
		free(msg);
	} else {
		a->done = true;
		a->msg = msg;
		a->len = len;
		a->arrived_ns = mono_now_ns();
		if (err)
			snprintf(a->err, sizeof(a->err), "%s", err);
		q->pending--;
	}
	if (q->pending == 0 && !q->busy)
		start_merge(q);
}

static void deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct query *q = lws_container_of(sul, struct query, deadline_sul);
	char err[128];
	snprintf(err, sizeof(err), "did not answer within %lld ms", (long long)q->timeout_ms);
	for (int i = 0; i < q->nanswers; i++)
		if (!q->answers[i].done)
			answer_arrived(q, &q->answers[i], NULL, 0, err);
}

/* ---- the in-process agent (standalone) ---------------------------------------------------- */

struct local_exec {
	struct query *q;
	msgpack_sbuffer out;
};

static void local_exec_done(void *arg)
{
	struct local_exec *le = arg;
	struct query *q = le->q;
	q->busy = false;
	char *msg = le->out.data; /* take the buffer */
	size_t len = le->out.size;
	free(le);
	for (int i = 0; i < q->nanswers; i++)
		if (q->answers[i].session == 0) {
			answer_arrived(q, &q->answers[i], msg, len, NULL);
			return;
		}
	free(msg);
}

static void local_exec_run(void *arg)
{
	struct local_exec *le = arg;
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	msgpack_sbuffer_init(&le->out);
	if (mp_unpack(&u, le->q->exec_msg.data, le->q->exec_msg.size))
		agent_execute(le->q->c->d, &u.data, &le->out);
	msgpack_unpacked_destroy(&u);
	inbox_post(le->q->c->d->inbox, local_exec_done, le);
}

/* ---- compile (worker) and fan-out ------------------------------------------------------------- */

static void compiled(void *arg);
static void fan_out(struct query *q);

static void compile_run(void *arg)
{
	struct query *q = arg;
	struct script_input in = {q->name, q->script, q->script_len, (const char *const *)q->argv, q->argc,
				  q->now_ns};
	struct script_limits lim = SCRIPT_DEFAULT_LIMITS;
	if (script_pool_compile(q->c->scripts, &in, &lim, &q->plan, &q->log, q->err, sizeof(q->err)) == 0) {
		if (plan_split(q->plan) < 0) {
			snprintf(q->err, sizeof(q->err), "out of memory");
		} else {
			msgpack_packer pk;
			msgpack_packer_init(&pk, &q->exec_msg, msgpack_sbuffer_write);
			msgpack_pack_map(&pk, 5);
			mp_pack_str(&pk, "type"); mp_pack_str(&pk, "exec");
			mp_pack_str(&pk, "qid"); msgpack_pack_uint64(&pk, q->qid);
			mp_pack_str(&pk, "timeout_ms"); msgpack_pack_int64(&pk, q->timeout_ms);
			mp_pack_str(&pk, "mem_limit_mb"); msgpack_pack_int64(&pk, q->mem_limit_mb);
			mp_pack_str(&pk, "plan"); codec_pack_plan(&pk, q->plan);
		}
	}
	inbox_post(q->c->d->inbox, compiled, q);
}

static void compiled(void *arg)
{
	struct query *q = arg;
	struct coordinator *c = q->c;
	struct session *client = session_by_id(c, q->client);
	q->busy = false;
	q->compiled_ns = mono_now_ns();
	if (q->err[0]) {
		if (client) {
			msgpack_sbuffer sb;
			msgpack_packer pk;
			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			msgpack_pack_map(&pk, 4);
			mp_pack_str(&pk, "type"); mp_pack_str(&pk, "error");
			mp_pack_str(&pk, "id"); msgpack_pack_int64(&pk, q->request_id);
			mp_pack_str(&pk, "message"); mp_pack_str(&pk, q->err);
			mp_pack_str(&pk, "log"); mp_pack_str(&pk, q->log ? q->log : "");
			send_sbuf(client, &sb);
			msgpack_sbuffer_destroy(&sb);
		}
		query_free(q);
		return;
	}
	fan_out(q);
}

/* Sends q->exec_msg to every agent (and the in-process one), then waits for answers. */
static void fan_out(struct query *q)
{
	struct coordinator *c = q->c;
	struct session *client = session_by_id(c, q->client);
	int n = c->d->ring ? 1 : 0;
	for (struct session *s = c->sessions; s; s = s->next)
		n += s->role == ROLE_AGENT;
	if (n == 0) {
		send_error(client, q->request_id, "no agents are connected to this coordinator");
		query_free(q);
		return;
	}
	if (!(q->answers = calloc(n, sizeof(*q->answers)))) {
		send_error(client, q->request_id, "out of memory");
		query_free(q);
		return;
	}
	for (struct session *s = c->sessions; s; s = s->next) {
		if (s->role != ROLE_AGENT)
			continue;
		struct answer *a = &q->answers[q->nanswers++];
		a->session = s->id;
		snprintf(a->node, sizeof(a->node), "%s", s->node);
		send_sbuf(s, &q->exec_msg);
	}
	q->pending = q->nanswers;
	if (c->d->ring) {
		struct local_exec *le = calloc(1, sizeof(*le));
		struct answer *a = &q->answers[q->nanswers++];
		a->session = 0;
		snprintf(a->node, sizeof(a->node), "%s", c->d->node);
		q->pending++;
		if (!le || (le->q = q, q->busy = true, jobs_submit(c->d->jobs, local_exec_run, le) < 0)) {
			free(le);
			q->busy = false;
			answer_arrived(q, a, NULL, 0, "out of memory");
		}
	}
	q->fanned_ns = mono_now_ns();
	lws_sul_schedule(c->d->ctx, 0, &q->deadline_sul, deadline_cb,
			 (q->timeout_ms + 500) * LWS_US_PER_MS);
}

/* ---- snapshots ------------------------------------------------------------------------------- */

/* Packs every agent's snapshot into one reply: {"type":"snapshots","files":[{"node","data"}]}. */
static void snapshot_collect(void *arg)
{
	struct query *q = arg;
	msgpack_packer pk;
	msgpack_sbuffer_init(&q->reply);
	msgpack_packer_init(&pk, &q->reply, msgpack_sbuffer_write);
	msgpack_unpacked *u = calloc(q->nanswers ? q->nanswers : 1, sizeof(*u));
	int nfiles = 0;
	char **warnings = calloc(q->nanswers + 1, sizeof(char *));
	int nwarn = 0;
	for (int a = 0; u && a < q->nanswers; a++) {
		struct answer *an = &q->answers[a];
		char msg[600] = "";
		msgpack_unpacked_init(&u[a]);
		const msgpack_object *data = NULL;
		if (!an->msg)
			snprintf(msg, sizeof(msg), "agent %s: %s", an->node, an->err[0] ? an->err : "no answer");
		else if (!mp_unpack(&u[a], an->msg, an->len))
			snprintf(msg, sizeof(msg), "agent %s: malformed answer", an->node);
		else if (!mp_str(mp_get(&u[a].data, "error"), msg, sizeof(msg)) &&
			 (!(data = mp_get(&u[a].data, "snapshot")) || data->type != MSGPACK_OBJECT_BIN))
			snprintf(msg, sizeof(msg), "agent %s: no snapshot in its answer", an->node);
		if (msg[0] && warnings)
			warnings[nwarn++] = strdup(msg);
		else
			nfiles++;
	}
	msgpack_pack_map(&pk, 4);
	mp_pack_str(&pk, "type"); mp_pack_str(&pk, nfiles ? "snapshots" : "error");
	mp_pack_str(&pk, "id"); msgpack_pack_int64(&pk, q->request_id);
	if (nfiles) {
		mp_pack_str(&pk, "files");
		msgpack_pack_array(&pk, nfiles);
		for (int a = 0; a < q->nanswers; a++) {
			const msgpack_object *data = q->answers[a].msg ? mp_get(&u[a].data, "snapshot") : NULL;
			if (!data || data->type != MSGPACK_OBJECT_BIN)
				continue;
			msgpack_pack_map(&pk, 2);
			mp_pack_str(&pk, "node"); mp_pack_str(&pk, q->answers[a].node);
			mp_pack_str(&pk, "data");
			msgpack_pack_bin(&pk, data->via.bin.size);
			msgpack_pack_bin_body(&pk, data->via.bin.ptr, data->via.bin.size);
		}
		mp_pack_str(&pk, "warnings");
		pack_str_array(&pk, warnings, nwarn);
	} else {
		mp_pack_str(&pk, "message");
		mp_pack_str(&pk, nwarn ? warnings[0] : "no agent answered");
		mp_pack_str(&pk, "log"); mp_pack_str(&pk, "");
	}
	for (int a = 0; u && a < q->nanswers; a++)
		msgpack_unpacked_destroy(&u[a]);
	for (int w = 0; w < nwarn; w++)
		free(warnings[w]);
	free(warnings);
	free(u);
	inbox_post(q->c->d->inbox, merge_done, q);
}

/* A new query for client session s's request id, linked into c; NULL (error sent) on OOM. */
static struct query *query_new(struct coordinator *c, struct session *s, int64_t id, int64_t timeout_ms)
{
	struct query *q = calloc(1, sizeof(*q));
	if (!q) {
		send_error(s, id, "out of memory");
		return NULL;
	}
	q->c = c;
	q->qid = ++c->next_qid;
	q->client = s->id;
	q->request_id = id;
	q->started_ns = mono_now_ns();
	q->now_ns = wall_now_ns();
	q->max_rows = 10000;
	q->timeout_ms = timeout_ms;
	q->mem_limit_mb = QUERY_DEFAULT_MEM_MB;
	msgpack_sbuffer_init(&q->exec_msg);
	msgpack_sbuffer_init(&q->reply);
	q->next = c->queries;
	c->queries = q;
	return q;
}

static void handle_snapshot(struct coordinator *c, struct session *s, const msgpack_object *m, int64_t id)
{
	char start[64] = "-5m", end[64] = "now";
	int64_t t0, t1, v;
	struct query *q = query_new(c, s, id, 60000);
	if (!q)
		return;
	q->snapshot = true;
	mp_str(mp_get(m, "start"), start, sizeof(start));
	mp_str(mp_get(m, "end"), end, sizeof(end));
	if (mp_int(mp_get(m, "timeout_ms"), &v) && v > 0)
		q->timeout_ms = v > 600000 ? 600000 : v;
	if (parse_time(start, q->now_ns, &t0) < 0 || parse_time(end, q->now_ns, &t1) < 0 || t1 <= t0) {
		send_error(s, id, "snapshot: bad time range '%s' .. '%s'", start, end);
		query_free(q);
		return;
	}
	msgpack_packer pk;
	msgpack_packer_init(&pk, &q->exec_msg, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	mp_pack_str(&pk, "type"); mp_pack_str(&pk, "snapshot");
	mp_pack_str(&pk, "qid"); msgpack_pack_uint64(&pk, q->qid);
	mp_pack_str(&pk, "t0"); msgpack_pack_int64(&pk, t0);
	mp_pack_str(&pk, "t1"); msgpack_pack_int64(&pk, t1 + 1);
	fan_out(q);
}

/* ---- requests -------------------------------------------------------------------------------- */

static void handle_run(struct coordinator *c, struct session *s, const msgpack_object *m, int64_t id)
{
	const msgpack_object *script = mp_get(m, "script"), *args = mp_get(m, "args");
	int64_t v;
	struct query *q = query_new(c, s, id, 10000);
	if (!q)
		return;
	if (!mp_str(mp_get(m, "name"), q->name, sizeof(q->name)))
		snprintf(q->name, sizeof(q->name), "script.lua");
	if (mp_int(mp_get(m, "max_rows"), &v) && v > 0)
		q->max_rows = v;
	if (mp_int(mp_get(m, "timeout_ms"), &v) && v > 0)
		q->timeout_ms = v > 600000 ? 600000 : v;
	if (mp_int(mp_get(m, "mem_limit_mb"), &v) && v > 0)
		q->mem_limit_mb = v > QUERY_MAX_MEM_MB ? QUERY_MAX_MEM_MB : v;
	if (!script || script->type != MSGPACK_OBJECT_STR) {
		send_error(s, id, "run: the request has no script");
		query_free(q);
		return;
	}
	if (!(q->script = malloc(script->via.str.size + 1))) {
		send_error(s, id, "out of memory");
		query_free(q);
		return;
	}
	memcpy(q->script, script->via.str.ptr, script->via.str.size);
	q->script[script->via.str.size] = '\0';
	q->script_len = script->via.str.size;
	if (args && args->type == MSGPACK_OBJECT_ARRAY && args->via.array.size <= 256) {
		q->argv = calloc(args->via.array.size + 1, sizeof(char *));
		for (uint32_t i = 0; q->argv && i < args->via.array.size; i++) {
			const msgpack_object *a = &args->via.array.ptr[i];
			if (a->type != MSGPACK_OBJECT_STR)
				continue;
			q->argv[q->argc] = strndup(a->via.str.ptr, a->via.str.size);
			if (q->argv[q->argc])
				q->argc++;
		}
	}
	q->busy = true;
	if (jobs_submit(c->d->jobs, compile_run, q) < 0) {
		send_error(s, id, "out of memory");
		query_free(q);
	}
}

static void pack_agent(msgpack_packer *pk, struct wispd *d, const char *node, bool local, const char *addr,
		       int64_t connected_ns, int64_t last_seen_ns, const msgpack_sbuffer *status)
{
	int64_t now = mono_now_ns();
	msgpack_pack_map(pk, 6);
	mp_pack_str(pk, "node"); mp_pack_str(pk, node);
	mp_pack_str(pk, "kind"); mp_pack_str(pk, local ? "local" : "remote");
	mp_pack_str(pk, "address"); mp_pack_str(pk, addr);
	mp_pack_str(pk, "connected_s"); msgpack_pack_double(pk, (double)(now - connected_ns) / 1e9);
	mp_pack_str(pk, "last_seen_s"); msgpack_pack_double(pk, local ? 0.0 : (double)(now - last_seen_ns) / 1e9);
	mp_pack_str(pk, "status");
	if (local)
		agent_pack_status(d, pk);
	else if (status->size)
		msgpack_sbuffer_write(pk->data, status->data, status->size);
	else
		msgpack_pack_map(pk, 0);
}

static void handle_agents(struct coordinator *c, struct session *s, int64_t id)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int n = c->d->ring ? 1 : 0;
	for (struct session *a = c->sessions; a; a = a->next)
		n += a->role == ROLE_AGENT;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	mp_pack_str(&pk, "type"); mp_pack_str(&pk, "agents");
	mp_pack_str(&pk, "id"); msgpack_pack_int64(&pk, id);
	mp_pack_str(&pk, "coordinator"); mp_pack_str(&pk, c->d->node);
	mp_pack_str(&pk, "agents");
	msgpack_pack_array(&pk, n);
	if (c->d->ring)
		pack_agent(&pk, c->d, c->d->node, true, "in-process", c->d->started_ns, 0, NULL);
	for (struct session *a = c->sessions; a; a = a->next)
		if (a->role == ROLE_AGENT)
			pack_agent(&pk, c->d, a->node, false, a->addr, a->connected_ns, a->last_seen_ns, &a->status);
	send_sbuf(s, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static void store_status(struct session *s, const msgpack_object *status)
{
	if (!status || status->type != MSGPACK_OBJECT_MAP)
		return;
	msgpack_sbuffer_clear(&s->status);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &s->status, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, *status);
}

static bool node_taken(struct coordinator *c, struct session *self, const char *node)
{
	if (c->d->ring && !strcmp(c->d->node, node))
		return true;
	for (struct session *s = c->sessions; s; s = s->next)
		if (s != self && s->role == ROLE_AGENT && !strcmp(s->node, node))
			return true;
	return false;
}

static void agent_gone(struct coordinator *c, struct session *s, const char *why)
{
	struct query *next;
	for (struct query *q = c->queries; q; q = next) {
		next = q->next;
		for (int i = 0; i < q->nanswers; i++)
			if (q->answers[i].session == s->id && !q->answers[i].done) {
				answer_arrived(q, &q->answers[i], NULL, 0, why);
				break;
			}
	}
}

static int handle_message(struct coordinator *c, struct session *s, const char *data, size_t len)
{
	msgpack_unpacked u;
	char type[32] = "";
	int64_t id = 0;
	int rc = 0;
	msgpack_unpacked_init(&u);
	if (!mp_unpack(&u, data, len) || u.data.type != MSGPACK_OBJECT_MAP ||
	    !mp_str(mp_get(&u.data, "type"), type, sizeof(type))) {
		send_error(s, 0, "malformed message: expected a msgpack map with a \"type\"");
		goto out;
	}
	mp_int(mp_get(&u.data, "id"), &id);
	s->last_seen_ns = mono_now_ns();
	if (!strcmp(type, "hello")) {
		char role[16] = "", node[64] = "";
		mp_str(mp_get(&u.data, "role"), role, sizeof(role));
		if (!strcmp(role, "client")) {
			s->role = ROLE_CLIENT;
		} else if (!strcmp(role, "agent") && mp_str(mp_get(&u.data, "node"), node, sizeof(node)) && node[0]) {
			if (node_taken(c, s, node)) {
				send_error(s, 0, "node name '%s' is already registered; give this agent another --node", node);
				rc = -1;
				goto out;
			}
			s->role = ROLE_AGENT;
			snprintf(s->node, sizeof(s->node), "%s", node);
			store_status(s, mp_get(&u.data, "status"));
			msgpack_sbuffer sb;
			msgpack_packer pk;
			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			msgpack_pack_map(&pk, 2);
			mp_pack_str(&pk, "type"); mp_pack_str(&pk, "welcome");
			mp_pack_str(&pk, "coordinator"); mp_pack_str(&pk, c->d->node);
			send_sbuf(s, &sb);
			msgpack_sbuffer_destroy(&sb);
			fprintf(stderr, "wispd: agent %s connected from %s\n", s->node, s->addr);
		} else {
			send_error(s, id, "hello: role must be \"client\" or \"agent\" (agents need a node name)");
		}
	} else if (s->role == ROLE_AGENT && !strcmp(type, "heartbeat")) {
		store_status(s, mp_get(&u.data, "status"));
	} else if (s->role == ROLE_AGENT && !strcmp(type, "result")) {
		int64_t qid = 0;
		mp_int(mp_get(&u.data, "qid"), &qid);
		for (struct query *q = c->queries; q; q = q->next) {
			if (q->qid != (uint64_t)qid)
				continue;
			for (int i = 0; i < q->nanswers; i++)
				if (q->answers[i].session == s->id) {
					char *copy = malloc(len);
					if (copy)
						memcpy(copy, data, len);
					answer_arrived(q, &q->answers[i], copy, copy ? len : 0, copy ? NULL : "out of memory");
					break;
				}
			break;
		}
	} else if (s->role != ROLE_AGENT && !strcmp(type, "run")) {
		s->role = ROLE_CLIENT;
		handle_run(c, s, &u.data, id);
	} else if (s->role != ROLE_AGENT && !strcmp(type, "snapshot")) {
		s->role = ROLE_CLIENT;
		handle_snapshot(c, s, &u.data, id);
	} else if (s->role != ROLE_AGENT && !strcmp(type, "agents")) {
		s->role = ROLE_CLIENT;
		handle_agents(c, s, id);
	} else {
		send_error(s, id, "unknown request type '%s'", type);
	}
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}

/* ---- lws protocol --------------------------------------------------------------------------- */

static int coord_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wispd *d = lws_context_user(lws_get_context(wsi));
	struct coordinator *c = d ? d->coord : NULL;
	struct session *s = user;
	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (d)
			inbox_drain(d->inbox);
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
		size_t max = s->role == ROLE_AGENT ? WISP_MAX_MESSAGE : WISP_CLIENT_MAX_MESSAGE;
		int r = ws_peer_receive(&s->peer, in, len, max);
		if (r < 0) {
			send_error(s, 0, "message too large (limit %zu MiB)", max >> 20);
			break;
		}
		if (r == 1) {
			int rc = handle_message(c, s, s->peer.rx, s->peer.rx_len);
			ws_peer_consume(&s->peer);
			if (rc < 0) {
				lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, 1);
			}
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
		if (c && s->role == ROLE_AGENT && !d->stop) {
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

const struct lws_protocols coordinator_protocol = {WISP_PROTOCOL, coord_callback, sizeof(struct session),
						   65536, 0, NULL, 0};

struct coordinator *coordinator_new(struct wispd *d)
{
	struct coordinator *c = calloc(1, sizeof(*c));
	if (!c || !(c->scripts = script_pool_new("/proc/self/exe", SCRIPT_HELPERS))) {
		free(c);
		return NULL;
	}
	c->d = d;
	return c;
}

void coordinator_free(struct coordinator *c)
{
	if (!c)
		return;
	while (c->queries)
		query_free(c->queries);
	script_pool_free(c->scripts);
	free(c);
}
