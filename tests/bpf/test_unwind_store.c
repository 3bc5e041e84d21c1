/* test_unwind_store.c - the unwind tables in real BPF maps (vizier/agent/unwind/store.c): every
 * address of libc and the nofp workload looked up the way the BPF walker does (page, then binary
 * search in the page's slice of rows, then the rule) gives the rule cfi.c computed; files that
 * do not fit evict the least recently used; ids are never reused. Root: creates BPF maps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/unwind/cfi.h"
#include "agent/unwind/store.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

struct maps {
	int rows, rules, pages;
	uint32_t rows_cap;
	uint32_t *row_view;
	struct wisp_unwind_rule *rule_view;
};

static void maps_open(struct maps *m, uint32_t blocks, uint32_t pages)
{
	LIBBPF_OPTS(bpf_map_create_opts, mm, .map_flags = BPF_F_MMAPABLE);
	LIBBPF_OPTS(bpf_map_create_opts, hm, .map_flags = BPF_F_NO_PREALLOC);
	m->rows_cap = blocks * WISP_UNWIND_PAIR_ROWS;
	m->rows = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_rows", 4, sizeof(uint64_t), blocks, &mm);
	m->rules = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_rules", 4, sizeof(struct wisp_unwind_rule),
				  WISP_UNWIND_MAX_RULES, &mm);
	m->pages = bpf_map_create(BPF_MAP_TYPE_HASH, "t_pages", sizeof(struct wisp_unwind_page_key),
				  sizeof(struct wisp_unwind_page), pages, &hm);
	assert_true(m->rows >= 0 && m->rules >= 0 && m->pages >= 0);
	m->row_view = mmap(NULL, (size_t)m->rows_cap * 4, PROT_READ, MAP_SHARED, m->rows, 0);
	m->rule_view = mmap(NULL, WISP_UNWIND_MAX_RULES * sizeof(struct wisp_unwind_rule), PROT_READ, MAP_SHARED,
			    m->rules, 0);
	assert_true(m->row_view != MAP_FAILED && m->rule_view != MAP_FAILED);
}

static void maps_close(struct maps *m)
{
	munmap(m->row_view, (size_t)m->rows_cap * 4);
	munmap(m->rule_view, WISP_UNWIND_MAX_RULES * sizeof(struct wisp_unwind_rule));
	close(m->rows);
	close(m->rules);
	close(m->pages);
}

/* The walker's lookup (bpf/unwind.bpf.h, wisp_find_rule), in user space. NULL: no page. */
static const struct wisp_unwind_rule *lookup(const struct maps *m, uint32_t file, uint64_t addr)
{
	struct wisp_unwind_page_key key = {.file = file, .page = (uint32_t)(addr >> WISP_UNWIND_PAGE_BITS)};
	struct wisp_unwind_page pg;
	if (bpf_map_lookup_elem(m->pages, &key, &pg) != 0)
		return NULL;
	uint32_t off = (uint32_t)addr & 0xffff, lo = 0, hi = pg.count;
	assert_true(pg.count >= 1 && pg.first + pg.count <= m->rows_cap);
	assert_int_equal(m->row_view[pg.first] >> 16, 0); /* every slice starts at offset 0 */
	for (int i = 0; i < WISP_UNWIND_PAGE_BITS + 2 && lo < hi; i++) {
		uint32_t mid = (lo + hi) / 2;
		if ((m->row_view[pg.first + mid] >> 16) <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	assert_true(lo >= 1 && lo >= hi);
	return &m->rule_view[m->row_view[pg.first + lo - 1] & 0xffff];
}

static int build(const char *path, struct cfi_table *t)
{
	char err[128];
	elf_version(EV_CURRENT);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	int rc = cfi_build(elf, t, err, sizeof(err));
	elf_end(elf);
	close(fd);
	return rc;
}

static const char *libc_path(void)
{
	return "/lib/x86_64-linux-gnu/libc.so.6";
}

/* Every row start, the byte before it and a point inside it resolve to cfi.c's rule. */
static void check_file(const struct maps *m, uint32_t id, const struct cfi_table *t)
{
	static const struct wisp_unwind_rule none;
	size_t checked = 0;
	for (size_t i = 0; i + 1 < t->n; i++) {
		uint64_t a = t->rows[i].start, b = t->rows[i + 1].start;
		uint64_t probes[3] = {a, a + (b - a) / 2, b - 1};
		for (int k = 0; k < 3; k++) {
			const struct wisp_unwind_rule *r = lookup(m, id, probes[k]);
			const struct wisp_unwind_rule *want = &t->rows[i].rule;
			if (!r) /* a missing page means no information: only where cfi.c had none */
				r = &none;
			assert_memory_equal(r, want, sizeof(*r));
			checked++;
		}
	}
	assert_true(checked > 0);
}

static void lookups_match_the_tables(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("not root: skipping\n");
		skip();
	}
	struct maps m;
	char err[128];
	maps_open(&m, 1 << 19, 65536);
	struct unwind_store *s = unwind_store_new(m.rows, m.rows_cap, m.rules, m.pages, 65536, err, sizeof(err));
	assert_non_null(s);
	struct cfi_table libc, nofp;
	assert_int_equal(build(libc_path(), &libc), 0);
	assert_int_equal(build(WISP_NOFP_BIN, &nofp), 0);
	uint32_t a = unwind_store_add(s, &libc, 1), b = unwind_store_add(s, &nofp, 2);
	assert_true(a > 0 && b > a);
	check_file(&m, a, &libc);
	check_file(&m, b, &nofp);
	struct unwind_store_stats st;
	unwind_store_get_stats(s, &st);
	print_message("libc %zu rows + nofp %zu rows -> %llu rows, %llu pages, %llu rules, %llu bytes\n", libc.n, nofp.n,
		      (unsigned long long)st.rows, (unsigned long long)st.pages, (unsigned long long)st.rules,
		      (unsigned long long)st.bytes);
	assert_int_equal(st.files, 2);
	assert_true(st.rules < 2000); /* distinct rules are few: the table is shared */
	cfi_table_free(&libc);
	cfi_table_free(&nofp);
	unwind_store_free(s);
	maps_close(&m);
}

static void eviction_is_least_recently_used(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	struct maps m;
	char err[128];
	struct cfi_table libc, nofp;
	assert_int_equal(build(libc_path(), &libc), 0);
	assert_int_equal(build(WISP_NOFP_BIN, &nofp), 0);
	/* Room for libc once (about 30,000 rows), not twice. */
	maps_open(&m, 24000, 65536);
	struct unwind_store *s = unwind_store_new(m.rows, m.rows_cap, m.rules, m.pages, 65536, err, sizeof(err));
	uint32_t small = unwind_store_add(s, &nofp, 10);
	uint32_t big = unwind_store_add(s, &libc, 5);
	assert_true(small > 0 && big > 0);
	unwind_store_touch(s, small, 20); /* libc is now the least recently used */
	uint32_t again = unwind_store_add(s, &libc, 30);
	assert_true(again > big); /* a new id, never a reused one */
	assert_false(unwind_store_has(s, big));
	assert_true(unwind_store_has(s, small));
	assert_null(lookup(&m, big, libc.rows[1].start)); /* the evicted file's pages are gone */
	check_file(&m, again, &libc);
	check_file(&m, small, &nofp);
	struct unwind_store_stats st;
	unwind_store_get_stats(s, &st);
	assert_int_equal(st.evicted, 1);
	unwind_store_free(s);
	maps_close(&m);

	/* A file larger than the whole store is refused, and nothing is evicted for it. */
	maps_open(&m, 512, 65536);
	s = unwind_store_new(m.rows, m.rows_cap, m.rules, m.pages, 65536, err, sizeof(err));
	small = unwind_store_add(s, &nofp, 1);
	assert_int_equal(unwind_store_add(s, &libc, 2), 0);
	unwind_store_get_stats(s, &st);
	assert_int_equal(st.refused, 1);
	assert_true(small == 0 || unwind_store_has(s, small));
	unwind_store_free(s);
	maps_close(&m);
	cfi_table_free(&libc);
	cfi_table_free(&nofp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookups_match_the_tables),
		cmocka_unit_test(eviction_is_least_recently_used),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
