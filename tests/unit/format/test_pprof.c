/* test_pprof.c - -o pprof: a table of stacks comes back from the gzipped profile.proto as the
 * samples, locations, functions, lines, mappings, labels and CPU time it held (decoded with protobuf-c and
 * zlib, the way any reader would); folded string stacks too; a table with blocked_ns is an off-CPU
 * profile; a table without stacks is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "format/render.h"
#include "core/intern.h"
#include "core/qctx.h"
#include "core/table.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile Profile;

/* Renders tables as pprof and decodes the result (caller frees with ..._free_unpacked). */
static Profile *round_trip(struct qctx *q, struct table **t, int n, const struct pprof_opts *o)
{
	char *out = NULL, err[256] = "";
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	int rc = render_pprof(f, q, t, n, o, err, sizeof(err));
	fclose(f);
	if (rc != 0)
		fail_msg("render_pprof: %s", err);
	assert_true(len > 18 && (unsigned char)out[0] == 0x1f && (unsigned char)out[1] == 0x8b); /* gzip */
	size_t cap = 1 << 20;
	uint8_t *raw = malloc(cap);
	z_stream z = {.next_in = (Bytef *)out, .avail_in = (uInt)len, .next_out = raw, .avail_out = (uInt)cap};
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	Profile *p = perftools__profiles__profile__unpack(NULL, z.total_out, raw);
	inflateEnd(&z);
	free(raw);
	free(out);
	assert_non_null(p);
	return p;
}

static const char *str(const Profile *p, int64_t i)
{
	assert_true(i >= 0 && (size_t)i < p->n_string_table);
	return p->string_table[i];
}

static const Perftools__Profiles__Location *loc(const Profile *p, uint64_t id)
{
	assert_true(id >= 1 && id <= p->n_location);
	assert_int_equal(p->location[id - 1]->id, id);
	return p->location[id - 1];
}

static const Perftools__Profiles__Function *fn(const Profile *p, uint64_t id)
{
	assert_true(id >= 1 && id <= p->n_function);
	return p->function[id - 1];
}

static void stacks_round_trip(void **state)
{
	(void)state;
	struct qctx q;
	qctx_init(&q);
	struct intern *it = qctx_intern(&q);
	const char *k = intern_str(it, "do_syscall_64");
	const char *cmp26 = intern_str(it, "cmp\x1f/src/x.c:26\x1f_Z3cmpv"), *cmp27 = intern_str(it, "cmp\x1f/src/x.c:27\x1f_Z3cmpv");
	const char *main69 = intern_str(it, "main\x1f/src/x.c:69\x1f\x1f/usr/bin/x\x1f" "abcd01");
	const char *f0[] = {k, cmp26, main69}, *f1[] = {cmp27, main69};
	struct stack *s0 = intern_stack(it, f0, 3, 1), *s1 = intern_stack(it, f1, 2, 0);
	const char *names[] = {"node", "pid", "stack", "samples"};
	enum vtype types[] = {VT_STRING, VT_INT, VT_STACK, VT_INT};
	struct table *t = table_new(4, names, types);
	assert_int_equal(table_reserve(t, 2), 0);
	t->cols[0].v.s[0] = "a", t->cols[1].v.i[0] = 1, t->cols[2].v.k[0] = s0, t->cols[3].v.i[0] = 3;
	t->cols[0].v.s[1] = "b", t->cols[1].v.i[1] = 2, t->cols[2].v.k[1] = s1, t->cols[3].v.i[1] = 5;
	t->nrows = 2;
	const struct pprof_rate rates[] = {{"a", 100}, {"b", 1000}};
	const struct pprof_opts o = {.default_hz = 100, .rates = rates, .nrates = 2};
	Profile *p = round_trip(&q, &t, 1, &o);

	assert_string_equal(str(p, 0), "");
	assert_int_equal(p->n_sample_type, 2);
	assert_string_equal(str(p, p->sample_type[0]->type), "samples");
	assert_string_equal(str(p, p->sample_type[1]->type), "cpu");
	assert_string_equal(str(p, p->sample_type[1]->unit), "nanoseconds");
	assert_int_equal(p->period, 10000000);
	assert_int_equal(p->n_sample, 2);
	/* Values: the count, and the count times the node's period. */
	assert_int_equal(p->sample[0]->value[0], 3);
	assert_int_equal(p->sample[0]->value[1], 3 * 10000000LL);
	assert_int_equal(p->sample[1]->value[1], 5 * 1000000LL);
	/* Labels: node (a string), pid (a number). */
	assert_int_equal(p->sample[0]->n_label, 2);
	assert_string_equal(str(p, p->sample[0]->label[0]->key), "node");
	assert_string_equal(str(p, p->sample[0]->label[0]->str), "a");
	assert_string_equal(str(p, p->sample[1]->label[1]->key), "pid");
	assert_int_equal(p->sample[1]->label[1]->num, 2);
	/* Locations leaf first; the kernel frame in the kernel mapping; lines; a function shared by
	 * two lines, with its raw name and file. */
	assert_int_equal(p->sample[0]->n_location_id, 3);
	const Perftools__Profiles__Location *lk = loc(p, p->sample[0]->location_id[0]);
	/* Mappings: the program's (it starts every sample) first, then the kernel's. */
	assert_int_equal(p->n_mapping, 2);
	assert_string_equal(str(p, p->mapping[0]->filename), "/usr/bin/x");
	assert_string_equal(str(p, p->mapping[0]->build_id), "abcd01");
	assert_true(p->mapping[0]->has_line_numbers);
	assert_string_equal(str(p, p->mapping[1]->filename), "[kernel.kallsyms]");
	assert_int_equal(lk->mapping_id, p->mapping[1]->id);
	assert_int_equal(loc(p, p->sample[1]->location_id[1])->mapping_id, p->mapping[0]->id);
	assert_string_equal(str(p, fn(p, lk->line[0]->function_id)->name), "do_syscall_64");
	const Perftools__Profiles__Location *l26 = loc(p, p->sample[0]->location_id[1]),
					    *l27 = loc(p, p->sample[1]->location_id[0]);
	assert_int_equal(l26->mapping_id, 0);
	assert_int_equal(l26->line[0]->line, 26);
	assert_int_equal(l27->line[0]->line, 27);
	assert_int_not_equal(l26->id, l27->id);
	assert_int_equal(l26->line[0]->function_id, l27->line[0]->function_id);
	const Perftools__Profiles__Function *cmp = fn(p, l26->line[0]->function_id);
	assert_string_equal(str(p, cmp->name), "cmp");
	assert_string_equal(str(p, cmp->system_name), "_Z3cmpv");
	assert_string_equal(str(p, cmp->filename), "/src/x.c");
	assert_int_equal(p->sample[0]->location_id[2], p->sample[1]->location_id[1]); /* main:69, once */
	assert_int_equal(p->n_location, 4);
	assert_int_equal(p->n_function, 3);
	perftools__profiles__profile__free_unpacked(p, NULL);
	table_free(t);
	intern_stack_unref(it, s0);
	intern_stack_unref(it, s1);
	qctx_destroy(&q);
}

