/* lines.c - source lines and inlined functions of addresses, from DWARF (libdw), for files built
 * with -g or whose debug file carries .debug_info (libc6-dbg does).
 *
 * An address becomes one frame per function it runs in, leaf first: the innermost inlined
 * callee with the line executing there, then each function it was inlined into with the line of
 * that call, last the real function (its name from the ELF symbol, as addresses without DWARF
 * get). Frames are encoded as core/frame.h says: NAME SEP FILE:LINE [SEP RAW].
 *
 * Ownership: a file's struct lines (elf_syms.lines) holds the file open (its fd: the path may be
 * under a process's root that goes away), its Dwarf handle, opened on the first address and
 * closed when idle (lines_expire: a libc debug file decompresses to tens of MiB), and a cache of
 * every address it resolved (a blob of encoded frames, dropped whole past a bound).
 * Each address is looked up in DWARF once while the cache holds it. */
#include "symbolize_internal.h"
#include "core/frame.h"
#include "core/hashmap.h"

#include <assert.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <libiberty/demangle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libelf.h>
#include <sys/mman.h>
#include <unistd.h>

/* Cache bounds per file: addresses and bytes of encoded frames. Past either, it starts over. */
#define LINES_MAX_ADDRS (1u << 16)
#define LINES_MAX_BLOB (8u << 20)
/* Inline depth kept per address (a deeper chain keeps its innermost frames and the function). */
#define LINES_MAX_DEPTH 32
/* A Dwarf handle that resolved no new address for idle_s seconds is closed (its addresses stay
 * cached). Reopening costs libc's debug file 50 to 80 ms (decompressing 10 MB), so a file
 * reopened within LINES_REOPEN_S of its close stays open twice as long next time, up to
 * LINES_IDLE_MAX_S: on a host where new addresses keep coming, at most one reopen per 5 minutes. */
#define LINES_IDLE_S 5
#define LINES_IDLE_MAX_S 300
#define LINES_REOPEN_S 60

struct lines {
	int fd;               /* the file holding .debug_info, owned */
	Dwarf *dw;            /* NULL while closed */
	bool broken;          /* does not open as DWARF: never tried again */
	time_t used;          /* when the handle last resolved a new address */
	time_t closed_at;     /* when it was last closed (0: never) */
	int idle_s;           /* how long it stays open without new addresses */
	struct hashmap addrs; /* va + 1 (as a key by identity) -> offset into blob of its entry:
			       * u8 count, then count C strings */
	char *blob;
	size_t blob_len, blob_cap;
	const char *module;   /* the file's module fields, borrowed from its elf_syms; or NULL */
};

struct lines *lines_new(int fd, const char *module)
{
	struct lines *l = calloc(1, sizeof(*l));
	if (l) {
		l->fd = fd;
		l->module = module;
		l->idle_s = LINES_IDLE_S;
		hashmap_init(&l->addrs, false);
	}
	return l;
}

static void lines_close(struct lines *l)
{
	if (l->dw)
		dwarf_end(l->dw);
	l->dw = NULL;
}

static void cache_clear(struct lines *l)
{
	hashmap_destroy(&l->addrs);
	hashmap_init(&l->addrs, false);
	free(l->blob);
	l->blob = NULL;
	l->blob_len = l->blob_cap = 0;
}

void lines_free(struct lines *l)
{
	if (!l)
		return;
	lines_close(l);
	cache_clear(l);
	close(l->fd);
	free(l);
}

bool lines_expire(struct lines *l, time_t now)
{
	if (!l || !l->dw || now - l->used < l->idle_s)
		return false;
	lines_close(l);
	l->closed_at = now;
	return true;
}

/* Addresses as map keys: va + 1, so that address 0 is not the empty key. */
static const void *addr_key(uint64_t va)
{
	assert(va != UINT64_MAX); /* the one address with no key; lines_frames refuses it */
	return (const void *)(uintptr_t)(va + 1);
}

