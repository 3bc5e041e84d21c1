/* test_memo.c - the collector's bounded memo (vizier/agent/sources/memo.h): a value comes back
 * under its key and only its key; a third key of a pair displaces the one used longest ago,
 * handing its value to the drop function; expiry drops what was not used; free drops the rest;
 * the statistics count hits, misses, entries and bytes. */
#include "fixture.h"

#include "agent/sources/memo.h"

struct dropped {
	int n;
	intptr_t last;
};

static void count_drop(void *ud, void *value)
{
	struct dropped *d = ud;
	d->n++;
	d->last = (intptr_t)value;
}

static void *val(intptr_t v)
{
	return (void *)v;
}

static void get_and_put(void **state)
{
	(void)state;
	struct dropped d = {0};
	struct memo *m = memo_new(64, count_drop, &d);
	assert_non_null(m);
	uint64_t a[3] = {1, 2, 3}, b[3] = {1, 2, 4}, a2[2] = {1, 2};
	assert_null(memo_get(m, a, 3, 100, NULL));
	assert_int_equal(memo_put(m, a, 3, val(11), 100, 77, 100), 0);
	uint64_t aux = 0;
	assert_ptr_equal(memo_get(m, a, 3, 101, &aux), val(11));
	assert_int_equal(aux, 77); /* the word kept beside the value */
	assert_null(memo_get(m, b, 3, 101, NULL));  /* another word */
	assert_null(memo_get(m, a2, 2, 101, NULL)); /* a prefix */
	assert_int_equal(memo_put(m, b, 3, val(12), 100, 0, 101), 0);
	assert_ptr_equal(memo_get(m, b, 3, 102, NULL), val(12));
	assert_ptr_equal(memo_get(m, a, 3, 102, NULL), val(11));
	/* A key longer than an entry holds (a stack's) */
	uint64_t l[40], l2[40];
	for (int i = 0; i < 40; i++)
		l[i] = l2[i] = (uint64_t)i * 0x9e3779b97f4a7c15u;
	l2[39]++;
	assert_int_equal(memo_put(m, l, 40, val(13), 0, 0, 102), 0);
	assert_ptr_equal(memo_get(m, l, 40, 103, NULL), val(13));
	assert_null(memo_get(m, l2, 40, 103, NULL));
	assert_null(memo_get(m, l, 39, 103, NULL));
	struct memo_stats st;
	memo_get_stats(m, &st);
	assert_int_equal(st.hits, 4);
	assert_int_equal(st.misses, 5);
	assert_int_equal(st.entries, 3);
	memo_free(m);
	assert_int_equal(d.n, 3);
}

static void displaces_least_recently_used(void **state)
{
	(void)state;
	struct dropped d = {0};
	struct memo *m = memo_new(2, count_drop, &d); /* one set: every key shares it */
	uint64_t k[3][1] = {{10}, {20}, {30}};
	struct memo_stats empty;
	memo_get_stats(m, &empty);
	assert_int_equal(memo_put(m, k[0], 1, val(1), 8, 0, 1), 0);
	assert_int_equal(memo_put(m, k[1], 1, val(2), 8, 0, 2), 0);
	assert_ptr_equal(memo_get(m, k[0], 1, 3, NULL), val(1)); /* k[0] now used after k[1] */
	assert_int_equal(memo_put(m, k[2], 1, val(3), 8, 0, 4), 0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.last, 2); /* k[1]'s value went */
	assert_null(memo_get(m, k[1], 1, 5, NULL));
	assert_ptr_equal(memo_get(m, k[0], 1, 5, NULL), val(1));
	assert_ptr_equal(memo_get(m, k[2], 1, 5, NULL), val(3));
	struct memo_stats st;
	memo_get_stats(m, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.bytes - empty.bytes, 2 * 8); /* two values of 8 (keys of a word live in their entries) */
	memo_free(m);
	assert_int_equal(d.n, 3);
}

static void expires_unused(void **state)
{
	(void)state;
	struct dropped d = {0};
	struct memo *m = memo_new(1024, count_drop, &d);
	for (uint64_t i = 0; i < 100; i++)
		assert_int_equal(memo_put(m, &i, 1, val((intptr_t)i + 1), 0, 0, 1000), 0);
	for (uint64_t i = 0; i < 100; i += 2)
		assert_non_null(memo_get(m, &i, 1, 1050, NULL));
	memo_expire(m, 1070, 60); /* the odd keys were last used at 1000 */
	assert_int_equal(d.n, 50);
	for (uint64_t i = 0; i < 100; i++)
		assert_true((memo_get(m, &i, 1, 1071, NULL) != NULL) == (i % 2 == 0));
	memo_free(m);
	assert_int_equal(d.n, 100);
}

/* However many keys go in, the memo holds at most its slots, and every value put is either held
 * or dropped exactly once. */
static void bounded(void **state)
{
	(void)state;
	struct dropped d = {0};
	struct memo *m = memo_new(256, count_drop, &d);
	for (uint64_t i = 0; i < 10000; i++) {
		uint64_t key[2] = {i, i * 7};
		if (!memo_get(m, key, 2, (time_t)i, NULL))
			assert_int_equal(memo_put(m, key, 2, val((intptr_t)i + 1), 0, 0, (time_t)i), 0);
	}
	struct memo_stats st;
	memo_get_stats(m, &st);
	assert_true(st.entries <= 256);
	assert_int_equal(st.entries + (uint64_t)d.n, 10000);
	memo_free(m);
	assert_int_equal(d.n, 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_and_put),
		cmocka_unit_test(displaces_least_recently_used),
		cmocka_unit_test(expires_unused),
		cmocka_unit_test(bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
