/* merge.c - turning a query's answers into the client's reply, on a worker: decode every agent's
 * partial results, run the rest of the plan over them (exec_finish), and pack the result with its
 * statistics.
 *
 * An agent's answer never fails the query alone while another agent answered: an answer that is
 * missing, an error, malformed, of the wrong shape, larger than the query's memory allows, or that
 * cannot be merged (a sum that overflows, a negative count) is dropped with a warning that names
 * the agent, and the others are merged without it. Each answer's msgpack is freed as soon as it is
 * decoded, so the coordinator holds one agent's unpacked message at a time. */
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

struct merge {
	struct query *q;
	struct qctx qc;
	struct table ***inputs;  /* inputs[b][a]: agent a's table for bridge b, or NULL */
	char **warnings;
	int nwarn;
	struct query_stats st;
};

static void warn(struct merge *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct merge *m, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((m->warnings[m->nwarn] = strdup(msg)))
		m->nwarn++;
}

/* Drops agent a's tables (and gives their memory back to the query). */
static void drop_agent(struct merge *m, int a)
{
	for (int b = 0; b < m->q->plan->nbridges; b++) {
		struct table *t = m->inputs[b][a];
		if (!t)
			continue;
		size_t bytes = table_bytes(t);
		m->qc.mem_used -= bytes < m->qc.mem_used ? bytes : m->qc.mem_used;
		table_free(t);
		m->inputs[b][a] = NULL;
	}
}

/* Decodes agent a's answer into inputs[b][a] for every bridge b. 1 when it answered; 0 with the
 * reason in why when it did not, or what it sent is unusable. */
static int decode_answer(struct merge *m, int a, char *why, size_t whylen)
{
	const struct plan *p = m->q->plan;
	const struct answer *an = &m->q->answers[a];
	struct agent_result r;
	msgpack_unpacked u;
	size_t unpacked = 0; /* bytes charged for the unpacked message while it lives */
	int ok = 0;
	if (!an->msg) {
		snprintf(why, whylen, "%s", an->err[0] ? an->err : "no answer");
		return 0;
	}
	msgpack_unpacked_init(&u);
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
	if (!mp_unpack(&u, an->msg, an->len)) {
		snprintf(why, whylen, "malformed result");
		goto out;
	}
	proto_read_agent_result(&u.data, &r);
	if (r.error) {
		snprintf(why, whylen, "%s", r.error[0] ? r.error : "an error without a message");
		goto out;
	}
	if (r.exec_us >= 0 && (double)r.exec_us / 1e3 > m->st.slowest_exec_ms) {
		m->st.slowest_exec_ms = (double)r.exec_us / 1e3;
		snprintf(m->st.slowest_node, sizeof(m->st.slowest_node), "%s", an->node);
	}
	if (!r.tables || r.tables->via.array.size != (uint32_t)p->nbridges) {
		snprintf(why, whylen, "result has the wrong number of tables");
		goto out;
	}
	for (int b = 0; b < p->nbridges; b++) {
		if (codec_unpack_table(&m->qc, &r.tables->via.array.ptr[b], &m->inputs[b][a]) < 0) {
			snprintf(why, whylen, "%s", m->qc.err);
			m->qc.err[0] = '\0';
			goto out;
		}
		if (exec_check_input(p, b, m->inputs[b][a], why, whylen) < 0)
			goto out;
	}
	ok = 1;
out:
	msgpack_unpacked_destroy(&u);
	m->qc.mem_used -= unpacked;
	if (!ok)
		drop_agent(m, a);
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
		warn(m, "agent %s: answer dropped: %s", m->q->answers[a].node, m->qc.err);
		m->qc.err[0] = '\0';
		drop_agent(m, a);
		m->st.answered--;
	}
}

