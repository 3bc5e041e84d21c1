/* memo.h - a bounded memo: values remembered by a key of 64-bit words. The collector keeps two:
 * the frames of an address (in a process's address space as the symbolizer knows it) and the
 * stack interned in a ring for a sequence of frames, so a sample whose frames and stack were seen
 * before is neither named nor interned again (collector.c).
 *
 * Bounded: a power-of-two number of entries, two ways per key hash; a put into a full pair
 * displaces the entry used longest ago; memo_expire drops entries not used for a while. A
 * dropped entry's value goes to the memo's drop function (which frees it, or releases the
 * reference it stands for).
 *
 * One thread uses a memo, but for memo_get_stats. */
#ifndef WISP_MEMO_H
#define WISP_MEMO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct memo;

/* Takes back a value the memo no longer holds. */
typedef void memo_drop_fn(void *ud, void *value);

struct memo_stats {
	uint64_t hits, misses; /* lookups */
	uint64_t entries;      /* held now */
	uint64_t bytes;        /* keys, entries and the values' bytes as put */
};

/* A memo of at most slots entries (a power of two >= 2). NULL on out-of-memory. Keys are at most
 * MEMO_MAX_WORDS words. */
#define MEMO_MAX_WORDS 65535
struct memo *memo_new(size_t slots, memo_drop_fn *drop, void *ud);
/* Drops every value. */
void memo_free(struct memo *m);

/* The value remembered under key[0 .. n), or NULL; *aux (unless aux is NULL) its aux word. The
 * value is borrowed: the memo may drop it at the next put or expire. now: the caller's clock, in
 * seconds. */
void *memo_get(struct memo *m, const uint64_t *key, size_t n, time_t now, uint64_t *aux);
/* Remembers value (which the memo adopts; bytes: what it holds, for the statistics) and a word of
 * the caller's kept beside it (aux: read with the key, so a hit need not touch the value) under
 * key[0 .. n), which it must not hold (a get missed). 0, or -1 on out-of-memory: value stays the
 * caller's. May drop another entry. */
int memo_put(struct memo *m, const uint64_t *key, size_t n, void *value, size_t bytes, uint64_t aux, time_t now);
/* Drops the entries not used in the last max_age_s seconds. */
void memo_expire(struct memo *m, time_t now, int max_age_s);

/* Thread-safe. */
void memo_get_stats(const struct memo *m, struct memo_stats *out);

#endif
