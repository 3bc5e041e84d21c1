/* pyprocs.h - CPython processes: finding their interpreters for the BPF walker (bpf/python.h) and
 * naming the frames it records.
 *
 * The unwinder's loader thread shows every executable file it opens to py_elf_scan, which says
 * whether the file is a CPython interpreter (python3.x or libpython3.x.so: the symbols
 * _PyRuntime, Py_Version, PyCode_Type and _PyEval_EvalFrameDefault) and which version. When a
 * process maps one, py_procs_load reads the layout of its code objects from the process itself
 * (PyCode_Type's member table), writes its wisp_py_proc into the BPF map, and keeps what the
 * collector needs: where _PyEval_EvalFrameDefault is, and how to read a code object.
 *
 * The collector thread names each recorded frame (py_procs_frame): the code object's qualified
 * name, file and first line and its line table are read from the process once and cached per
 * process and code object, checked against the signature BPF read with the frame (bpf/python.h);
 * the line comes from the instruction offset. The collector splices the frames into the native
 * stack in place of the interpreter's (py_procs_eval_range).
 *
 * Threads: py_elf_scan and py_procs_load/forget run on the loader thread, py_procs_eval_range and
 * py_procs_frame on the collector's; a mutex guards the processes. */
#ifndef WISP_AGENT_PYPROCS_H
#define WISP_AGENT_PYPROCS_H

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>
#include "python.h" /* bpf/: struct wisp_py_frame */

/* What a file says about the interpreter in it. Addresses are the file's (add the load bias). */
struct py_elf {
	uint16_t version;       /* major << 8 | minor */
	uint64_t runtime;       /* _PyRuntime */
	uint64_t code_type;     /* PyCode_Type */
	uint64_t eval_lo, eval_hi; /* _PyEval_EvalFrameDefault's code */
	uint8_t debug_offsets[1024]; /* 3.13+: the start of _PyRuntime as the file holds it */
	size_t debug_len;
};

/* A malloc'd description of the interpreter in elf, or NULL when it holds none (or a version the
 * walker does not know; *why says which, when not NULL). The caller frees it. */
struct py_elf *py_elf_scan(Elf *elf, const char **why);

struct py_procs;

struct py_procs_stats {
	uint64_t procs;          /* Python processes known now */
	uint64_t loads, load_failed;
	uint64_t codes;          /* code objects named (cached now) */
	uint64_t code_failed;    /* code objects that could not be read (process gone, garbage) */
	uint64_t code_gone;      /* frames whose code object was freed before it was read */
	uint64_t frames;         /* frames named */
};

/* procs_fd: the wisp_py_procs map. */
struct py_procs *py_procs_new(int procs_fd);
void py_procs_free(struct py_procs *p);

/* Process pid maps the interpreter e at load bias `bias`: its BPF entry is (re)written. 0, or -1
 * (the process is gone or its memory is not an interpreter's). */
int py_procs_load(struct py_procs *p, uint32_t pid, const struct py_elf *e, uint64_t bias);
/* Forgets pid (exec, exit). */
void py_procs_forget(struct py_procs *p, uint32_t pid);

/* Where pid's _PyEval_EvalFrameDefault is, [*lo, *hi); false when pid is no Python process known. */
bool py_procs_eval_range(struct py_procs *p, uint32_t pid, uint64_t *lo, uint64_t *hi);
/* The frame f of process pid as core/frame.h spells it (kind "python": qualified name, file:line);
 * "[python: unreadable]" when its code object cannot be read, "[python: gone]" when it was freed
 * (its address reused) before it could be; both set *unsettled (never cleared). Valid until the
 * next call. */
const char *py_procs_frame(struct py_procs *p, uint32_t pid, const struct wisp_py_frame *f, bool *unsettled);

void py_procs_get_stats(struct py_procs *p, struct py_procs_stats *out);

#endif
