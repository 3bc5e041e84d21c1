/* procmaps.c - each process's executable mappings from /proc/PID/maps, with the ELF file behind
 * each (opened through /proc/PID/map_files or /proc/PID/root, so files in other mount
 * namespaces resolve), and addresses translated to file-relative ELF addresses. */
#include "symbolize_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void proc_free(struct proc *p)
{
	perfmap_free(p->perfmap);
	free(p->maps);
	free(p);
}

int load_maps(struct symbolizer *s, struct proc *p)
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
			char mf[128], root[64];
			snprintf(mf, sizeof(mf), "/proc/%u/map_files/%llx-%llx", p->pid, lo, hi);
			snprintf(root, sizeof(root), "/proc/%u/root", p->pid);
			m->elf = elf_get(s, mf, root, file);
		} else {
			snprintf(m->module, sizeof(m->module), "%s", file[0] ? file : "[anon]");
		}
	}
	fclose(f);
	p->loaded_ms = mono_now_ms();
	if (++s->map_reads == 0) /* 0 says "never read" */
		s->map_reads = 1;
	p->generation = s->map_reads;
	return 0;
}

struct proc *proc_get(struct symbolizer *s, uint32_t pid)
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

const struct mapping *find_mapping(const struct proc *p, uint64_t ip)
{
	for (size_t i = 0; i < p->nmaps; i++)
		if (ip >= p->maps[i].start && ip < p->maps[i].end)
			return &p->maps[i];
	return NULL;
}

/* File-relative ELF virtual address of ip inside mapping m. */
uint64_t to_vaddr(const struct mapping *m, uint64_t ip)
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
