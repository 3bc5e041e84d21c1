/* kallsyms.c - kernel addresses to names through /proc/kallsyms (text symbols only); a module's
 * functions are named "function [module]", as perf shows them. When kptr_restrict hides every
 * address, kernel frames stay "[kernel]+0xADDR". */
#include "symbolize_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void load_kallsyms(struct symbolizer *s)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	size_t cap = 0, names_cap = 0, names_len = 0;
	char line[512];
	bool any_nonzero = false;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[256 + 80], module[64];
		int fields = sscanf(line, "%llx %c %255s [%63[^]]]", &addr, &type, name, module);
		if (fields < 3)
			continue;
		if (fields == 4 && strncmp(module, "__builtin", 9)) /* not ftrace's or BPF's pseudo-modules */
			snprintf(name + strlen(name), sizeof(name) - strlen(name), " [%s]", module);
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
		s->ksyms[s->nksyms++] = (struct sym){addr, 0, (uint32_t)names_len, SYM_RAW};
		names_len += l;
	}
	fclose(f);
	s->kaddrs_hidden = !any_nonzero;
	if (s->nksyms)
		qsort(s->ksyms, s->nksyms, sizeof(*s->ksyms), sym_cmp);
}

const char *symbolize_kernel(struct symbolizer *s, uint64_t ip)
{
	const struct sym *sym = s->kaddrs_hidden ? NULL : sym_find(s->ksyms, s->nksyms, ip);
	if (!sym) {
		snprintf(s->buf, sizeof(s->buf), "[kernel]+0x%" PRIx64, ip);
		return s->buf;
	}
	return s->knames + sym->name;
}
