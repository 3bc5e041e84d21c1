/* python_internal.h - what pyversion.c tells pyprocs.c about a version's layout. */
#ifndef WISP_AGENT_PYTHON_INTERNAL_H
#define WISP_AGENT_PYTHON_INTERNAL_H

#include "pyprocs.h"

/* How a version lays out str objects (PyASCIIObject and PyCompactUnicodeObject). */
struct py_str_layout {
	uint16_t state;        /* the bit field: kind in bits 2-4, compact bit 5, ascii bit 6 */
	uint16_t ascii_data;   /* a compact ASCII string's characters */
	uint16_t compact_data; /* a compact non-ASCII string's characters (kind 1, 2 or 4 bytes each) */
	uint16_t length;       /* characters, a Py_ssize_t */
};

/* Fills the walker's offsets (all but runtime) and the str layout for e's version. 0, or -1
 * with *why when the version is one the walker does not know. */
int py_layout(const struct py_elf *e, struct wisp_py_proc *out, struct py_str_layout *str, const char **why);

#endif
