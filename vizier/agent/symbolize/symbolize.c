/* symbolize.c - kernel and user address symbolization (see symbolize.h): the symbolizer, its
 * lookups, and expiry of processes and files no longer used. */
#include "symbolize_internal.h"

#include "core/clock.h"

#include <inttypes.h>
#include <libelf.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t mono_now_ms(void)
{
	return mono_now_ns() / 1000000;
}

int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	return (x->addr > y->addr) - (x->addr < y->addr);
}

/* Last symbol with addr <= ip, or NULL. */
struct sym *sym_find(struct sym *syms, size_t n, uint64_t ip)
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

uint32_t symbolize_generation(struct symbolizer *s, uint32_t pid)
{
	struct proc *p = proc_get(s, pid);
	if (!p)
		return 0;
	p->used = time(NULL); /* sampled: kept, though its frames may all be remembered (symbolizer_expire) */
	return p->generation;
}

int symbolize_user(struct symbolizer *s, uint32_t pid, uint64_t ip, const char **out, int max, bool *unsettled)
{
	struct proc *p = proc_get(s, pid);
	if (max < 1)
		return 0;
	out[0] = "[unknown]";
	if (!p) {
		*unsettled = true;
		return 1;
	}
	p->used = time(NULL);
	const struct mapping *m = find_mapping(p, ip);
	if (!m && mono_now_ms() - p->loaded_ms >= MAPS_RELOAD_MS) { /* exec, dlopen: re-read */
		load_maps(s, p);
		m = find_mapping(p, ip);
	}
	if (!m || (!m->elf && !m->vdso)) { /* anonymous code: JIT-compiled, named in a perf map */
		*unsettled = true;
		const char *jit = perfmap_lookup(p, ip);
		if (jit) {
			out[0] = jit;
			return 1;
		}
	}
	if (!m)
		return 1;
	uint64_t va = to_vaddr(m, ip);
	struct elf_syms *e = m->elf;
	const char *fn = NULL;
	if (e && e->loaded) {
		elf_syms_read(e);
		struct sym *sym = sym_find(e->syms, e->nsyms, va);
		/* Size 0 symbols (hand-written assembly) get the benefit of the doubt. */
		if (sym && (sym->size == 0 || va < sym->addr + sym->size))
			fn = elf_sym_frame(e, sym);
	}
	int n = e && e->lines ? lines_frames(e->lines, va, fn, out, max) : 0;
	if (n > 0)
		return n;
	if (!fn) {
		/* No symbol: "file+0xVA", still in its module (core/frame.h) when the file was read. */
		snprintf(s->buf, sizeof(s->buf), "%s+0x%" PRIx64 "%s%s", m->module, va, e && e->module ? "\x1f\x1f" : "",
			 e && e->module ? e->module : "");
		fn = s->buf;
	}
	out[0] = fn;
	return 1;
}

void symbolizer_expire(struct symbolizer *s, int max_age_s)
{
	time_t now = time(NULL);
	for (int b = 0; b < PROC_BUCKETS; b++) {
		struct proc **pp = &s->procs[b];
		while (*pp) {
			struct proc *p = *pp;
			if (now - p->used > max_age_s || mono_now_ms() - p->loaded_ms > 10000LL * max_age_s) {
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

void symbolizer_tick(struct symbolizer *s)
{
	time_t now = time(NULL);
	bool closed = false;
	if (now == s->ticked)
		return;
	s->ticked = now;
	for (int b = 0; b < ELF_BUCKETS; b++)
		for (struct elf_syms *e = s->elfs[b]; e; e = e->next)
			closed |= lines_expire(e->lines, now);
	/* What libdw held (decompressed sections, parsed units: tens of MiB for libc's debug file)
	 * sits free in malloc's arenas: give it back. */
	if (closed)
		malloc_trim(0);
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
