/* intern.c - hash-consed strings and stacks (see intern.h).
 *
 * Both kinds use open addressing with linear probing over a power-of-two slot array holding
 * pointers. Stacks can be removed, so their index uses backward-shift deletion (no tombstones):
 * after removing slot i, later entries of the same probe run move back to keep every entry
 * reachable from its home slot. */
#include "intern.h"

#include <stdlib.h>
#include <string.h>

struct str_entry {
	uint32_t hash;
	uint32_t len;
	char s[];
};

struct intern {
	struct str_entry **strs; /* index: open addressing, NULL = empty */
	size_t str_cap;          /* slots, power of two */
	size_t str_count;        /* entries */
	size_t str_bytes;        /* bytes of string entries */
	struct stack **stacks;   /* index: open addressing, NULL = empty */
	size_t stack_cap;
	size_t stack_count;
	size_t stack_bytes; /* bytes of stack entries */
};

uint64_t intern_hash_bytes(const void *p, size_t n, uint64_t seed)
{
	/* FNV-1a over 8-byte words then bytes, finished with a murmur-style mix. */
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
		b += 8;
		n -= 8;
	}
	while (n--)
		h = (h ^ *b++) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

struct intern *intern_new(void)
{
	struct intern *it = calloc(1, sizeof(*it));
	if (!it)
		return NULL;
	it->str_cap = 1024;
	it->stack_cap = 1024;
	it->strs = calloc(it->str_cap, sizeof(*it->strs));
	it->stacks = calloc(it->stack_cap, sizeof(*it->stacks));
	if (!it->strs || !it->stacks) {
		intern_free(it);
		return NULL;
	}
	return it;
}

void intern_free(struct intern *it)
{
	if (!it)
		return;
	if (it->strs)
		for (size_t i = 0; i < it->str_cap; i++)
			free(it->strs[i]);
	if (it->stacks)
		for (size_t i = 0; i < it->stack_cap; i++)
			free(it->stacks[i]);
	free(it->strs);
	free(it->stacks);
	free(it);
}

static int grow_strs(struct intern *it)
{
	size_t ncap = it->str_cap * 2;
	struct str_entry **n = calloc(ncap, sizeof(*n));
	if (!n)
		return -1;
	for (size_t i = 0; i < it->str_cap; i++) {
		struct str_entry *e = it->strs[i];
		if (!e)
			continue;
		size_t j = e->hash & (ncap - 1);
		while (n[j])
			j = (j + 1) & (ncap - 1);
		n[j] = e;
	}
	free(it->strs);
	it->strs = n;
	it->str_cap = ncap;
	return 0;
}

const char *intern_strn(struct intern *it, const char *s, size_t len)
{
	uint32_t h = (uint32_t)intern_hash_bytes(s, len, 0);
	size_t mask = it->str_cap - 1, i = h & mask;
	struct str_entry *e;

	for (; (e = it->strs[i]) != NULL; i = (i + 1) & mask)
		if (e->hash == h && e->len == len && memcmp(e->s, s, len) == 0)
			return e->s;
	if ((it->str_count + 1) * 4 > it->str_cap * 3) {
		if (grow_strs(it) < 0)
			return NULL;
		return intern_strn(it, s, len);
	}
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	e->hash = h;
	e->len = (uint32_t)len;
	memcpy(e->s, s, len);
	e->s[len] = '\0';
	it->strs[i] = e;
	it->str_count++;
	it->str_bytes += sizeof(*e) + len + 1;
	return e->s;
}

const char *intern_str(struct intern *it, const char *s)
{
	return intern_strn(it, s, strlen(s));
}

uint32_t intern_str_hash(const char *s)
{
	const struct str_entry *e = (const struct str_entry *)(s - offsetof(struct str_entry, s));
	return e->hash;
}

