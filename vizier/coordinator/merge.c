/* merge.c - turning a query's answers into the client's reply, on workers: decode each agent's
 * partial results as they arrive (merge_decode_some, a batch at a time, query.c's
 * query_advance), then after the last run the rest of the plan over them (exec_finish) and pack
 * the result with its statistics (merge_run).
 *
 * An agent's answer never fails the query alone while another agent answered: an answer that is
 * missing, an error, malformed, of the wrong shape, larger than the query's memory allows, or that
 * cannot be merged (a sum that overflows, a negative count) is dropped with a warning that names
 * the agent, and the others are merged without it. Each answer's message is freed as soon as it is
 * decoded, so the coordinator holds the decoded tables, the messages not yet decoded and one
 * agent's unpacked message at a time. Live ticks (live.c) decode the same way (merge_begin ..
 * merge_end), all after the last answer, and fold the result into their window. */
#include "coord_internal.h"
#include "net/service.h"
#include "engine/codec.h"
#include "engine/exec.h"
#include "core/clock.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CLI waits the query's timeout and 5 s more: the merge may use all but a second of it. */
#define MERGE_GRACE_MS 4000

void merge_warn(struct merge *m, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	if (!m->warnings || m->nwarn >= m->maxwarn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((m->warnings[m->nwarn] = strdup(msg)))
		m->nwarn++;
}

void merge_drop_agent(struct merge *m, int a)
{
	m->answered[a] = false;
	for (int b = 0; b < m->ntables; b++) {
		struct table *t = m->inputs[b][a];
		if (!t)
			continue;
		size_t bytes = table_bytes(t);
		m->qc.mem_used -= bytes < m->qc.mem_used ? bytes : m->qc.mem_used;
		table_free(t);
		m->inputs[b][a] = NULL;
	}
}

/* Decodes agent a's answer into inputs[i][a] for every table i. 1 when it answered; 0 with the
 * reason in why when it did not, or what it sent is unusable. */
static int decode_answer(struct merge *m, int a, char *why, size_t whylen)
{
	const struct plan *p = m->q->plan;
	const struct answer *an = &m->q->answers[a];
	struct agent_result r;
	msgpack_unpacked u, uz;
	size_t unpacked = 0; /* bytes charged for the unpacked message while it lives */
	char *plain = NULL;  /* its tables, when they came compressed */
	size_t plain_len = 0;
	int ok = 0;
	if (!an->msg) {
		snprintf(why, whylen, "%s", an->err[0] ? an->err : "no answer");
		return 0;
	}
	msgpack_unpacked_init(&u);
	msgpack_unpacked_init(&uz);
	/* Unpacked, the message takes about one msgpack_object per object: held only while decoding,
	 * but within the query's memory all the same. */
	size_t need = (size_t)mp_objects(an->msg, an->len) * sizeof(msgpack_object);
	if (!need) {
		snprintf(why, whylen, "malformed result");
		goto out;
	}
	if (qctx_check(&m->qc, need) < 0) {
		snprintf(why, whylen, "its answer (%zu MiB unpacked) does not fit in the query's memory limit (%zu MiB)",
			 need >> 20, m->qc.mem_limit >> 20);
		m->qc.err[0] = '\0';
		goto out;
	}
	m->qc.mem_used += unpacked = need;
	if (!mp_unpack_counted(&u, an->msg, an->len)) {
		snprintf(why, whylen, "malformed result");
		goto out;
	}
	proto_read_agent_result(&u.data, &r);
	if (r.error) {
		snprintf(why, whylen, "%s", r.error[0] ? r.error : "an error without a message");
		goto out;
	}
	if (r.tables_zstd) { /* expanded and unpacked within the query's memory, like the message */
		size_t room = !m->qc.mem_limit ? PROTO_MAX_ANSWER
			      : m->qc.mem_limit > m->qc.mem_used ? m->qc.mem_limit - m->qc.mem_used : 0;
		if (!(plain = proto_result_unzstd(&r, room, &plain_len, why, whylen)))
			goto out;
		m->qc.mem_used += plain_len;
		unpacked += plain_len;
		size_t need_z = (size_t)mp_objects(plain, plain_len) * sizeof(msgpack_object);
		if (!need_z || qctx_check(&m->qc, need_z) < 0 || !mp_unpack_counted(&uz, plain, plain_len) ||
		    uz.data.type != MSGPACK_OBJECT_ARRAY) {
			snprintf(why, whylen, "%s", need_z && m->qc.err[0] ? m->qc.err : "malformed compressed tables");
			m->qc.err[0] = '\0';
			goto out;
		}
		m->qc.mem_used += need_z;
		unpacked += need_z;
		r.tables = &uz.data;
	}
	if (r.exec_us >= 0 && (double)r.exec_us / 1e3 > m->st.slowest_exec_ms) {
		m->st.slowest_exec_ms = (double)r.exec_us / 1e3;
		snprintf(m->st.slowest_node, sizeof(m->st.slowest_node), "%s", an->node);
	}
	if (!r.tables || r.tables->via.array.size != (uint32_t)m->ntables) {
		snprintf(why, whylen, "result has the wrong number of tables");
		goto out;
	}
	for (int i = 0; i < m->ntables; i++) {
		if (codec_unpack_table(&m->qc, &r.tables->via.array.ptr[i], &m->inputs[i][a]) < 0) {
			snprintf(why, whylen, "%s", m->qc.err);
			m->qc.err[0] = '\0';
			goto out;
		}
		if (exec_check_input(p, i % p->nbridges, m->inputs[i][a], why, whylen) < 0)
			goto out;
	}
	ok = 1;
out:
	msgpack_unpacked_destroy(&uz);
	msgpack_unpacked_destroy(&u);
	free(plain);
	m->qc.mem_used -= unpacked;
	if (!ok)
		merge_drop_agent(m, a);
	return ok;
}

/* exec_finish, again without any agent whose input it could not merge. 0, or -1 (error in qc). */
static int finish(struct merge *m, struct table **outs, bool *trunc)
{
	const struct plan *p = m->q->plan;
	for (;;) {
		size_t used = m->qc.mem_used;
		m->qc.bad_input = -1;
		if (exec_finish(&m->qc, p, (struct table *const *const *)m->inputs, m->q->nanswers, outs, trunc) == 0)
			return 0;
		m->qc.mem_used = used; /* what the failed attempt held is freed */
		int a = m->qc.bad_input;
		if (a < 0 || m->st.answered <= 1)
			return -1;
		merge_warn(m, "agent %s: answer dropped: %s", m->q->answers[a].node, m->qc.err);
		m->qc.err[0] = '\0';
		merge_drop_agent(m, a);
		m->st.answered--;
	}
}

int merge_begin(struct merge *m, struct query *q, int ntables, int extra_warnings)
{
	int nagents = q->nanswers;
	*m = (struct merge){.q = q, .ntables = ntables, .st = {.agents = nagents, .slowest_exec_ms = -0.001}};
	qctx_init(&m->qc);
	m->qc.max_rows = (size_t)q->max_rows;
	m->qc.mem_limit = (size_t)q->mem_limit_mb << 20;
	m->qc.deadline_ns = q->started_ns + (q->timeout_ms + MERGE_GRACE_MS) * 1000000LL;
	m->maxwarn = nagents * 2 + extra_warnings + 1;
	m->inputs = calloc(ntables ? ntables : 1, sizeof(*m->inputs));
	m->warnings = calloc(m->maxwarn, sizeof(*m->warnings));
	m->answered = calloc(nagents ? nagents : 1, sizeof(*m->answered));
	m->decoded = calloc(nagents ? nagents : 1, sizeof(*m->decoded));
	m->last_ns = q->fanned_ns;
	if (!m->inputs || !m->warnings || !m->answered || !m->decoded)
		return qctx_fail(&m->qc, "out of memory");
	for (int i = 0; i < ntables; i++)
		if (!(m->inputs[i] = calloc(nagents ? nagents : 1, sizeof(struct table *))))
			return qctx_fail(&m->qc, "out of memory");
	return 0;
}

/* Decodes agent a's answer (or its absence) once: counts it, or warns naming the agent; then
 * frees its message (m->freed tells the service thread). */
static void decode_one(struct merge *m, int a)
{
	struct answer *an = &m->q->answers[a];
	char why[600] = "";
	assert(!m->decoded[a]);
	m->decoded[a] = true;
	m->st.bytes_in += an->len;
	if (an->msg && an->arrived_ns > m->last_ns)
		m->last_ns = an->arrived_ns;
	if (decode_answer(m, a, why, sizeof(why))) {
		m->answered[a] = true;
		m->st.answered++;
		if (an->doubt[0])
			merge_warn(m, "agent %s: %s", an->node, an->doubt);
	} else {
		merge_warn(m, "agent %s: %s", an->node, why);
		if (!m->first_err[0])
			snprintf(m->first_err, sizeof(m->first_err), "agent %s: %s", an->node, why);
	}
	if (an->msg)
		m->freed += an->len;
	free(an->msg);
	an->msg = NULL;
}

int merge_decode_all(struct merge *m, int64_t *last_ns)
{
	for (int a = 0; a < m->q->nanswers; a++)
		if (!m->decoded[a])
			decode_one(m, a);
	*last_ns = m->last_ns;
	if (m->st.answered == 0)
		return qctx_fail(&m->qc, "%s", m->first_err[0] ? m->first_err : "no agent answered");
	return 0;
}

/* The merge of a query's answers, begun by whichever task comes first. 0, or -1 (error in m->qc). */
static int merge_of(struct query *q)
{
	struct merge *m = q->merge;
	if (!m->q && merge_begin(m, q, q->plan->nbridges, q->plan->ndisplays) < 0)
		return -1;
	return qctx_failed(&m->qc) ? -1 : 0;
}

static void merge_decoded(void *arg)
{
	struct query *q = arg;
	assert(q->busy);
	q->busy = false;
	assert(q->merge->freed <= q->held_bytes);
	q->held_bytes -= q->merge->freed;
	q->merge->freed = 0;
	query_advance(q);
}

void merge_decode_some(void *arg)
{
	struct query *q = arg;
	if (merge_of(q) == 0)
		for (int i = 0; i < q->nbatch; i++)
			decode_one(q->merge, q->batch[i]);
	inbox_post(q->c->svc->inbox, merge_decoded, q);
}

void merge_end(struct merge *m)
{
	for (int i = 0; m->inputs && i < m->ntables; i++) {
		for (int a = 0; m->inputs[i] && a < m->q->nanswers; a++)
			table_free(m->inputs[i][a]);
		free(m->inputs[i]);
	}
	for (int w = 0; m->warnings && w < m->nwarn; w++)
		free(m->warnings[w]);
	free(m->warnings);
	free(m->inputs);
	free(m->answered);
	free(m->decoded);
	qctx_destroy(&m->qc);
	m->q = NULL;
}

void merge_run(void *arg)
{
	struct query *q = arg;
	struct plan *p = q->plan;
	struct merge *m = q->merge; /* begun by a decoding task, or here */
	struct table **outs = calloc(p->ndisplays, sizeof(*outs));
	bool *trunc = calloc(p->ndisplays, sizeof(*trunc));
	msgpack_packer pk;
	int64_t merge_start = mono_now_ns(), last_ns = q->fanned_ns;

	msgpack_sbuffer_init(&q->reply);
	msgpack_packer_init(&pk, &q->reply, msgpack_sbuffer_write);
	if (merge_of(q) < 0 || merge_decode_all(m, &last_ns) < 0)
		goto reply;
	if (!outs || !trunc) {
		qctx_fail(&m->qc, "out of memory");
		goto reply;
	}
	if (finish(m, outs, trunc) < 0)
		goto reply;
	for (int d = 0; d < p->ndisplays; d++) {
		m->st.rows += outs[d]->nrows;
		if (trunc[d])
			merge_warn(m, "table %s truncated to %lld rows (raise with --max-rows)", p->displays[d].name,
				   (long long)q->max_rows);
	}
reply:
	q->outcome = qctx_failed(&m->qc) ? QUERY_FAILED : QUERY_OK;
	if (qctx_failed(&m->qc)) {
		proto_pack_error(&pk, q->request_id, m->qc.err, q->log ? q->log : "");
	} else {
		int64_t now = mono_now_ns();
		m->st.compile_ms = (double)(q->compiled_ns - q->started_ns) / 1e6;
		m->st.agents_ms = (double)(last_ns - q->fanned_ns) / 1e6;
		m->st.merge_ms = (double)(now - merge_start) / 1e6;
		m->st.ms = (double)(now - q->started_ns) / 1e6;
		proto_pack_result(&pk, q->request_id, outs, p->ndisplays, m->warnings, m->nwarn, q->log ? q->log : "",
				  &m->st);
	}
	for (int d = 0; outs && d < p->ndisplays; d++)
		table_free(outs[d]);
	free(outs);
	free(trunc);
	merge_end(m);
	inbox_post(q->c->svc->inbox, merge_done, q);
}

void merge_done(void *arg)
{
	struct query *q = arg;
	assert(q->busy);
	q->busy = false;
	session_send(session_by_id(q->c, q->client), &q->reply);
	query_free(q);
}
