/* test_hashmap.c - the shared hash map: identity and content keys, values that survive growth,
 * dense indexes in insertion order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/hashmap.h"

static void identity_keys_grow(void **state)
{
	(void)state;
	enum { N = 100000 };
	int *keys = malloc(N * sizeof(*keys));
	struct hashmap m;
	hashmap_init(&m, false);
	assert_null(hashmap_get(&m, &keys[0])); /* empty map: no slots yet */
	for (int i = 0; i < N; i++)
		assert_int_equal(hashmap_put(&m, &keys[i], (uint64_t)i * 3), 0);
	assert_int_equal(m.count, N);
	assert_true(m.count * 2 <= m.cap);
	for (int i = 0; i < N; i++) {
		uint64_t *v = hashmap_get(&m, &keys[i]);
		assert_non_null(v);
		assert_int_equal(*v, (uint64_t)i * 3);
	}
	assert_int_equal(hashmap_put(&m, &keys[7], 1), 0); /* overwrite, no new key */
	assert_int_equal(m.count, N);
	assert_int_equal(*hashmap_get(&m, &keys[7]), 1);
	int other;
	assert_null(hashmap_get(&m, &other));
	hashmap_destroy(&m);
	free(keys);
}

static void content_keys_meet(void **state)
{
	(void)state;
	char a[] = "do_syscall_64", b[] = "do_syscall_64";
	struct hashmap byid, bycontent;
	hashmap_init(&byid, false);
	hashmap_init(&bycontent, true);
	assert_int_equal(hashmap_put(&byid, a, 1), 0);
	assert_int_equal(hashmap_put(&bycontent, a, 1), 0);
	assert_null(hashmap_get(&byid, b));       /* another pointer */
	assert_non_null(hashmap_get(&bycontent, b)); /* the same text */
	hashmap_destroy(&byid);
	hashmap_destroy(&bycontent);
}

static void indexes_in_insertion_order(void **state)
{
	(void)state;
	struct hashmap m;
	char names[3000][16];
	hashmap_init(&m, true);
	for (int round = 0; round < 2; round++) /* the second round finds every key again */
		for (int i = 0; i < 3000; i++) {
			snprintf(names[i], sizeof(names[i]), "fn%d", i);
			assert_int_equal(hashmap_index(&m, names[i]), i);
		}
	assert_int_equal(m.count, 3000);
	for (int i = 0; i < 3000; i++)
		assert_string_equal(m.order[i], names[i]);
	hashmap_destroy(&m);
}

static void hashes_are_stable(void **state)
{
	(void)state;
	/* Stacks hash alike in every process of a build (their hashes meet in the coordinator):
	 * equal bytes, equal hash; the seed and every byte count. */
	assert_int_equal(hash_bytes("main", 4, 0), hash_bytes("main", 4, 0));
	assert_int_not_equal(hash_bytes("main", 4, 0), hash_bytes("main", 4, 1));
	assert_int_not_equal(hash_bytes("main", 4, 0), hash_bytes("mainx", 5, 0));
	assert_int_not_equal(hash_mix64(1), hash_mix64(2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(identity_keys_grow),
		cmocka_unit_test(content_keys_meet),
		cmocka_unit_test(indexes_in_insertion_order),
		cmocka_unit_test(hashes_are_stable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
