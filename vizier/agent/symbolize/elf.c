/* elf.c - function symbols of ELF files (.symtab and .dynsym, through libelf; for stripped files
 * the separate debug file or MiniDebugInfo) and their loadable segments, cached per file; which
 * file holds the DWARF for lines (lines.c); and the vDSO, parsed once from this process's copy. */
#include "symbolize_internal.h"
#include "core/frame.h"

#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libiberty/demangle.h>
#include <lzma.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

static void read_segments(struct elf_syms *e, Elf *elf)
{
	size_t nphdr = 0;
	if (elf_getphdrnum(elf, &nphdr) != 0 || nphdr == 0 || !(e->segs = calloc(nphdr, sizeof(*e->segs))))
		return;
	for (size_t i = 0; i < nphdr; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD)
			e->segs[e->nsegs++] = (struct segment){ph.p_offset, ph.p_vaddr, ph.p_filesz};
	}
}

static int add_symbol(struct elf_syms *e, const char *name, uint64_t addr, uint64_t size, size_t *cap,
		      size_t *names_cap)
{
	size_t l = strlen(name) + 1;
	if (e->nsyms == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		struct sym *n = realloc(e->syms, *cap * sizeof(*n));
		if (!n)
			return -1;
		e->syms = n;
	}
	if (e->names_len + l > *names_cap) {
		*names_cap = *names_cap ? *names_cap * 2 : 65536;
		while (*names_cap < e->names_len + l)
			*names_cap *= 2;
		char *n = realloc(e->names, *names_cap);
		if (!n)
			return -1;
		e->names = n;
	}
	memcpy(e->names + e->names_len, name, l);
	e->syms[e->nsyms++] = (struct sym){addr, size, (uint32_t)e->names_len, 0};
	e->names_len += l;
	return 0;
}

/* Whether sym is a code label: an untyped symbol in an executable section, as hand-written
 * assembly defines its entry points (ld.so's _start and _dl_start_user); not a local label of the
 * assembler (.L) nor an arm64 mapping symbol ($x, $d). perf names these too. */
static bool code_label(Elf *elf, const GElf_Sym *sym, const char *name)
{
	GElf_Shdr sh;
	Elf_Scn *scn;
	return GELF_ST_TYPE(sym->st_info) == STT_NOTYPE && sym->st_shndx < SHN_LORESERVE && name[0] != '$' &&
	       strncmp(name, ".L", 2) && (scn = elf_getscn(elf, sym->st_shndx)) && gelf_getshdr(scn, &sh) &&
	       (sh.sh_flags & SHF_EXECINSTR);
}

/* Appends the function symbols (and code labels) of elf's .symtab and .dynsym to e. Returns
 * whether elf had a .symtab (else it was stripped, and a debug file may have the rest). */
static bool add_symbols(struct elf_syms *e, Elf *elf, size_t *cap, size_t *names_cap)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	bool symtab = false;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    sh.sh_entsize == 0)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		symtab |= sh.sh_type == SHT_SYMTAB;
		size_t count = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < count; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(data, (int)i, &sym))
				continue;
			int type = GELF_ST_TYPE(sym.st_info);
			if (sym.st_value == 0 || sym.st_shndx == SHN_UNDEF)
				continue;
			const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || !*name || (type != STT_FUNC && type != STT_GNU_IFUNC && !code_label(elf, &sym, name)))
				continue;
			if (add_symbol(e, name, sym.st_value, sym.st_size, cap, names_cap) != 0)
				return symtab;
		}
	}
	return symtab;
}

/* Whether elf carries DWARF for lines: a .debug_info with contents (a stripped file keeps the
 * section header with no bits). */
static bool has_dwarf(Elf *elf)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return false;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		const char *name;
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_PROGBITS && sh.sh_size &&
		    (name = elf_strptr(elf, shstrndx, sh.sh_name)) && !strcmp(name, ".debug_info"))
			return true;
	}
	return false;
}

