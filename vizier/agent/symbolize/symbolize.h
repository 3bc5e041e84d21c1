/* symbolize.h - turns instruction addresses into function names, for the collector.
 *
 * Kernel addresses resolve through /proc/kallsyms (module functions as "function [module]"). User
 * addresses resolve through the process's /proc/PID/maps to a mapped file, then through that ELF
 * file's .symtab and .dynsym (libelf), or for a stripped file its debug file (build id,
 * .gnu_debuglink) or MiniDebugInfo; names are demangled (C++, Rust). Where the file or its debug
 * file has DWARF, an address also gets its file:line and a frame per inlined function (libdw).
 * Anonymous code (JIT) is named from the process's /tmp/perf-PID.map.
 * Parsed ELF symbol tables are cached per file (device + inode + size + mtime); maps are cached per
 * pid and re-read when an address falls outside every known mapping or the entry is old. An
 * address that cannot be named comes back as "module+0xOFFSET" (module = file name, offset =
 * file-relative address) or "[unknown]" when no mapping holds it.
 *
 * Not thread-safe: one collector thread owns a symbolizer. Returned strings are valid until the
 * next call (callers intern them). */
#ifndef WISP_SYMBOLIZE_H
#define WISP_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct symbolizer;

struct symbolizer *symbolizer_new(void);
void symbolizer_free(struct symbolizer *s);

/* Name of kernel address ip (e.g. "do_syscall_64"). Never NULL. */
const char *symbolize_kernel(struct symbolizer *s, uint64_t ip);
/* The frames of user address ip in process pid, leaf first, into out (at most max >= 1): one
 * frame per function, inlined callees first when DWARF knows them (core/frame.h: the name, the
 * file:line where known, the raw name when demangled). Returns how many (>= 1). Sets *unsettled
 * (and never clears it) when the answer may change while pid's generation stays the same: no
 * mapping holds ip yet, or ip is in anonymous (JIT) code, whose perf map grows and is rewritten. */
int symbolize_user(struct symbolizer *s, uint32_t pid, uint64_t ip, const char **out, int max, bool *unsettled);
/* The generation of pid's address space as the symbolizer knows it: it changes whenever the
 * symbolizer re-reads pid's mappings (exec, dlopen, an address outside them) or forgets pid, and
 * never repeats, so user frames named under one generation name the same addresses the same way
 * while it lasts (but for *unsettled ones). 0 when pid cannot be read. */
uint32_t symbolize_generation(struct symbolizer *s, uint32_t pid);
/* A malloc'd copy of this process's vDSO image (the kernel maps the same one into every
 * process), its length in *len; NULL when there is none. The caller frees it. */
void *symbolize_vdso_copy(size_t *len);
/* Cheap, call often (it acts once a second): closes DWARF handles that resolved nothing new for a
 * few seconds and returns their memory. */
void symbolizer_tick(struct symbolizer *s);
/* Forget pids not looked up for `max_age_s` seconds (exited processes, reused pids). */
void symbolizer_expire(struct symbolizer *s, int max_age_s);

#endif
