/* ring_bench.c - figures of the ring on the reference synthetic load (16 CPUs, 99 Hz, 5,000
 * stacks, 200 processes, 1,000 threads), printed as `name value unit` lines:
 *
 *   ring_fill_seconds            wall time to generate and append the simulated window
 *   ring_bytes_per_sample        ring bytes / samples held, at the end of the fill
 *   ring_retention_hours_256mib  hours of samples held in the budget at steady state (the
 *                                default fill is 28 h, so eviction is running)
 *   ring_budget_overshoot_pct    (peak RSS growth during the fill - budget) / budget
 *   ring_scan_ms / ring_scan_samples_per_s   sum(count) by stack over the whole ring, through
 *                                the query engine (plan, collapsed scan, hash aggregation)
 *   ring_window_query_ms         the same over the last 5 minutes (median of 21 runs)
 *   ring_ingest_samples_per_s    ring_append_rows of pre-generated samples, one core, sealing
 *                                included (a separate ring, after the figures above)
 *
 * ring_bench [--hours H] [--budget-mb M] [--export FILE]   (FILE: the ring's rows as CSV for
 * the DuckDB comparison in ring.sh: stack,count,tid,cpu,sec) */
#include "engine/exec.h"
#include "exec_local.h"
#include "core/clock.h"
#include "core/qctx.h"
#include "lua/script.h"
#include "core/catalog.h"
#include "core/intern.h"
#include "ring/ring.h"
#include "ring/synthetic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY0 1795219200LL /* 2026-11-21T00:00:00Z: where the simulated data starts */

static long rss_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = atol(line + strlen(field) + 1);
	if (f)
		fclose(f);
	return v;
}

