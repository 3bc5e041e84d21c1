/* test_golden.c - every bundled script on fixed synthetic data, its CSV output compared with the
 * checked-in tests/golden/NAME.csv. A script without a golden file fails: add one with
 *   WISP_GOLDEN_UPDATE=1 build/tests/test_golden
 * and review the diff like any other change. */
#include "fixture.h"
#include "format/render.h"
#include "ring/synthetic.h"
#include "core/catalog.h"

#include <dirent.h>

#define S0 1800000000LL /* first second of the data: 2027-01-15T08:00:00Z */
#define SPAN 1800       /* 30 minutes; the profile shifts at 15 */

struct script_args {
	const char *name;
	const char *argv[16];
	const char *golden; /* tests/golden/GOLDEN.csv; NULL: the script's name */
};

/* Windows in ns since the epoch. */
#define T0 "1800000000000000000"
#define TM "1800000900000000000"
#define T1 "1800001800000000000"

static const struct script_args cases[] = {
	{"top_functions.lua", {"--start", T0, "--end", T1, "--limit", "20", NULL}, NULL},
	{"flamegraph.lua", {"--start", T0, "--end", T1, "--limit", "30", NULL}, NULL},
	{"processes.lua", {"--start", T0, "--end", T1, "--limit", "20", NULL}, NULL},
	{"threads.lua", {"--start", T0, "--end", T1, "--limit", "20", NULL}, NULL},
	{"containers.lua", {"--start", T0, "--end", T1, "--limit", "20", NULL}, NULL},
	{"pods.lua", {"--start", T0, "--end", T1, "--limit", "20", NULL}, NULL},
	{"node_cpu.lua", {"--start", T0, "--end", T1, "--bin", "5m", NULL}, NULL},
	{"kernel_vs_user.lua", {"--start", T0, "--end", T1, "--limit", "20", NULL}, NULL},
	{"diff.lua", {"--baseline-start", T0, "--baseline-end", TM, "--start", TM, "--end", T1, "--limit", "15", NULL}, NULL},
	{"diff_flamegraph.lua", {"--baseline-start", T0, "--baseline-end", TM, "--start", TM, "--end", T1, "--limit", "20", NULL}, NULL},
	{"profile.lua", {"--start", T0, "--end", T1, "--limit", "25", NULL}, NULL},
	{"ring_stats.lua", {NULL}, NULL},
	{"offcpu.lua", {"--start", T0, "--end", T1, "--limit", "20", NULL}, NULL},
	{"offcpu_flamegraph.lua", {"--start", T0, "--end", T1, "--limit", "20", NULL}, NULL},
	{"diff.lua", {"--baseline-start", T0, "--baseline-end", TM, "--start", TM, "--end", T1, "--by", "total", "--table", "offcpu_samples", NULL}, "diff_offcpu"},
	{"diff_flamegraph.lua", {"--baseline-start", T0, "--baseline-end", TM, "--start", TM, "--end", T1, "--table", "offcpu_samples", NULL}, "diff_flamegraph_offcpu"},
	{"profile.lua", {"--start", T0, "--end", T1, "--table", "offcpu_samples", NULL}, "profile_offcpu"},
	{"wallclock.lua", {"--pid", "1407", "--start", T0, "--end", T1, "--limit", "20", NULL}, NULL},
};

static char shift_fn[64];

static struct ring *golden_ring(void)
{
	struct synth_config sc = {4, 99, 400, 12, 40, 11, 1.0, 0, 900};
	struct ring_config rc = {64u << 20, "golden", 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&rc);
	struct synth *s = synth_new(&sc, r);
	assert_non_null(s);
	assert_int_equal(synth_fill(s, S0, SPAN), 0);
	ring_flush(r);
	snprintf(shift_fn, sizeof(shift_fn), "%s", synth_shift_function(s));
	synth_free(s);
	return r;
}

/* A hand-made offcpu_samples ring over the same half hour: two processes waiting on a sleep, a
 * pipe, a futex and the disk, in fixed proportions but for the disk waits, three times as long
 * in the second quarter hour. The first is the synthetic ring's python3
 * (pid 1407), so that wallclock has both halves of its time. */
static struct ring *golden_offcpu_ring(void)
{
	struct ring_config rc = {16u << 20, "golden", 0, RING_OFFCPU_SAMPLES};
	struct ring *r = ring_new(&rc);
	static const char *const waits[4][6] = {
		{"__schedule", "schedule", "do_nanosleep", "clock_nanosleep", "poll_loop", "main"},
		{"__schedule", "schedule", "pipe_read", "read", "read_request", "main"},
		{"__schedule", "schedule", "futex_wait", "pthread_mutex_lock", "take_lock", "worker"},
		{"__schedule", "io_schedule", "folio_wait_bit", "pread64", "load_page", "worker"},
	};
	static const unsigned states[4] = {OFFCPU_SLEEPING, OFFCPU_SLEEPING, OFFCPU_SLEEPING, OFFCPU_UNINTERRUPTIBLE};
	for (int i = 0; i < SPAN * 4; i++) {
		int w = i % 4;
		struct ring_sample smp = {.time_ns = (S0 + i / 4) * 1000000000LL + (i % 4) * 1000, .pid = w < 2 ? 1407 : 200,
					  .tid = w < 2 ? 1407 : 201 + (i / 4) % 2, .cpu = states[w], .cgroup = 1, .count = 1 + w,
					  .value = (int64_t)(w + 1) * 25000000LL * (w == 3 && i / 4 >= SPAN / 2 ? 3 : 1) +
						   (i % 7) * 1000000LL,
					  .comm = w < 2 ? "python3" : "db", .frames = waits[w], .nframes = 6, .nkernel = 3};
		assert_int_equal(ring_append(r, &smp), 0);
	}
	ring_flush(r);
	return r;
}