/* Appends bytes to the blob; -1 on out-of-memory. */
static int blob_put(struct lines *l, const void *p, size_t n)
{
	if (l->blob_len + n > l->blob_cap) {
		size_t cap = l->blob_cap ? 2 * l->blob_cap : 16384;
		while (cap < l->blob_len + n)
			cap *= 2;
		char *b = realloc(l->blob, cap);
		if (!b)
			return -1;
		l->blob = b;
		l->blob_cap = cap;
	}
	memcpy(l->blob + l->blob_len, p, n);
	l->blob_len += n;
	return 0;
}

/* Appends bytes of a name to the blob, a separator inside it (no symbol should hold one, and
 * it would read as a field) replaced. */
static int blob_put_name(struct lines *l, const char *p, size_t n)
{
	size_t start = l->blob_len;
	if (blob_put(l, p, n) < 0)
		return -1;
	for (size_t i = start; i < l->blob_len; i++)
		if (l->blob[i] == FRAME_SEP)
			l->blob[i] = '?';
	return 0;
}

/* Appends one encoded frame, NUL-terminated: the name and raw name of `fn` (a frame, its location
 * and module ignored), at file:line, in this file's module. */
static int put_frame(struct lines *l, const char *fn, const char *file, int line)
{
	struct frame_parts p;
	char loc[4200] = "";
	frame_split(fn, &p);
	if (file && line > 0)
		snprintf(loc, sizeof(loc), "%s:%d", file, line);
	const char sep = FRAME_SEP;
	if (blob_put_name(l, p.name, p.name_len < 2047 ? p.name_len : 2047) < 0)
		return -1;
	bool more = l->module != NULL;
	if ((loc[0] || p.raw_len || more) && (blob_put(l, &sep, 1) < 0 || blob_put_name(l, loc, strlen(loc)) < 0))
		return -1;
	if ((p.raw_len || more) && (blob_put(l, &sep, 1) < 0 || blob_put_name(l, p.raw, p.raw_len < 2047 ? p.raw_len : 2047) < 0))
		return -1;
	if (more && blob_put(l, l->module, strlen(l->module)) < 0)
		return -1;
	return blob_put(l, "", 1);
}

/* The frame (name, and raw name when it differs; no location) of an inlined or real function's
 * DIE, into buf. */
static const char *die_frame(Dwarf_Die *die, char *buf, size_t cap)
{
	Dwarf_Attribute a;
	const char *link = NULL, *name = NULL;
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) || dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a))
		link = dwarf_formstring(&a);
	char *d = link && link[0] == '_' && (link[1] == 'Z' || link[1] == 'R') ? cplus_demangle(link, DMGL_PARAMS | DMGL_ANSI)
									    : NULL;
	if (d) {
		snprintf(buf, cap, "%s%c%c%s", d, FRAME_SEP, FRAME_SEP, link);
		free(d);
		return buf;
	}
	if (dwarf_attr_integrate(die, DW_AT_name, &a))
		name = dwarf_formstring(&a);
	return name ? name : link ? link : "[inlined]";
}

static bool lines_open(struct lines *l)
{
	if (l->dw)
		return true;
	if (l->broken)
		return false;
	if (l->closed_at && time(NULL) - l->closed_at < LINES_REOPEN_S)
		l->idle_s = 2 * l->idle_s < LINES_IDLE_MAX_S ? 2 * l->idle_s : LINES_IDLE_MAX_S;
	if ((l->dw = dwarf_begin(l->fd, DWARF_C_READ))) {
		/* libdw has copied out (decompressed) what it needs of the file it mapped; the pages it
		 * touched doing so are dropped, and come back from the page cache if read again. */
		size_t size = 0;
		char *raw = elf_rawfile(dwarf_getelf(l->dw), &size);
		long page = sysconf(_SC_PAGESIZE);
		if (raw && size && page > 0 && ((uintptr_t)raw % (uintptr_t)page) == 0)
			madvise(raw, size, MADV_DONTNEED);
		return true;
	}
	l->broken = true;
	return false;
}

