/* snapshot.c - gathering snapshots: a client's snapshot request fans out to every agent as a
 * snapshot of the range, and the files that come back go to the client in one answer (agents
 * that fail become warnings; no file at all is an error). */
#include "coord_internal.h"
#include "net/service.h"
#include "core/timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void handle_snapshot(struct coordinator *c, struct session *s, const struct proto_msg *m)
{
	struct snapshot_request r;
	int64_t t0, t1;
	proto_read_snapshot_request(m->obj, m->id, &r);
	struct query *q = query_new(c, s->id, m->id, r.timeout_ms);
	if (!q) {
		session_error(s, m->id, "out of memory");
		return;
	}
	q->snapshot = true;
	if (parse_time(r.start, q->now_ns, &t0) < 0 || parse_time(r.end, q->now_ns, &t1) < 0 || t1 <= t0) {
		session_error(s, m->id, "snapshot: bad time range '%s' .. '%s'", r.start, r.end);
		query_free(q);
		return;
	}
	msgpack_packer pk;
	msgpack_packer_init(&pk, &q->exec_msg, msgpack_sbuffer_write);
	proto_pack_snapshot_exec(&pk, q->qid, t0, t1 + 1);
	fan_out(q);
}

void snapshot_collect(void *arg)
{
	struct query *q = arg;
	msgpack_packer pk;
	msgpack_unpacked *u = calloc(q->nanswers ? q->nanswers : 1, sizeof(*u));
	struct snapshot_file *files = calloc(q->nanswers ? q->nanswers : 1, sizeof(*files));
	char **warnings = calloc(q->nanswers + 1, sizeof(char *));
	int nfiles = 0, nwarn = 0;
	msgpack_sbuffer_init(&q->reply);
	msgpack_packer_init(&pk, &q->reply, msgpack_sbuffer_write);
	for (int a = 0; u && a < q->nanswers; a++)
		msgpack_unpacked_init(&u[a]);
	for (int a = 0; u && files && warnings && a < q->nanswers; a++) {
		const struct answer *an = &q->answers[a];
		struct agent_result r = {0};
		char msg[600] = "";
		if (!an->msg)
			snprintf(msg, sizeof(msg), "agent %s: %s", an->node, an->err[0] ? an->err : "no answer");
		else if (!mp_unpack(&u[a], an->msg, an->len))
			snprintf(msg, sizeof(msg), "agent %s: malformed answer", an->node);
		else if (proto_read_agent_result(&u[a].data, &r), r.error && r.error[0])
			snprintf(msg, sizeof(msg), "agent %s: %s", an->node, r.error);
		else if (r.error)
			snprintf(msg, sizeof(msg), "agent %s: an error without a message", an->node);
		else if (!r.snapshot)
			snprintf(msg, sizeof(msg), "agent %s: no snapshot in its answer", an->node);
		if (msg[0])
			warnings[nwarn++] = strdup(msg);
		else
			files[nfiles++] = (struct snapshot_file){an->node, r.snapshot, r.snapshot_len};
	}
	q->outcome = nfiles ? QUERY_OK : QUERY_FAILED;
	if (nfiles)
		proto_pack_snapshots(&pk, q->request_id, files, nfiles, warnings, nwarn);
	else
		proto_pack_error(&pk, q->request_id, nwarn ? warnings[0] : "no agent answered", "");
	for (int a = 0; u && a < q->nanswers; a++)
		msgpack_unpacked_destroy(&u[a]);
	for (int w = 0; w < nwarn; w++)
		free(warnings[w]);
	free(warnings);
	free(files);
	free(u);
	inbox_post(q->c->svc->inbox, merge_done, q);
}
