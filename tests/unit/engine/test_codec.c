/* test_codec.c - msgpack encoding of tables and plans: round trips, and hostile input (every
 * truncation and thousands of random byte flips of valid messages) never crashes the decoder. */
#include "fixture.h"

static void table_round_trip(void **state)
{
	(void)state;
	struct ring *r = fix_ring("n1", 31, 700);
	char err[256];
	struct plan *p = fix_compile("t.lua",
		"local df = px.DataFrame{table='stack_samples', start_time=0}\n"
		"df.f = px.float(df.cpu) / 3\ndf.b = df.cpu:gt(1)\n"
		"px.display(df, 'all')\n", NULL, err, sizeof(err));
	assert_non_null(p);
	struct qctx q;
	qctx_init(&q);
	struct scan_source s = {ring_scan, r};
	struct table *out[1];
	bool trunc[1];
	assert_int_equal(exec_local(&q, p, &s, out, trunc), 0);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	assert_int_equal(codec_pack_table(&pk, out[0]), 0);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	struct qctx q2;
	qctx_init(&q2);
	struct table *back = NULL;
	assert_int_equal(codec_unpack_table(&q2, &u.data, &back), 0);
	assert_int_equal(back->nrows, 700);
	assert_int_equal(back->ncols, out[0]->ncols);
	assert_string_equal(back->name, "all");
	for (int c = 0; c < back->ncols; c++)
		for (size_t i = 0; i < back->nrows; i++) {
			const struct column *a = &out[0]->cols[c], *b = &back->cols[c];
			if (a->type == VT_STACK)
				assert_string_equal(qctx_stack_folded(&q, a->v.k[i], FRAME_LINE), qctx_stack_folded(&q2, b->v.k[i], FRAME_LINE));
			else if (a->type == VT_STRING)
				assert_string_equal(a->v.s[i], b->v.s[i]);
			else if (a->type == VT_BOOL)
				assert_int_equal(a->v.b[i], b->v.b[i]);
			else
				assert_memory_equal(&a->v.i[i], &b->v.i[i], 8);
		}
	/* Equal stacks decode to one pointer (the coordinator relies on it for group-by). */
	const struct column *k = &back->cols[table_find(back, "stack")];
	for (size_t i = 1; i < back->nrows; i++)
		if (!strcmp(qctx_stack_folded(&q2, k->v.k[i], FRAME_LINE), qctx_stack_folded(&q2, k->v.k[0], FRAME_LINE)))
			assert_ptr_equal(k->v.k[i], k->v.k[0]);
	table_free(back);
	table_free(out[0]);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	qctx_destroy(&q2);
	qctx_destroy(&q);
	plan_free(p);
	ring_free(r);
}

/* Decodes bytes as a table and as a plan; must not crash, may fail. */
static void decode_anything(const char *buf, size_t len)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	if (mp_unpack(&u, buf, len)) {
		struct qctx q;
		qctx_init(&q);
		struct table *t = NULL;
		if (codec_unpack_table(&q, &u.data, &t) == 0)
			table_free(t);
		struct plan *p = NULL;
		char err[256];
		if (codec_unpack_plan(&u.data, &p, err, sizeof(err)) == 0) {
			assert_int_equal(plan_split(p), 0);
			plan_free(p);
		}
		qctx_destroy(&q);
	}
	msgpack_unpacked_destroy(&u);
}

static void hostile_bytes(void **state)
{
	(void)state;
	char err[256];
	char path[512];
	size_t len;
	snprintf(path, sizeof(path), "%s/top_functions.lua", WISP_SCRIPTS_DIR);
	char *src = fix_read_file(path, &len);
	struct plan *p = fix_compile("top_functions.lua", src, NULL, err, sizeof(err));
	assert_non_null(p);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	codec_pack_plan(&pk, p);
	/* Also a table with stacks. */
	struct ring *r = fix_ring("n1", 32, 50);
	struct qctx q;
	qctx_init(&q);
	struct scan_source s = {ring_scan, r};
	struct table *out[1];
	bool trunc[1];
	struct plan *p2 = fix_compile("t.lua", "px.display(px.DataFrame{table='stack_samples', start_time=0}, 'x')",
				      NULL, err, sizeof(err));
	assert_int_equal(exec_local(&q, p2, &s, out, trunc), 0);
	size_t plan_len = sb.size;
	codec_pack_table(&pk, out[0]);
	struct { size_t off, len; } msgs[2] = {{0, plan_len}, {plan_len, sb.size - plan_len}};
	char *buf = malloc(sb.size);
	uint64_t seed = 7;
	for (int m = 0; m < 2; m++) {
		const char *orig = sb.data + msgs[m].off;
		size_t n = msgs[m].len;
		for (size_t cut = 0; cut < n; cut += (n / 300) + 1) /* truncations */
			decode_anything(orig, cut);
		for (int iter = 0; iter < 3000; iter++) { /* random byte flips */
			memcpy(buf, orig, n);
			int flips = 1 + (int)(fix_rand(&seed) % 4);
			for (int f = 0; f < flips; f++)
				buf[fix_rand(&seed) % n] = (char)fix_rand(&seed);
			decode_anything(buf, n);
		}
	}
	free(buf);
	free(src);
	table_free(out[0]);
	plan_free(p);
	plan_free(p2);
	qctx_destroy(&q);
	ring_free(r);
	msgpack_sbuffer_destroy(&sb);
}

/* The pre-check refuses frames whose declared sizes exceed the bytes present. */
static void sane_refuses_lying_headers(void **state)
{
	(void)state;
	static const struct { const char *bytes; size_t len; bool ok; } cases[] = {
		{"\x93\x01\x02\x03", 4, true},            /* [1,2,3] */
		{"\x93\x01\x02", 3, false},                /* short array */
		{"\xdd\xff\xff\xff\xff\x01", 6, false},    /* array32 of 4 billion */
		{"\xdf\x10\x00\x00\x00\x01", 6, false},    /* map32 of 268 M pairs */
		{"\xdb\xff\xff\xff\xff", 5, false},        /* str32 longer than the frame */
		{"\x81\xa1\x61\x01", 4, true},             /* {"a":1} */
		{"\x81\xa1\x61\x01\x00", 5, false},         /* trailing byte */
		{"\xc1", 1, false},                          /* reserved */
		{"", 0, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mp_sane(cases[i].bytes, cases[i].len), cases[i].ok);
	char deep[600];
	memset(deep, 0x91, sizeof(deep)); /* 600 nested one-element arrays */
	deep[599] = 0x01;
	assert_false(mp_sane(deep, sizeof(deep)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_round_trip),
		cmocka_unit_test(hostile_bytes),
		cmocka_unit_test(sane_refuses_lying_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
