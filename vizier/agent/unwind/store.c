/* store.c - the BPF-resident unwind tables (see store.h): rule dedup, pages, row extents,
 * least-recently-used eviction. */
#include "store.h"
#include "cfi.h"

#include "core/hashmap.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE_SIZE_ROWS (1u << WISP_UNWIND_PAGE_BITS)
/* mmap shows array elements rounded up to 8 bytes: these sizes make the views contiguous. */
_Static_assert(WISP_UNWIND_PAIR_ROWS * sizeof(uint32_t) == sizeof(uint64_t), "row pairs are back to back in the map");
_Static_assert(sizeof(struct wisp_unwind_rule) % 8 == 0, "rules are back to back in the map");
#define MAX_PAGES_PER_FILE (1u << 16) /* 4 GiB of code */
#define RULE_SLOTS (2 * WISP_UNWIND_MAX_RULES) /* dedup table: at most half full */
#define PAGE_ENTRY_BYTES 64                    /* a BPF hash element: header, key, value */

struct store_file {
	uint32_t id;
	uint32_t base, nrows;      /* extent in the row array */
	uint32_t *pages;           /* page numbers held in the page map (owned) */
	uint32_t npages;
	uint64_t used;
};

struct unwind_store {
	uint32_t *rows;            /* mmapped array map: rows_cap rows, blocks back to back */
	size_t rows_len;           /* bytes mapped */
	uint32_t rows_cap, rows_used;
	struct wisp_unwind_rule *rules; /* mmapped array map, WISP_UNWIND_MAX_RULES entries */
	size_t rules_len;
	uint32_t nrules;           /* rules[0] is the all-zero WISP_CFA_NONE rule */
	int32_t *rule_slots;       /* open addressing over rules: index + 1, 0 = empty */
	int pages_fd;
	uint32_t pages_cap, pages_used;
	struct store_file *files;  /* sorted by base */
	size_t nfiles, files_cap;
	uint32_t next_id;
	uint64_t evicted, refused;
};

