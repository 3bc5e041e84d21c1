/* memo.c - values remembered by word keys, bounded (see memo.h).
 *
 * slots / 2 sets of two ways; a key's set is its hash's low bits. An entry owns a copy of its key
 * and its value (until the drop function takes it back). Invariant: no two entries of a set hold
 * equal keys (a put follows a missed get). */
#include "memo.h"
#include "core/hashmap.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	uint64_t hash;
	uint64_t *key;   /* owned; NULL: the slot is empty */
	size_t n;        /* words in key */
	void *value;     /* owned, given back to drop */
	size_t bytes;    /* counted in the statistics */
	time_t used;
};

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
	if (!m || !(m->slots = calloc(slots, sizeof(*m->slots)))) {
		free(m);
		return NULL;
	}
	m->nslots = slots;
	m->drop = drop;
	m->ud = ud;
	atomic_store(&m->bytes, slots * sizeof(*m->slots));
	return m;
}

static void drop(struct memo *m, struct entry *e)
{
	m->drop(m->ud, e->value);
	atomic_fetch_sub_explicit(&m->entries, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&m->bytes, e->n * sizeof(uint64_t) + e->bytes, memory_order_relaxed);
	free(e->key);
	*e = (struct entry){0};
}

void memo_free(struct memo *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nslots; i++)
		if (m->slots[i].key)
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
	return e->key && e->hash == hash && e->n == n && !memcmp(e->key, key, n * sizeof(*key));
}

void *memo_get(struct memo *m, const uint64_t *key, size_t n, time_t now)
{
	uint64_t h = key_hash(key, n);
	struct entry *set = set_of(m, h);
	for (int w = 0; w < 2; w++)
		if (key_equal(&set[w], h, key, n)) {
			set[w].used = now;
			atomic_fetch_add_explicit(&m->hits, 1, memory_order_relaxed);
			return set[w].value;
		}
	atomic_fetch_add_explicit(&m->misses, 1, memory_order_relaxed);
	return NULL;
}

int memo_put(struct memo *m, const uint64_t *key, size_t n, void *value, size_t bytes, time_t now)
{
	uint64_t h = key_hash(key, n);
	struct entry *set = set_of(m, h);
	assert(!key_equal(&set[0], h, key, n) && !key_equal(&set[1], h, key, n));
	uint64_t *copy = malloc(n * sizeof(*key));
	if (!copy)
		return -1;
	memcpy(copy, key, n * sizeof(*key));
	/* An empty way, else the one used longest ago. */
	struct entry *e = !set[0].key ? &set[0] : !set[1].key ? &set[1] : set[1].used < set[0].used ? &set[1] : &set[0];
	if (e->key)
		drop(m, e);
	*e = (struct entry){h, copy, n, value, bytes, now};
	atomic_fetch_add_explicit(&m->entries, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->bytes, n * sizeof(uint64_t) + bytes, memory_order_relaxed);
	return 0;
}

void memo_expire(struct memo *m, time_t now, int max_age_s)
{
	for (size_t i = 0; i < m->nslots; i++)
		if (m->slots[i].key && now - m->slots[i].used > max_age_s)
			drop(m, &m->slots[i]);
}

void memo_get_stats(const struct memo *m, struct memo_stats *out)
{
	out->hits = atomic_load_explicit(&m->hits, memory_order_relaxed);
	out->misses = atomic_load_explicit(&m->misses, memory_order_relaxed);
	out->entries = atomic_load_explicit(&m->entries, memory_order_relaxed);
	out->bytes = atomic_load_explicit(&m->bytes, memory_order_relaxed);
}
