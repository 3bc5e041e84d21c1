/* cfi.c - .eh_frame / .debug_frame to unwind rows (see cfi.h).
 *
 * libdw executes the CFA programs (dwarf_cfi_addrframe gives the frame state at an address and
 * the range it holds for); libdw has no call that lists the FDEs, so we walk the section's
 * entries with dwarf_next_cfi and decode each FDE's initial location ourselves, which needs the
 * pointer encoding from its CIE's augmentation. Rules: x86-64 only for now (registers 6 = rbp,
 * 7 = rsp, 16 = return address); arm64 needs its register numbers here and nothing else. */
#include "cfi.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_FP 6
#define REG_SP 7
#define REG_RA 16
#define MAX_ROWS (16u << 20) /* a file with more rows than this is refused, not loaded */

struct fde_range {
	uint64_t lo, hi;
	uint64_t max_rows; /* a row needs an instruction (an advance): at most the FDE's bytes + 1 */
};

struct cie_info {
	uint64_t offset;
	uint8_t enc;  /* pointer encoding of the FDEs' initial location and range */
	bool z;       /* FDEs carry augmentation data ('z') before their instructions */
	bool ok;      /* false: an augmentation or program we cannot read; skip its FDEs */
};

/* Registers a CFA program may name. libdw sizes a frame's register array by the largest
 * number a program uses, so one absurd number (2^32) would cost gigabytes: such programs are
 * refused before libdw runs them. DWARF numbers x86-64's registers up to 66, arm64's to 127. */
#define MAX_CFI_REG 128