/* Lines come from elf (open as fd) when it has DWARF and no file has been chosen yet. */
static void note_dwarf(struct elf_syms *e, Elf *elf, int fd)
{
	int dup_fd;
	if (e->lines || fd < 0 || !has_dwarf(elf) || (dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return;
	if (!(e->lines = lines_new(dup_fd, e->module)))
		close(dup_fd);
}

/* Sorts e's symbols by address and keeps one per address (a sized one over a size-0 one), and
 * no size-0 symbol inside a sized one: the lookup takes the last symbol at or below an address,
 * so a label inside a function would take its name. */
static void finish_symbols(struct elf_syms *e)
{
	if (e->nsyms)
		qsort(e->syms, e->nsyms, sizeof(*e->syms), sym_cmp);
	size_t w = 0;
	uint64_t covered = 0; /* the end of the sized symbols kept so far */
	for (size_t r = 0; r < e->nsyms; r++) {
		const struct sym *y = &e->syms[r];
		if (w && e->syms[w - 1].addr == y->addr) {
			if (!e->syms[w - 1].size && y->size)
				e->syms[w - 1] = *y;
		} else if (y->size || y->addr >= covered) {
			e->syms[w++] = *y;
		}
		if (y->size && y->addr + y->size > covered)
			covered = y->addr + y->size;
	}
	e->nsyms = w;
	/* Built by doubling: give back the slack (up to half of what a large table holds). */
	struct sym *syms;
	if (!w) {
		free(e->syms);
		e->syms = NULL;
	} else if ((syms = realloc(e->syms, w * sizeof(*syms)))) {
		e->syms = syms;
	}
	char *names = e->names_len ? realloc(e->names, e->names_len) : NULL;
	if (names)
		e->names = names;
}

/* Adds the .symtab of the ELF file at path (a separate debug file), when it opens. */
static bool add_file_symbols(struct elf_syms *e, const char *path, size_t *cap, size_t *names_cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	bool ok = elf && elf_kind(elf) == ELF_K_ELF && add_symbols(e, elf, cap, names_cap);
	if (ok)
		note_dwarf(e, elf, fd);
	if (elf)
		elf_end(elf);
	close(fd);
	return ok;
}

/* MiniDebugInfo (.gnu_debugdata): an xz-compressed ELF holding the .symtab (Fedora, RHEL). */
static bool add_minidebug_symbols(struct elf_syms *e, Elf *elf, size_t *cap, size_t *names_cap)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf_Data *in = NULL;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return false;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		const char *name;
		if (gelf_getshdr(scn, &sh) && (name = elf_strptr(elf, shstrndx, sh.sh_name)) && !strcmp(name, ".gnu_debugdata"))
			in = elf_getdata(scn, NULL);
	}
	if (!in || !in->d_buf || !in->d_size)
		return false;
	lzma_stream z = LZMA_STREAM_INIT;
	size_t cap_out = in->d_size * 4, max_out = 64u << 20;
	uint8_t *out = NULL;
	bool ok = false;
	if (lzma_stream_decoder(&z, max_out, 0) != LZMA_OK)
		return false;
	z.next_in = in->d_buf;
	z.avail_in = in->d_size;
	for (;;) {
		uint8_t *grown = cap_out <= max_out ? realloc(out, cap_out) : NULL;
		if (!grown)
			break;
		out = grown;
		z.next_out = out + z.total_out;
		z.avail_out = cap_out - z.total_out;
		lzma_ret r = lzma_code(&z, LZMA_FINISH);
		if (r == LZMA_STREAM_END) {
			Elf *mini = elf_memory((char *)out, z.total_out);
			ok = mini && elf_kind(mini) == ELF_K_ELF && add_symbols(e, mini, cap, names_cap);
			if (mini)
				elf_end(mini);
			break;
		}
		if (r != LZMA_OK || z.avail_out != 0)
			break;
		cap_out *= 2;
	}
	lzma_end(&z);
	free(out);
	return ok;
}

/* A stripped file's full symbol table, where a debugger finds it: by build id under
 * /usr/lib/debug/.build-id/, by .gnu_debuglink beside the file or under /usr/lib/debug, or in its
 * MiniDebugInfo. `path` is the file's path (inside `root`, e.g. /proc/PID/root). */
