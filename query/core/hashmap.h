/* hashmap.h - the one hash map of the query layers, and the hash functions every layer shares.
 *
 * Open addressing with linear probing over a power-of-two array, at most half full. Keys are
 * pointers, compared either by identity (stacks, interned strings: one pointer per content) or
 * as NUL-terminated strings by content. Values are 64-bit (an index, a count, a pointer cast to
 * uintptr_t). No removal: a map lives as long as one encoding, one snapshot or one query.
 *
 * Ownership: the map never owns its keys; they must outlive it. hashmap_destroy frees only the
 * map's own arrays.
 *
 * (intern.c keeps its own sets: their entries carry their hash, shrink on removal and are read
 * concurrently by id, which this map does not need to do.) */
#ifndef WISP_HASHMAP_H
#define WISP_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hashmap_slot {
	const void *key;  /* NULL = empty */
	uint64_t value;
};

struct hashmap {
	struct hashmap_slot *slots; /* cap slots, or NULL before the first insertion */
	size_t cap;                 /* power of two (0 before the first insertion) */
	size_t count;               /* keys held; count * 2 <= cap */
	bool by_content;            /* keys are C strings compared by content, else by identity */
	const void **order;         /* hashmap_index: keys by index (count entries) */
	size_t order_cap;           /* entries allocated in order */
};

void hashmap_init(struct hashmap *m, bool by_content);
void hashmap_destroy(struct hashmap *m);

/* The value of key, or NULL when the map does not hold it. Valid until the next insertion. */
uint64_t *hashmap_get(const struct hashmap *m, const void *key);
/* Sets key's value, inserting the key when new. 0, or -1 on out-of-memory (map unchanged). */
int hashmap_put(struct hashmap *m, const void *key, uint64_t value);
/* The dense index of key: 0 for the first key inserted, 1 for the next... inserting it when new.
 * m->order[i] is the key of index i. -1 on out-of-memory. Do not mix with hashmap_put. */
long hashmap_index(struct hashmap *m, const void *key);

/* Content hash of n bytes (FNV-1a over words, finished with a 64-bit mix). */
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed);
/* A 64-bit finalizer: spreads every input bit over the output. */
uint64_t hash_mix64(uint64_t x);

#endif
