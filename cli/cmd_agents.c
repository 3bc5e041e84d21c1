/* cmd_agents.c - `wisp agents`: the agents a coordinator has, one row each (node, kind, address,
 * how long connected, samples and rows held, the rings' size (every table), oldest sample's age,
 * rate, CPUs, lost samples, samples with truncated user stacks, unwind tables' memory, export
 * lag, Python samples and the BPF time a Python walk takes, off-CPU periods recorded and lost),
 * as an aligned table or JSON. */
#include "cli.h"
#include "core/clock.h"
#include "core/qctx.h"
#include "core/table.h"

#include <stdio.h>
#include <string.h>

static int print_agents(const struct cli *o, const struct proto_msg *m)
{
	static const char *const names[] = {"node", "kind", "address", "connected_s", "samples", "rows", "ring_mb",
					    "oldest_s", "hz", "cpus", "lost", "truncated", "unwind_mb",
					    "export_lag_s", "py_samples", "py_walk_ns", "offcpu_periods", "offcpu_lost",
					    "offcpu_hook_pct"};
	static const enum vtype types[] = {VT_STRING, VT_STRING, VT_STRING, VT_FLOAT, VT_INT, VT_INT, VT_FLOAT, VT_FLOAT,
					   VT_INT, VT_INT, VT_INT, VT_INT, VT_FLOAT, VT_FLOAT, VT_INT, VT_INT, VT_INT, VT_INT, VT_INT};
	_Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(types) / sizeof(types[0]), "a type per column");
	struct proto_answer ans;
	struct table *t = table_new(sizeof(names) / sizeof(names[0]), names, types);
	struct qctx q;
	int64_t now = wall_now_ns();
	int rc = 1;
	qctx_init(&q);
	proto_read_answer(m, &ans);
	if (!t || !ans.agents)
		goto out;
	table_set_name(t, "agents");
	for (uint32_t i = 0; i < ans.agents->via.array.size; i++) {
		struct agent_info a;
		proto_read_agent_info(&ans.agents->via.array.ptr[i], &a);
		if (table_reserve(t, t->nrows + 1) < 0)
			break;
		size_t r = t->nrows++;
		t->cols[0].v.s[r] = qctx_strndup(&q, a.node, strlen(a.node));
		t->cols[1].v.s[r] = qctx_strndup(&q, a.kind, strlen(a.kind));
		t->cols[2].v.s[r] = qctx_strndup(&q, a.address, strlen(a.address));
		t->cols[3].v.f[r] = a.connected_s;
		t->cols[4].v.i[r] = (int64_t)a.status.samples;
		t->cols[5].v.i[r] = (int64_t)a.status.rows;
		t->cols[6].v.f[r] = (double)(a.status.ring_bytes + a.status.offcpu_ring_bytes) / 1048576.0; /* both tables */
		t->cols[7].v.f[r] = a.status.oldest_ns ? (double)(now - a.status.oldest_ns) / 1e9 : 0;
		t->cols[8].v.i[r] = a.status.hz;
		t->cols[9].v.i[r] = a.status.cpus;
		t->cols[10].v.i[r] = (int64_t)a.status.lost_samples;
		t->cols[11].v.i[r] = (int64_t)(a.status.truncated_unreadable + a.status.truncated_depth +
					       a.status.truncated_no_info);
		t->cols[12].v.f[r] = (double)a.status.unwind_bytes / 1048576.0;
		t->cols[13].v.f[r] = a.status.export_cursor_ns ? (double)(now - a.status.export_cursor_ns) / 1e9 : 0;
		t->cols[14].v.i[r] = (int64_t)a.status.py_samples;
		t->cols[15].v.i[r] = a.status.py_samples ? (int64_t)(a.status.py_walk_ns / a.status.py_samples) : 0;
		t->cols[16].v.i[r] = (int64_t)a.status.offcpu_periods;
		t->cols[17].v.i[r] = (int64_t)a.status.offcpu_lost;
		t->cols[18].v.i[r] = (int64_t)a.status.offcpu_hook_pct;
	}
	render_tables(stdout, &q, &t, 1, o->fmt == OUT_JSON ? OUT_JSON : OUT_TABLE, NULL, 0);
	rc = 0;
out:
	table_free(t);
	qctx_destroy(&q);
	return rc;
}

int cmd_agents(const struct cli *o)
{
	struct proto_buf req;
	proto_buf_init(&req);
	proto_pack_agents_request(&req.pk, 1);
	int rc = cli_exchange(o, &req, o->timeout_s + 5, PT_AGENTS, print_agents);
	proto_buf_destroy(&req);
	return rc;
}