static void folded_strings(void **state)
{
	(void)state;
	struct qctx q;
	qctx_init(&q);
	const char *names[] = {"stack", "samples"};
	enum vtype types[] = {VT_STRING, VT_INT};
	struct table *t = table_new(2, names, types);
	assert_int_equal(table_reserve(t, 1), 0);
	t->cols[0].v.s[0] = "prog;main;cmp;do_syscall_64_[k]";
	t->cols[1].v.i[0] = 7;
	t->nrows = 1;
	Profile *p = round_trip(&q, &t, 1, NULL);
	assert_int_equal(p->n_sample, 1);
	assert_int_equal(p->sample[0]->value[1], 7 * (1000000000LL / 99));
	assert_int_equal(p->sample[0]->n_label, 0);
	static const char *const want[] = {"do_syscall_64", "cmp", "main", "prog"};
	assert_int_equal(p->sample[0]->n_location_id, 4);
	for (int i = 0; i < 4; i++) {
		const Perftools__Profiles__Location *l = loc(p, p->sample[0]->location_id[i]);
		assert_string_equal(str(p, fn(p, l->line[0]->function_id)->name), want[i]);
		assert_int_equal(l->mapping_id != 0, i == 0);
	}
	perftools__profiles__profile__free_unpacked(p, NULL);
	table_free(t);
	qctx_destroy(&q);
}

/* offcpu_samples grouped by stack: periods/count and off_cpu/nanoseconds, the time blocked as it
 * is (no sampling period), and blocked_ns is a value, not a label. */
static void offcpu_profile(void **state)
{
	(void)state;
	struct qctx q;
	qctx_init(&q);
	const char *names[] = {"pid", "stack", "samples", "blocked_ns"};
	enum vtype types[] = {VT_INT, VT_STRING, VT_INT, VT_INT};
	struct table *t = table_new(4, names, types);
	assert_int_equal(table_reserve(t, 2), 0);
	t->cols[0].v.i[0] = 4, t->cols[1].v.s[0] = "prog;main;nap;schedule_[k]", t->cols[2].v.i[0] = 3;
	t->cols[3].v.i[0] = 750000000;
	t->cols[0].v.i[1] = 4, t->cols[1].v.s[1] = "prog;main;wait;schedule_[k]", t->cols[2].v.i[1] = 1;
	t->cols[3].v.i[1] = 250000000;
	t->nrows = 2;
	Profile *p = round_trip(&q, &t, 1, NULL);
	assert_int_equal(p->n_sample_type, 2);
	assert_string_equal(str(p, p->sample_type[0]->type), "periods");
	assert_string_equal(str(p, p->sample_type[0]->unit), "count");
	assert_string_equal(str(p, p->sample_type[1]->type), "off_cpu");
	assert_string_equal(str(p, p->sample_type[1]->unit), "nanoseconds");
	assert_string_equal(str(p, p->default_sample_type), "off_cpu");
	assert_int_equal(p->period, 0);
	assert_int_equal(p->sample[0]->value[0], 3);
	assert_int_equal(p->sample[0]->value[1], 750000000);
	assert_int_equal(p->sample[1]->value[1], 250000000);
	assert_int_equal(p->sample[0]->n_label, 1);
	assert_string_equal(str(p, p->sample[0]->label[0]->key), "pid");
	perftools__profiles__profile__free_unpacked(p, NULL);
	table_free(t);
	qctx_destroy(&q);
}

static void no_stack_refused(void **state)
{
	(void)state;
	struct qctx q;
	qctx_init(&q);
	const char *names[] = {"function", "self_samples"};
	enum vtype types[] = {VT_STRING, VT_INT};
	struct table *t = table_new(2, names, types);
	char *out = NULL, err[256] = "";
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_int_equal(render_pprof(f, &q, &t, 1, NULL, err, sizeof(err)), -1);
	fclose(f);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err, "needs a table with a stack column"));
	free(out);
	table_free(t);
	qctx_destroy(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stacks_round_trip),
		cmocka_unit_test(folded_strings),
		cmocka_unit_test(offcpu_profile),
		cmocka_unit_test(no_stack_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
