/* metrics.c - the coordinator's Prometheus metrics: what it counts itself (queries by kind and
 * outcome, their durations, websocket bytes, refused peers) and, from every agent's last status
 * (its heartbeat, every 2 s; the in-process agent's now), the agents' series labelled node. Served
 * as text exposition format 0.0.4 at GET /metrics (coordinator.c). Names follow Prometheus's
 * conventions: base units (seconds, bytes), counters end in _total. */
#include "coord_internal.h"
#include "agent/agent.h"
#include "core/clock.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const double bucket_s[QUERY_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const char *const kind_name[QK_KINDS] = {"run", "snapshot", "live"};

void metrics_query_ended(struct coordinator *c, const struct query *q)
{
	if (q->outcome == QUERY_DROPPED)
		return;
	int k = q->live ? QK_LIVE : q->snapshot ? QK_SNAPSHOT : QK_RUN;
	double s = (double)(mono_now_ns() - q->started_ns) / 1e9;
	struct coord_metrics *m = &c->metrics;
	m->queries[k][q->outcome == QUERY_FAILED]++;
	m->duration_sum[k] += s;
	for (int b = 0; b < QUERY_BUCKETS; b++)
		if (s <= bucket_s[b])
			m->duration_le[k][b]++;
}

/* One agent's series. */
struct node_status {
	const char *node;
	struct agent_status st;
};

/* A label value, escaped as the exposition format wants. */
static void put_label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one value per agent: the field at offset off (uint64_t or int64_t) times scale,
 * extra_label (",k=\"v\"" or NULL) after its node label. */
enum field_kind { F_U64, F_I64 };
static void per_node(FILE *f, const struct node_status *ns, int n, const char *name, const char *type,
		     const char *help, size_t off, enum field_kind fk, double scale, const char *extra_label)
{
	family(f, name, type, help);
	for (int i = 0; i < n; i++) {
		const char *p = (const char *)&ns[i].st + off;
		double v = fk == F_U64 ? (double)*(const uint64_t *)p : (double)*(const int64_t *)p;
		fputs(name, f);
		fputs("{node=\"", f);
		put_label(f, ns[i].node);
		fprintf(f, "\"%s} %.17g\n", extra_label ? extra_label : "", v * scale);
	}
}

#define U64(field) offsetof(struct agent_status, field), F_U64
#define I64(field) offsetof(struct agent_status, field), F_I64

/* Resident bytes and CPU seconds of this process, from /proc/self/stat. */
static void process_series(FILE *f)
{
	char buf[1024];
	FILE *st = fopen("/proc/self/stat", "r");
	size_t n = st ? fread(buf, 1, sizeof(buf) - 1, st) : 0;
	if (st)
		fclose(st);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long utime = 0, stime = 0, rss = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %*u %*u %llu",
			 &utime, &stime, &rss) != 3)
		return;
	double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
	family(f, "process_cpu_seconds_total", "counter", "User and system CPU time of the coordinator's process.");
	fprintf(f, "process_cpu_seconds_total %.17g\n", (double)(utime + stime) / tick);
	family(f, "process_resident_memory_bytes", "gauge", "Resident memory of the coordinator's process.");
	fprintf(f, "process_resident_memory_bytes %.17g\n", (double)rss * page);
}