void merge_run(void *arg)
{
	struct query *q = arg;
	struct plan *p = q->plan;
	int nagents = q->nanswers;
	struct merge m = {.q = q, .st = {.agents = nagents, .slowest_exec_ms = -0.001}};
	struct table **outs = calloc(p->ndisplays, sizeof(*outs));
	bool *trunc = calloc(p->ndisplays, sizeof(*trunc));
	char first_err[700] = "";
	msgpack_packer pk;

	qctx_init(&m.qc);
	m.qc.max_rows = (size_t)q->max_rows;
	m.qc.mem_limit = (size_t)q->mem_limit_mb << 20;
	m.qc.deadline_ns = q->started_ns + (q->timeout_ms + MERGE_GRACE_MS) * 1000000LL;
	m.inputs = calloc(p->nbridges ? p->nbridges : 1, sizeof(*m.inputs));
	m.warnings = calloc(nagents * 2 + p->ndisplays + 1, sizeof(*m.warnings));
	int64_t merge_start = mono_now_ns(), last_ns = q->fanned_ns;
	msgpack_sbuffer_init(&q->reply);
	msgpack_packer_init(&pk, &q->reply, msgpack_sbuffer_write);
	if (!m.inputs || !outs || !trunc || !m.warnings) {
		qctx_fail(&m.qc, "out of memory");
		goto reply;
	}
	for (int b = 0; b < p->nbridges; b++)
		if (!(m.inputs[b] = calloc(nagents ? nagents : 1, sizeof(struct table *)))) {
			qctx_fail(&m.qc, "out of memory");
			goto reply;
		}
	for (int a = 0; a < nagents; a++) {
		const struct answer *an = &q->answers[a];
		char why[600] = "";
		m.st.bytes_in += an->len;
		if (an->msg && an->arrived_ns > last_ns)
			last_ns = an->arrived_ns;
		if (decode_answer(&m, a, why, sizeof(why))) {
			m.st.answered++;
			if (an->doubt[0])
				warn(&m, "agent %s: %s", an->node, an->doubt);
			continue;
		}
		warn(&m, "agent %s: %s", an->node, why);
		if (!first_err[0])
			snprintf(first_err, sizeof(first_err), "agent %s: %s", an->node, why);
	}
	if (m.st.answered == 0) {
		qctx_fail(&m.qc, "%s", first_err[0] ? first_err : "no agent answered");
		goto reply;
	}
	if (finish(&m, outs, trunc) < 0)
		goto reply;
	for (int d = 0; d < p->ndisplays; d++) {
		m.st.rows += outs[d]->nrows;
		if (trunc[d])
			warn(&m, "table %s truncated to %lld rows (raise with --max-rows)", p->displays[d].name,
			     (long long)q->max_rows);
	}
reply:
	if (qctx_failed(&m.qc)) {
		proto_pack_error(&pk, q->request_id, m.qc.err, q->log ? q->log : "");
	} else {
		int64_t now = mono_now_ns();
		m.st.compile_ms = (double)(q->compiled_ns - q->started_ns) / 1e6;
		m.st.agents_ms = (double)(last_ns - q->fanned_ns) / 1e6;
		m.st.merge_ms = (double)(now - merge_start) / 1e6;
		m.st.ms = (double)(now - q->started_ns) / 1e6;
		proto_pack_result(&pk, q->request_id, outs, p->ndisplays, m.warnings, m.nwarn, q->log ? q->log : "",
				  &m.st);
	}
	for (int b = 0; m.inputs && b < p->nbridges; b++) {
		for (int a = 0; m.inputs[b] && a < nagents; a++)
			table_free(m.inputs[b][a]);
		free(m.inputs[b]);
	}
	for (int d = 0; outs && d < p->ndisplays; d++)
		table_free(outs[d]);
	for (int w = 0; m.warnings && w < m.nwarn; w++)
		free(m.warnings[w]);
	free(m.warnings);
	free(m.inputs);
	free(outs);
	free(trunc);
	qctx_destroy(&m.qc);
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
