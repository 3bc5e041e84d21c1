/* pyversion.c - which CPython a file holds, and where the walker finds its state (pyprocs.h).
 *
 * The version is the file's own Py_Version (PY_VERSION_HEX, 3.11+). The offsets of the runtime,
 * thread and frame structures are a table per minor version, checked against each version's
 * headers (tests/integration/python.sh compiles offsetof against Debian's 3.11 ones), or for
 * 3.13+ the _Py_DebugOffsets the interpreter publishes at the start of _PyRuntime. The layout of
 * code objects is read from the running process (pyprocs.c), not from this table. */
#include "python_internal.h"

#include <stdlib.h>
#include <string.h>

struct py_syms {
	uint64_t runtime, version, code_type, eval_lo, eval_hi;
};

static void find_syms(Elf *elf, struct py_syms *out)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB) || !sh.sh_entsize)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		size_t n = d ? sh.sh_size / sh.sh_entsize : 0;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(d, (int)i, &sym) || !sym.st_value || sym.st_shndx == SHN_UNDEF)
				continue;
			const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || (name[0] != '_' && name[0] != 'P'))
				continue;
			if (!strcmp(name, "_PyRuntime"))
				out->runtime = sym.st_value;
			else if (!strcmp(name, "Py_Version"))
				out->version = sym.st_value;
			else if (!strcmp(name, "PyCode_Type"))
				out->code_type = sym.st_value;
			else if (!strcmp(name, "_PyEval_EvalFrameDefault")) {
				out->eval_lo = sym.st_value;
				out->eval_hi = sym.st_value + (sym.st_size ? sym.st_size : 1);
			}
		}
	}
}

/* Copies len bytes at file address addr out of the section holding them. 0, or -1. */
static int read_at(Elf *elf, uint64_t addr, void *dst, size_t len)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS || addr < sh.sh_addr ||
		    addr - sh.sh_addr >= sh.sh_size)
			continue;
		size_t avail = sh.sh_size - (addr - sh.sh_addr);
		Elf_Data *d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size < sh.sh_size)
			return -1;
		size_t n = len < avail ? len : avail;
		memcpy(dst, (const char *)d->d_buf + (addr - sh.sh_addr), n);
		memset((char *)dst + n, 0, len - n);
		return 0;
	}
	return -1;
}

struct py_elf *py_elf_scan(Elf *elf, const char **why)
{
	struct py_syms s = {0};
	uint32_t hex = 0;
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = NULL;
	find_syms(elf, &s);
	if (!s.runtime || !s.eval_lo || !s.code_type)
		return NULL; /* not an interpreter (a program linked to libpython is found by the library) */
	if (!s.version || read_at(elf, s.version, &hex, sizeof(hex)) != 0) {
		*why = "a CPython older than 3.11 (no Py_Version): its frames are not walked";
		return NULL;
	}
	struct py_elf *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->version = (uint16_t)(hex >> 16);
	e->runtime = s.runtime;
	e->code_type = s.code_type;
	e->eval_lo = s.eval_lo;
	e->eval_hi = s.eval_hi;
	if (e->version >= 0x030d && read_at(elf, s.runtime, e->debug_offsets, sizeof(e->debug_offsets)) == 0)
		e->debug_len = sizeof(e->debug_offsets);
	return e;
}

/* 3.11 (checked against Debian 12's 3.11.2 headers: tests/integration/python.sh). The thread
 * state's frame is reached through its _PyCFrame; a frame that starts an eval call says so in
 * is_entry. */
static const struct wisp_py_proc layout_311 = {
	.version = 0x030b, .interp_head = 40, .interp_threads = 16, .ts_next = 8, .ts_native_tid = 160,
	.ts_frame = 56, .cframe_frame = 8, .f_code = 32, .f_previous = 48, .f_instr = 56, .f_entry = 68,
	.f_owner = WISP_PY_NO_OFFSET,
};

int py_layout(const struct py_elf *e, struct wisp_py_proc *out, struct py_str_layout *str, const char **why)
{
	switch (e->version) {
	case 0x030b:
		*out = layout_311;
		*str = (struct py_str_layout){.state = 32, .ascii_data = 48, .compact_data = 72, .length = 16};
		return 0;
	default:
		*why = "a CPython version whose frames the walker does not know";
		return -1;
	}
}
