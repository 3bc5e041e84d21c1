/* symbolize_internal.h - the symbolizer's caches, shared by its parts: kernel symbols
 * (kallsyms.c), ELF symbol tables per file (elf.c), mappings per process (procmaps.c) and the
 * lookups that tie them together (symbolize.c). Private to vizier/agent/symbolize/. */
#ifndef WISP_SYMBOLIZE_INTERNAL_H
#define WISP_SYMBOLIZE_INTERNAL_H

#include "symbolize.h"

#include <stdbool.h>
#include <time.h>

struct sym {
	uint64_t addr;
	uint64_t size;
	uint32_t name;      /* offset into the owner's names: the name as the file has it */
	uint32_t demangled; /* 0: not looked at yet; SYM_RAW: shown as it is; else offset + 1 into
			     * the owner's demangled names (filled on first use) */
};

#define SYM_RAW UINT32_MAX

struct segment {
	uint64_t offset, vaddr, filesz;
};

/* The symbols of one ELF file. Its segments are read when a process's maps name it; its symbols
 * (and which file holds its DWARF) when an address in it is first looked up (elf_syms_read): a
 * process maps dozens of files, and most never show in a sample. Until then it keeps the file
 * open (fd), with where its debug file may be (root, path), so that a process that exits before
 * its samples are named still gets its names. */
struct elf_syms {
	struct elf_syms *next; /* hash chain */
	uint64_t dev, ino, size;
	int64_t mtime;
	struct sym *syms;      /* sorted by addr */
	size_t nsyms;
	char *names;
	size_t names_len;
	char *demangled;       /* demangled names, as symbols are first looked up */
	size_t demangled_len, demangled_cap;
	struct segment *segs;  /* PT_LOAD segments */
	size_t nsegs;
	struct lines *lines;   /* source lines and inlined functions (lines.c); NULL without DWARF */
	char *module;          /* SEP PATH SEP BUILD_ID: how each frame of this file ends (core/frame.h);
				* owned, NULL on out-of-memory */
	int fd;                /* >= 0: the file, its symbols not read yet; owned */
	char *root, *path;     /* while fd >= 0: its process's root and its path there; owned */
	bool loaded;           /* false: could not be read (we remember that too) */
	time_t used;
};

struct mapping {
	uint64_t start, end, pgoff;
	struct elf_syms *elf;  /* NULL for anonymous or unreadable mappings */
	char module[64];       /* file name, "[vdso]", "[anon]"... */
	bool vdso;
};

/* A process's JIT perf map (perfmap.c). */
struct perfmap {
	char path[96];
	uint64_t off;          /* bytes parsed so far */
	int64_t checked_ms;    /* last look at the file */
	struct sym *syms;      /* sorted by addr, one per start */
	size_t nsyms, cap;
	char *names;
	size_t names_len, names_cap;
};

struct proc {
	struct proc *next;
	uint32_t pid;
	struct mapping *maps;
	size_t nmaps;
	struct perfmap *perfmap; /* NULL until an address outside every file needs it */
	int64_t loaded_ms;     /* when maps were read (CLOCK_MONOTONIC) */
	uint32_t generation;   /* the symbolizer's count of map reads when these were read */
	time_t used;
};

/* A miss re-reads /proc/PID/maps (exec, dlopen) at most this often per process. */
#define MAPS_RELOAD_MS 50

#define PROC_BUCKETS 1024
#define ELF_BUCKETS 1024

struct symbolizer {
	struct sym *ksyms;     /* kallsyms, sorted */
	size_t nksyms;
	char *knames;
	bool kaddrs_hidden;    /* kptr_restrict: all-zero addresses */
	struct proc *procs[PROC_BUCKETS];
	struct elf_syms *elfs[ELF_BUCKETS];
	struct elf_syms *vdso; /* the kernel's vDSO image (shared by all processes) */
	time_t ticked;         /* symbolizer_tick's last second */
	uint32_t map_reads;    /* /proc/PID/maps reads so far: each gives its proc a new generation */
	char buf[512];         /* returned names */
};

/* symbolize.c: sorted symbol tables */
int sym_cmp(const void *a, const void *b);
/* Last symbol with addr <= ip, or NULL. */
struct sym *sym_find(struct sym *syms, size_t n, uint64_t ip);
int64_t mono_now_ms(void);

/* kallsyms.c */
void load_kallsyms(struct symbolizer *s);

/* elf.c */
/* The symbols of the ELF file at open_path (else root + path), cached by device, inode, size and
 * mtime; NULL when neither opens. A file that is not ELF is cached as not loaded. A stripped
 * file's debug file is looked for by build id and debuglink, on this machine and under root. */
struct elf_syms *elf_get(struct symbolizer *s, const char *open_path, const char *root, const char *path);
/* Reads e's symbols, if it has not yet, and closes its file. */
void elf_syms_read(struct elf_syms *e);
/* The frame of sym of e (core/frame.h): its name, demangled (C++, Rust legacy and v0) when it is
 * mangled, the raw name, and e's module. Valid as long as e. */
const char *elf_sym_frame(struct elf_syms *e, struct sym *sym);
void elf_syms_free(struct elf_syms *e);
/* Parses the vDSO of this process into s->vdso (the same image in every process). */
void load_vdso(struct symbolizer *s);

/* lines.c */
/* Lines of the DWARF in the ELF file open as fd, which it takes; module (the file's module
 * fields, SEP PATH SEP BUILD_ID, or NULL) ends each frame and must outlive it. NULL on
 * out-of-memory. */
struct lines *lines_new(int fd, const char *module);
void lines_free(struct lines *l);
/* Closes the DWARF of l when it has resolved nothing new for a while (it reopens on the next new
 * address); whether it closed. */
bool lines_expire(struct lines *l, time_t now);
/* The frames of file address va, leaf first (inlined callees, then the function), at most max;
 * 0 when DWARF does not know va. func: the function's frame by its ELF symbol, or NULL. The
 * strings are valid until the next call for this file. */
int lines_frames(struct lines *l, uint64_t va, const char *func, const char **out, int max);

/* perfmap.c */
/* The JIT name of ip from p's perf map, or NULL. */
const char *perfmap_lookup(struct proc *p, uint64_t ip);
void perfmap_free(struct perfmap *m);

/* procmaps.c */
void proc_free(struct proc *p);
/* The cached process pid (its maps read on first use); NULL on out-of-memory. */
struct proc *proc_get(struct symbolizer *s, uint32_t pid);
/* Re-reads /proc/PID/maps. 0, or -1 when the process is gone. */
int load_maps(struct symbolizer *s, struct proc *p);
const struct mapping *find_mapping(const struct proc *p, uint64_t ip);
/* File-relative ELF virtual address of ip inside mapping m. */
uint64_t to_vaddr(const struct mapping *m, uint64_t ip);

#endif