static void add_debug_symbols(struct elf_syms *e, Elf *elf, const char *root, const char *path, size_t *cap,
			      size_t *names_cap)
{
	char p[4608], hex[2 * 64 + 1];
	const void *id;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &id);
	if (n > 1 && n <= 64) {
		for (ssize_t i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x", ((const uint8_t *)id)[i]);
		snprintf(p, sizeof(p), "/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
		if (add_file_symbols(e, p, cap, names_cap))
			return;
		snprintf(p, sizeof(p), "%s/usr/lib/debug/.build-id/%.2s/%s.debug", root, hex, hex + 2);
		if (root[0] && add_file_symbols(e, p, cap, names_cap))
			return;
	}
	GElf_Word crc;
	const char *link = dwelf_elf_gnu_debuglink(elf, &crc);
	const char *slash = path ? strrchr(path, '/') : NULL;
	if (link && slash && !strchr(link, '/')) {
		int dir = (int)(slash - path);
		const char *forms[] = {"/usr/lib/debug%.*s/%s", "%s%.*s/.debug/%s", "%s%.*s/%s"};
		snprintf(p, sizeof(p), forms[0], dir, path, link);
		if (add_file_symbols(e, p, cap, names_cap))
			return;
		for (int f = 1; f < 3; f++) {
			snprintf(p, sizeof(p), forms[f], root, dir, path, link);
			if (strcmp(p + strlen(root), path) && add_file_symbols(e, p, cap, names_cap))
				return;
		}
	}
	add_minidebug_symbols(e, elf, cap, names_cap);
}

/* fd: the open file behind elf (-1 for an image in memory). */
static void read_symbols(struct elf_syms *e, Elf *elf, int fd, const char *root, const char *path)
{
	size_t cap = 0, names_cap = 0;
	if (add_symbols(e, elf, &cap, &names_cap))
		note_dwarf(e, elf, fd);
	else
		add_debug_symbols(e, elf, root, path, &cap, &names_cap);
	finish_symbols(e);
}

void elf_syms_read(struct elf_syms *e)
{
	if (e->fd < 0)
		return;
	Elf *elf = elf_begin(e->fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF)
		read_symbols(e, elf, e->fd, e->root, e->path);
	if (elf)
		elf_end(elf);
	close(e->fd);
	e->fd = -1;
	free(e->root);
	free(e->path);
	e->root = e->path = NULL;
}

/* The module fields of the file elf, mapped as path: SEP PATH SEP BUILD_ID (core/frame.h), the
 * path's separators replaced; malloc'd, NULL on out-of-memory. */
static char *module_fields(Elf *elf, const char *path)
{
	char hex[2 * 64 + 1] = "", clean[1025], *m = NULL;
	const void *id;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &id);
	for (ssize_t i = 0; n > 0 && n <= 64 && i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", ((const uint8_t *)id)[i]);
	snprintf(clean, sizeof(clean), "%s", path ? path : "");
	for (char *c = clean; *c; c++)
		if (*c == FRAME_SEP)
			*c = '?';
	return asprintf(&m, "%c%s%c%s", FRAME_SEP, clean, FRAME_SEP, hex) < 0 ? NULL : m;
}

/* The file known by st's device, inode, size and mtime (marked used), or NULL. */
static struct elf_syms *elf_find(struct symbolizer *s, const struct stat *st)
{
	size_t b = ((uint64_t)st->st_dev * 31 + st->st_ino) % ELF_BUCKETS;
	for (struct elf_syms *e = s->elfs[b]; e; e = e->next)
		if (e->dev == (uint64_t)st->st_dev && e->ino == st->st_ino && e->size == (uint64_t)st->st_size &&
		    e->mtime == st->st_mtim.tv_sec) {
			e->used = time(NULL);
			return e;
		}
	return NULL;
}

struct elf_syms *elf_get(struct symbolizer *s, const char *open_path, const char *root, const char *path)
{
	char alt_path[4200];
	snprintf(alt_path, sizeof(alt_path), "%s%s", root, path);
	struct stat st;
	struct elf_syms *known;
	/* A file seen before costs one stat (a build machine maps the same few dozen libraries into
	 * thousands of processes); only a new one is opened. */
	if ((stat(open_path, &st) == 0 || stat(alt_path, &st) == 0) && (known = elf_find(s, &st)))
		return known;
	int fd = open(open_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = open(alt_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return NULL;
	}
	if ((known = elf_find(s, &st))) { /* replaced between the stat and the open */
		close(fd);
		return known;
	}
	size_t b = ((uint64_t)st.st_dev * 31 + st.st_ino) % ELF_BUCKETS;
	struct elf_syms *e = calloc(1, sizeof(*e));
	if (!e) {
		close(fd);
		return NULL;
	}
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->size = st.st_size;
	e->mtime = st.st_mtim.tv_sec;
	e->used = time(NULL);
	e->fd = -1;
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF) {
		e->module = module_fields(elf, path);
		read_segments(e, elf);
		e->loaded = true;
		e->root = strdup(root);
		e->path = strdup(path);
		if (e->root && e->path) {
			e->fd = fd; /* its symbols are read on first use */
			fd = -1;
		} else {
			read_symbols(e, elf, fd, root, path);
		}
	}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	e->next = s->elfs[b];
	s->elfs[b] = e;
	return e;
}

void elf_syms_free(struct elf_syms *e)
{
	if (e->fd >= 0)
		close(e->fd);
	free(e->root);
	free(e->path);
	free(e->syms);
	free(e->demangled);
	free(e->names);
	free(e->segs);
	lines_free(e->lines);
	free(e->module);
	free(e);
}

/* The vDSO is the same image in every process: parse our own copy once. */
void *symbolize_vdso_copy(size_t *len)
{
	unsigned long base = getauxval(AT_SYSINFO_EHDR);
	FILE *f = base ? fopen("/proc/self/maps", "r") : NULL;
	char line[512];
	*len = 0;
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo == base)
			*len = hi - lo;
	}
	fclose(f);
	char *copy = *len ? malloc(*len) : NULL;
	if (copy)
		memcpy(copy, (void *)base, *len);
	return copy;
}

