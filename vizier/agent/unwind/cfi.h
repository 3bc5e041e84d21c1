/* cfi.h - one ELF file's call frame information (.eh_frame, else .debug_frame) as unwind rows:
 * "from this file address on, find the caller by this rule" (bpf/unwind.h). libdw reads the
 * section's entries; this part runs each FDE's CFA program and turns the states into our few
 * rules. Pure user space, no BPF: the table store (store.c) compacts and loads the rows. */
#ifndef WISP_UNWIND_CFI_H
#define WISP_UNWIND_CFI_H

#include <linux/types.h>
#include <libelf.h>
#include <stddef.h>
#include <stdint.h>

#include "unwind.h"

struct cfi_row {
	uint64_t start; /* file address; the row holds until the next row's start */
	struct wisp_unwind_rule rule;
};

/* The rows of one file, sorted by start, consecutive rows with equal rules merged. Where no FDE
 * covers an address the row's rule is WISP_CFA_NONE; the last row is always one. */
struct cfi_table {
	struct cfi_row *rows; /* owned; cfi_table_free */
	size_t n, cap;
	size_t fdes;          /* FDEs read */
	size_t unsupported;   /* rows whose rules we cannot express (left as WISP_CFA_NONE) */
	size_t cfi_bytes;     /* size of the section read */
};

/* Fills t (zeroed first) from elf. 0, or -1 with a reason in err (no CFI section, out of
 * memory, malformed entries). */
int cfi_build(Elf *elf, struct cfi_table *t, char *err, size_t errlen);
void cfi_table_free(struct cfi_table *t);

/* The row covering file address addr, or NULL (before the first row). */
const struct cfi_row *cfi_find(const struct cfi_table *t, uint64_t addr);

#endif