static bool read_uleb(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

static bool skip(const uint8_t **p, const uint8_t *end, uint64_t n)
{
	if ((uint64_t)(end - *p) < n)
		return false;
	*p += n;
	return true;
}

/* Whether a CFA program reads well and names no register beyond MAX_CFI_REG. */
static bool cfa_program_ok(const uint8_t *p, const uint8_t *end)
{
	uint64_t a, b;
	while (p < end) {
		uint8_t op = *p++;
		switch (op >> 6) {
		case 1: continue;                                   /* advance_loc */
		case 2: if (!read_uleb(&p, end, &a)) return false; continue; /* offset: reg in op */
		case 3: continue;                                   /* restore */
		}
		switch (op) {
		case DW_CFA_nop: case DW_CFA_remember_state: case DW_CFA_restore_state: case DW_CFA_GNU_window_save:
			break;
		case DW_CFA_set_loc: if (!skip(&p, end, 8)) return false; break;
		case DW_CFA_advance_loc1: if (!skip(&p, end, 1)) return false; break;
		case DW_CFA_advance_loc2: if (!skip(&p, end, 2)) return false; break;
		case DW_CFA_advance_loc4: if (!skip(&p, end, 4)) return false; break;
		case DW_CFA_def_cfa_offset: case DW_CFA_def_cfa_offset_sf: case DW_CFA_GNU_args_size:
			if (!read_uleb(&p, end, &a)) return false;
			break;
		case DW_CFA_def_cfa_expression:
			if (!read_uleb(&p, end, &a) || !skip(&p, end, a)) return false;
			break;
		case DW_CFA_restore_extended: case DW_CFA_undefined: case DW_CFA_same_value: case DW_CFA_def_cfa_register:
			if (!read_uleb(&p, end, &a) || a >= MAX_CFI_REG) return false;
			break;
		case DW_CFA_offset_extended: case DW_CFA_register: case DW_CFA_def_cfa: case DW_CFA_offset_extended_sf:
		case DW_CFA_def_cfa_sf: case DW_CFA_val_offset: case DW_CFA_val_offset_sf:
		case DW_CFA_GNU_negative_offset_extended:
			if (!read_uleb(&p, end, &a) || a >= MAX_CFI_REG || !read_uleb(&p, end, &b)) return false;
			if (op == DW_CFA_register && b >= MAX_CFI_REG) return false;
			break;
		case DW_CFA_expression: case DW_CFA_val_expression:
			if (!read_uleb(&p, end, &a) || a >= MAX_CFI_REG || !read_uleb(&p, end, &b) || !skip(&p, end, b))
				return false;
			break;
		default: return false; /* an opcode we do not know: its operands cannot be skipped */
		}
	}
	return true;
}

/* Reads an encoded pointer at *p (< end); advances *p. `field_addr` is the file address of the
 * field (for pc-relative encodings). false when the encoding is not one FDEs use. */
static bool read_encoded(const uint8_t **p, const uint8_t *end, uint8_t enc, uint64_t field_addr,
			 uint64_t *out)
{
	uint64_t v = 0;
	size_t size;
	if (enc == DW_EH_PE_omit)
		return false;
	switch (enc & 0x0f) {
	case DW_EH_PE_absptr: size = 8; break;
	case DW_EH_PE_udata2: case DW_EH_PE_sdata2: size = 2; break;
	case DW_EH_PE_udata4: case DW_EH_PE_sdata4: size = 4; break;
	case DW_EH_PE_udata8: case DW_EH_PE_sdata8: size = 8; break;
	default: return false;
	}
	if ((size_t)(end - *p) < size)
		return false;
	memcpy(&v, *p, size); /* little-endian host and file: x86-64, arm64 */
	if ((enc & 0x0f) == DW_EH_PE_sdata2)
		v = (uint64_t)(int64_t)(int16_t)v;
	else if ((enc & 0x0f) == DW_EH_PE_sdata4)
		v = (uint64_t)(int64_t)(int32_t)v;
	*p += size;
	switch (enc & 0x70) {
	case DW_EH_PE_absptr: break;
	case DW_EH_PE_pcrel: v += field_addr; break;
	default: return false;
	}
	*out = v;
	return true;
}

/* The FDE pointer encoding of a CIE, from its augmentation ("zR", "zPLR", "zRS"...). */
static struct cie_info cie_parse(const Dwarf_CIE *cie, uint64_t offset, bool eh_frame)
{
	struct cie_info ci = {.offset = offset, .enc = DW_EH_PE_absptr, .ok = true};
	const char *aug = cie->augmentation;
	const uint8_t *d = cie->augmentation_data, *dend = d + cie->augmentation_data_size;
	if (cie->return_address_register >= MAX_CFI_REG ||
	    !cfa_program_ok(cie->initial_instructions, cie->initial_instructions_end))
		return (struct cie_info){.ok = false};
	if (!eh_frame || !aug || !*aug)
		return ci;
	ci.z = aug[0] == 'z';
	if (aug[0] != 'z') { /* "eh" (pre-2000 gcc) and others we cannot read */
		ci.ok = false;
		return ci;
	}
	for (const char *a = aug + 1; *a; a++) {
		switch (*a) {
		case 'R':
			if (d >= dend)
				return (struct cie_info){.ok = false};
			ci.enc = *d++;
			break;
		case 'L':
			if (d >= dend)
				return (struct cie_info){.ok = false};
			d++;
			break;
		case 'P': {
			if (d >= dend)
				return (struct cie_info){.ok = false};
			uint8_t penc = *d++;
			uint64_t ignored;
			if (!read_encoded(&d, dend, penc & 0x7f, 0, &ignored))
				return (struct cie_info){.ok = false};
			break;
		}
		case 'S': case 'B': break;
		default: return (struct cie_info){.ok = false}; /* unknown: the rest cannot be read */
		}
	}
	return ci;
}

/* The FDE ranges of a CFI section, sorted by start. */
static int list_fdes(Elf *elf, Elf_Data *data, uint64_t sec_addr, bool eh_frame, struct fde_range **out,
		     size_t *nout)
{
	const unsigned char *ident = (const unsigned char *)elf_getident(elf, NULL);
	struct cie_info *cies = NULL;
	struct fde_range *fdes = NULL;
	size_t ncies = 0, cies_cap = 0, n = 0, cap = 0;
	Dwarf_Off off = 0, next;
	Dwarf_CFI_Entry e;
	int rc = -1;
	if (!ident)
		return -1;
	for (;; off = next) {
		int r = dwarf_next_cfi(ident, data, eh_frame, off, &next, &e);
		if (r == 1) /* the end */
			break;
		if (r != 0)
			goto out;
		if (dwarf_cfi_cie_p(&e)) {
			if (ncies == cies_cap) {
				cies_cap = cies_cap ? 2 * cies_cap : 16;
				struct cie_info *c = realloc(cies, cies_cap * sizeof(*c));
				if (!c)
					goto out;
				cies = c;
			}
			cies[ncies++] = cie_parse(&e.cie, off, eh_frame);
			continue;
		}
		const struct cie_info *ci = NULL;
		for (size_t i = ncies; i-- > 0;) /* CIEs precede their FDEs; the latest is the likely one */
			if (cies[i].offset == e.fde.CIE_pointer) {
				ci = &cies[i];
				break;
			}
		if (!ci || !ci->ok)
			continue;
		const uint8_t *p = e.fde.start;
		uint64_t lo, len, field = sec_addr + (uint64_t)(p - (const uint8_t *)data->d_buf);
		uint8_t enc = eh_frame ? ci->enc : (ident[EI_CLASS] == ELFCLASS32 ? DW_EH_PE_udata4 : DW_EH_PE_absptr);
		uint64_t auglen = 0;
		if (!read_encoded(&p, e.fde.end, enc, field, &lo) || !read_encoded(&p, e.fde.end, enc & 0x0f, 0, &len) ||
		    (ci->z && (!read_uleb(&p, e.fde.end, &auglen) || !skip(&p, e.fde.end, auglen))) ||
		    !cfa_program_ok(p, e.fde.end))
			continue;
		if (len == 0 || lo == 0 || lo + len < lo) /* discarded (linker-zeroed) or absurd */
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			struct fde_range *f = realloc(fdes, cap * sizeof(*f));
			if (!f)
				goto out;
			fdes = f;
		}
		fdes[n++] = (struct fde_range){lo, lo + len, (uint64_t)(e.fde.end - e.fde.start) + 1};
	}
	rc = 0;
out:
	free(cies);
	if (rc == 0) {
		*out = fdes;
		*nout = n;
	} else {
		free(fdes);
	}
	return rc;
}

