/* test_snapshot.c - snapshot files: a replayed snapshot answers the bundled scripts exactly as
 * the live ring did for the same range; several files load into one ring; truncated or corrupted
 * files are refused with a message and leave the ring as it was. */
#include "fixture.h"
#include "ring/snapshot.h"

#include <math.h>
#include <unistd.h>
#include <zlib.h>

static struct table *run(struct qctx *q, struct ring *r, const char *script, const char *const *argv)
{
	char path[512], err[512];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", WISP_SCRIPTS_DIR, script);
	char *src = fix_read_file(path, &len);
	struct plan *p = fix_compile(script, src, argv, err, sizeof(err));
	if (!p)
		fail_msg("compile: %s", err);
	struct scan_source s = {ring_scan, r};
	struct table *out[1];
	bool trunc[1];
	q->max_rows = 0;
	if (exec_local(q, p, &s, out, trunc) < 0)
		fail_msg("exec: %s", q->err);
	plan_free(p);
	free(src);
	return out[0];
}

static void assert_same(struct qctx *qa, const struct table *a, struct qctx *qb, const struct table *b)
{
	assert_int_equal(a->ncols, b->ncols);
	assert_int_equal(a->nrows, b->nrows);
	for (int c = 0; c < a->ncols; c++)
		for (size_t i = 0; i < a->nrows; i++) {
			const struct column *x = &a->cols[c], *y = &b->cols[c];
			switch (x->type) {
			case VT_STRING: assert_string_equal(x->v.s[i], y->v.s[i]); break;
			case VT_STACK: assert_string_equal(qctx_stack_folded(qa, x->v.k[i], FRAME_LINE), qctx_stack_folded(qb, y->v.k[i], FRAME_LINE)); break;
			case VT_FLOAT: assert_true(fabs(x->v.f[i] - y->v.f[i]) < 1e-9); break;
			case VT_BOOL: assert_int_equal(x->v.b[i], y->v.b[i]); break;
			default: assert_int_equal(x->v.i[i], y->v.i[i]); break;
			}
		}
}

static struct ring *empty_ring(const char *node)
{
	struct ring_config cfg = {64u << 20, node, 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&cfg);
	assert_non_null(r);
	return r;
}

static void replay_answers_like_live(void **state)
{
	(void)state;
	struct ring *live = fix_ring("n1", 51, 60000); /* 600 s */
	void *buf;
	size_t len;
	char err[256];
	/* A range that cuts batches: [100 s, 450 s). */
	int64_t t0 = FIX_T0 + 100000000000LL, t1 = FIX_T0 + 450000000000LL;
	assert_int_equal(ring_snapshot(live, t0, t1, &buf, &len, err, sizeof(err)), 0);
	struct ring *replay = empty_ring("n1");
	assert_int_equal(ring_load_snapshot(replay, buf, len, err, sizeof(err)), 0);
	char start[32], end[32];
	snprintf(start, sizeof(start), "%lld", (long long)t0);
	snprintf(end, sizeof(end), "%lld", (long long)t1);
	const char *argv[] = {"--start", start, "--end", end, "--limit", "100000", NULL};
	static const char *const scripts[] = {"top_functions.lua", "flamegraph.lua", "processes.lua"};
	for (size_t i = 0; i < 3; i++) {
		struct qctx qa, qb;
		qctx_init(&qa);
		qctx_init(&qb);
		struct table *a = run(&qa, live, scripts[i], argv), *b = run(&qb, replay, scripts[i], argv);
		assert_true(a->nrows > 0);
		assert_same(&qa, a, &qb, b);
		table_free(a);
		table_free(b);
		qctx_destroy(&qa);
		qctx_destroy(&qb);
	}
	struct ring_stats sl, sr;
	ring_get_stats(live, &sl);
	ring_get_stats(replay, &sr);
	assert_true(sr.samples > 0 && sr.samples < sl.samples); /* whole batches of the range only */
	print_message("snapshot: %zu bytes for %llu samples (%.2f bytes/sample)\n", len,
		      (unsigned long long)sr.samples, (double)len / (double)sr.samples);
	free(buf);
	ring_free(replay);
	ring_free(live);
}