char *metrics_render(struct coordinator *c, size_t *len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, len);
	int n = 0, cap = agent_count(c);
	struct node_status *ns = calloc(cap ? cap : 1, sizeof(*ns));
	if (!f || !ns) {
		if (f)
			fclose(f);
		free(out);
		free(ns);
		return NULL;
	}
	if (c->local) {
		ns[n].node = agent_node(c->local);
		agent_get_status(c->local, &ns[n++].st);
	}
	for (struct session *s = c->sessions; s && n < cap; s = s->next) {
		msgpack_unpacked u;
		if (s->role != ROLE_AGENT || !s->status.size)
			continue;
		msgpack_unpacked_init(&u);
		if (msgpack_unpack_next(&u, s->status.data, s->status.size, NULL) == MSGPACK_UNPACK_SUCCESS) {
			ns[n].node = s->node;
			proto_read_status(&u.data, &ns[n++].st);
		}
		msgpack_unpacked_destroy(&u);
	}

	const struct coord_metrics *m = &c->metrics;
	family(f, "wisp_agents_connected", "gauge", "Agents answering this coordinator's queries (with the in-process one).");
	fprintf(f, "wisp_agents_connected %d\n", agent_count(c));
	family(f, "wisp_connections", "gauge", "Open websocket connections: agents, clients, and ones not yet either.");
	fprintf(f, "wisp_connections %d\n", c->nsessions);
	family(f, "wisp_queries_total", "counter", "Queries ended, by kind (run, snapshot, live tick) and outcome.");
	for (int k = 0; k < QK_KINDS; k++)
		for (int failed = 0; failed < 2; failed++)
			fprintf(f, "wisp_queries_total{kind=\"%s\",outcome=\"%s\"} %llu\n", kind_name[k],
				failed ? "error" : "ok", (unsigned long long)m->queries[k][failed]);
	family(f, "wisp_query_duration_seconds", "histogram", "Time from a request to its answer.");
	for (int k = 0; k < QK_KINDS; k++) {
		uint64_t count = m->queries[k][0] + m->queries[k][1];
		for (int b = 0; b < QUERY_BUCKETS; b++)
			fprintf(f, "wisp_query_duration_seconds_bucket{kind=\"%s\",le=\"%g\"} %llu\n", kind_name[k], bucket_s[b],
				(unsigned long long)m->duration_le[k][b]);
		fprintf(f, "wisp_query_duration_seconds_bucket{kind=\"%s\",le=\"+Inf\"} %llu\n", kind_name[k],
			(unsigned long long)count);
		fprintf(f, "wisp_query_duration_seconds_sum{kind=\"%s\"} %.17g\n", kind_name[k], m->duration_sum[k]);
		fprintf(f, "wisp_query_duration_seconds_count{kind=\"%s\"} %llu\n", kind_name[k], (unsigned long long)count);
	}
	family(f, "wisp_websocket_received_bytes_total", "counter", "Websocket payload bytes received, every connection.");
	fprintf(f, "wisp_websocket_received_bytes_total %llu\n", (unsigned long long)m->rx_bytes);
	family(f, "wisp_websocket_sent_bytes_total", "counter", "Websocket payload bytes sent, every connection.");
	fprintf(f, "wisp_websocket_sent_bytes_total %llu\n", (unsigned long long)m->tx_bytes);
	family(f, "wisp_websocket_receive_waits_total", "counter",
	       "Times a connection's reading paused until messages being reassembled left room (agents: --receive-mb).");
	fprintf(f, "wisp_websocket_receive_waits_total %llu\n", (unsigned long long)m->rx_waits);
	family(f, "wisp_refused_total", "counter",
	       "Peers refused: at the upgrade for no or an unknown token, or a request their token's role lacks.");
	fprintf(f, "wisp_refused_total{reason=\"token\"} %llu\n", (unsigned long long)m->refused_token);
	fprintf(f, "wisp_refused_total{reason=\"role\"} %llu\n", (unsigned long long)m->refused_grant);
	process_series(f);

	for (int i = 0; i < n; i++) /* appended: held or evicted since */
		ns[i].st.rows += ns[i].st.evicted_rows;
	per_node(f, ns, n, "wisp_samples_total", "counter", "Samples appended to the agent's ring since it started.",
		 U64(rows), 1, NULL);
	per_node(f, ns, n, "wisp_samples_lost_total", "counter",
		 "Samples lost in the kernel (BPF ring buffer full) or refused by the ring.", U64(lost_samples), 1, NULL);
	per_node(f, ns, n, "wisp_ring_bytes", "gauge", "Bytes the agent's ring holds.", U64(ring_bytes), 1, NULL);
	per_node(f, ns, n, "wisp_ring_budget_bytes", "gauge", "The agent's ring budget (--ring-mb).", U64(ring_budget), 1,
		 NULL);
	per_node(f, ns, n, "wisp_ring_evicted_samples_total", "counter", "Samples evicted from the ring to make room.",
		 U64(evicted_rows), 1, NULL);
	per_node(f, ns, n, "wisp_ring_oldest_timestamp_seconds", "gauge", "Time of the oldest sample held (Unix seconds).",
		 I64(oldest_ns), 1e-9, NULL);
	per_node(f, ns, n, "wisp_ring_newest_timestamp_seconds", "gauge", "Time of the newest sample held (Unix seconds).",
		 I64(newest_ns), 1e-9, NULL);
	per_node(f, ns, n, "wisp_ring_stacks", "gauge", "Distinct stacks the ring holds.", U64(stacks), 1, NULL);
	family(f, "wisp_unwind_truncated_total", "counter", "User stacks whose walk broke, by reason.");
	const char *name = "wisp_unwind_truncated_total";
	for (int i = 0; i < n; i++) {
		const uint64_t v[3] = {ns[i].st.truncated_unreadable, ns[i].st.truncated_depth, ns[i].st.truncated_no_info};
		static const char *const why[3] = {"unreadable", "depth", "no_unwind_info"};
		for (int r = 0; r < 3; r++) {
			fprintf(f, "%s{node=\"", name);
			put_label(f, ns[i].node);
			fprintf(f, "\",reason=\"%s\"} %llu\n", why[r], (unsigned long long)v[r]);
		}
	}
	per_node(f, ns, n, "wisp_unwind_fp_fallback_samples_total", "counter",
		 "Samples with some frame found by frame pointers where no unwind table applied.", U64(fp_fallback_samples),
		 1, NULL);
	per_node(f, ns, n, "wisp_unwind_tables", "gauge", "Unwind tables held (one per executable file).", U64(unwind_files),
		 1, NULL);
	per_node(f, ns, n, "wisp_unwind_table_bytes", "gauge", "Kernel memory the unwind tables hold.", U64(unwind_bytes),
		 1, NULL);
	per_node(f, ns, n, "wisp_unwind_rows", "gauge", "Rows the unwind tables use (a row: 4 bytes).", U64(unwind_rows), 1,
		 NULL);
	per_node(f, ns, n, "wisp_unwind_rows_capacity", "gauge", "Rows the unwind tables may use (--unwind-mb).",
		 U64(unwind_rows_cap), 1, NULL);
	per_node(f, ns, n, "wisp_unwind_build_seconds_total", "counter", "Time spent building unwind tables.",
		 U64(unwind_build_ns), 1e-9, NULL);
	per_node(f, ns, n, "wisp_python_samples_total", "counter", "Samples of Python processes walked for Python frames.",
		 U64(py_samples), 1, NULL);
	per_node(f, ns, n, "wisp_python_frames_total", "counter", "Python frames named.", U64(py_frames), 1, NULL);
	per_node(f, ns, n, "wisp_python_unnamed_frames_total", "counter",
		 "Python frames left unnamed: code objects freed before they were read, or unreadable.", U64(py_code_gone), 1,
		 ",reason=\"gone\"");
	for (int i = 0; i < n; i++) { /* the same family: its second reason */
		fputs("wisp_python_unnamed_frames_total{node=\"", f);
		put_label(f, ns[i].node);
		fprintf(f, "\",reason=\"unreadable\"} %llu\n", (unsigned long long)ns[i].st.py_code_failed);
	}
	per_node(f, ns, n, "wisp_export_intervals_total", "counter", "Intervals uploaded by continuous export.",
		 U64(export_intervals), 1, NULL);
	per_node(f, ns, n, "wisp_export_failures_total", "counter", "Failed uploads of continuous export (retried).",
		 U64(export_failures), 1, NULL);
	per_node(f, ns, n, "wisp_kube_fetches_total", "counter", "Pod list fetches (--kube-pods), failed or not.",
		 U64(kube_fetches), 1, NULL);
	per_node(f, ns, n, "wisp_kube_fetch_failures_total", "counter", "Pod list fetches that failed (retried).",
		 U64(kube_fetch_failures), 1, NULL);
	per_node(f, ns, n, "wisp_kube_pods", "gauge", "Pods in the agent's current pod list.", U64(kube_pods), 1, NULL);
	per_node(f, ns, n, "wisp_kube_unnamed_processes", "gauge",
		 "Sampled processes in a pod or container the pod list does not name (shown by uid and id).",
		 U64(kube_unnamed), 1, NULL);
	per_node(f, ns, n, "wisp_offcpu_switches_total", "counter",
		 "Context switches away from user threads (each a candidate off-CPU period).", U64(offcpu_switches), 1,
		 NULL);
	per_node(f, ns, n, "wisp_offcpu_recorded_total", "counter",
		 "Off-CPU periods recorded (sampled; each row stands for its count).", U64(offcpu_periods), 1, NULL);
	per_node(f, ns, n, "wisp_offcpu_lost_total", "counter",
		 "Off-CPU periods lost: BPF ring buffer full, a half unpaired, too many held, or ended unseen while the "
		 "switch hook was paused.", U64(offcpu_lost), 1, NULL);
	per_node(f, ns, n, "wisp_offcpu_unseen_total", "counter",
		 "Off-CPU periods whose thread came back, more than once, while the switch hook was paused (dropped).",
		 U64(offcpu_unseen), 1, NULL);
	per_node(f, ns, n, "wisp_offcpu_hook_ratio", "gauge",
		 "Share of the last minute the scheduler's switch hook was attached (below 1 in context-switch storms).",
		 U64(offcpu_hook_pct), 0.01, NULL);
	per_node(f, ns, n, "wisp_frames_looked_up_total", "counter",
		 "Sampled addresses looked up (kernel, user and Python frames).", U64(frames_looked_up), 1, NULL);
	per_node(f, ns, n, "wisp_frames_named_total", "counter",
		 "Sampled addresses named by the symbolizer (the rest were remembered).", U64(frames_named), 1, NULL);
	per_node(f, ns, n, "wisp_stacks_looked_up_total", "counter", "Sampled stacks looked up.", U64(stacks_looked_up), 1,
		 NULL);
	per_node(f, ns, n, "wisp_stacks_interned_total", "counter",
		 "Sampled stacks interned in a ring (the rest were remembered).", U64(stacks_interned), 1, NULL);
	per_node(f, ns, n, "wisp_symbol_memo_bytes", "gauge", "What the agent's frame and stack memos hold.",
		 U64(memo_bytes), 1, NULL);
	family(f, "wisp_agent_info", "gauge", "An agent's version, as a label (value 1).");
	for (int i = 0; i < n; i++) {
		fputs("wisp_agent_info{node=\"", f);
		put_label(f, ns[i].node);
		fputs("\",version=\"", f);
		put_label(f, ns[i].st.version[0] ? ns[i].st.version : proto_wisp_version());
		fputs("\"} 1\n", f);
	}
	free(ns);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
