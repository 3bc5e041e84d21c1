/* test_symbolize.c - the symbolizer (vizier/agent/symbolize/) on this test's own process: a
 * function of the test is named and settled, under a generation that stays while the maps do;
 * ld.so's entry point, a label of hand-written assembly that only its debug file (libc6-dbg)
 * names, comes out as `_start`; an address no executable mapping holds is "[unknown]" and
 * unsettled (it may be mapped later). */
#include "fixture.h"

#include "agent/symbolize/symbolize.h"
#include "core/frame.h"

#include <elf.h>
#include <sys/auxv.h>
#include <unistd.h>

/* The NAME field of frame f (core/frame.h). */
static void name_of(const char *f, char *out, size_t cap)
{
	size_t n = strcspn(f, "\x1f");
	snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), f);
}

__attribute__((noinline)) int wisp_test_marker_function(int x)
{
	return x * 3 + 1;
}

static void names_own_function(void **state)
{
	(void)state;
	struct symbolizer *s = symbolizer_new();
	assert_non_null(s);
	uint32_t pid = (uint32_t)getpid(), g = symbolize_generation(s, pid);
	assert_int_not_equal(g, 0);
	const char *out[8];
	bool unsettled = false;
	int n = symbolize_user(s, pid, (uint64_t)(uintptr_t)&wisp_test_marker_function + 2, out, 8, &unsettled);
	assert_true(n >= 1);
	char name[256];
	name_of(out[n - 1], name, sizeof(name));
	assert_string_equal(name, "wisp_test_marker_function");
	assert_false(unsettled);
	assert_int_equal(symbolize_generation(s, pid), g); /* the maps were not read again */
	symbolizer_free(s);
}

static void names_ld_so_entry_label(void **state)
{
	(void)state;
	uint64_t base = getauxval(AT_BASE); /* where ld.so is mapped; its ELF header is there */
	if (!base)
		skip(); /* a static binary: no ld.so */
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(uintptr_t)base;
	struct symbolizer *s = symbolizer_new();
	const char *out[8];
	bool unsettled = false;
	int n = symbolize_user(s, (uint32_t)getpid(), base + eh->e_entry, out, 8, &unsettled);
	char name[256];
	name_of(out[n - 1], name, sizeof(name));
	assert_string_equal(name, "_start"); /* NOTYPE in the debug file; was "ld-linux-x86-64.so.2+0x1ab70" */
	assert_false(unsettled);
	symbolizer_free(s);
}

static void unmapped_is_unsettled(void **state)
{
	(void)state;
	struct symbolizer *s = symbolizer_new();
	const char *out[8];
	bool unsettled = false;
	int n = symbolize_user(s, (uint32_t)getpid(), 0x10, out, 8, &unsettled);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "[unknown]");
	assert_true(unsettled);
	symbolizer_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_own_function),
		cmocka_unit_test(names_ld_so_entry_label),
		cmocka_unit_test(unmapped_is_unsettled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
