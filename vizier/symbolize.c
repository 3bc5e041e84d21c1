/* symbolize.c - kernel and user address symbolization (see symbolize.h). */
#include "symbolize.h"

#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct sym {
	uint64_t addr;
	uint64_t size;
	uint32_t name; /* offset into the owner's names */
};

struct segment {
	uint64_t offset, vaddr, filesz;
};

/* The symbols of one ELF file. */
struct elf_syms {
	struct elf_syms *next; /* hash chain */
	uint64_t dev, ino, size;
	int64_t mtime;
	struct sym *syms;      /* sorted by addr */
	size_t nsyms;
	char *names;
	size_t names_len;
	struct segment *segs;  /* PT_LOAD segments */
	size_t nsegs;
	bool loaded;           /* false: could not be read (we remember that too) */
	time_t used;
};

struct mapping {
	uint64_t start, end, pgoff;
	struct elf_syms *elf;  /* NULL for anonymous or unreadable mappings */
	char module[64];       /* file name, "[vdso]", "[anon]"... */
	bool vdso;
};

struct proc {
	struct proc *next;
	uint32_t pid;
	struct mapping *maps;
	size_t nmaps;
	int64_t loaded_ms;     /* when maps were read (CLOCK_MONOTONIC) */
	time_t used;
};

/* A miss re-reads /proc/PID/maps (exec, dlopen) at most this often per process. */
#define MAPS_RELOAD_MS 50

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

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
	char buf[512];         /* returned names */
	uint64_t lookups, unresolved;
};

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	return (x->addr > y->addr) - (x->addr < y->addr);
}

/* Last symbol with addr <= ip, or NULL. */
static const struct sym *sym_find(const struct sym *syms, size_t n, uint64_t ip)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (syms[mid].addr <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &syms[lo - 1] : NULL;
}

/* ---- kernel ---------------------------------------------------------------------------------- */

static void load_kallsyms(struct symbolizer *s)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	size_t cap = 0, names_cap = 0, names_len = 0;
	char line[512];
	bool any_nonzero = false;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[256];
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		if (addr)
			any_nonzero = true;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		size_t l = strlen(name) + 1;
		if (s->nksyms == cap) {
			cap = cap ? cap * 2 : 65536;
			struct sym *n = realloc(s->ksyms, cap * sizeof(*n));
			if (!n)
				break;
			s->ksyms = n;
		}
		if (names_len + l > names_cap) {
			names_cap = names_cap ? names_cap * 2 : 1 << 20;
			char *n = realloc(s->knames, names_cap);
			if (!n)
				break;
			s->knames = n;
		}
		memcpy(s->knames + names_len, name, l);
		s->ksyms[s->nksyms++] = (struct sym){addr, 0, (uint32_t)names_len};
		names_len += l;
	}
	fclose(f);
	s->kaddrs_hidden = !any_nonzero;
	if (s->nksyms)
		qsort(s->ksyms, s->nksyms, sizeof(*s->ksyms), sym_cmp);
}

const char *symbolize_kernel(struct symbolizer *s, uint64_t ip)
{
	s->lookups++;
	const struct sym *sym = s->kaddrs_hidden ? NULL : sym_find(s->ksyms, s->nksyms, ip);
	if (!sym) {
		s->unresolved++;
		snprintf(s->buf, sizeof(s->buf), "[kernel]+0x%" PRIx64, ip);
		return s->buf;
	}
	return s->knames + sym->name;
}

/* ---- ELF files ------------------------------------------------------------------------------- */

static void elf_read_symbols(struct elf_syms *e, Elf *elf)
{
	size_t cap = 0, names_cap = 0, nphdr = 0;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (elf_getphdrnum(elf, &nphdr) == 0 && nphdr > 0 && (e->segs = calloc(nphdr, sizeof(*e->segs)))) {
		for (size_t i = 0; i < nphdr; i++) {
			GElf_Phdr ph;
			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD)
				e->segs[e->nsegs++] = (struct segment){ph.p_offset, ph.p_vaddr, ph.p_filesz};
		}
	}
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    sh.sh_entsize == 0)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		size_t count = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < count; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(data, (int)i, &sym))
				continue;
			int type = GELF_ST_TYPE(sym.st_info);
			if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_value == 0 ||
			    sym.st_shndx == SHN_UNDEF)
				continue;
			const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || !*name)
				continue;
			size_t l = strlen(name) + 1;
			if (e->nsyms == cap) {
				cap = cap ? cap * 2 : 1024;
				struct sym *n = realloc(e->syms, cap * sizeof(*n));
				if (!n)
					return;
				e->syms = n;
			}
			if (e->names_len + l > names_cap) {
				names_cap = names_cap ? names_cap * 2 : 65536;
				while (names_cap < e->names_len + l)
					names_cap *= 2;
				char *n = realloc(e->names, names_cap);
				if (!n)
					return;
				e->names = n;
			}
			memcpy(e->names + e->names_len, name, l);
			e->syms[e->nsyms++] = (struct sym){sym.st_value, sym.st_size, (uint32_t)e->names_len};
			e->names_len += l;
		}
	}
	if (e->nsyms)
		qsort(e->syms, e->nsyms, sizeof(*e->syms), sym_cmp);
	/* .symtab and .dynsym repeat symbols: keep one per address (the first, a sized one if any). */
	size_t w = 0;
	for (size_t r = 0; r < e->nsyms; r++) {
		if (w && e->syms[w - 1].addr == e->syms[r].addr) {
			if (!e->syms[w - 1].size && e->syms[r].size)
				e->syms[w - 1] = e->syms[r];
			continue;
		}
		e->syms[w++] = e->syms[r];
	}
	e->nsyms = w;
	e->loaded = true;
}

