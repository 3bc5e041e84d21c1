/* perfmap.c - names of JIT-compiled code from the process's perf map, /tmp/perf-PID.map (Node's
 * --perf-basic-prof, JVM agents, LuaJIT, .NET): lines "START SIZE NAME" in hex, appended as code
 * is compiled. Read from the process's root (its /tmp, its own pid in its pid namespace), parsed
 * incrementally from where the last read stopped, re-checked at most once a second when an
 * address is not found. Later entries for the same start win (code regions are reused). */
#include "symbolize_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PERFMAP_RECHECK_MS 1000
#define PERFMAP_MAX_BYTES (256u << 20) /* a map larger than this stops being read */

void perfmap_free(struct perfmap *m)
{
	if (!m)
		return;
	free(m->syms);
	free(m->names);
	free(m);
}

/* The pid of process pid inside its own pid namespace (the last NSpid field), or pid. */
static uint32_t ns_pid(uint32_t pid)
{
	char path[64], line[256];
	uint32_t ns = pid;
	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		for (char *tok = strtok(line + 6, " \t\n"); tok; tok = strtok(NULL, " \t\n"))
			ns = (uint32_t)strtoul(tok, NULL, 10);
		break;
	}
	if (f)
		fclose(f);
	return ns;
}

static int sym_by_addr_then_age(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	if (x->addr != y->addr)
		return (x->addr > y->addr) - (x->addr < y->addr);
	return (x->name > y->name) - (x->name < y->name); /* names are appended: later is newer */
}

/* Reads what was appended to the map since the last read. */
static void perfmap_read(struct perfmap *m)
{
	struct stat st;
	FILE *f = fopen(m->path, "r");
	if (!f)
		return;
	if (fstat(fileno(f), &st) != 0 || (uint64_t)st.st_size <= m->off || (uint64_t)st.st_size > PERFMAP_MAX_BYTES ||
	    fseeko(f, (off_t)m->off, SEEK_SET) != 0) {
		fclose(f);
		return;
	}
	char line[4096];
	size_t added = 0;
	while (fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);
		if (l == 0 || line[l - 1] != '\n') /* a line still being written: read it next time */
			break;
		m->off += l;
		line[l - 1] = '\0';
		char *end;
		uint64_t start = strtoull(line, &end, 16), size;
		if (end == line || *end != ' ')
			continue;
		size = strtoull(end + 1, &end, 16);
		if (*end != ' ' || !end[1])
			continue;
		const char *name = end + 1;
		size_t nl = strlen(name) + 1;
		if (m->nsyms == m->cap) {
			size_t cap = m->cap ? 2 * m->cap : 1024;
			struct sym *n = realloc(m->syms, cap * sizeof(*n));
			if (!n)
				break;
			m->syms = n;
			m->cap = cap;
		}
		if (m->names_len + nl > m->names_cap) {
			size_t cap = m->names_cap ? 2 * m->names_cap : 65536;
			while (cap < m->names_len + nl)
				cap *= 2;
			char *n = realloc(m->names, cap);
			if (!n)
				break;
			m->names = n;
			m->names_cap = cap;
		}
		memcpy(m->names + m->names_len, name, nl);
		m->syms[m->nsyms++] = (struct sym){start, size, (uint32_t)m->names_len, SYM_RAW};
		m->names_len += nl;
		added++;
	}
	fclose(f);
	if (!added)
		return;
	qsort(m->syms, m->nsyms, sizeof(*m->syms), sym_by_addr_then_age);
	size_t w = 0; /* one entry per start: the newest */
	for (size_t r = 0; r < m->nsyms; r++) {
		if (w && m->syms[w - 1].addr == m->syms[r].addr)
			w--;
		m->syms[w++] = m->syms[r];
	}
	m->nsyms = w;
}

const char *perfmap_lookup(struct proc *p, uint64_t ip)
{
	int64_t now = mono_now_ms();
	if (!p->perfmap) {
		if (!(p->perfmap = calloc(1, sizeof(*p->perfmap))))
			return NULL;
		snprintf(p->perfmap->path, sizeof(p->perfmap->path), "/proc/%u/root/tmp/perf-%u.map", p->pid,
			 ns_pid(p->pid));
		p->perfmap->checked_ms = now - PERFMAP_RECHECK_MS;
	}
	struct perfmap *m = p->perfmap;
	for (int pass = 0; pass < 2; pass++) {
		const struct sym *s = sym_find(m->syms, m->nsyms, ip);
		if (s && ip < s->addr + s->size)
			return m->names + s->name;
		if (pass || now - m->checked_ms < PERFMAP_RECHECK_MS)
			break;
		m->checked_ms = now;
		perfmap_read(m);
	}
	return NULL;
}