/* Snapshots of adjacent ranges (cut inside batches and inside a second), each loaded clipped to
 * its range: together they hold every sample once, and each answers its range as live does. */
static void adjacent_ranges_count_once(void **state)
{
	(void)state;
	struct ring *live = fix_ring("n1", 54, 60000); /* 600 s */
	int64_t cut[4] = {FIX_T0, FIX_T0 + 200500000000LL, FIX_T0 + 333000000000LL, FIX_T0 + 700000000000LL};
	struct ring *all = empty_ring("n1");
	char err[256];
	for (int i = 0; i < 3; i++) {
		void *buf;
		size_t len;
		assert_int_equal(ring_snapshot(live, cut[i], cut[i + 1], &buf, &len, err, sizeof(err)), 0);
		assert_int_equal(ring_load_snapshot_range(all, buf, len, cut[i], cut[i + 1], err, sizeof(err)), 0);
		struct ring *one = empty_ring("n1");
		assert_int_equal(ring_load_snapshot_range(one, buf, len, cut[i], cut[i + 1], err, sizeof(err)), 0);
		char start[32], end[32];
		snprintf(start, sizeof(start), "%lld", (long long)cut[i]);
		snprintf(end, sizeof(end), "%lld", (long long)cut[i + 1]);
		const char *wide[] = {"--start", "0", "--limit", "100000", NULL};
		const char *range[] = {"--start", start, "--end", end, "--limit", "100000", NULL};
		struct qctx qa, qb;
		qctx_init(&qa);
		qctx_init(&qb);
		/* The clipped ring holds nothing outside its range: all of it is the live range. */
		struct table *a = run(&qa, live, "top_functions.lua", range), *b = run(&qb, one, "top_functions.lua", wide);
		assert_true(a->nrows > 0);
		assert_same(&qa, a, &qb, b);
		table_free(a);
		table_free(b);
		qctx_destroy(&qa);
		qctx_destroy(&qb);
		ring_free(one);
		free(buf);
	}
	struct ring_stats sl, sa;
	ring_get_stats(live, &sl);
	ring_get_stats(all, &sa);
	assert_int_equal(sa.samples, sl.samples);
	ring_free(all);
	ring_free(live);
}

static void several_files_one_ring(void **state)
{
	(void)state;
	struct ring *a = fix_ring("n1", 52, 20000), *b = fix_ring("n1", 53, 30000);
	void *ba, *bb;
	size_t la, lb;
	char err[256];
	assert_int_equal(ring_snapshot(a, INT64_MIN, INT64_MAX, &ba, &la, err, sizeof(err)), 0);
	assert_int_equal(ring_snapshot(b, INT64_MIN, INT64_MAX, &bb, &lb, err, sizeof(err)), 0);
	struct ring *both = empty_ring("n1");
	assert_int_equal(ring_load_snapshot(both, bb, lb, err, sizeof(err)), 0);
	assert_int_equal(ring_load_snapshot(both, ba, la, err, sizeof(err)), 0);
	struct ring_stats st;
	ring_get_stats(both, &st);
	assert_int_equal(st.samples, 50000);
	/* Snapshot of the merged ring round-trips too. */
	void *bc;
	size_t lc;
	assert_int_equal(ring_snapshot(both, INT64_MIN, INT64_MAX, &bc, &lc, err, sizeof(err)), 0);
	struct ring *again = empty_ring("n1");
	assert_int_equal(ring_load_snapshot(again, bc, lc, err, sizeof(err)), 0);
	ring_get_stats(again, &st);
	assert_int_equal(st.samples, 50000);
	free(ba);
	free(bb);
	free(bc);
	ring_free(a);
	ring_free(b);
	ring_free(both);
	ring_free(again);
}