static struct elf_syms *elf_get(struct symbolizer *s, const char *open_path, const char *alt_path)
{
	struct stat st;
	int fd = open(open_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && alt_path)
		fd = open(alt_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return NULL;
	}
	size_t b = ((uint64_t)st.st_dev * 31 + st.st_ino) % ELF_BUCKETS;
	for (struct elf_syms *e = s->elfs[b]; e; e = e->next)
		if (e->dev == (uint64_t)st.st_dev && e->ino == st.st_ino && e->size == (uint64_t)st.st_size &&
		    e->mtime == st.st_mtim.tv_sec) {
			close(fd);
			e->used = time(NULL);
			return e;
		}
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
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF)
		elf_read_symbols(e, elf);
	if (elf)
		elf_end(elf);
	close(fd);
	e->next = s->elfs[b];
	s->elfs[b] = e;
	return e;
}

static void elf_syms_free(struct elf_syms *e)
{
	free(e->syms);
	free(e->names);
	free(e->segs);
	free(e);
}

/* The vDSO is the same image in every process: parse our own copy once. */
static void load_vdso(struct symbolizer *s)
{
	unsigned long base = getauxval(AT_SYSINFO_EHDR);
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	size_t len = 0;
	if (!base || !f) {
		if (f)
			fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo == base)
			len = hi - lo;
	}
	fclose(f);
	if (!len)
		return;
	char *copy = malloc(len);
	struct elf_syms *e = calloc(1, sizeof(*e));
	if (!copy || !e) {
		free(copy);
		free(e);
		return;
	}
	memcpy(copy, (void *)base, len);
	Elf *elf = elf_memory(copy, len);
	if (elf && elf_kind(elf) == ELF_K_ELF)
		elf_read_symbols(e, elf);
	if (elf)
		elf_end(elf);
	free(copy);
	s->vdso = e;
}

/* ---- processes ------------------------------------------------------------------------------- */

static void proc_free(struct proc *p)
{
	free(p->maps);
	free(p);
}

static int load_maps(struct symbolizer *s, struct proc *p)
{
	char path[64], line[4096];
	snprintf(path, sizeof(path), "/proc/%u/maps", p->pid);
	FILE *f = fopen(path, "r");
	size_t cap = 0;
	if (!f)
		return -1;
	free(p->maps);
	p->maps = NULL;
	p->nmaps = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi, off, ino;
		char perms[8], dev[16];
		int pathpos = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %15s %llu %n", &lo, &hi, perms, &off, dev, &ino, &pathpos) < 6)
			continue;
		if (!strchr(perms, 'x'))
			continue;
		char *file = line + pathpos;
		file[strcspn(file, "\n")] = '\0';
		if (p->nmaps == cap) {
			cap = cap ? cap * 2 : 32;
			struct mapping *n = realloc(p->maps, cap * sizeof(*n));
			if (!n)
				break;
			p->maps = n;
		}
		struct mapping *m = &p->maps[p->nmaps++];
		memset(m, 0, sizeof(*m));
		m->start = lo;
		m->end = hi;
		m->pgoff = off;
		if (!strcmp(file, "[vdso]")) {
			m->vdso = true;
			m->elf = s->vdso;
			snprintf(m->module, sizeof(m->module), "[vdso]");
		} else if (file[0] == '/' && ino) {
			const char *base = strrchr(file, '/');
			snprintf(m->module, sizeof(m->module), "%s", base ? base + 1 : file);
			char mf[128], alt[4200];
			snprintf(mf, sizeof(mf), "/proc/%u/map_files/%llx-%llx", p->pid, lo, hi);
			snprintf(alt, sizeof(alt), "/proc/%u/root%s", p->pid, file);
			m->elf = elf_get(s, mf, alt);
		} else {
			snprintf(m->module, sizeof(m->module), "%s", file[0] ? file : "[anon]");
		}
	}
	fclose(f);
	p->loaded_ms = mono_ms();
	return 0;
}

