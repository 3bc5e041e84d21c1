/* cfi.c - .eh_frame / .debug_frame to unwind rows (see cfi.h).
 *
 * libdw reads the section's entries (dwarf_next_cfi gives each CIE's factors and programs and each
 * FDE's bytes); this file decodes an FDE's initial location (the pointer encoding from its CIE's
 * augmentation) and runs the CFA programs itself, once per FDE from start to end, tracking only
 * what the walker uses: the CFA rule and the rules of the frame pointer and the return address.
 * (Until 2026-12-08 libdw's dwarf_cfi_addrframe ran the program again for every row and looked
 * the FDE up again each time: 8 to 10 times slower on large files, which a build machine
 * re-reads as its tables are evicted.) Rules: x86-64 only for now (registers 6 = rbp, 7 = rsp,
 * 16 = return address); arm64 needs its register numbers and ABI defaults here and nothing else. */
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
#define MAX_REMEMBER 16      /* DW_CFA_remember_state nesting; deeper programs are refused */

/* A register rule as far as the walker can use it (enum wisp_reg), or REG_OTHER. */
#define REG_OTHER 0xff
struct reg_state {
	uint8_t kind;
	int64_t off;
};

/* The frame state a CFA program builds: the CFA and the two registers the walker restores. */
struct cfa_state {
	uint8_t cfa;   /* WISP_CFA_SP, WISP_CFA_FP, WISP_CFA_PLT, or WISP_CFA_NONE (anything else) */
	bool cfa_reg;  /* the CFA is register + offset (DW_CFA_def_cfa*), whatever the register */
	int64_t cfa_off;
	uint8_t plt_k; /* WISP_CFA_PLT: the threshold */
	struct reg_state fp, ra;
};

struct fde_range {
	uint64_t lo, hi;
	const uint8_t *ins, *ins_end; /* its CFA program */
	uint32_t cie;                 /* index into the CIE array */
};

struct cie_info {
	uint64_t offset;
	uint8_t enc;  /* pointer encoding of the FDEs' initial location and range */
	bool z;       /* FDEs carry augmentation data ('z') before their instructions */
	bool ok;      /* false: an augmentation or program we cannot read; skip its FDEs */
	bool signal;  /* 'S': its FDEs describe signal trampolines */
	uint64_t code_align;
	int64_t data_align;
	struct cfa_state init; /* the ABI's defaults, then the CIE's initial instructions */
};

/* Registers a CFA program may name. One absurd number (2^32) is a corrupt program: such
 * programs are refused before they run. DWARF numbers x86-64's registers up to 66, arm64's to
 * 127. */
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

static bool read_sleb(const uint8_t **p, const uint8_t *end, int64_t *v)
{
	uint64_t r = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (shift + 7 < 64 && (b & 0x40))
				r |= ~0ULL << (shift + 7);
			*v = (int64_t)r;
			return true;
		}
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

/* ---- the CFA program interpreter ---- */

/* The x86-64 ABI's state before a CIE's instructions: the callee-saved frame pointer and the
 * return address keep their values, the CFA is not yet defined. */
static const struct cfa_state abi_initial = {.cfa = WISP_CFA_NONE, .fp = {WISP_REG_SAME, 0}, .ra = {WISP_REG_SAME, 0}};

/* The x86-64 PLT stubs' CFA expression, as bytes: rsp + 8 + ((rip & 15) >= K ? 8 : 0). */
static bool plt_expression(const uint8_t *p, uint64_t len, uint8_t *k)
{
	static const uint8_t head[] = {DW_OP_breg7, 8, DW_OP_breg16, 0, DW_OP_lit15, DW_OP_and};
	static const uint8_t tail[] = {DW_OP_ge, DW_OP_lit3, DW_OP_shl, DW_OP_plus};
	if (len != sizeof(head) + 1 + sizeof(tail) || memcmp(p, head, sizeof(head)) != 0 ||
	    p[sizeof(head)] < DW_OP_lit0 || p[sizeof(head)] > DW_OP_lit31 ||
	    memcmp(p + sizeof(head) + 1, tail, sizeof(tail)) != 0)
		return false;
	*k = (uint8_t)(p[sizeof(head)] - DW_OP_lit0);
	return true;
}

