/* hashmap.c - the shared hash map and hash functions (see hashmap.h). */
#include "hashmap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_CAP 256

uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
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

uint64_t hash_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

void hashmap_init(struct hashmap *m, bool by_content)
{
	memset(m, 0, sizeof(*m));
	m->by_content = by_content;
}

void hashmap_destroy(struct hashmap *m)
{
	free(m->slots);
	free(m->order);
	hashmap_init(m, m->by_content);
}

static uint64_t key_hash(const struct hashmap *m, const void *key)
{
	return m->by_content ? hash_bytes(key, strlen(key), 3) : hash_mix64((uintptr_t)key);
}

static bool key_eq(const struct hashmap *m, const void *a, const void *b)
{
	return a == b || (m->by_content && strcmp(a, b) == 0);
}

/* The slot holding key, or the empty slot where it would go. The map has slots. */
static struct hashmap_slot *probe(const struct hashmap *m, const void *key)
{
	size_t mask = m->cap - 1, j = key_hash(m, key) & mask;
	while (m->slots[j].key && !key_eq(m, m->slots[j].key, key))
		j = (j + 1) & mask;
	return &m->slots[j];
}

/* Makes room for one more key. 0 or -1. */
static int reserve(struct hashmap *m)
{
	if ((m->count + 1) * 2 <= m->cap)
		return 0;
	size_t ncap = m->cap ? m->cap * 2 : FIRST_CAP;
	struct hashmap_slot *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -1;
	struct hashmap old = *m;
	m->slots = ns;
	m->cap = ncap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key)
			*probe(m, old.slots[i].key) = old.slots[i];
	free(old.slots);
	return 0;
}

uint64_t *hashmap_get(const struct hashmap *m, const void *key)
{
	if (!m->cap)
		return NULL;
	struct hashmap_slot *s = probe(m, key);
	return s->key ? &s->value : NULL;
}

int hashmap_put(struct hashmap *m, const void *key, uint64_t value)
{
	assert(key && !m->order);
	if (reserve(m) < 0)
		return -1;
	struct hashmap_slot *s = probe(m, key);
	if (!s->key) {
		s->key = key;
		m->count++;
	}
	s->value = value;
	assert(m->count * 2 <= m->cap);
	return 0;
}

long hashmap_index(struct hashmap *m, const void *key)
{
	assert(key && (m->count == 0 || m->order));
	uint64_t *v = hashmap_get(m, key);
	if (v)
		return (long)*v;
	if (reserve(m) < 0)
		return -1;
	if (m->count == m->order_cap) {
		size_t ncap = m->order_cap ? m->order_cap * 2 : FIRST_CAP / 2;
		const void **no = realloc(m->order, ncap * sizeof(*no));
		if (!no)
			return -1;
		m->order = no;
		m->order_cap = ncap;
	}
	struct hashmap_slot *s = probe(m, key);
	*s = (struct hashmap_slot){key, m->count};
	m->order[m->count] = key;
	return (long)m->count++;
}
