/* agent.c - an agent's rings, its source, and its answers to exec and snapshot requests (see
 * agent.h). Exec requests, snapshots and exports read every ring. */
#include "agent.h"
#include "exporter.h"
#include "net/proto.h"
#include "engine/codec.h"
#include "engine/exec.h"
#include "ring/ring.h"
#include "ring/snapshot.h"
#include "core/catalog.h"
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct agent {
	char node[64];
	struct ring *ring;         /* stack_samples */
	struct ring *offcpu;       /* offcpu_samples, or NULL */
	struct ring_set rings;     /* both, as one scan source */
	struct source *source; /* freed with the agent (stopping it only quiesces it) */
	struct exporter *exporter; /* NULL without --export */
};

struct agent *agent_new(const struct agent_config *cfg, char *err, size_t errlen)
{
	struct agent *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(a->node, sizeof(a->node), "%s", cfg->node);
	bool offcpu = cfg->offcpu_share > 0 && source_has_offcpu(cfg->source, &cfg->opt);
	size_t offcpu_bytes = offcpu ? cfg->ring_bytes / 100 * (size_t)cfg->offcpu_share : 0;
	struct ring_config rc = {cfg->ring_bytes - offcpu_bytes, a->node, 0, RING_STACK_SAMPLES};
	struct ring_config oc = {offcpu_bytes, a->node, 0, RING_OFFCPU_SAMPLES};
	if (!(a->ring = ring_new(&rc)) || (offcpu && !(a->offcpu = ring_new(&oc)))) {
		snprintf(err, errlen, "cannot allocate the ring");
		goto fail;
	}
	a->rings.rings[a->rings.n++] = a->ring;
	if (a->offcpu)
		a->rings.rings[a->rings.n++] = a->offcpu;
	if (!(a->source = source_start(cfg->source, &cfg->opt, &a->rings, err, errlen)))
		goto fail;
	if (cfg->export_url &&
	    !(a->exporter = exporter_start(cfg->export_url, cfg->export_every_ns, a->node, &a->rings, err, errlen)))
		goto fail;
	return a;
fail:
	agent_free(a);
	return NULL;
}

void agent_stop_source(struct agent *a)
{
	if (a)
		source_quiesce(a->source);
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	exporter_stop(a->exporter);
	source_stop(a->source);
	ring_free(a->ring);
	ring_free(a->offcpu);
	free(a);
}

const char *agent_node(const struct agent *a)
{
	return a->node;
}

/* A snapshot request: the rings' batches over [t0, t1) as one snapshot file. */
static void answer_snapshot(struct agent *a, const struct exec_request *e, msgpack_packer *pk)
{
	char err[512];
	void *buf = NULL;
	size_t len = 0;
	if (source_prepare(a->source, e->t0, e->t1, err, sizeof(err)) < 0 ||
	    ring_set_snapshot(&a->rings, e->t0, e->t1, &buf, &len, err, sizeof(err)) < 0) {
		proto_pack_result_error(pk, e->qid, a->node, err);
		return;
	}
	proto_pack_result_snapshot(pk, e->qid, a->node, buf, len);
	free(buf);
}

/* A scan of a stored table (stack_samples, offcpu_samples): what time ranges apply to. */
static bool scans_samples(const struct plan_node *n)
{
	return n->kind == N_SOURCE && n->table && catalog_is_timeseries(n->table);
}

/* Points every scan of a stored table in plan at [t0, t1). */
static void set_range(struct plan *plan, int64_t t0, int64_t t1)
{
	for (int i = 0; i < plan->nnodes; i++)
		if (scans_samples(plan->nodes[i])) {
			plan->nodes[i]->t0 = t0;
			plan->nodes[i]->t1 = t1;
		}
}

/* An exec request: every bridge of the plan over the ring, answered with their tables; with
 * ranges, every bridge once per range (proto.h). */
