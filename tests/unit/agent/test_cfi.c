/* test_cfi.c - .eh_frame to unwind rows (vizier/agent/unwind/cfi.c) on real binaries: the nofp
 * workload (gcc -O2, no frame pointers), libc and the dynamic loader; every row checked against
 * libdw's own evaluation of the CFA programs (dwarf_cfi_addrframe, the oracle); and corrupted
 * copies, which must give an error or rows, never a crash. */
#include "fixture.h"

#include "agent/unwind/cfi.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
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

/* ---- the oracle: libdw's frame state at an address, as our rule ---- */

/* A register's rule from libdw's location description; false when not one of ours. */
static bool oracle_reg(Dwarf_Frame *f, int regno, __u8 *kind, __s16 *off)
{
	Dwarf_Op mem[3], *ops;
	size_t n;
	if (dwarf_frame_register(f, regno, mem, &ops, &n) != 0)
		return false;
	*off = 0;
	if (n == 0) {
		*kind = ops ? WISP_REG_UNDEFINED : WISP_REG_SAME;
		return true;
	}
	if (ops[0].atom != DW_OP_call_frame_cfa || n > 2 || (n == 2 && ops[1].atom != DW_OP_plus_uconst))
		return false;
	int64_t o = n == 2 ? (int64_t)ops[1].number : 0;
	if (o < INT16_MIN || o > INT16_MAX)
		return false;
	*kind = WISP_REG_AT_CFA;
	*off = (__s16)o;
	return true;
}

/* libdw's state at pc as our rule: false (and WISP_CFA_NONE) where we cannot express it. */
static bool oracle_rule(Dwarf_CFI *cfi, uint64_t pc, struct wisp_unwind_rule *r)
{
	Dwarf_Frame *f;
	Dwarf_Addr start, end;
	bool signal = false, ok = false;
	Dwarf_Op *ops;
	size_t n;
	memset(r, 0, sizeof(*r));
	if (dwarf_cfi_addrframe(cfi, pc, &f) != 0)
		return false;
	dwarf_frame_info(f, &start, &end, &signal);
	if (signal) {
		r->cfa = WISP_CFA_SIGNAL;
		ok = true;
	} else if (oracle_reg(f, 16, &r->ra, &r->ra_off) && r->ra == WISP_REG_UNDEFINED) {
		r->cfa = WISP_CFA_STOP;
		r->ra = WISP_REG_SAME;
		ok = true;
	} else if (r->ra == WISP_REG_AT_CFA && oracle_reg(f, 6, &r->fp, &r->fp_off) &&
		   dwarf_frame_cfa(f, &ops, &n) == 0 && n > 0) {
		if (n == 1 && ops[0].atom == DW_OP_bregx && (ops[0].number == 7 || ops[0].number == 6)) {
			r->cfa = ops[0].number == 7 ? WISP_CFA_SP : WISP_CFA_FP;
			r->cfa_off = (__s32)ops[0].number2;
			ok = true;
		} else if (n == 9 && ops[0].atom == DW_OP_breg7 && ops[4].atom >= DW_OP_lit0 && ops[4].atom <= DW_OP_lit31 &&
			   ops[8].atom == DW_OP_plus) { /* the PLT expression */
			r->cfa = WISP_CFA_PLT;
			r->cfa_off = 8;
			r->aux = (__u8)(ops[4].atom - DW_OP_lit0);
			ok = true;
		}
	}
	free(f);
	if (!ok)
		memset(r, 0, sizeof(*r));
	return ok;
}

/* Every row's first and last address give the rule libdw gives there (where libdw has an FDE). */
static void agrees_with_libdw(const char *path)
{
	int fd;
	Elf *elf = open_elf(path, &fd);
	struct cfi_table t;
	char err[128];
	assert_int_equal(cfi_build(elf, &t, err, sizeof(err)), 0);
	Dwarf_CFI *cfi = dwarf_getcfi_elf(elf);
	assert_non_null(cfi);
	size_t checked = 0;
	for (size_t i = 0; i + 1 < t.n; i++) {
		uint64_t at[2] = {t.rows[i].start, t.rows[i + 1].start - 1};
		for (int k = 0; k < 2; k++) {
			struct wisp_unwind_rule want;
			Dwarf_Frame *probe;
			if (dwarf_cfi_addrframe(cfi, at[k], &probe) != 0) /* no FDE here: ours must be a gap */
				continue;
			free(probe);
			oracle_rule(cfi, at[k], &want);
			if (memcmp(&want, &t.rows[i].rule, sizeof(want)) != 0)
				fail_msg("%s at %#llx: cfa %u%+d fp %u%+d ra %u%+d, libdw: cfa %u%+d fp %u%+d ra %u%+d", path,
					 (unsigned long long)at[k], t.rows[i].rule.cfa, t.rows[i].rule.cfa_off, t.rows[i].rule.fp,
					 t.rows[i].rule.fp_off, t.rows[i].rule.ra, t.rows[i].rule.ra_off, want.cfa, want.cfa_off,
					 want.fp, want.fp_off, want.ra, want.ra_off);
			checked++;
		}
	}
	print_message("%s: %zu rows, %zu addresses agree with libdw\n", path, t.n, checked);
	assert_true(checked > t.n); /* nearly every row has an FDE */
	dwarf_cfi_end(cfi);
	cfi_table_free(&t);
	elf_end(elf);
	close(fd);
}

static void rows_agree_with_libdw(void **state)
{
	(void)state;
	agrees_with_libdw(WISP_NOFP_BIN);
	agrees_with_libdw(libc_path());
	agrees_with_libdw("/usr/bin/cmake"); /* C++: thousands of FDEs with remember/restore_state */
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
		cmocka_unit_test(rows_agree_with_libdw),
		cmocka_unit_test(not_elf_or_no_cfi),
		cmocka_unit_test(corrupted_copies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