/* From the frames' content hashes, so the same stack hashes alike in every intern table. */
static uint32_t stack_hash(const char *const *frames, uint16_t n, uint16_t nk)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ nk;
	for (uint16_t i = 0; i < n; i++) {
		h = (h ^ intern_str_hash(frames[i])) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

bool stack_equal(const struct stack *a, const struct stack *b)
{
	if (a == b)
		return true;
	if (a->hash != b->hash || a->nframes != b->nframes || a->nkernel != b->nkernel)
		return false;
	for (uint16_t i = 0; i < a->nframes; i++)
		if (a->frames[i] != b->frames[i] && strcmp(a->frames[i], b->frames[i]) != 0)
			return false;
	return true;
}

static int grow_stacks(struct intern *it)
{
	size_t ncap = it->stack_cap * 2;
	struct stack **n = calloc(ncap, sizeof(*n));
	if (!n)
		return -1;
	for (size_t i = 0; i < it->stack_cap; i++) {
		struct stack *st = it->stacks[i];
		if (!st)
			continue;
		size_t j = st->hash & (ncap - 1);
		while (n[j])
			j = (j + 1) & (ncap - 1);
		n[j] = st;
		st->slot = (uint32_t)j;
	}
	free(it->stacks);
	it->stacks = n;
	it->stack_cap = ncap;
	return 0;
}

struct stack *intern_stack(struct intern *it, const char *const *frames, uint16_t nframes,
			   uint16_t nkernel)
{
	uint32_t h = stack_hash(frames, nframes, nkernel);
	size_t mask = it->stack_cap - 1, i = h & mask;
	struct stack *st;

	for (; (st = it->stacks[i]) != NULL; i = (i + 1) & mask) {
		if (st->hash == h && st->nframes == nframes && st->nkernel == nkernel &&
		    (nframes == 0 || memcmp(st->frames, frames, nframes * sizeof(*frames)) == 0)) {
			st->refs++;
			return st;
		}
	}
	if ((it->stack_count + 1) * 4 > it->stack_cap * 3) {
		if (grow_stacks(it) < 0)
			return NULL;
		return intern_stack(it, frames, nframes, nkernel);
	}
	size_t sz = sizeof(*st) + nframes * sizeof(*frames);
	st = malloc(sz);
	if (!st)
		return NULL;
	st->hash = h;
	st->refs = 1;
	st->slot = (uint32_t)i;
	st->nframes = nframes;
	st->nkernel = nkernel;
	if (nframes)
		memcpy(st->frames, frames, nframes * sizeof(*frames));
	it->stacks[i] = st;
	it->stack_count++;
	it->stack_bytes += sz;
	return st;
}

void intern_stack_ref(struct stack *st)
{
	st->refs++;
}

void intern_stack_unref(struct intern *it, struct stack *st)
{
	if (--st->refs > 0)
		return;
	size_t mask = it->stack_cap - 1, hole = st->slot, j = hole;
	it->stacks[hole] = NULL;
	it->stack_count--;
	it->stack_bytes -= sizeof(*st) + st->nframes * sizeof(st->frames[0]);
	free(st);
	/* Backward-shift: move later members of the probe run into the hole when allowed. */
	for (;;) {
		j = (j + 1) & mask;
		struct stack *e = it->stacks[j];
		if (!e)
			break;
		size_t home = e->hash & mask;
		/* e may move to hole iff hole lies cyclically in [home, j). */
		int movable = (hole <= j) ? (home <= hole || home > j) : (home <= hole && home > j);
		if (movable) {
			it->stacks[hole] = e;
			e->slot = (uint32_t)hole;
			it->stacks[j] = NULL;
			hole = j;
		}
	}
}

size_t intern_bytes(const struct intern *it)
{
	return sizeof(*it) + it->str_bytes + it->stack_bytes +
	       (it->str_cap + it->stack_cap) * sizeof(void *);
}

size_t intern_nstacks(const struct intern *it)
{
	return it->stack_count;
}

size_t intern_nstrings(const struct intern *it)
{
	return it->str_count;
}
