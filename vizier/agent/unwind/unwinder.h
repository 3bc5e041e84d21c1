/* unwinder.h - keeps the BPF walker's tables (bpf/unwind.h) current for the processes it samples.
 *
 * The collector asks for a process when a sample says its table is missing or stale
 * (unwinder_request: never blocks), and the BPF side reports every exec as it happens (so a
 * process's table is there from its first milliseconds). A loader thread then reads
 * /proc/PID/maps and writes the process's mapping table; a builder thread builds the unwind
 * table of every executable file not seen before (cfi.c; once per file, by device, inode, size
 * and modification time, shared by every process mapping it) and loads it into the store
 * (store.c), after which the processes that waited for it are loaded again. The BPF side deletes a process's table when
 * it execs or exits; the loader notices and forgets it. Files are held within a budget and
 * evicted least recently used; a file mapped by a live process counts as used. A process that
 * maps a CPython interpreter is shown to the Python walker's registry (agent/python/pyprocs.h). */
#ifndef WISP_UNWINDER_H
#define WISP_UNWINDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct unwinder;
struct py_procs;

/* The BPF maps the walker reads (file descriptors; the BPF object owns them). */
struct unwinder_maps {
	int procs_fd;                 /* pid -> struct wisp_unwind_proc */
	uint32_t procs_cap;
	int rows_fd;                  /* mmappable array of rows */
	uint32_t rows_cap;
	int rules_fd;                 /* mmappable array of WISP_UNWIND_MAX_RULES rules */
	int pages_fd;                 /* (file, page) -> struct wisp_unwind_page */
	uint32_t pages_cap;
	int exec_events_fd;           /* ring buffer of pids that exec'd (-1: none) */
	struct py_procs *python;      /* told of every CPython process it loads (NULL: none; not owned) */
};

struct unwinder_stats {
	uint64_t procs;               /* processes with a table now */
	uint64_t proc_loads;          /* tables written (first loads and reloads) */
	uint64_t exec_loads;          /* of which on an exec event */
	uint64_t proc_failed;         /* processes that could not be loaded (gone, map full) */
	uint64_t files_built;         /* unwind tables built from files */
	uint64_t files_no_cfi;        /* files without usable CFI (frame pointers there) */
	uint64_t build_ns;            /* time spent building tables */
	uint64_t cfi_bytes;           /* .eh_frame bytes those tables came from */
	uint64_t files;               /* tables held now */
	uint64_t rows, rows_cap, pages, rules, evicted, refused;
	uint64_t bytes;               /* kernel memory of the tables: rows, rules, pages, processes */
};

/* Starts the loader thread. NULL with a reason in err. */
struct unwinder *unwinder_new(const struct unwinder_maps *maps, char *err, size_t errlen);
void unwinder_free(struct unwinder *u);

/* Asks for pid's table to be (re)loaded. `stale`: the table exists but missed a pc (dlopen, a
 * new JIT region), which reloads at most once a second; otherwise the table is missing. */
void unwinder_request(struct unwinder *u, uint32_t pid, bool stale);
void unwinder_get_stats(struct unwinder *u, struct unwinder_stats *out);

#endif