static void every_script_matches_its_golden(void **state)
{
	(void)state;
	struct ring *r = golden_ring(), *off = golden_offcpu_ring();
	struct ring_set rings = {{r, off}, 2};
	bool update = getenv("WISP_GOLDEN_UPDATE") != NULL;
	int failures = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[512], err[512];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", WISP_SCRIPTS_DIR, cases[i].name);
		char *src = fix_read_file(path, &len);
		int argc = 0;
		while (cases[i].argv[argc])
			argc++;
		struct script_input in = {cases[i].name, src, len, cases[i].argv, argc, (S0 + SPAN) * 1000000000LL};
		struct plan *p = NULL;
		char *log = NULL;
		if (script_compile(&in, NULL, &p, &log, err, sizeof(err)) < 0)
			fail_msg("%s: %s", cases[i].name, err);
		free(log);
		struct qctx q;
		qctx_init(&q);
		q.max_rows = 10000;
		struct scan_source s = {ring_set_scan, &rings};
		struct table *out[8] = {0};
		bool trunc[8];
		if (exec_local(&q, p, &s, out, trunc) < 0)
			fail_msg("%s: %s", cases[i].name, q.err);
		char *text = NULL;
		size_t tlen = 0;
		FILE *mem = open_memstream(&text, &tlen);
		render_tables(mem, &q, out, p->ndisplays, OUT_CSV, err, sizeof(err));
		fclose(mem);
		char golden[512];
		if (cases[i].golden)
			snprintf(golden, sizeof(golden), "%s/%s.csv", WISP_GOLDEN_DIR, cases[i].golden);
		else
			snprintf(golden, sizeof(golden), "%s/%.*s.csv", WISP_GOLDEN_DIR, (int)(strlen(cases[i].name) - 4),
				 cases[i].name);
		if (update) {
			FILE *g = fopen(golden, "w");
			assert_non_null(g);
			fwrite(text, 1, tlen, g);
			fclose(g);
			print_message("wrote %s (%zu bytes)\n", golden, tlen);
		} else {
			FILE *g = fopen(golden, "r");
			char *want = NULL;
			size_t wlen = 0;
			if (g) {
				fclose(g);
				want = fix_read_file(golden, &wlen);
			}
			if (!want || wlen != tlen || memcmp(want, text, tlen) != 0) {
				print_message("%s: output differs from %s (run with WISP_GOLDEN_UPDATE=1 to accept)\n"
					      "--- got (first 600 bytes):\n%.600s\n", cases[i].name, golden, text);
				failures++;
			}
			free(want);
		}
		for (int d = 0; d < p->ndisplays; d++)
			table_free(out[d]);
		free(text);
		plan_free(p);
		qctx_destroy(&q);
		free(src);
	}
	ring_free(r);
	ring_free(off);
	assert_int_equal(failures, 0);
}

/* The profile shifts half-way (a new slow path in the busiest process): diff.lua, comparing the
 * halves, ranks exactly that function first, with a raised share; so does --by total. */
static void diff_ranks_the_regression_first(void **state)
{
	(void)state;
	struct ring *r = golden_ring();
	char path[512], err[512];
	size_t len;
	snprintf(path, sizeof(path), "%s/diff.lua", WISP_SCRIPTS_DIR);
	char *src = fix_read_file(path, &len);
	static const char *const by[] = {"self", "total"};
	for (int k = 0; k < 2; k++) {
		const char *argv[] = {"--baseline-start", T0, "--baseline-end", TM, "--start", TM, "--end", T1, "--by", by[k], NULL};
		struct script_input in = {"diff.lua", src, len, argv, 10, (S0 + SPAN) * 1000000000LL};
		struct plan *p = NULL;
		assert_int_equal(script_compile(&in, NULL, &p, NULL, err, sizeof(err)), 0);
		struct qctx q;
		qctx_init(&q);
		struct scan_source s = {ring_scan, r};
		struct table *out[1];
		bool trunc[1];
		assert_int_equal(exec_local(&q, p, &s, out, trunc), 0);
		assert_string_equal(out[0]->cols[0].v.s[0], shift_fn);
		assert_true(out[0]->cols[table_find(out[0], "delta")].v.f[0] > 5.0);
		table_free(out[0]);
		plan_free(p);
		qctx_destroy(&q);
	}
	free(src);
	ring_free(r);
}

/* A bundled script without a golden case is a test gap: fail until it has one. */
static void every_bundled_script_has_a_case(void **state)
{
	(void)state;
	DIR *d = opendir(WISP_SCRIPTS_DIR);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".lua"))
			continue;
		bool found = false;
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !found; i++)
			found = !strcmp(cases[i].name, e->d_name);
		if (!found)
			fail_msg("scripts/pxl-lua/%s has no golden case in tests/unit/test_golden.c", e->d_name);
	}
	closedir(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_script_matches_its_golden),
		cmocka_unit_test(every_bundled_script_has_a_case),
		cmocka_unit_test(diff_ranks_the_regression_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