void load_vdso(struct symbolizer *s)
{
	size_t len;
	char *copy = symbolize_vdso_copy(&len);
	struct elf_syms *e = copy ? calloc(1, sizeof(*e)) : NULL;
	if (!e) {
		free(copy);
		return;
	}
	Elf *elf = elf_memory(copy, len);
	e->fd = -1;
	if (elf && elf_kind(elf) == ELF_K_ELF) {
		e->module = module_fields(elf, "[vdso]");
		read_segments(e, elf);
		e->loaded = true;
		read_symbols(e, elf, -1, "", NULL);
	}
	if (elf)
		elf_end(elf);
	free(copy);
	s->vdso = e;
}

const char *elf_sym_frame(struct elf_syms *e, struct sym *sym)
{
	const char *raw = e->names + sym->name;
	if (sym->demangled == 0) {
		/* C++ (_Z), Rust v0 (_R); Rust legacy names are C++-mangled, their hash is dropped.
		 * Kept as the frame "demangled SEP SEP raw MODULE" (core/frame.h), made once; a name
		 * that needs no demangling is "name SEP SEP MODULE" (or itself, without a module). */
		char *d = NULL, *dm = (raw[0] == '_' && (raw[1] == 'Z' || raw[1] == 'R'))
					      ? cplus_demangle(raw, DMGL_PARAMS | DMGL_ANSI)
					      : NULL;
		if ((dm || e->module) && asprintf(&d, "%.2047s%c%c%.2047s%s", dm ? dm : raw, FRAME_SEP, FRAME_SEP,
						  dm ? raw : "", e->module ? e->module : "") < 0)
			d = NULL;
		free(dm);
		size_t l = d ? strlen(d) + 1 : 0;
		sym->demangled = SYM_RAW;
		if (d && e->demangled_len + l < UINT32_MAX - 1) {
			if (e->demangled_len + l > e->demangled_cap) {
				size_t cap = e->demangled_cap ? e->demangled_cap * 2 : 4096;
				while (cap < e->demangled_len + l)
					cap *= 2;
				char *n = realloc(e->demangled, cap);
				if (n) {
					e->demangled = n;
					e->demangled_cap = cap;
				}
			}
			if (e->demangled_len + l <= e->demangled_cap) {
				memcpy(e->demangled + e->demangled_len, d, l);
				sym->demangled = (uint32_t)e->demangled_len + 1;
				e->demangled_len += l;
			}
		}
		free(d);
	}
	return sym->demangled == SYM_RAW ? raw : e->demangled + sym->demangled - 1;
}