/* Our rule for a frame state; false when the walker cannot express it. */
static bool state_rule(const struct cfa_state *s, bool signal, struct wisp_unwind_rule *r)
{
	memset(r, 0, sizeof(*r));
	if (signal) { /* the kernel's rt_sigframe: the walker reads the saved registers itself */
		r->cfa = WISP_CFA_SIGNAL;
		return true;
	}
	if (s->ra.kind == WISP_REG_UNDEFINED) { /* _start, clone's child: the outermost frame */
		r->cfa = WISP_CFA_STOP;
		return true;
	}
	if (s->ra.kind != WISP_REG_AT_CFA || s->ra.off < INT16_MIN || s->ra.off > INT16_MAX ||
	    s->fp.kind == REG_OTHER || s->fp.off < INT16_MIN || s->fp.off > INT16_MAX)
		return false;
	r->ra = WISP_REG_AT_CFA;
	r->ra_off = (__s16)s->ra.off;
	r->fp = s->fp.kind;
	r->fp_off = (__s16)s->fp.off;
	if (s->cfa == WISP_CFA_PLT) {
		r->cfa = WISP_CFA_PLT;
		r->cfa_off = 8;
		r->aux = s->plt_k;
		return true;
	}
	if (s->cfa == WISP_CFA_NONE || s->cfa_off < INT32_MIN || s->cfa_off > INT32_MAX)
		return false;
	r->cfa = s->cfa;
	r->cfa_off = (__s32)s->cfa_off;
	return true;
}

/* One run of a CFA program: a CIE's initial instructions (t NULL: no rows, no advances) or an
 * FDE's, whose rows go to t from lo until hi. */
struct program {
	const struct cie_info *cie;
	const struct cfa_state *init; /* what DW_CFA_restore returns a register to */
	struct cfi_table *t;
	uint64_t loc, hi;             /* the row being built starts at loc */
};

/* The row [pg->loc, next) holds state s. 1: go on; 0: the FDE's end is reached; -1: no memory. */
static int advance(struct program *pg, const struct cfa_state *s, uint64_t next)
{
	if (!pg->t || next <= pg->loc) /* a CIE's advance, or one that goes nowhere: nothing to emit */
		return 1;
	struct wisp_unwind_rule rule;
	if (!state_rule(s, pg->cie->signal, &rule)) {
		memset(&rule, 0, sizeof(rule));
		pg->t->unsupported++;
	}
	if (emit(pg->t, pg->loc, &rule) != 0)
		return -1;
	pg->loc = next;
	return next < pg->hi;
}

static struct reg_state *tracked(struct cfa_state *s, uint64_t reg)
{
	return reg == REG_FP ? &s->fp : reg == REG_RA ? &s->ra : NULL;
}

static void set_reg(struct cfa_state *s, uint64_t reg, uint8_t kind, int64_t off)
{
	struct reg_state *r = tracked(s, reg);
	if (r)
		*r = (struct reg_state){kind, off};
}

static void restore_reg(struct program *pg, struct cfa_state *s, uint64_t reg)
{
	struct reg_state *r = tracked(s, reg);
	if (r)
		*r = reg == REG_FP ? pg->init->fp : pg->init->ra;
}

static void set_cfa(struct cfa_state *s, uint64_t reg, int64_t off)
{
	s->cfa_reg = true;
	s->cfa = reg == REG_SP ? WISP_CFA_SP : reg == REG_FP ? WISP_CFA_FP : WISP_CFA_NONE;
	s->cfa_off = off;
}

/* Runs [p, end) on *s (a program cfa_program_ok accepted). 1: done; 0: a program that breaks a
 * rule of DWARF (the FDE's rows stop there); -1: no memory. */