static int range_cmp(const void *a, const void *b)
{
	const struct fde_range *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

static bool is_op(const Dwarf_Op *op, uint8_t atom)
{
	return op->atom == atom;
}

/* A register's rule from libdw's location description (see dwarf_frame_register). */
static bool reg_rule(Dwarf_Frame *f, int regno, __u8 *kind, __s16 *off)
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
	if (!is_op(&ops[0], DW_OP_call_frame_cfa) || n > 2)
		return false;
	int64_t o = n == 2 ? (int64_t)ops[1].number : 0;
	if (n == 2 && !is_op(&ops[1], DW_OP_plus_uconst))
		return false;
	if (o < INT16_MIN || o > INT16_MAX)
		return false;
	*kind = WISP_REG_AT_CFA;
	*off = (__s16)o;
	return true;
}

/* The x86-64 PLT expression: CFA = rsp + 8 + ((rip & 15) >= K ? 8 : 0). */
static bool is_plt(const Dwarf_Op *o, size_t n, uint8_t *k)
{
	if (n != 9 || !is_op(&o[0], DW_OP_breg7) || o[0].number != 8 || !is_op(&o[1], DW_OP_breg16) ||
	    o[1].number != 0 || !is_op(&o[2], DW_OP_lit15) || !is_op(&o[3], DW_OP_and) ||
	    o[4].atom < DW_OP_lit0 || o[4].atom > DW_OP_lit31 || !is_op(&o[5], DW_OP_ge) ||
	    !is_op(&o[6], DW_OP_lit3) || !is_op(&o[7], DW_OP_shl) || !is_op(&o[8], DW_OP_plus))
		return false;
	*k = (uint8_t)(o[4].atom - DW_OP_lit0);
	return true;
}

/* Our rule for libdw's frame state; false when it cannot be expressed. */
static bool frame_rule(Dwarf_Frame *f, bool signal, struct wisp_unwind_rule *r)
{
	Dwarf_Op *ops;
	size_t n;
	memset(r, 0, sizeof(*r));
	if (signal) { /* the kernel's rt_sigframe: the walker reads the saved registers itself */
		r->cfa = WISP_CFA_SIGNAL;
		return true;
	}
	if (!reg_rule(f, REG_RA, &r->ra, &r->ra_off))
		return false;
	if (r->ra == WISP_REG_UNDEFINED) { /* _start, clone's child: the outermost frame */
		r->cfa = WISP_CFA_STOP;
		r->ra = WISP_REG_SAME;
		return true;
	}
	if (r->ra != WISP_REG_AT_CFA || !reg_rule(f, REG_FP, &r->fp, &r->fp_off))
		return false;
	if (dwarf_frame_cfa(f, &ops, &n) != 0 || n == 0)
		return false;
	if (n == 1 && is_op(&ops[0], DW_OP_bregx) && (ops[0].number == REG_SP || ops[0].number == REG_FP)) {
		int64_t o = (int64_t)ops[0].number2;
		if (o < INT32_MIN || o > INT32_MAX)
			return false;
		r->cfa = ops[0].number == REG_SP ? WISP_CFA_SP : WISP_CFA_FP;
		r->cfa_off = (__s32)o;
		return true;
	}
	if (is_plt(ops, n, &r->aux)) {
		r->cfa = WISP_CFA_PLT;
		r->cfa_off = 8;
		return true;
	}
	return false;
}

