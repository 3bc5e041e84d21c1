/* merge.c - turning a query's answers into the client's reply, on a worker: decode every agent's
 * partial results (an agent whose answer is an error, malformed or missing becomes a warning),
 * run the rest of the plan over them (exec_finish), and pack the result with its statistics. */
#include "coord_internal.h"
#include "net/service.h"
#include "engine/codec.h"
#include "engine/exec.h"
#include "core/clock.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long merging may take on the coordinator, beyond the agents' deadline. */
#define MERGE_DEADLINE_NS 10000000000LL

/* Decodes agent answer an into inputs[b][a] for every bridge b. Returns 1 when it answered, 0
 * with a warning in msg when it did not (or what it sent was unusable). */
static int decode_answer(struct qctx *qc, const struct plan *p, const struct answer *an, msgpack_unpacked *u,
			 struct table ***inputs, int a, struct query_stats *st, char *msg, size_t msglen)
{
	struct agent_result r;
	if (!an->msg) {
		snprintf(msg, msglen, "agent %s: %s", an->node, an->err[0] ? an->err : "no answer");
		return 0;
	}
	if (!mp_unpack(u, an->msg, an->len)) {
		snprintf(msg, msglen, "agent %s: malformed result", an->node);
		return 0;
	}
	proto_read_agent_result(&u->data, &r);
	if (r.error) { /* the agent's own message */
		if (r.error[0])
			snprintf(msg, msglen, "%s", r.error);
		else
			snprintf(msg, msglen, "agent %s: an error without a message", an->node);
		return 0;
	}
	if (r.exec_us >= 0 && (double)r.exec_us / 1e3 > st->slowest_exec_ms) {
		st->slowest_exec_ms = (double)r.exec_us / 1e3;
		snprintf(st->slowest_node, sizeof(st->slowest_node), "%s", an->node);
	}
	if (!r.tables || r.tables->via.array.size != (uint32_t)p->nbridges) {
		snprintf(msg, msglen, "agent %s: result has the wrong number of tables", an->node);
		return 0;
	}
	for (int b = 0; b < p->nbridges; b++)
		if (codec_unpack_table(qc, &r.tables->via.array.ptr[b], &inputs[b][a]) < 0) {
			snprintf(msg, msglen, "agent %s: %s", an->node, qc->err);
			qc->err[0] = '\0';
			for (int k = 0; k < b; k++) {
				table_free(inputs[k][a]);
				inputs[k][a] = NULL;
			}
			return 0;
		}
	return 1;
}

void merge_run(void *arg)
{
	struct query *q = arg;
	struct plan *p = q->plan;
	struct qctx qc;
	msgpack_unpacked *u = calloc(q->nanswers ? q->nanswers : 1, sizeof(*u));
	struct table ***inputs = calloc(p->nbridges ? p->nbridges : 1, sizeof(*inputs));
	struct table **outs = calloc(p->ndisplays, sizeof(*outs));
	bool *trunc = calloc(p->ndisplays, sizeof(*trunc));
	char **warnings = calloc(q->nanswers + p->ndisplays + 1, sizeof(*warnings));
	int nwarn = 0, nagents = q->nanswers;
	char first_err[600] = "";
	struct query_stats st = {.agents = nagents, .slowest_exec_ms = -0.001};
	msgpack_packer pk;

	qctx_init(&qc);
	qc.max_rows = (size_t)q->max_rows;
	qc.mem_limit = (size_t)q->mem_limit_mb << 20;
	qc.deadline_ns = mono_now_ns() + MERGE_DEADLINE_NS;
	int64_t merge_start = mono_now_ns(), last_ns = q->fanned_ns;
	msgpack_sbuffer_init(&q->reply);
	msgpack_packer_init(&pk, &q->reply, msgpack_sbuffer_write);
	for (int a = 0; u && a < nagents; a++)
		msgpack_unpacked_init(&u[a]);
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
		const struct answer *an = &q->answers[a];
		char msg[600] = "";
		st.bytes_in += an->len;
		if (an->msg && an->arrived_ns > last_ns)
			last_ns = an->arrived_ns;
		if (decode_answer(&qc, p, an, &u[a], inputs, a, &st, msg, sizeof(msg))) {
			st.answered++;
			continue;
		}
		if (!first_err[0])
			snprintf(first_err, sizeof(first_err), "%s", msg);
		warnings[nwarn++] = strdup(msg);
	}
	if (st.answered == 0) {
		qctx_fail(&qc, "%s", first_err[0] ? first_err : "no agent answered");
		goto reply;
	}
	if (exec_finish(&qc, p, (struct table *const *const *)inputs, nagents, outs, trunc) < 0)
		goto reply;
	for (int d = 0; d < p->ndisplays; d++)
		st.rows += outs[d]->nrows;
	for (int d = 0; d < p->ndisplays; d++)
		if (trunc[d]) {
			char msg[300];
			snprintf(msg, sizeof(msg), "table %s truncated to %lld rows (raise with --max-rows)",
				 p->displays[d].name, (long long)q->max_rows);
			warnings[nwarn++] = strdup(msg);
		}
reply:
	if (qctx_failed(&qc)) {
		proto_pack_error(&pk, q->request_id, qc.err, q->log ? q->log : "");
	} else {
		int64_t now = mono_now_ns();
		st.compile_ms = (double)(q->compiled_ns - q->started_ns) / 1e6;
		st.agents_ms = (double)(last_ns - q->fanned_ns) / 1e6;
		st.merge_ms = (double)(now - merge_start) / 1e6;
		st.ms = (double)(now - q->started_ns) / 1e6;
		proto_pack_result(&pk, q->request_id, outs, p->ndisplays, warnings, nwarn, q->log ? q->log : "", &st);
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
