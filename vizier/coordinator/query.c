/* query.c - a query's life on the coordinator (see coord_internal.h): made from a client's
 * request, its script compiled on a worker in a script helper, its plan fanned out to every
 * agent (the in-process one through a worker), answers gathered (and decoded on a worker as they
 * arrive) until all arrived or the deadline passed, then handed to the merge. */
#include "coord_internal.h"
#include "agent/agent.h"
#include "net/service.h"
#include "engine/plan.h"
#include "lua/script.h"
#include "core/clock.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct query *query_new(struct coordinator *c, uint64_t client, int64_t id, int64_t timeout_ms)
{
	struct query *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->c = c;
	service_work_begin(c->svc);
	q->qid = ++c->next_qid;
	q->client = client;
	q->request_id = id;
	q->started_ns = mono_now_ns();
	q->now_ns = wall_now_ns();
	q->max_rows = QUERY_MAX_ROWS;
	q->timeout_ms = timeout_ms;
	q->mem_limit_mb = QUERY_MEM_MB;
	msgpack_sbuffer_init(&q->exec_msg);
	msgpack_sbuffer_init(&q->reply);
	q->next = c->queries;
	c->queries = q;
	return q;
}

void query_free(struct query *q)
{
	struct coordinator *c = q->c;
	metrics_query_ended(c, q);
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
	if (!q->live)
		plan_free(q->plan);
	free(q->ranges);
	msgpack_sbuffer_destroy(&q->exec_msg);
	msgpack_sbuffer_destroy(&q->reply);
	free(q->log);
	for (int i = 0; i < q->nanswers; i++)
		free(q->answers[i].msg);
	free(q->answers);
	if (q->merge && q->merge->q)
		merge_end(q->merge);
	free(q->merge);
	free(q->batch);
	service_work_end(c->svc);
	free(q);
}

void query_fail(struct query *q, const char *msg)
{
	q->outcome = QUERY_FAILED;
	if (q->live)
		live_tick_failed(q, msg);
	else
		session_error(session_by_id(q->c, q->client), q->request_id, "%s", msg);
	query_free(q);
}

/* ---- answers --------------------------------------------------------------------------------- */

static void start_merge(struct query *q)
{
	assert(!q->busy && q->pending == 0);
	lws_sul_cancel(&q->deadline_sul);
	q->busy = true;
	if (jobs_submit(q->c->svc->jobs, q->snapshot ? snapshot_collect : q->live ? live_merge_run : merge_run, q) < 0) {
		q->busy = false;
		query_fail(q, "out of memory");
	}
}

/* Answers are decoded as they arrive, on a worker, a batch at a time: the answers that arrived
 * while no task held the query go to it in q->batch (the worker reads only those, which the
 * service thread no longer writes), and the merge after the last answer has only what arrived
 * meanwhile left to decode. */
void query_advance(struct query *q)
{
	if (q->busy)
		return;
	if (q->pending == 0) {
		start_merge(q);
		return;
	}
	if (!q->merge)
		return;
	q->nbatch = 0;
	for (int i = 0; i < q->nanswers; i++)
		if (q->answers[i].done && !q->answers[i].taken) {
			q->answers[i].taken = true;
			q->batch[q->nbatch++] = i;
		}
	if (q->nbatch == 0)
		return;
	q->busy = true;
	if (jobs_submit(q->c->svc->jobs, merge_decode_some, q) < 0)
		q->busy = false; /* the merge decodes them */
}

/* Records agent a's answer (msg, owned from now on) or why there is none (err). */
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
	query_advance(q);
}

static void deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct query *q = lws_container_of(sul, struct query, deadline_sul);
	char err[128];
	snprintf(err, sizeof(err), "did not answer within %lld ms", (long long)q->timeout_ms);
	for (int i = 0, n = q->nanswers; i < n; i++) {
		if (q->answers[i].done)
			continue;
		bool last = q->pending == 1;
		answer_arrived(q, &q->answers[i], NULL, 0, err);
		if (last)
			return; /* q now belongs to its merge (or is gone) */
	}
}

void result_arrived(struct coordinator *c, struct session *s, const struct proto_msg *m, const char *data, size_t len)
{
	int64_t qid = 0;
	mp_int(mp_get(m->obj, "qid"), &qid);
	for (struct query *q = c->queries; q; q = q->next) {
		if (q->qid != (uint64_t)qid)
			continue;
		for (int i = 0; i < q->nanswers; i++) {
			if (q->answers[i].session != s->id)
				continue;
			char err[160];
			size_t limit = (size_t)q->mem_limit_mb << 20;
			if (q->answers[i].done) /* late, or a second answer */
				break;
			if (q->held_bytes + len > limit) {
				snprintf(err, sizeof(err), "its answer (%zu MiB) does not fit in the query's memory limit (%lld MiB)",
					 len >> 20, (long long)q->mem_limit_mb);
				answer_arrived(q, &q->answers[i], NULL, 0, err);
				break;
			}
			char *copy = malloc(len);
			if (copy) {
				memcpy(copy, data, len);
				q->held_bytes += len;
			}
			answer_arrived(q, &q->answers[i], copy, copy ? len : 0, copy ? NULL : "out of memory");
			break;
		}
		break;
	}
}

