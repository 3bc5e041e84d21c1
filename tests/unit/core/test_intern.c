/* test_intern.c - string and stack interning: dedup, reference counts, deletion under load. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/intern.h"

static void strings_dedupe(void **state)
{
	(void)state;
	struct intern *it = intern_new();
	const char *a = intern_str(it, "main"), *b = intern_strn(it, "mainly", 4), *c = intern_str(it, "mai");
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_string_equal(b, "main");
	assert_int_equal(intern_nstrings(it), 2);
	const char *empty = intern_str(it, "");
	assert_string_equal(empty, "");
	char longs[5000];
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	assert_string_equal(intern_str(it, longs), longs);
	intern_free(it);
}

static void stacks_refcount_and_free(void **state)
{
	(void)state;
	struct intern *it = intern_new();
	const char *f[3] = {intern_str(it, "leaf"), intern_str(it, "mid"), intern_str(it, "main")};
	struct stack *s1 = intern_stack(it, f, 3, 1), *s2 = intern_stack(it, f, 3, 1);
	struct stack *s3 = intern_stack(it, f, 3, 0); /* same frames, different kernel split */
	assert_ptr_equal(s1, s2);
	assert_ptr_not_equal(s1, s3);
	assert_int_equal(s1->refs, 2);
	assert_int_equal(intern_nstacks(it), 2);
	intern_stack_unref(it, s1);
	assert_int_equal(intern_nstacks(it), 2);
	intern_stack_unref(it, s2);
	assert_int_equal(intern_nstacks(it), 1);
	assert_null(intern_stack_by_id(it, s3->id == 0 ? 1 : 0)); /* s1's id is free again */
	struct stack *empty = intern_stack(it, NULL, 0, 0);
	assert_ptr_equal(intern_stack_by_id(it, empty->id), empty);
	assert_int_equal(empty->nframes, 0);
	intern_stack_unref(it, empty);
	intern_stack_unref(it, s3);
	assert_int_equal(intern_nstacks(it), 0);
	intern_free(it);
}

/* Random inserts and removals against a reference count array: every live stack must stay
 * findable (backward-shift deletion must not lose probe chains). */
static void stacks_random_churn(void **state)
{
	(void)state;
	enum { N = 3000 };
	struct intern *it = intern_new();
	struct stack *live[N] = {0};
	int refs[N] = {0};
	char buf[2][32];
	uint64_t s = 42;
	for (int step = 0; step < 200000; step++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		int k = (int)((s >> 33) % N);
		/* Strings live only while a stack holds them: intern them anew for every use. */
		snprintf(buf[0], sizeof(buf[0]), "fn%d", k);
		snprintf(buf[1], sizeof(buf[1]), "fn%d", (k * 7) % N);
		const char *fr[2] = {intern_str(it, buf[0]), intern_str(it, buf[1])};
		if ((s >> 20) & 1 || refs[k] == 0) {
			struct stack *st = intern_stack(it, fr, 2, 0);
			assert_non_null(st);
			if (refs[k])
				assert_ptr_equal(st, live[k]);
			live[k] = st;
			refs[k]++;
		} else {
			intern_stack_unref(it, live[k]);
			if (--refs[k] == 0)
				live[k] = NULL;
		}
	}
	size_t nlive = 0;
	for (int k = 0; k < N; k++) {
		if (!refs[k])
			continue;
		nlive++;
		snprintf(buf[0], sizeof(buf[0]), "fn%d", k);
		snprintf(buf[1], sizeof(buf[1]), "fn%d", (k * 7) % N);
		const char *fr[2] = {intern_str(it, buf[0]), intern_str(it, buf[1])};
		struct stack *st = intern_stack(it, fr, 2, 0);
		assert_ptr_equal(st, live[k]);
		intern_stack_unref(it, st);
	}
	assert_int_equal(intern_nstacks(it), nlive);
	/* Every string still interned belongs to a live stack (none leaked). */
	assert_true(intern_nstrings(it) <= 2 * nlive);
	intern_free(it);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strings_dedupe),
		cmocka_unit_test(stacks_refcount_and_free),
		cmocka_unit_test(stacks_random_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