static void answer_exec(struct agent *a, const struct exec_request *e, msgpack_packer *pk)
{
	struct plan *plan = NULL;
	struct table **tables = NULL;
	struct qctx q;
	char err[512];
	int ntables = 0;
	qctx_init(&q);
	if (codec_unpack_plan(e->plan, &plan, err, sizeof(err)) < 0 || plan_split(plan) < 0) {
		proto_pack_result_error(pk, e->qid, a->node, plan ? "out of memory" : err);
		goto out;
	}
	/* The range the plan's scans of stored tables reach (the request's ranges in place of their
	 * own), for a source that loads on demand. */
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	bool scans = false;
	for (int i = 0; i < plan->nnodes; i++)
		if (scans_samples(plan->nodes[i])) {
			scans = true;
			lo = plan->nodes[i]->t0 < lo ? plan->nodes[i]->t0 : lo;
			hi = plan->nodes[i]->t1 > hi ? plan->nodes[i]->t1 : hi;
		}
	if (scans && e->nranges) {
		lo = INT64_MAX, hi = INT64_MIN;
		for (int r = 0; r < e->nranges; r++) {
			lo = e->ranges[r][0] < lo ? e->ranges[r][0] : lo;
			hi = e->ranges[r][1] > hi ? e->ranges[r][1] : hi;
		}
	}
	if (lo < hi && source_prepare(a->source, lo, hi, err, sizeof(err)) < 0) {
		proto_pack_result_error(pk, e->qid, a->node, err);
		goto out;
	}
	q.node = a->node;
	q.deadline_ns = mono_now_ns() + e->timeout_ms * 1000000LL;
	q.mem_limit = (size_t)e->mem_limit_mb << 20;
	int nranges = e->nranges ? e->nranges : 1;
	ntables = nranges * plan->nbridges;
	tables = calloc(ntables ? ntables : 1, sizeof(*tables));
	struct scan_source src = {ring_set_scan, &a->rings};
	int64_t t0 = mono_now_ns();
	for (int r = 0; tables && r < nranges && !qctx_failed(&q); r++) {
		if (e->nranges) {
			set_range(plan, e->ranges[r][0], e->ranges[r][1]);
			exec_forget(&q);
		}
		for (int b = 0; b < plan->nbridges; b++)
			if (exec_bridge(&q, plan, &plan->bridges[b], &src, &tables[r * plan->nbridges + b]) < 0)
				break;
	}
	if (!tables || qctx_failed(&q)) { /* the coordinator names the agent */
		proto_pack_result_error(pk, e->qid, a->node, tables ? q.err : "out of memory");
		goto out;
	}
	proto_pack_result_tables(pk, e->qid, a->node, (mono_now_ns() - t0) / 1000, tables, ntables, e->zstd);
out:
	for (int i = 0; tables && i < ntables; i++)
		table_free(tables[i]);
	free(tables);
	plan_free(plan);
	qctx_destroy(&q);
}

void agent_answer(struct agent *a, const struct proto_msg *m, struct proto_buf *out)
{
	struct exec_request e;
	char err[512];
	if (proto_read_exec(m, &e, err, sizeof(err)) < 0)
		proto_pack_result_error(&out->pk, e.qid, a->node, err);
	else if (e.snapshot)
		answer_snapshot(a, &e, &out->pk);
	else
		answer_exec(a, &e, &out->pk);
}

void agent_get_status(struct agent *a, struct agent_status *st)
{
	struct ring_stats rs;
	struct source_stats ss;
	struct exporter_stats xs;
	struct ring_stats os = {0};
	ring_get_stats(a->ring, &rs);
	if (a->offcpu)
		ring_get_stats(a->offcpu, &os);
	source_get_stats(a->source, &ss);
	exporter_get_stats(a->exporter, &xs);
	*st = (struct agent_status){
		.rows = rs.rows, .samples = rs.samples, .ring_bytes = rs.bytes, .ring_budget = rs.budget,
		.evicted_rows = rs.evicted_rows, .stacks = rs.stacks, .oldest_ns = rs.oldest_ns,
		.newest_ns = rs.newest_ns, .hz = ss.hz, .cpus = ss.cpus, .bpf_samples = ss.bpf_samples,
		.lost_samples = ss.lost, .truncated_unreadable = ss.truncated_unreadable,
		.truncated_depth = ss.truncated_depth, .truncated_no_info = ss.truncated_no_info,
		.fp_fallback_samples = ss.fp_fallback_samples, .unwind_files = ss.unwind_files,
		.unwind_bytes = ss.unwind_bytes, .unwind_rows = ss.unwind_rows, .unwind_rows_cap = ss.unwind_rows_cap,
		.unwind_build_ns = ss.unwind_build_ns,
		.unwind_cfi_bytes = ss.unwind_cfi_bytes, .py_samples = ss.py_samples, .py_walk_ns = ss.py_walk_ns,
		.py_frames = ss.py_frames, .py_code_gone = ss.py_code_gone, .py_code_failed = ss.py_code_failed,
		.export_cursor_ns = xs.cursor_ns,
		.export_every_ns = xs.every_ns, .export_intervals = xs.intervals, .export_failures = xs.failures,
		.kube_fetches = ss.kube.fetches, .kube_fetch_failures = ss.kube.fetch_failures, .kube_pods = ss.kube.pods,
		.kube_processes = ss.kube.processes, .kube_unnamed = ss.kube.unnamed,
		.offcpu_switches = ss.offcpu_switches, .offcpu_periods = ss.offcpu_periods, .offcpu_lost = ss.offcpu_lost,
		.offcpu_unseen = ss.offcpu_unseen, .offcpu_hook_pct = (uint64_t)ss.offcpu_hook_pct,
		.offcpu_rows = os.rows, .offcpu_ring_bytes = os.bytes, .frames_named = ss.frames_named,
		.frames_looked_up = ss.frames_looked_up, .stacks_interned = ss.stacks_interned,
		.stacks_looked_up = ss.stacks_looked_up, .memo_bytes = ss.memo_bytes,
	};
}