void agent_gone(struct coordinator *c, struct session *s, const char *why)
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

/* ---- the in-process agent (standalone) ------------------------------------------------------- */

/* The local agent's answer being made on a worker; freed by its completion. */
struct local_exec {
	struct query *q;
	struct proto_buf out;
};

static void local_exec_done(void *arg)
{
	struct local_exec *le = arg;
	struct query *q = le->q;
	q->busy = false;
	char *msg = le->out.sb.data; /* take the buffer */
	size_t len = le->out.sb.size;
	free(le);
	for (int i = 0; i < q->nanswers; i++)
		if (q->answers[i].session == 0) {
			if (msg && !q->answers[i].done) /* held as a remote answer is, until decoded */
				q->held_bytes += len;
			answer_arrived(q, &q->answers[i], msg, len, NULL);
			return;
		}
	free(msg);
}

static void local_exec_run(void *arg)
{
	struct local_exec *le = arg;
	struct proto_msg m;
	proto_buf_init(&le->out);
	if (proto_msg_parse(&m, le->q->exec_msg.data, le->q->exec_msg.size) == 0)
		agent_answer(le->q->c->local, &m, &le->out);
	proto_msg_destroy(&m);
	inbox_post(le->q->c->svc->inbox, local_exec_done, le);
}

/* ---- fan-out --------------------------------------------------------------------------------- */

void fan_out(struct query *q)
{
	struct coordinator *c = q->c;
	int n = agent_count(c);
	if (n == 0 && !q->live) { /* (a live tick goes on: its window slides, with a warning) */
		query_fail(q, "no agents are connected to this coordinator");
		return;
	}
	bool incremental = !q->live && !q->snapshot;
	if (!(q->answers = calloc(n + 1, sizeof(*q->answers))) ||
	    (incremental && (!(q->merge = calloc(1, sizeof(*q->merge))) || !(q->batch = calloc(n + 1, sizeof(int)))))) {
		query_fail(q, "out of memory");
		return;
	}
	for (struct session *s = c->sessions; s; s = s->next) {
		if (s->role != ROLE_AGENT)
			continue;
		struct answer *a = &q->answers[q->nanswers++];
		a->session = s->id;
		snprintf(a->node, sizeof(a->node), "%s", s->node);
		agent_doubt(s, a->doubt, sizeof(a->doubt));
		session_send(s, &q->exec_msg);
	}
	q->pending = q->nanswers;
	q->fanned_ns = mono_now_ns();
	if (n == 0) {
		start_merge(q);
		return;
	}
	lws_sul_schedule(c->svc->ctx, 0, &q->deadline_sul, deadline_cb, (q->timeout_ms + 500) * LWS_US_PER_MS);
	/* Last: when the in-process agent cannot even start, its answer may complete the query. */
	if (c->local) {
		struct local_exec *le = calloc(1, sizeof(*le));
		struct answer *a = &q->answers[q->nanswers++];
		a->session = 0;
		snprintf(a->node, sizeof(a->node), "%s", agent_node(c->local));
		q->pending++;
		if (!le || (le->q = q, q->busy = true, jobs_submit(c->svc->jobs, local_exec_run, le) < 0)) {
			free(le);
			q->busy = false;
			answer_arrived(q, a, NULL, 0, "out of memory");
		}
	}
}

/* ---- run: compile (worker), then fan out ----------------------------------------------------- */

static void compiled(void *arg)
{
	struct query *q = arg;
	assert(q->busy);
	struct session *client = session_by_id(q->c, q->client);
	q->busy = false;
	q->compiled_ns = mono_now_ns();
	if (q->err[0]) {
		struct proto_buf b;
		proto_buf_init(&b);
		proto_pack_error(&b.pk, q->request_id, q->err, q->log ? q->log : "");
		session_send(client, &b.sb);
		proto_buf_destroy(&b);
		query_free(q);
		return;
	}
	fan_out(q);
}

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
			proto_pack_exec(&pk, q->qid, q->timeout_ms, q->mem_limit_mb, q->plan);
		}
	}
	inbox_post(q->c->svc->inbox, compiled, q);
}

void handle_run(struct coordinator *c, struct session *s, const struct proto_msg *m)
{
	struct run_request r;
	char err[256];
	if (proto_read_run(m->obj, m->id, &r, err, sizeof(err)) < 0) {
		session_error(s, m->id, "%s", err);
		return;
	}
	struct query *q = query_new(c, s->id, m->id, r.timeout_ms);
	if (!q) {
		session_error(s, m->id, "out of memory");
		return;
	}
	snprintf(q->name, sizeof(q->name), "%s", r.name);
	q->max_rows = r.max_rows;
	q->mem_limit_mb = r.mem_limit_mb;
	if (!(q->script = malloc(r.script_len + 1)) || !(q->argv = proto_read_args(r.args, &q->argc))) {
		session_error(s, m->id, "out of memory");
		query_free(q);
		return;
	}
	memcpy(q->script, r.script, r.script_len);
	q->script[r.script_len] = '\0';
	q->script_len = r.script_len;
	q->busy = true;
	if (jobs_submit(c->svc->jobs, compile_run, q) < 0) {
		session_error(s, m->id, "out of memory");
		query_free(q);
	}
}
