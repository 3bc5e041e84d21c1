/* elf.c - function symbols of ELF files (.symtab and .dynsym, through libelf) and their
 * loadable segments, cached per file; and the vDSO, parsed once from this process's copy. */
#include "symbolize_internal.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

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

struct elf_syms *elf_get(struct symbolizer *s, const char *open_path, const char *alt_path)
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

void elf_syms_free(struct elf_syms *e)
{
	free(e->syms);
	free(e->names);
	free(e->segs);
	free(e);
}

/* The vDSO is the same image in every process: parse our own copy once. */
void load_vdso(struct symbolizer *s)
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