static struct proc *proc_get(struct symbolizer *s, uint32_t pid)
{
	size_t b = pid % PROC_BUCKETS;
	for (struct proc *p = s->procs[b]; p; p = p->next)
		if (p->pid == pid)
			return p;
	struct proc *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	load_maps(s, p);
	p->next = s->procs[b];
	s->procs[b] = p;
	return p;
}

static const struct mapping *find_mapping(const struct proc *p, uint64_t ip)
{
	for (size_t i = 0; i < p->nmaps; i++)
		if (ip >= p->maps[i].start && ip < p->maps[i].end)
			return &p->maps[i];
	return NULL;
}

/* File-relative ELF virtual address of ip inside mapping m. */
static uint64_t to_vaddr(const struct mapping *m, uint64_t ip)
{
	if (m->vdso)
		return ip - m->start + (m->elf && m->elf->nsegs ? m->elf->segs[0].vaddr : 0);
	uint64_t file_off = ip - m->start + m->pgoff;
	if (m->elf)
		for (size_t i = 0; i < m->elf->nsegs; i++) {
			const struct segment *sg = &m->elf->segs[i];
			if (file_off >= sg->offset && file_off < sg->offset + sg->filesz)
				return file_off - sg->offset + sg->vaddr;
		}
	return file_off;
}

const char *symbolize_user(struct symbolizer *s, uint32_t pid, uint64_t ip)
{
	s->lookups++;
	struct proc *p = proc_get(s, pid);
	if (!p) {
		s->unresolved++;
		return "[unknown]";
	}
	p->used = time(NULL);
	const struct mapping *m = find_mapping(p, ip);
	if (!m && mono_ms() - p->loaded_ms >= MAPS_RELOAD_MS) { /* exec, dlopen: re-read */
		load_maps(s, p);
		m = find_mapping(p, ip);
	}
	if (!m) {
		s->unresolved++;
		return "[unknown]";
	}
	uint64_t va = to_vaddr(m, ip);
	const struct elf_syms *e = m->elf;
	if (e && e->loaded) {
		const struct sym *sym = sym_find(e->syms, e->nsyms, va);
		/* Size 0 symbols (hand-written assembly) get the benefit of the doubt. */
		if (sym && (sym->size == 0 || va < sym->addr + sym->size))
			return e->names + sym->name;
	}
	s->unresolved++;
	snprintf(s->buf, sizeof(s->buf), "%s+0x%" PRIx64, m->module, va);
	return s->buf;
}

void symbolizer_expire(struct symbolizer *s, int max_age_s)
{
	time_t now = time(NULL);
	for (int b = 0; b < PROC_BUCKETS; b++) {
		struct proc **pp = &s->procs[b];
		while (*pp) {
			struct proc *p = *pp;
			if (now - p->used > max_age_s || mono_ms() - p->loaded_ms > 10000LL * max_age_s) {
				*pp = p->next;
				proc_free(p);
			} else {
				pp = &p->next;
			}
		}
	}
	/* ELF files no live mapping refers to and unused for a while. */
	for (int b = 0; b < ELF_BUCKETS; b++) {
		struct elf_syms **pe = &s->elfs[b];
		while (*pe) {
			struct elf_syms *e = *pe;
			bool referenced = false;
			for (int pb = 0; pb < PROC_BUCKETS && !referenced; pb++)
				for (struct proc *p = s->procs[pb]; p && !referenced; p = p->next)
					for (size_t i = 0; i < p->nmaps && !referenced; i++)
						referenced = p->maps[i].elf == e;
			if (!referenced && now - e->used > max_age_s) {
				*pe = e->next;
				elf_syms_free(e);
			} else {
				pe = &e->next;
			}
		}
	}
}

struct symbolizer *symbolizer_new(void)
{
	struct symbolizer *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	elf_version(EV_CURRENT);
	load_kallsyms(s);
	load_vdso(s);
	return s;
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	for (int b = 0; b < PROC_BUCKETS; b++)
		while (s->procs[b]) {
			struct proc *p = s->procs[b];
			s->procs[b] = p->next;
			proc_free(p);
		}
	for (int b = 0; b < ELF_BUCKETS; b++)
		while (s->elfs[b]) {
			struct elf_syms *e = s->elfs[b];
			s->elfs[b] = e->next;
			elf_syms_free(e);
		}
	if (s->vdso)
		elf_syms_free(s->vdso);
	free(s->ksyms);
	free(s->knames);
	free(s);
}

void symbolizer_get_stats(struct symbolizer *s, struct symbolizer_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (int b = 0; b < ELF_BUCKETS; b++)
		for (struct elf_syms *e = s->elfs[b]; e; e = e->next) {
			out->elf_files += e->loaded;
			out->symbols += e->nsyms;
		}
	for (int b = 0; b < PROC_BUCKETS; b++)
		for (struct proc *p = s->procs[b]; p; p = p->next)
			out->processes++;
	out->lookups = s->lookups;
	out->unresolved = s->unresolved;
}
