/* engine_bench.c - the engine in-process on 1 hour of the reference synthetic load (16 CPUs,
 * 99 Hz, 5,000 stacks), printed as `name value unit` lines:
 *   engine_top_functions_1h_inproc_ms  compile + plan + execute top_functions.lua (self and
 *                                      total) over the hour, median of 11
 *   engine_script_compile_ms           of which running the script to build the plan
 * With --export DIR it also writes the same hour for the DuckDB comparison (engine.sh):
 *   DIR/samples.csv (stack,count: the ring's 1-second rows) and DIR/frames.csv
 *   (stack,depth,function: every frame of every stack, leaf at depth 0). */
#include "engine/exec.h"
#include "exec_local.h"
#include "core/clock.h"
#include "core/qctx.h"
#include "lua/script.h"
#include "core/catalog.h"
#include "core/intern.h"
#include "ring/ring.h"
#include "ring/synthetic.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H0 1795219200LL

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct exporter {
	FILE *samples, *frames;
	unsigned char *seen; /* stacks already written to frames.csv */
};

static int export_chunk(void *arg, const struct table *t)
{
	struct exporter *e = arg;
	for (size_t i = 0; i < t->nrows; i++) {
		const struct stack *st = t->cols[SS_STACK].v.k[i];
		fprintf(e->samples, "%u,%lld\n", st->id, (long long)t->cols[SS_COUNT].v.i[i]);
		if (!e->seen[st->id]) {
			e->seen[st->id] = 1;
			for (int f = 0; f < st->nframes; f++)
				fprintf(e->frames, "%u,%d,\"%s\"\n", st->id, f, st->frames[f]);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	mallopt(M_MMAP_THRESHOLD, 32 << 20); /* as wispd does */
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
	const char *dir = argc == 3 && !strcmp(argv[1], "--export") ? argv[2] : NULL;
	struct synth_config cfg = SYNTH_DEFAULTS;
	struct ring_config rc = {256u << 20, "bench", 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&rc);
	struct synth *s = synth_new(&cfg, r);
	if (!r || !s || synth_fill(s, H0, 3600) < 0)
		return 1;
	ring_flush(r);
	FILE *f = fopen(WISP_SCRIPTS_DIR "/top_functions.lua", "r");
	char src[16384];
	size_t len = f ? fread(src, 1, sizeof(src) - 1, f) : 0;
	if (f)
		fclose(f);
	src[len] = '\0';
	const char *args[] = {"--start", "-1h", "--limit", "100000", NULL};
	double t[11], tc[11];
	size_t rows = 0;
	for (int i = 0; i < 11; i++) {
		int64_t t0 = mono_now_ns();
		struct script_input in = {"top_functions.lua", src, len, args, 4, (H0 + 3600) * 1000000000LL};
		struct plan *p = NULL;
		char err[512];
		if (script_compile(&in, NULL, &p, NULL, err, sizeof(err)) < 0) {
			fprintf(stderr, "engine_bench: %s\n", err);
			return 1;
		}
		tc[i] = (double)(mono_now_ns() - t0) / 1e6;
		struct qctx q;
		qctx_init(&q);
		struct scan_source sc = {ring_scan, r};
		struct table *out[1];
		bool trunc[1];
		if (exec_local(&q, p, &sc, out, trunc) < 0) {
			fprintf(stderr, "engine_bench: %s\n", q.err);
			return 1;
		}
		t[i] = (double)(mono_now_ns() - t0) / 1e6;
		rows = out[0]->nrows;
		table_free(out[0]);
		plan_free(p);
		qctx_destroy(&q);
	}
	qsort(t, 11, sizeof(double), cmp_double);
	qsort(tc, 11, sizeof(double), cmp_double);
	printf("engine_top_functions_1h_inproc_ms %.2f ms\n", t[5]);
	printf("engine_script_compile_ms %.2f ms\n", tc[5]);
	printf("engine_top_functions_functions %zu rows\n", rows);
	if (dir) {
		char p1[4096], p2[4096];
		snprintf(p1, sizeof(p1), "%s/samples.csv", dir);
		snprintf(p2, sizeof(p2), "%s/frames.csv", dir);
		struct exporter e = {fopen(p1, "w"), fopen(p2, "w"), calloc(1 << 24, 1)};
		if (!e.samples || !e.frames || !e.seen)
			return 1;
		fprintf(e.samples, "stack,count\n");
		fprintf(e.frames, "stack,depth,function\n");
		ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, 0, export_chunk, &e);
		fclose(e.samples);
		fclose(e.frames);
		free(e.seen);
	}
	synth_free(s);
	ring_free(r);
	return 0;
}
