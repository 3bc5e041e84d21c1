/* test_cfi.c - .eh_frame to unwind rows (vizier/agent/unwind/cfi.c) on real binaries: the nofp
 * workload (gcc -O2, no frame pointers), libc and the dynamic loader; and on corrupted copies,
 * which must give an error or rows, never a crash. */
#include "fixture.h"

#include "agent/unwind/cfi.h"

#include <fcntl.h>
#include <gelf.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef WISP_NOFP_BIN
#error "WISP_NOFP_BIN: the nofp workload's path"
#endif

static const char *libc_path(void)
{
	return access("/lib/x86_64-linux-gnu/libc.so.6", R_OK) == 0 ? "/lib/x86_64-linux-gnu/libc.so.6"
								    : "/lib/aarch64-linux-gnu/libc.so.6";
}

/* The address of function `name` in elf's .symtab or .dynsym, or 0. */
static uint64_t symbol(Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;
			if (gelf_getsym(d, (int)i, &s) && (n = elf_strptr(elf, sh.sh_link, s.st_name)) &&
			    !strcmp(n, name) && s.st_value)
				return s.st_value;
		}
	}
	return 0;
}

static Elf *open_elf(const char *path, int *fd)
{
	elf_version(EV_CURRENT);
	*fd = open(path, O_RDONLY);
	assert_true(*fd >= 0);
	Elf *elf = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	assert_non_null(elf);
	return elf;
}

/* Invariants of every table: sorted strictly, equal neighbours merged, ends with a gap. */
static void check_shape(const struct cfi_table *t)
{
	assert_true(t->n >= 2);
	for (size_t i = 1; i < t->n; i++) {
		assert_true(t->rows[i - 1].start < t->rows[i].start);
		assert_memory_not_equal(&t->rows[i - 1].rule, &t->rows[i].rule, sizeof(t->rows[i].rule));
	}
	assert_int_equal(t->rows[t->n - 1].rule.cfa, WISP_CFA_NONE);
}

static void function_entry_and_body(void **state)
{
	(void)state;
	int fd;
	Elf *elf = open_elf(WISP_NOFP_BIN, &fd);
	struct cfi_table t;
	char err[128];
	assert_int_equal(cfi_build(elf, &t, err, sizeof(err)), 0);
	check_shape(&t);
	assert_int_equal(t.unsupported, 0);

	/* At a function's first instruction the return address was just pushed: CFA = rsp + 8. */
	uint64_t f = symbol(elf, "sort_phase");
	assert_true(f != 0);
	const struct cfi_row *r = cfi_find(&t, f);
	assert_non_null(r);
	assert_int_equal(r->rule.cfa, WISP_CFA_SP);
	assert_int_equal(r->rule.cfa_off, 8);
	assert_int_equal(r->rule.ra, WISP_REG_AT_CFA);
	assert_int_equal(r->rule.ra_off, -8);
	assert_int_equal(r->rule.fp, WISP_REG_SAME);
	/* sort_phase pushes callee-saved registers (gcc -O2, no frame pointer): deeper CFA offsets. */
	int deepest = 0;
	for (const struct cfi_row *x = r; x < t.rows + t.n && x->start < f + 64; x++)
		if (x->rule.cfa == WISP_CFA_SP && x->rule.cfa_off > deepest)
			deepest = x->rule.cfa_off;
	assert_true(deepest >= 24);
	/* The outermost frame (_start) says so. */
	uint64_t start = symbol(elf, "_start");
	assert_true(start != 0);
	assert_int_equal(cfi_find(&t, start)->rule.cfa, WISP_CFA_STOP);
	/* Before the first row: nothing. */
	assert_null(cfi_find(&t, t.rows[0].start - 1));
	cfi_table_free(&t);
	elf_end(elf);
	close(fd);
}

static void libc_signal_plt_and_cost(void **state)
{
	(void)state;
	int fd;
	Elf *elf = open_elf(libc_path(), &fd);
	struct cfi_table t;
	char err[128];
	assert_int_equal(cfi_build(elf, &t, err, sizeof(err)), 0);
	check_shape(&t);
	size_t sig = 0, plt = 0, sp = 0;
	for (size_t i = 0; i < t.n; i++) {
		sig += t.rows[i].rule.cfa == WISP_CFA_SIGNAL;
		plt += t.rows[i].rule.cfa == WISP_CFA_PLT;
		sp += t.rows[i].rule.cfa == WISP_CFA_SP;
	}
	assert_true(sig >= 1); /* __restore_rt, the signal trampoline */
	assert_true(plt >= 1); /* .plt */
	assert_true(sp > t.n / 2);
	/* Nearly every row is expressible (libc has a handful of hand-written DWARF expressions). */
	assert_true(t.unsupported * 1000 < t.n);
	assert_true(t.fdes > 1000);
	cfi_table_free(&t);
	elf_end(elf);
	close(fd);
}

static void not_elf_or_no_cfi(void **state)
{
	(void)state;
	char err[128] = "";
	static char junk[4096];
	memset(junk, 'x', sizeof(junk));
	Elf *elf = elf_memory(junk, sizeof(junk));
	struct cfi_table t;
	assert_int_equal(cfi_build(elf, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no .eh_frame"));
	assert_null(t.rows);
	elf_end(elf);
}

/* Corrupts bytes of .eh_frame in a copy of the binary: cfi_build must return (0 or -1). */
static void corrupted_copies(void **state)
{
	(void)state;
	int fd;
	Elf *elf = open_elf(WISP_NOFP_BIN, &fd);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	size_t shstrndx;
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	uint64_t off = 0, size = 0;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	while ((scn = elf_nextscn(elf, scn)) != NULL)
		if (gelf_getshdr(scn, &sh) && !strcmp(elf_strptr(elf, shstrndx, sh.sh_name), ".eh_frame")) {
			off = sh.sh_offset;
			size = sh.sh_size;
		}
	assert_true(size > 64);
	char *orig = malloc((size_t)st.st_size), *copy = malloc((size_t)st.st_size);
	assert_int_equal(pread(fd, orig, (size_t)st.st_size, 0), st.st_size);
	uint32_t seed = 12345;
	int ok = 0, failed = 0;
	for (int round = 0; round < 300; round++) {
		memcpy(copy, orig, (size_t)st.st_size);
		for (int k = 0; k < 1 + round % 8; k++) {
			seed = seed * 1103515245u + 12345u;
			copy[off + (seed >> 8) % size] = (char)(seed >> 3);
		}
		Elf *e = elf_memory(copy, (size_t)st.st_size);
		struct cfi_table t;
		char err[128];
		if (cfi_build(e, &t, err, sizeof(err)) == 0) {
			ok++;
			for (size_t i = 1; i < t.n; i++)
				assert_true(t.rows[i - 1].start < t.rows[i].start);
			cfi_table_free(&t);
		} else {
			failed++;
		}
		elf_end(e);
	}
	print_message("corrupted .eh_frame: %d tables, %d refused\n", ok, failed);
	assert_int_equal(ok + failed, 300);
	free(orig);
	free(copy);
	elf_end(elf);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(function_entry_and_body),
		cmocka_unit_test(libc_signal_plt_and_cost),
		cmocka_unit_test(not_elf_or_no_cfi),
		cmocka_unit_test(corrupted_copies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