/* Looks va up in DWARF and appends its entry (count byte, frames) to the blob; the entry's offset,
 * or -1 when DWARF does not cover va. `func` is the real function's frame from the ELF symbol
 * table (NULL when none covers va). */
static long resolve(struct lines *l, uint64_t va, const char *func)
{
	Dwarf_Die cu, *scopes = NULL;
	if (!lines_open(l) || !dwarf_addrdie(l->dw, va, &cu))
		return -1;
	Dwarf_Line *ln = dwarf_getsrc_die(&cu, va);
	const char *file = ln ? dwarf_linesrc(ln, NULL, NULL) : NULL;
	int line = 0;
	if (ln)
		dwarf_lineno(ln, &line);
	Dwarf_Files *files = NULL;
	size_t nfiles = 0;
	int n = dwarf_getscopes(&cu, va, &scopes);
	size_t start = l->blob_len;
	uint8_t count = 0;
	char buf[4200];
	if (blob_put(l, &count, 1) < 0)
		goto fail;
	/* Scopes run innermost first. Past an inlined instance they continue through its abstract
	 * definition, not its caller: the caller's scopes are those containing the instance. */
	for (int i = 0; i < n && count < LINES_MAX_DEPTH;) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) {
			i++;
			continue;
		}
		/* The real function is named as addresses without DWARF name it: by its ELF symbol. */
		const char *fn = tag == DW_TAG_subprogram && func ? func : die_frame(&scopes[i], buf, sizeof(buf));
		if (put_frame(l, fn, file, line) < 0)
			goto fail;
		count++;
		if (tag == DW_TAG_subprogram)
			break;
		/* The function this one was inlined into runs at the line of the call. */
		Dwarf_Attribute a;
		Dwarf_Word cf = 0, cl = 0;
		if (!files && dwarf_getsrcfiles(&cu, &files, &nfiles) != 0)
			files = NULL;
		file = NULL;
		line = 0;
		if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &a), &cf) == 0 && files && cf < nfiles)
			file = dwarf_filesrc(files, cf, NULL, NULL);
		if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &a), &cl) == 0 && cl < 1u << 30)
			line = (int)cl;
		Dwarf_Die *outer = NULL;
		int m = dwarf_getscopes_die(&scopes[i], &outer);
		free(scopes);
		scopes = outer;
		n = m;
		i = 1; /* outer[0] is the instance itself */
	}
	/* No function scope (assembly with lines): the symbol, at its line. */
	if (!count && (!func || put_frame(l, func, file, line) < 0))
		goto fail;
	free(scopes);
	l->blob[start] = (char)(count ? count : 1);
	return (long)start;
fail:
	free(scopes);
	l->blob_len = start;
	return -1;
}

int lines_frames(struct lines *l, uint64_t va, const char *func, const char **out, int max)
{
	if (va == UINT64_MAX) /* never code; its key would be NULL */
		return 0;
	uint64_t *known = hashmap_get(&l->addrs, addr_key(va));
	const char *entry = known ? l->blob + *known : NULL;
	if (!entry) {
		if (l->addrs.count >= LINES_MAX_ADDRS || l->blob_len >= LINES_MAX_BLOB)
			cache_clear(l);
		l->used = time(NULL);
		long off = resolve(l, va, func);
		/* An address DWARF does not cover is cached as an entry of no frames. */
		uint8_t none = 0;
		if (off < 0 && (off = (long)l->blob_len, blob_put(l, &none, 1) < 0))
			return 0;
		if (hashmap_put(&l->addrs, addr_key(va), (uint64_t)off) < 0)
			return 0;
		entry = l->blob + off;
	}
	/* More frames than max: the innermost max - 1 and the real function (the outermost). */
	int n = (uint8_t)entry[0], k = 0;
	const char *p = entry + 1;
	for (int i = 0; i < n && max > 0; i++, p += strlen(p) + 1)
		if (i < max - 1 || i == n - 1)
			out[k++] = p;
	return k;
}
