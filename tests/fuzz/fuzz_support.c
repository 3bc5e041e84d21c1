/* fuzz_support.c - the fixtures harnesses share (see fuzz.h): an agent over a fixed synthetic
 * ring, the plans of the bundled scripts, seed files. */
#include "fuzz.h"
#include "agent/agent.h"
#include "engine/plan.h"
#include "lua/script.h"
#include "ring/ring.h"
#include "ring/snapshot.h"
#include "ring/synthetic.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t put = fwrite(p, 1, n, f);
	return fclose(f) == 0 && put == n ? 0 : -1;
}

int fuzz_write_seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return write_file(path, p, n);
}

struct ring *fuzz_ring_new(const char *node)
{
	struct synth_config sc = {2, 20, 30, 4, 8, 7, 1.0, 0, 0};
	struct ring_config cfg = {16u << 20, node, 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&cfg);
	struct synth *s = r ? synth_new(&sc, r) : NULL;
	if (!s || synth_fill(s, FUZZ_DATA_SEC, FUZZ_DATA_SECONDS) < 0) {
		ring_free(r);
		r = NULL;
	}
	synth_free(s); /* the ring holds what it interned */
	return r;
}

/* The fixture's ring as a snapshot file at path. 0 or -1. */
static int write_fixture(const char *path)
{
	struct ring *r = fuzz_ring_new("fixture");
	void *buf = NULL;
	size_t len;
	char err[256];
	int rc = -1;
	if (r && ring_snapshot(r, INT64_MIN, INT64_MAX, &buf, &len, err, sizeof(err)) == 0)
		rc = write_file(path, buf, len);
	free(buf);
	ring_free(r);
	return rc;
}

struct agent *fuzz_agent_new(const char *node)
{
	char path[64], spec[80], err[512];
	snprintf(path, sizeof(path), "/tmp/wisp-fuzz-fixture.%d", (int)getpid());
	snprintf(spec, sizeof(spec), "replay:%s", path);
	struct agent_config ac = {.node = node, .ring_bytes = 32u << 20, .source = spec, .opt = {.node = node}};
	struct agent *a = write_fixture(path) == 0 ? agent_new(&ac, err, sizeof(err)) : NULL;
	unlink(path);
	if (!a)
		fprintf(stderr, "fuzz: cannot make the fixture agent: %s\n", err);
	return a;
}

char *fuzz_bundled_source(const char *name, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.lua", WISP_SCRIPTS_DIR, name);
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long sz = -1;
	if (f && fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)sz + 1)) && fread(buf, 1, (size_t)sz, f) == (size_t)sz) {
		buf[sz] = '\0';
		*len = (size_t)sz;
	} else {
		free(buf);
		buf = NULL;
	}
	if (f)
		fclose(f);
	return buf;
}

struct plan *fuzz_bundled_plan(const char *name)
{
	size_t len;
	char *src = fuzz_bundled_source(name, &len);
	struct script_input in = {name, src, len, NULL, 0, (FUZZ_DATA_SEC + FUZZ_DATA_SECONDS) * 1000000000LL};
	struct script_limits lim = SCRIPT_DEFAULT_LIMITS;
	struct plan *p = NULL;
	char err[512];
	if (src && (script_compile(&in, &lim, &p, NULL, err, sizeof(err)) < 0 || plan_split(p) < 0)) {
		plan_free(p);
		p = NULL;
	}
	free(src);
	return p;
}

uint8_t *fuzz_elf_image(const struct fuzz_section *secs, int n, size_t *len)
{
	char names[512];
	size_t name_at[17], nl = 1, off = sizeof(Elf64_Ehdr);
	if (n < 0 || n > 16)
		return NULL;
	names[0] = '\0';
	for (int i = 0; i <= n; i++) {
		const char *s = i < n ? secs[i].name : ".shstrtab";
		size_t l = strnlen(s, 24) + 1;
		name_at[i] = nl;
		memcpy(names + nl, s, l - 1);
		names[nl + l - 1] = '\0';
		nl += l;
	}
	size_t data = 0;
	for (int i = 0; i < n; i++)
		data += (secs[i].len + 7) & ~(size_t)7;
	size_t str_off = off + data, sh_off = (str_off + nl + 7) & ~(size_t)7;
	*len = sh_off + (size_t)(n + 2) * sizeof(Elf64_Shdr);
	uint8_t *img = calloc(1, *len);
	if (!img)
		return NULL;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_shoff = sh_off;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = (Elf64_Half)(n + 2);
	eh->e_shstrndx = (Elf64_Half)(n + 1);
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + sh_off);
	for (int i = 0; i < n; i++) {
		memcpy(img + off, secs[i].data, secs[i].len);
		sh[1 + i] = (Elf64_Shdr){.sh_name = (Elf64_Word)name_at[i], .sh_type = SHT_PROGBITS, .sh_flags = secs[i].flags,
					 .sh_addr = secs[i].addr, .sh_offset = off, .sh_size = secs[i].len, .sh_addralign = 8};
		off += (secs[i].len + 7) & ~(size_t)7;
	}
	memcpy(img + str_off, names, nl);
	sh[n + 1] = (Elf64_Shdr){.sh_name = (Elf64_Word)name_at[n], .sh_type = SHT_STRTAB, .sh_offset = str_off,
				 .sh_size = nl, .sh_addralign = 1};
	return img;
}
