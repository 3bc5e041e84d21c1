/* frame.h - what one frame of a stack says, and the views scripts take of it.
 *
 * A frame is one interned string: the function's name, optionally followed by fields, each after
 * FRAME_SEP (0x1f, ASCII's unit separator; the agent removes it from names it reads):
 *
 *     NAME [SEP FILE:LINE [SEP RAW [SEP MODULE SEP BUILD_ID [SEP KIND]]]]
 *
 * NAME is the function as people read it: demangled, "function [module]" for a kernel module,
 * or a pseudo-frame ("[unknown]", "[truncated: ...]", "libfoo.so+0x1c"). FILE:LINE is where
 * DWARF puts the address ("" when unknown); an inlined function is a frame of its own, its line
 * the one executing in it, and the frame it was inlined into gets the line of the call. RAW is
 * the symbol as the binary spells it (mangled), empty or absent when it is NAME. MODULE is the
 * path of the executable or library the address is in, as the process maps it, and BUILD_ID its
 * GNU build id in hex ("" when it has none); both absent for kernel frames, JIT code and frames
 * made before modules were recorded. KIND says what ran: absent for native code (and kernel
 * code, which a stack counts apart), "python" for a Python frame (NAME its qualified name,
 * FILE:LINE its source; RAW, MODULE and BUILD_ID empty). Frames made before lines existed are
 * plain names; every reader takes every form.
 *
 * Views (the optional last argument of px.leaf, px.folded and df:frames):
 *   function  NAME (the default: lines of one function fold together, as perf and pprof do)
 *   line      "NAME BASENAME:LINE" where the line is known, else NAME
 *   raw       RAW where present, else NAME
 * px.has_function matches the whole frame string, so it finds a file, a line or a raw name too.
 *
 * Kinds (px.frames(stack, 'python'), --lang): a stack's first nkernel frames are kernel code; of
 * the rest a frame whose KIND is "python" is Python, any other native (pseudo-frames included). */
#ifndef WISP_FRAME_H
#define WISP_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#define FRAME_SEP '\x1f'

enum frame_view { FRAME_FUNCTION, FRAME_LINE, FRAME_RAW, FRAME_VIEWS };

enum frame_kind { FRAME_KERNEL = 1, FRAME_NATIVE = 2, FRAME_PYTHON = 4 };

/* The fields of a frame; pointers into it, lengths without terminators. */
struct frame_parts {
	const char *name, *loc, *raw, *module, *build_id, *kind;
	size_t name_len, loc_len, raw_len, module_len, build_id_len, kind_len;
};

/* The view named s ("function", "line", "raw"), or -1. */
int frame_view_parse(const char *s);
const char *frame_view_name(enum frame_view v);
/* The set of kinds in s, a comma-separated list of "kernel", "native" and "python" (a bit mask
 * of enum frame_kind), or 0 when s names none or something else. */
unsigned frame_kinds_parse(const char *s);
/* A user frame's kind: FRAME_PYTHON or FRAME_NATIVE. */
enum frame_kind frame_user_kind(const char *frame);
/* Whether frame has no fields beyond its name (every view of it is itself). */
bool frame_is_plain(const char *frame);
void frame_split(const char *frame, struct frame_parts *out);
/* Writes frame's view into buf (at most cap - 1 bytes, NUL-terminated); the view's full length. */
size_t frame_format(const char *frame, enum frame_view v, char *buf, size_t cap);

#endif