static int run_program(struct program *pg, const uint8_t *p, const uint8_t *end, struct cfa_state *s)
{
	struct cfa_state saved[MAX_REMEMBER];
	int depth = 0, go = 1;
	const uint64_t caf = pg->cie->code_align;
	const int64_t daf = pg->cie->data_align;
	while (p < end && go > 0) {
		uint8_t op = *p++;
		uint64_t a = 0, b = 0;
		int64_t sa = 0;
		uint16_t u16;
		uint32_t u32;
		switch (op >> 6) {
		case 1: go = advance(pg, s, pg->loc + (op & 0x3f) * caf); continue;
		case 2:
			if (!read_uleb(&p, end, &a))
				return 0;
			set_reg(s, op & 0x3f, WISP_REG_AT_CFA, (int64_t)a * daf);
			continue;
		case 3: restore_reg(pg, s, op & 0x3f); continue;
		}
		switch (op) {
		case DW_CFA_nop: case DW_CFA_GNU_window_save: break;
		case DW_CFA_set_loc: /* 8 bytes (cfa_program_ok): .debug_frame's absolute addresses */
			if (pg->cie->enc != DW_EH_PE_absptr)
				return 0;
			memcpy(&a, p, 8);
			p += 8;
			go = advance(pg, s, a);
			break;
		case DW_CFA_advance_loc1: go = advance(pg, s, pg->loc + *p++ * caf); break;
		case DW_CFA_advance_loc2:
			memcpy(&u16, p, 2);
			p += 2;
			go = advance(pg, s, pg->loc + u16 * caf);
			break;
		case DW_CFA_advance_loc4:
			memcpy(&u32, p, 4);
			p += 4;
			go = advance(pg, s, pg->loc + u32 * caf);
			break;
		case DW_CFA_offset_extended:
			if (!read_uleb(&p, end, &a) || !read_uleb(&p, end, &b))
				return 0;
			set_reg(s, a, WISP_REG_AT_CFA, (int64_t)b * daf);
			break;
		case DW_CFA_offset_extended_sf:
			if (!read_uleb(&p, end, &a) || !read_sleb(&p, end, &sa))
				return 0;
			set_reg(s, a, WISP_REG_AT_CFA, sa * daf);
			break;
		case DW_CFA_GNU_negative_offset_extended:
			if (!read_uleb(&p, end, &a) || !read_uleb(&p, end, &b))
				return 0;
			set_reg(s, a, WISP_REG_AT_CFA, -(int64_t)b * daf);
			break;
		case DW_CFA_restore_extended:
			if (!read_uleb(&p, end, &a))
				return 0;
			restore_reg(pg, s, a);
			break;
		case DW_CFA_undefined: case DW_CFA_same_value:
			if (!read_uleb(&p, end, &a))
				return 0;
			set_reg(s, a, op == DW_CFA_undefined ? WISP_REG_UNDEFINED : WISP_REG_SAME, 0);
			break;
		case DW_CFA_register: case DW_CFA_val_offset: case DW_CFA_val_offset_sf:
			if (!read_uleb(&p, end, &a) || !read_uleb(&p, end, &b)) /* an sleb skips as a uleb */
				return 0;
			set_reg(s, a, REG_OTHER, 0);
			break;
		case DW_CFA_expression: case DW_CFA_val_expression:
			if (!read_uleb(&p, end, &a) || !read_uleb(&p, end, &b))
				return 0;
			p += b; /* within end: cfa_program_ok */
			set_reg(s, a, REG_OTHER, 0);
			break;
		case DW_CFA_remember_state:
			if (depth == MAX_REMEMBER)
				return 0;
			saved[depth++] = *s;
			break;
		case DW_CFA_restore_state:
			if (depth == 0)
				return 0;
			*s = saved[--depth];
			break;
		case DW_CFA_def_cfa:
			if (!read_uleb(&p, end, &a) || !read_uleb(&p, end, &b))
				return 0;
			set_cfa(s, a, (int64_t)b);
			break;
		case DW_CFA_def_cfa_sf:
			if (!read_uleb(&p, end, &a) || !read_sleb(&p, end, &sa))
				return 0;
			set_cfa(s, a, sa * daf);
			break;
		case DW_CFA_def_cfa_register: /* keeps the offset: a rule on a register, not an expression */
			if (!read_uleb(&p, end, &a) || !s->cfa_reg)
				return 0;
			set_cfa(s, a, s->cfa_off);
			break;
		case DW_CFA_def_cfa_offset:
			if (!read_uleb(&p, end, &a) || !s->cfa_reg)
				return 0;
			s->cfa_off = (int64_t)a;
			break;
		case DW_CFA_def_cfa_offset_sf:
			if (!read_sleb(&p, end, &sa) || !s->cfa_reg)
				return 0;
			s->cfa_off = sa * daf;
			break;
		case DW_CFA_def_cfa_expression:
			if (!read_uleb(&p, end, &a))
				return 0;
			s->cfa_reg = false;
			s->cfa = plt_expression(p, a, &s->plt_k) ? WISP_CFA_PLT : WISP_CFA_NONE;
			p += a;
			break;
		case DW_CFA_GNU_args_size:
			if (!read_uleb(&p, end, &a))
				return 0;
			break;
		default: return 0; /* cfa_program_ok refused anything else */
		}
	}
	if (go < 0)
		return -1;
	if (go > 0 && pg->t) /* the last row holds until the FDE's end */
		return advance(pg, s, pg->hi) < 0 ? -1 : 1;
	return 1;
}