static bool rule_eq(const struct wisp_unwind_rule *a, const struct wisp_unwind_rule *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static int emit(struct cfi_table *t, uint64_t start, const struct wisp_unwind_rule *rule)
{
	if (t->n && t->rows[t->n - 1].start >= start) { /* overlapping FDEs: the later one wins */
		while (t->n && t->rows[t->n - 1].start >= start)
			t->n--;
	}
	if (t->n && rule_eq(&t->rows[t->n - 1].rule, rule))
		return 0;
	if (t->n == t->cap) {
		if (t->cap >= MAX_ROWS)
			return -1;
		size_t cap = t->cap ? 2 * t->cap : 4096;
		struct cfi_row *r = realloc(t->rows, cap * sizeof(*r));
		if (!r)
			return -1;
		t->rows = r;
		t->cap = cap;
	}
	t->rows[t->n++] = (struct cfi_row){start, *rule};
	return 0;
}

/* The section holding the CFI: .eh_frame, else .debug_frame. */
static Elf_Scn *cfi_section(Elf *elf, bool *eh_frame, GElf_Shdr *sh)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL, *debug = NULL;
	GElf_Shdr dsh;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr s;
		const char *name;
		if (!gelf_getshdr(scn, &s) || s.sh_type == SHT_NOBITS || !(name = elf_strptr(elf, shstrndx, s.sh_name)))
			continue;
		if (!strcmp(name, ".eh_frame")) {
			*eh_frame = true;
			*sh = s;
			return scn;
		}
		if (!strcmp(name, ".debug_frame")) {
			debug = scn;
			dsh = s;
		}
	}
	if (debug) {
		*eh_frame = false;
		*sh = dsh;
	}
	return debug;
}

int cfi_build(Elf *elf, struct cfi_table *t, char *err, size_t errlen)
{
	struct fde_range *fdes = NULL;
	size_t nfdes = 0;
	Dwarf *dw = NULL;
	Dwarf_CFI *cfi = NULL;
	bool eh_frame = false;
	GElf_Shdr sh;
	Elf_Data *data;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	Elf_Scn *scn = cfi_section(elf, &eh_frame, &sh);
	if (!scn || !(data = elf_getdata(scn, NULL)) || !data->d_buf) {
		snprintf(err, errlen, "no .eh_frame or .debug_frame");
		return -1;
	}
	t->cfi_bytes = data->d_size;
	if (list_fdes(elf, data, eh_frame ? sh.sh_addr : 0, eh_frame, &fdes, &nfdes) != 0) {
		snprintf(err, errlen, "malformed %s", eh_frame ? ".eh_frame" : ".debug_frame");
		goto out;
	}
	if (eh_frame) {
		cfi = dwarf_getcfi_elf(elf);
	} else if ((dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL)) != NULL) {
		cfi = dwarf_getcfi(dw);
	}
	if (!cfi) {
		snprintf(err, errlen, "libdw cannot read the CFI: %s", dwarf_errmsg(-1));
		goto out;
	}
	if (nfdes)
		qsort(fdes, nfdes, sizeof(*fdes), range_cmp);
	t->fdes = nfdes;
	const struct wisp_unwind_rule none = {0};
	for (size_t i = 0; i < nfdes; i++) {
		uint64_t pc = fdes[i].lo;
		/* Bounded by the FDE's size: a hostile range (2^60 bytes) cannot make millions of rows. */
		for (uint64_t k = 0; pc < fdes[i].hi && k < fdes[i].max_rows; k++) {
			Dwarf_Frame *f;
			Dwarf_Addr start, end;
			bool signal = false;
			struct wisp_unwind_rule rule;
			if (dwarf_cfi_addrframe(cfi, pc, &f) != 0)
				break;
			if (dwarf_frame_info(f, &start, &end, &signal) < 0)
				end = pc;
			if (!frame_rule(f, signal, &rule)) {
				rule = none;
				t->unsupported++;
			}
			free(f);
			if (emit(t, pc, &rule) != 0) {
				snprintf(err, errlen, "out of memory (or more than %u rows)", MAX_ROWS);
				goto out;
			}
			if (end <= pc)
				break;
			pc = end;
		}
		/* Close the FDE: a gap follows unless the next FDE starts right here. */
		if ((i + 1 == nfdes || fdes[i + 1].lo > fdes[i].hi) && emit(t, fdes[i].hi, &none) != 0) {
			snprintf(err, errlen, "out of memory (or more than %u rows)", MAX_ROWS);
			goto out;
		}
	}
	rc = 0;
out:
	free(fdes);
	if (eh_frame && cfi)
		dwarf_cfi_end(cfi);
	if (dw)
		dwarf_end(dw); /* also ends the .debug_frame CFI */
	if (rc != 0)
		cfi_table_free(t);
	return rc;
}

void cfi_table_free(struct cfi_table *t)
{
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

const struct cfi_row *cfi_find(const struct cfi_table *t, uint64_t addr)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->rows[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &t->rows[lo - 1] : NULL;
}
