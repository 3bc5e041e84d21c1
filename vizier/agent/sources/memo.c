/* memo.c - values remembered by word keys, bounded (see memo.h).
 *
 * slots / 2 sets of two ways; a key's set is its hash's low bits. An entry owns a copy of its key
 * (in the entry itself up to INLINE_WORDS words, as a frame's are: a lookup then reads one cache
 * line, else malloc'd) and its value (until the drop function takes it back). Invariant: no two
 * entries of a set hold equal keys (a put follows a missed get). */
#include "memo.h"
#include "core/hashmap.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define INLINE_WORDS 3

/* One cache line: a hit reads nothing else when its key is inline. */
struct entry {
	uint64_t hash;
	uint16_t n;      /* words in the key; 0: the slot is empty */
	uint32_t used;   /* the caller's clock (seconds) when last used, truncated */
	uint32_t bytes;  /* counted in the statistics */
	void *value;     /* owned, given back to drop */
	uint64_t aux;    /* the caller's word */
	union {
		uint64_t words[INLINE_WORDS]; /* n <= INLINE_WORDS */
		uint64_t *key;                /* else: owned */
	} k;
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct entry) == 64, "an entry is one cache line");

static const uint64_t *entry_key(const struct entry *e)
{
	return e->n <= INLINE_WORDS ? e->k.words : e->k.key;
}

struct memo {
	struct entry *slots;
	size_t nslots;
	memo_drop_fn *drop;
	void *ud;
	atomic_uint_fast64_t hits, misses, entries, bytes;
};

struct memo *memo_new(size_t slots, memo_drop_fn *drop, void *ud)
{
	assert(slots >= 2 && (slots & (slots - 1)) == 0);
	struct memo *m = calloc(1, sizeof(*m));
	if (!m || !(m->slots = aligned_alloc(sizeof(struct entry), slots * sizeof(struct entry)))) {
		free(m);
		return NULL;
	}
	memset(m->slots, 0, slots * sizeof(struct entry));
	m->nslots = slots;
	m->drop = drop;
	m->ud = ud;
	atomic_store(&m->bytes, slots * sizeof(*m->slots));
	return m;
}

/* What a key of n words holds beside its entry. */
static size_t key_bytes(size_t n)
{
	return n > INLINE_WORDS ? n * sizeof(uint64_t) : 0;
}

static void drop(struct memo *m, struct entry *e)
{
	m->drop(m->ud, e->value);
	atomic_fetch_sub_explicit(&m->entries, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&m->bytes, key_bytes(e->n) + e->bytes, memory_order_relaxed);
	if (e->n > INLINE_WORDS)
		free(e->k.key);
	*e = (struct entry){0};
}

void memo_free(struct memo *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nslots; i++)
		if (m->slots[i].n)
			drop(m, &m->slots[i]);
	free(m->slots);
	free(m);
}

static struct entry *set_of(struct memo *m, uint64_t hash)
{
	return &m->slots[2 * (hash & (m->nslots / 2 - 1))];
}

static uint64_t key_hash(const uint64_t *key, size_t n)
{
	return hash_bytes(key, n * sizeof(*key), 0x3e30);
}

static bool key_equal(const struct entry *e, uint64_t hash, const uint64_t *key, size_t n)
{
	if (e->hash != hash || e->n != n) /* n >= 1: an empty slot (n 0) never matches */
		return false;
	const uint64_t *k = entry_key(e);
	for (size_t i = 0; i < n; i++) /* keys are short: a call to memcmp costs more */
		if (k[i] != key[i])
			return false;
	return true;
}

void *memo_get(struct memo *m, const uint64_t *key, size_t n, time_t now, uint64_t *aux)
{
	uint64_t h = key_hash(key, n);
	struct entry *set = set_of(m, h);
	for (int w = 0; w < 2; w++)
		if (key_equal(&set[w], h, key, n)) {
			set[w].used = (uint32_t)now;
			if (aux)
				*aux = set[w].aux;
			atomic_fetch_add_explicit(&m->hits, 1, memory_order_relaxed);
			return set[w].value;
		}
	atomic_fetch_add_explicit(&m->misses, 1, memory_order_relaxed);
	return NULL;
}

int memo_put(struct memo *m, const uint64_t *key, size_t n, void *value, size_t bytes, uint64_t aux, time_t now)
{
	uint64_t h = key_hash(key, n);
	struct entry *set = set_of(m, h);
	assert(n >= 1 && n <= MEMO_MAX_WORDS && bytes <= UINT32_MAX && !key_equal(&set[0], h, key, n) &&
	       !key_equal(&set[1], h, key, n));
	uint64_t *copy = NULL;
	if (n > INLINE_WORDS && !(copy = malloc(n * sizeof(*key))))
		return -1;
	/* An empty way, else the one used longest ago. */
	struct entry *e = !set[0].n ? &set[0] : !set[1].n ? &set[1] : set[1].used < set[0].used ? &set[1] : &set[0];
	if (e->n)
		drop(m, e);
	*e = (struct entry){.hash = h, .n = (uint16_t)n, .used = (uint32_t)now, .bytes = (uint32_t)bytes, .value = value,
			    .aux = aux};
	memcpy(copy ? copy : e->k.words, key, n * sizeof(*key));
	if (copy)
		e->k.key = copy;
	atomic_fetch_add_explicit(&m->entries, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->bytes, key_bytes(n) + bytes, memory_order_relaxed);
	return 0;
}

void memo_expire(struct memo *m, time_t now, int max_age_s)
{
	for (size_t i = 0; i < m->nslots; i++)
		if (m->slots[i].n && (uint32_t)now - m->slots[i].used > (uint32_t)max_age_s)
			drop(m, &m->slots[i]);
}

void memo_get_stats(const struct memo *m, struct memo_stats *out)
{
	out->hits = atomic_load_explicit(&m->hits, memory_order_relaxed);
	out->misses = atomic_load_explicit(&m->misses, memory_order_relaxed);
	out->entries = atomic_load_explicit(&m->entries, memory_order_relaxed);
	out->bytes = atomic_load_explicit(&m->bytes, memory_order_relaxed);
}