static void *map_array(int fd, size_t bytes, size_t *len)
{
	long pg = sysconf(_SC_PAGESIZE);
	*len = (bytes + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
	void *p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

struct unwind_store *unwind_store_new(int rows_fd, uint32_t rows_cap, int rules_fd, int pages_fd,
				      uint32_t pages_cap, char *err, size_t errlen)
{
	struct unwind_store *s = calloc(1, sizeof(*s));
	if (!s || !(s->rule_slots = calloc(RULE_SLOTS, sizeof(*s->rule_slots)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	s->rows_cap = rows_cap;
	s->pages_fd = pages_fd;
	s->pages_cap = pages_cap;
	s->next_id = 1;
	if (!(s->rows = map_array(rows_fd, (size_t)rows_cap * sizeof(uint32_t), &s->rows_len)) ||
	    !(s->rules = map_array(rules_fd, WISP_UNWIND_MAX_RULES * sizeof(*s->rules), &s->rules_len))) {
		snprintf(err, errlen, "cannot map the unwind tables: %s", strerror(errno));
		goto fail;
	}
	s->nrules = 1; /* index 0: WISP_CFA_NONE, all zero as the map starts */
	return s;
fail:
	unwind_store_free(s);
	return NULL;
}

void unwind_store_free(struct unwind_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i].pages);
	free(s->files);
	if (s->rows)
		munmap(s->rows, s->rows_len);
	if (s->rules)
		munmap(s->rules, s->rules_len);
	free(s->rule_slots);
	free(s);
}

/* The index of rule r in the shared table, adding it; 0 (WISP_CFA_NONE) when the table is full. */
static uint32_t rule_index(struct unwind_store *s, const struct wisp_unwind_rule *r)
{
	static const struct wisp_unwind_rule none;
	if (!memcmp(r, &none, sizeof(*r)))
		return 0;
	size_t mask = RULE_SLOTS - 1, i = hash_bytes(r, sizeof(*r), 0) & mask;
	for (;; i = (i + 1) & mask) {
		int32_t v = s->rule_slots[i];
		if (v == 0)
			break;
		if (!memcmp(&s->rules[v - 1], r, sizeof(*r)))
			return (uint32_t)(v - 1);
	}
	if (s->nrules >= WISP_UNWIND_MAX_RULES)
		return 0;
	s->rules[s->nrules] = *r; /* written before any row refers to it */
	s->rule_slots[i] = (int32_t)s->nrules + 1;
	return s->nrules++;
}

struct staged {
	uint32_t *rows;       /* file-relative: page slices one after another */
	size_t n, cap;
	struct wisp_unwind_page *pages; /* first is relative to the extent until loaded */
	uint32_t *page_nos;
	size_t npages, pages_cap;
};

static int staged_push_row(struct staged *st, uint32_t row)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 4096;
		uint32_t *r = realloc(st->rows, cap * sizeof(*r));
		if (!r)
			return -1;
		st->rows = r;
		st->cap = cap;
	}
	st->rows[st->n++] = row;
	return 0;
}

/* Drops the last page when it holds only WISP_CFA_NONE rows: a missing page says the same. */
static void staged_trim_none_page(struct staged *st)
{
	if (!st->npages)
		return;
	struct wisp_unwind_page *p = &st->pages[st->npages - 1];
	for (uint32_t i = 0; i < p->count; i++)
		if ((st->rows[p->first + i] & 0xffff) != 0)
			return;
	st->n = p->first;
	st->npages--;
}

/* Adds a row at page `page`, offset `off` (starting the page when new). */
static int staged_add(struct staged *st, uint64_t page, uint32_t off, uint32_t rule)
{
	if (!st->npages || st->page_nos[st->npages - 1] != page) {
		staged_trim_none_page(st);
		if (st->npages >= MAX_PAGES_PER_FILE || page > UINT32_MAX)
			return -1;
		if (st->npages == st->pages_cap) {
			size_t cap = st->pages_cap ? 2 * st->pages_cap : 64;
			struct wisp_unwind_page *p = realloc(st->pages, cap * sizeof(*p));
			uint32_t *no = p ? realloc(st->page_nos, cap * sizeof(*no)) : NULL;
			if (p)
				st->pages = p;
			if (!no)
				return -1;
			st->page_nos = no;
			st->pages_cap = cap;
		}
		st->pages[st->npages] = (struct wisp_unwind_page){.first = (uint32_t)st->n, .count = 0};
		st->page_nos[st->npages++] = (uint32_t)page;
		if (off != 0) { /* invariant: every page's slice starts at offset 0 */
			if (staged_push_row(st, 0) != 0)
				return -1;
			st->pages[st->npages - 1].count++;
		}
	}
	if (staged_push_row(st, off << 16 | rule) != 0)
		return -1;
	st->pages[st->npages - 1].count++;
	return 0;
}

/* The rows of t, page by page. */
static int stage(struct unwind_store *s, const struct cfi_table *t, struct staged *st)
{
	for (size_t i = 0; i < t->n; i++) {
		uint64_t start = t->rows[i].start;
		uint64_t end = i + 1 < t->n ? t->rows[i + 1].start : start + 1;
		uint32_t rule = rule_index(s, &t->rows[i].rule);
		uint64_t p0 = start >> WISP_UNWIND_PAGE_BITS, p1 = (end - 1) >> WISP_UNWIND_PAGE_BITS;
		if (staged_add(st, p0, (uint32_t)(start & (PAGE_SIZE_ROWS - 1)), rule) != 0)
			return -1;
		if (rule == 0) /* a gap: pages it spans need no entry */
			continue;
		if (p1 - p0 > MAX_PAGES_PER_FILE)
			return -1;
		for (uint64_t p = p0 + 1; p <= p1; p++) /* a function longer than a page */
			if (staged_add(st, p, 0, rule) != 0)
				return -1;
	}
	staged_trim_none_page(st);
	return 0;
}

static void drop_file(struct unwind_store *s, size_t i)
{
	struct store_file *f = &s->files[i];
	for (uint32_t k = 0; k < f->npages; k++) { /* pages first: then no walker reaches the rows */
		struct wisp_unwind_page_key key = {.file = f->id, .page = f->pages[k]};
		bpf_map_delete_elem(s->pages_fd, &key);
	}
	s->pages_used -= f->npages;
	s->rows_used -= f->nrows;
	free(f->pages);
	memmove(f, f + 1, (s->nfiles - i - 1) * sizeof(*f));
	s->nfiles--;
}

/* Where an extent of n rows fits (files sorted by base): first fit. -1 when nowhere. */
static int64_t find_extent(const struct unwind_store *s, uint32_t n, size_t *pos)
{
	uint64_t at = 0;
	for (size_t i = 0; i <= s->nfiles; i++) {
		uint64_t next = i < s->nfiles ? s->files[i].base : s->rows_cap;
		if (next - at >= n) {
			*pos = i;
			return (int64_t)at;
		}
		if (i < s->nfiles)
			at = (uint64_t)s->files[i].base + s->files[i].nrows;
	}
	return -1;
}

static bool evict_lru(struct unwind_store *s)
{
	if (!s->nfiles)
		return false;
	size_t lru = 0;
	for (size_t i = 1; i < s->nfiles; i++)
		if (s->files[i].used < s->files[lru].used)
			lru = i;
	drop_file(s, lru);
	s->evicted++;
	return true;
}

uint32_t unwind_store_add(struct unwind_store *s, const struct cfi_table *t, uint64_t now)
{
	struct staged st = {0};
	uint32_t id = 0;
	size_t pos = 0;
	int64_t base;

	if (stage(s, t, &st) != 0 || st.n == 0 || st.n > s->rows_cap || st.npages > s->pages_cap)
		goto out;
	while ((base = find_extent(s, (uint32_t)st.n, &pos)) < 0 || s->pages_used + st.npages > s->pages_cap)
		if (!evict_lru(s))
			goto out;
	if (s->nfiles == s->files_cap) {
		size_t cap = s->files_cap ? 2 * s->files_cap : 64;
		struct store_file *f = realloc(s->files, cap * sizeof(*f));
		if (!f)
			goto out;
		s->files = f;
		s->files_cap = cap;
	}
	memcpy(s->rows + base, st.rows, st.n * sizeof(*st.rows)); /* rows before the pages that reach them */
	uint32_t fid = s->next_id;
	uint32_t loaded = 0;
	for (; loaded < st.npages; loaded++) {
		struct wisp_unwind_page_key key = {.file = fid, .page = st.page_nos[loaded]};
		struct wisp_unwind_page val = st.pages[loaded];
		val.first += (uint32_t)base;
		if (bpf_map_update_elem(s->pages_fd, &key, &val, BPF_ANY) != 0)
			break;
	}
	memmove(&s->files[pos + 1], &s->files[pos], (s->nfiles - pos) * sizeof(*s->files));
	s->files[pos] = (struct store_file){.id = fid, .base = (uint32_t)base, .nrows = (uint32_t)st.n,
					    .pages = st.page_nos, .npages = loaded, .used = now};
	st.page_nos = NULL; /* the file owns them now */
	s->nfiles++;
	s->next_id++;
	s->rows_used += (uint32_t)st.n;
	s->pages_used += loaded;
	if (loaded < st.npages) { /* the kernel refused a page: no half tables */
		drop_file(s, pos);
		goto out;
	}
	id = fid;
out:
	if (!id)
		s->refused++;
	free(st.rows);
	free(st.pages);
	free(st.page_nos);
	return id;
}

static struct store_file *file_by_id(const struct unwind_store *s, uint32_t id)
{
	for (size_t i = 0; i < s->nfiles; i++)
		if (s->files[i].id == id)
			return &s->files[i];
	return NULL;
}

void unwind_store_touch(struct unwind_store *s, uint32_t id, uint64_t now)
{
	struct store_file *f = file_by_id(s, id);
	if (f)
		f->used = now;
}

int unwind_store_has(const struct unwind_store *s, uint32_t id)
{
	return file_by_id(s, id) != NULL;
}

void unwind_store_get_stats(const struct unwind_store *s, struct unwind_store_stats *out)
{
	out->files = s->nfiles;
	out->rows = s->rows_used;
	out->rows_cap = s->rows_cap;
	out->pages = s->pages_used;
	out->rules = s->nrules;
	out->evicted = s->evicted;
	out->refused = s->refused;
	out->bytes = s->rows_len + s->rules_len + (uint64_t)s->pages_used * PAGE_ENTRY_BYTES;
}