static void fix_crc(uint8_t *buf, size_t len)
{
	uint32_t crc = (uint32_t)crc32(0, buf + 16, (uInt)(len - 16));
	memcpy(buf + 12, &crc, 4);
}

static void corrupt_files_are_refused(void **state)
{
	(void)state;
	struct ring *src = fix_ring("n1", 54, 8000);
	void *buf;
	size_t len;
	char err[256];
	assert_int_equal(ring_snapshot(src, INT64_MIN, INT64_MAX, &buf, &len, err, sizeof(err)), 0);
	struct ring *dst = fix_ring("n1", 55, 1000);
	struct ring_stats before, after;
	ring_get_stats(dst, &before);
	uint8_t *m = malloc(len);
	/* Every truncation. */
	for (size_t cut = 0; cut < len; cut += 1 + len / 500) {
		assert_int_equal(ring_load_snapshot(dst, buf, cut, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	/* Byte flips: caught by the CRC. */
	uint64_t seed = 3;
	for (int i = 0; i < 300; i++) {
		memcpy(m, buf, len);
		m[16 + fix_rand(&seed) % (len - 16)] ^= (uint8_t)(1 + fix_rand(&seed) % 255);
		assert_int_equal(ring_load_snapshot(dst, m, len, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "checksum"));
	}
	/* Header damage. */
	memcpy(m, buf, len);
	m[0] = 'X';
	assert_int_equal(ring_load_snapshot(dst, m, len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "magic"));
	memcpy(m, buf, len);
	m[8] = 9;
	assert_int_equal(ring_load_snapshot(dst, m, len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version"));
	/* Flips behind a valid CRC reach zstd's own checksum and the parser: refused or loaded,
	 * never a crash (the fuzzer goes much further). */
	for (int i = 0; i < 300; i++) {
		memcpy(m, buf, len);
		m[16 + fix_rand(&seed) % (len - 16)] ^= (uint8_t)(1 + fix_rand(&seed) % 255);
		fix_crc(m, len);
		struct ring *scratch = empty_ring("n1");
		ring_load_snapshot(scratch, m, len, err, sizeof(err));
		ring_free(scratch);
	}
	ring_get_stats(dst, &after);
	assert_int_equal(after.samples, before.samples);
	assert_int_equal(after.batches, before.batches);
	assert_int_equal(after.stacks, before.stacks);
	free(m);
	free(buf);
	ring_free(src);
	ring_free(dst);
}

/* The snapshot of r over [t0, t1) written to path, as `wisp snapshot` writes what it receives. */
static int write_snapshot_file(struct ring *r, int64_t t0, int64_t t1, const char *path, char *err, size_t errlen)
{
	void *buf;
	size_t len;
	if (ring_snapshot(r, t0, t1, &buf, &len, err, errlen) < 0)
		return -1;
	FILE *f = fopen(path, "wb");
	int rc = f && fwrite(buf, 1, len, f) == len ? 0 : -1;
	if (f && fclose(f) != 0)
		rc = -1;
	free(buf);
	return rc;
}

static void files(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 56, 5000);
	char err[256], path[] = "/tmp/wisp-snap-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(write_snapshot_file(r, INT64_MIN, INT64_MAX, path, err, sizeof(err)), 0);
	struct ring *back = empty_ring("n1");
	assert_int_equal(ring_set_load_snapshot_file(&(struct ring_set){{back}, 1}, path, err, sizeof(err)), 0);
	struct ring_stats st;
	ring_get_stats(back, &st);
	assert_int_equal(st.samples, 5000);
	unlink(path);
	assert_int_equal(ring_set_load_snapshot_file(&(struct ring_set){{back}, 1}, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
	ring_free(back);
	ring_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(replay_answers_like_live),
		cmocka_unit_test(adjacent_ranges_count_once),
		cmocka_unit_test(several_files_one_ring),
		cmocka_unit_test(corrupt_files_are_refused),
		cmocka_unit_test(files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