static double run_query(struct ring *r, const char *src, int64_t now_ns, size_t *rows)
{
	struct script_input in = {"bench.lua", src, strlen(src), NULL, 0, now_ns};
	struct plan *p = NULL;
	char err[512];
	int64_t t0 = mono_now_ns();
	if (script_compile(&in, NULL, &p, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "ring_bench: %s\n", err);
		exit(1);
	}
	struct qctx q;
	qctx_init(&q);
	struct scan_source s = {ring_scan, r};
	struct table *out[1];
	bool trunc[1];
	q.max_rows = 0;
	if (exec_local(&q, p, &s, out, trunc) < 0) {
		fprintf(stderr, "ring_bench: %s\n", q.err);
		exit(1);
	}
	double ms = (double)(mono_now_ns() - t0) / 1e6;
	*rows = out[0]->nrows;
	table_free(out[0]);
	plan_free(p);
	qctx_destroy(&q);
	return ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct exporter {
	FILE *f;
	int64_t rows;
};

static int export_chunk(void *arg, const struct table *t)
{
	struct exporter *e = arg;
	for (size_t i = 0; i < t->nrows; i++)
		fprintf(e->f, "%u,%lld,%lld,%lld,%lld\n", t->cols[SS_STACK].v.k[i]->id,
			(long long)t->cols[SS_COUNT].v.i[i], (long long)t->cols[SS_TID].v.i[i],
			(long long)t->cols[SS_CPU].v.i[i], (long long)(t->cols[SS_TIME].v.i[i] / 1000000000LL));
	e->rows += (int64_t)t->nrows;
	return 0;
}

int main(int argc, char **argv)
{
	double hours = 28; /* past the budget: steady state, eviction running */
	size_t budget_mb = 256;
	const char *export_path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--hours") && i + 1 < argc)
			hours = atof(argv[++i]);
		else if (!strcmp(argv[i], "--budget-mb") && i + 1 < argc)
			budget_mb = (size_t)atol(argv[++i]);
		else if (!strcmp(argv[i], "--export") && i + 1 < argc)
			export_path = argv[++i];
		else {
			fprintf(stderr, "usage: ring_bench [--hours H] [--budget-mb M] [--export FILE]\n");
			return 2;
		}
	}
	struct synth_config cfg = SYNTH_DEFAULTS;
	long rss0 = rss_kb("VmRSS:");
	struct ring_config rc = {budget_mb << 20, "bench", 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&rc);
	struct synth *s = synth_new(&cfg, r);
	if (!r || !s) {
		fprintf(stderr, "ring_bench: setup failed\n");
		return 1;
	}
	int64_t seconds = (int64_t)(hours * 3600);
	int64_t t0 = mono_now_ns();
	if (synth_fill(s, DAY0, seconds) < 0) {
		fprintf(stderr, "ring_bench: fill failed\n");
		return 1;
	}
	ring_flush(r);
	double fill_s = (double)(mono_now_ns() - t0) / 1e9;
	long hwm = rss_kb("VmHWM:"), rss_end = rss_kb("VmRSS:");
	struct ring_stats st;
	ring_get_stats(r, &st);
	double held_h = (double)(st.newest_ns - st.oldest_ns) / 3.6e12;
	printf("ring_fill_seconds %.1f s\n", fill_s);
	printf("ring_samples_appended %llu samples\n", (unsigned long long)st.appended_samples);
	printf("ring_samples_held %llu samples\n", (unsigned long long)st.samples);
	printf("ring_rows_held %llu rows\n", (unsigned long long)st.rows);
	printf("ring_bytes %.1f MiB\n", (double)st.bytes / 1048576.0);
	printf("ring_intern_bytes %.1f MiB\n", (double)st.intern_bytes / 1048576.0);
	printf("ring_bytes_per_sample %.3f bytes\n", (double)st.bytes / (double)st.samples);
	printf("ring_compression_ratio %.1f x\n", st.compression);
	printf("ring_retention_hours_%zumib %.2f h\n", budget_mb, held_h + 1.0 / 60); /* + the newest minute */
	printf("ring_rss_growth %.1f MiB\n", (double)(rss_end - rss0) / 1024.0);
	printf("ring_rss_peak_growth %.1f MiB\n", (double)(hwm - rss0) / 1024.0);
	printf("ring_budget_overshoot_pct %.2f %%\n",
	       ((double)(hwm - rss0) * 1024.0 - (double)(budget_mb << 20)) / (double)(budget_mb << 20) * 100.0);

	int64_t end_ns = (DAY0 + seconds) * 1000000000LL;
	const char *by_stack = "local df = px.DataFrame{table='stack_samples', start_time=0}\n"
			       "px.display(df:groupby('stack'):agg{samples = px.sum('count')}, 'by_stack')\n";
	size_t nrows;
	double scans[3];
	for (int i = 0; i < 3; i++)
		scans[i] = run_query(r, by_stack, end_ns, &nrows);
	qsort(scans, 3, sizeof(double), cmp_double);
	printf("ring_scan_ms %.1f ms\n", scans[1]);
	printf("ring_scan_samples_per_s %.0f samples/s\n", (double)st.samples / (scans[1] / 1e3));
	printf("ring_scan_groups %zu stacks\n", nrows);
	const char *window = "local df = px.DataFrame{table='stack_samples', start_time='-5m'}\n"
			     "px.display(df:groupby('stack'):agg{samples = px.sum('count')}, 'by_stack')\n";
	double w[21];
	for (int i = 0; i < 21; i++)
		w[i] = run_query(r, window, end_ns, &nrows);
	qsort(w, 21, sizeof(double), cmp_double);
	printf("ring_window_query_ms %.2f ms\n", w[10]);

	if (export_path) {
		struct exporter e = {fopen(export_path, "w"), 0};
		if (!e.f) {
			perror(export_path);
			return 1;
		}
		fprintf(e.f, "stack,count,tid,cpu,sec\n");
		ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, 0, export_chunk, &e);
		fclose(e.f);
		printf("ring_exported_rows %lld rows\n", (long long)e.rows);
	}
	synth_free(s);
	ring_free(r);

	/* Ingest: pre-generated samples into a fresh ring, one core, sealing included. */
	struct ring_config rc2 = {budget_mb << 20, "ingest", 0, RING_STACK_SAMPLES};
	struct ring *r2 = ring_new(&rc2);
	struct synth *s2 = synth_new(&cfg, r2);
	size_t per = (size_t)cfg.cpus * cfg.hz, nsec = 600; /* rows of one simulated second */
	struct ring_row *rows = malloc(per * nsec * sizeof(*rows));
	if (!rows)
		return 1;
	for (size_t i = 0; i < nsec; i++)
		synth_second(s2, DAY0 + (int64_t)i, rows + i * per);
	t0 = mono_now_ns();
	for (size_t i = 0; i < nsec; i++)
		ring_append_rows(r2, rows + i * per, per);
	double ingest_s = (double)(mono_now_ns() - t0) / 1e9;
	printf("ring_ingest_samples_per_s %.0f samples/s\n", (double)(per * nsec) / ingest_s);
	free(rows);
	synth_free(s2);
	ring_free(r2);
	return 0;
}