/* The FDE pointer encoding of a CIE, from its augmentation ("zR", "zPLR", "zRS"...), and the
 * state its initial instructions set. */
static struct cie_info cie_parse(const Dwarf_CIE *cie, uint64_t offset, bool eh_frame)
{
	struct cie_info ci = {.offset = offset, .enc = DW_EH_PE_absptr, .ok = true,
			      .code_align = cie->code_alignment_factor, .data_align = cie->data_alignment_factor};
	const char *aug = cie->augmentation;
	const uint8_t *d = cie->augmentation_data, *dend = d + cie->augmentation_data_size;
	if (cie->return_address_register >= MAX_CFI_REG ||
	    !cfa_program_ok(cie->initial_instructions, cie->initial_instructions_end))
		return (struct cie_info){.ok = false};
	if (eh_frame && aug && *aug) {
		ci.z = aug[0] == 'z';
		if (aug[0] != 'z') /* "eh" (pre-2000 gcc) and others we cannot read */
			return (struct cie_info){.ok = false};
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
			case 'S': ci.signal = true; break;
			case 'B': break;
			default: return (struct cie_info){.ok = false}; /* unknown: the rest cannot be read */
			}
		}
	}
	ci.init = abi_initial;
	struct program pg = {.cie = &ci, .init = &abi_initial};
	if (run_program(&pg, cie->initial_instructions, cie->initial_instructions_end, &ci.init) != 1)
		return (struct cie_info){.ok = false};
	return ci;
}

/* A CFI section's CIEs and FDEs, the FDEs sorted by start. */
struct cfi_entries {
	struct cie_info *cies;
	size_t ncies, cies_cap;
	struct fde_range *fdes;
	size_t nfdes, fdes_cap;
};

static void entries_free(struct cfi_entries *en)
{
	free(en->cies);
	free(en->fdes);
}

