/* pyversion.c - which CPython a file holds, and where the walker finds its state (pyprocs.h).
 *
 * The version is the file's own Py_Version (PY_VERSION_HEX, 3.11+). The offsets of the runtime,
 * thread and frame structures are a table per minor version, taken from each version's internal
 * headers with offsetof (tests/integration/python.sh checks 3.11's against Debian's headers, and
 * 3.12's and 3.13's against any other build it finds); for 3.13 the _Py_DebugOffsets the
 * interpreter publishes at the start of _PyRuntime come first, so a patch release that moves a
 * field is still read right. The layout of code objects is read from the running process
 * (pyprocs.c), not from this table. */
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

/* 3.12 (3.12.1's headers): still through the _PyCFrame, whose first field is the frame; an eval
 * call starts with a shim frame owned by the C stack instead of an is_entry flag. */
static const struct wisp_py_proc layout_312 = {
	.version = 0x030c, .interp_head = 40, .interp_threads = 72, .ts_next = 8, .ts_native_tid = 144,
	.ts_frame = 56, .cframe_frame = 0, .f_code = 0, .f_previous = 8, .f_instr = 56,
	.f_entry = WISP_PY_NO_OFFSET, .f_owner = 70,
};

/* 3.13 (3.13.0's headers): the thread state points at its frame; f_executable, instr_ptr. */
static const struct wisp_py_proc layout_313 = {
	.version = 0x030d, .interp_head = 632, .interp_threads = 7344, .ts_next = 8, .ts_native_tid = 160,
	.ts_frame = 72, .cframe_frame = WISP_PY_NO_OFFSET, .f_code = 0, .f_previous = 8, .f_instr = 56,
	.f_entry = WISP_PY_NO_OFFSET, .f_owner = 70,
};

/* 3.13's _Py_DebugOffsets, as uint64_t after its 8-byte cookie "xdebugpy": the slots used. */
enum {
	DBG_FREE_THREADED = 1, DBG_INTERPRETERS_HEAD = 4, DBG_THREADS_HEAD = 8, DBG_TS_NEXT = 20,
	DBG_TS_CURRENT_FRAME = 22, DBG_TS_NATIVE_TID = 24, DBG_F_PREVIOUS = 28, DBG_F_EXECUTABLE = 29,
	DBG_F_INSTR_PTR = 30, DBG_F_OWNER = 32, DBG_SLOTS = 33,
};

/* The 3.13 layout from the file's debug offsets; -1 when they are not there or absurd. */
static int layout_from_debug_offsets(const struct py_elf *e, struct wisp_py_proc *out, const char **why)
{
	uint64_t v[DBG_SLOTS];
	if (e->debug_len < 8 + sizeof(v) || memcmp(e->debug_offsets, "xdebugpy", 8))
		return -1;
	memcpy(v, e->debug_offsets + 8, sizeof(v));
	if (v[DBG_FREE_THREADED]) {
		*why = "a free-threaded CPython build: its frames are not walked";
		return -2;
	}
	static const int slots[] = {DBG_INTERPRETERS_HEAD, DBG_THREADS_HEAD, DBG_TS_NEXT, DBG_TS_CURRENT_FRAME,
				    DBG_TS_NATIVE_TID, DBG_F_PREVIOUS, DBG_F_EXECUTABLE, DBG_F_INSTR_PTR, DBG_F_OWNER};
	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
		if (v[slots[i]] >= WISP_PY_NO_OFFSET)
			return -1;
	/* The walker reads a frame's fields from one window. */
	if (v[DBG_F_PREVIOUS] + 8 > 80 || v[DBG_F_EXECUTABLE] + 8 > 80 || v[DBG_F_INSTR_PTR] + 8 > 80 || v[DBG_F_OWNER] >= 80)
		return -1;
	*out = layout_313;
	out->interp_head = (uint16_t)v[DBG_INTERPRETERS_HEAD];
	out->interp_threads = (uint16_t)v[DBG_THREADS_HEAD];
	out->ts_next = (uint16_t)v[DBG_TS_NEXT];
	out->ts_frame = (uint16_t)v[DBG_TS_CURRENT_FRAME];
	out->ts_native_tid = (uint16_t)v[DBG_TS_NATIVE_TID];
	out->f_previous = (uint16_t)v[DBG_F_PREVIOUS];
	out->f_code = (uint16_t)v[DBG_F_EXECUTABLE];
	out->f_instr = (uint16_t)v[DBG_F_INSTR_PTR];
	out->f_owner = (uint16_t)v[DBG_F_OWNER];
	return 0;
}

int py_layout(const struct py_elf *e, struct wisp_py_proc *out, struct py_str_layout *str, const char **why)
{
	/* 3.12 dropped the str object's wstr: its characters start 8 bytes sooner. */
	static const struct py_str_layout str_311 = {.state = 32, .ascii_data = 48, .compact_data = 72, .length = 16};
	static const struct py_str_layout str_312 = {.state = 32, .ascii_data = 40, .compact_data = 56, .length = 16};
	switch (e->version) {
	case 0x030b:
		*out = layout_311;
		*str = str_311;
		return 0;
	case 0x030c:
		*out = layout_312;
		*str = str_312;
		return 0;
	case 0x030d: {
		int rc = layout_from_debug_offsets(e, out, why);
		if (rc == -2)
			return -1;
		if (rc < 0)
			*out = layout_313;
		*str = str_312;
		return 0;
	}
	default:
		*why = "a CPython version whose frames the walker does not know";
		return -1;
	}
}