static int range_cmp(const void *a, const void *b)
{
	const struct fde_range *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

static int list_entries(Elf *elf, Elf_Data *data, uint64_t sec_addr, bool eh_frame, struct cfi_entries *en)
{
	const unsigned char *ident = (const unsigned char *)elf_getident(elf, NULL);
	Dwarf_Off off = 0, next;
	Dwarf_CFI_Entry e;
	if (!ident)
		return -1;
	for (;; off = next) {
		int r = dwarf_next_cfi(ident, data, eh_frame, off, &next, &e);
		if (r == 1) /* the end */
			break;
		if (r != 0)
			return -1;
		if (dwarf_cfi_cie_p(&e)) {
			if (en->ncies == en->cies_cap) {
				size_t cap = en->cies_cap ? 2 * en->cies_cap : 16;
				struct cie_info *c = realloc(en->cies, cap * sizeof(*c));
				if (!c)
					return -1;
				en->cies = c;
				en->cies_cap = cap;
			}
			en->cies[en->ncies++] = cie_parse(&e.cie, off, eh_frame);
			continue;
		}
		size_t ci = en->ncies;
		for (size_t i = en->ncies; i-- > 0;) /* CIEs precede their FDEs; the latest is the likely one */
			if (en->cies[i].offset == e.fde.CIE_pointer) {
				ci = i;
				break;
			}
		if (ci == en->ncies || !en->cies[ci].ok)
			continue;
		const uint8_t *p = e.fde.start;
		uint64_t lo, len, field = sec_addr + (uint64_t)(p - (const uint8_t *)data->d_buf);
		uint8_t enc = eh_frame ? en->cies[ci].enc
				       : (ident[EI_CLASS] == ELFCLASS32 ? DW_EH_PE_udata4 : DW_EH_PE_absptr);
		uint64_t auglen = 0;
		if (!read_encoded(&p, e.fde.end, enc, field, &lo) || !read_encoded(&p, e.fde.end, enc & 0x0f, 0, &len) ||
		    (en->cies[ci].z && (!read_uleb(&p, e.fde.end, &auglen) || !skip(&p, e.fde.end, auglen))) ||
		    !cfa_program_ok(p, e.fde.end))
			continue;
		if (len == 0 || lo == 0 || lo + len < lo) /* discarded (linker-zeroed) or absurd */
			continue;
		if (en->nfdes == en->fdes_cap) {
			size_t cap = en->fdes_cap ? 2 * en->fdes_cap : 1024;
			struct fde_range *f = realloc(en->fdes, cap * sizeof(*f));
			if (!f)
				return -1;
			en->fdes = f;
			en->fdes_cap = cap;
		}
		en->fdes[en->nfdes++] = (struct fde_range){lo, lo + len, p, e.fde.end, (uint32_t)ci};
	}
	if (en->nfdes)
		qsort(en->fdes, en->nfdes, sizeof(*en->fdes), range_cmp);
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
	struct cfi_entries en = {0};
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
	if (list_entries(elf, data, eh_frame ? sh.sh_addr : 0, eh_frame, &en) != 0) {
		snprintf(err, errlen, "malformed %s (or out of memory)", eh_frame ? ".eh_frame" : ".debug_frame");
		goto out;
	}
	t->fdes = en.nfdes;
	/* About one row per 5.7 bytes of CFI (unwind_rows_per_kb): room for them all at once. */
	t->cap = data->d_size / 5 + 16;
	if (!(t->rows = malloc(t->cap * sizeof(*t->rows)))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	const struct wisp_unwind_rule none = {0};
	for (size_t i = 0; i < en.nfdes; i++) {
		const struct fde_range *fde = &en.fdes[i];
		const struct cie_info *cie = &en.cies[fde->cie];
		struct program pg = {.cie = cie, .init = &cie->init, .t = t, .loc = fde->lo, .hi = fde->hi};
		struct cfa_state s = cie->init;
		int r = run_program(&pg, fde->ins, fde->ins_end, &s);
		/* An FDE whose program breaks a rule of DWARF keeps its rows before the break: after it,
		 * a gap. Then close the FDE: a gap follows unless the next FDE starts right here. */
		if (r < 0 || (r == 0 && emit(t, pg.loc, &none) != 0) ||
		    ((i + 1 == en.nfdes || en.fdes[i + 1].lo > fde->hi) && emit(t, fde->hi, &none) != 0)) {
			snprintf(err, errlen, "out of memory (or more than %u rows)", MAX_ROWS);
			goto out;
		}
	}
	rc = 0;
out:
	entries_free(&en);
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
