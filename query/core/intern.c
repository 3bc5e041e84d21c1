/* intern.c - hash-consed strings, stacks and threads (see intern.h).
 *
 * Each kind lives in a `pset`: open addressing with linear probing over a power-of-two array of
 * entry pointers. Every entry starts with its 32-bit content hash, so one implementation serves
 * all three. Removal uses backward-shift deletion (no tombstones): after emptying slot i, later
 * members of the same probe run move back so every entry stays reachable from its home slot.
 *
 * Stacks and threads also get dense ids: `idmap` is a two-level array (chunks never move, so a
 * reader may look up an id while the owner adds others) plus a free list for reuse. */
#include "intern.h"
#include "hashmap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- pointer sets ---------------------------------------------------------------------------- */

struct pset {
	void **slots;
	size_t cap, count;
};

static uint32_t entry_hash(const void *e)
{
	return *(const uint32_t *)e;
}

static int pset_init(struct pset *s)
{
	s->cap = 256;
	s->count = 0;
	s->slots = calloc(s->cap, sizeof(void *));
	return s->slots ? 0 : -1;
}

static int pset_grow(struct pset *s)
{
	size_t ncap = s->cap * 2;
	void **n = calloc(ncap, sizeof(void *));
	if (!n)
		return -1;
	for (size_t i = 0; i < s->cap; i++) {
		void *e = s->slots[i];
		if (!e)
			continue;
		size_t j = entry_hash(e) & (ncap - 1);
		while (n[j])
			j = (j + 1) & (ncap - 1);
		n[j] = e;
	}
	free(s->slots);
	s->slots = n;
	s->cap = ncap;
	return 0;
}

/* Makes room for one more entry. */
static int pset_reserve(struct pset *s)
{
	return (s->count + 1) * 4 > s->cap * 3 ? pset_grow(s) : 0;
}

/* Inserts e into the empty slot found by a failed lookup's probe (call pset_reserve first). */
static void pset_insert(struct pset *s, void *e)
{
	size_t j = entry_hash(e) & (s->cap - 1);
	while (s->slots[j])
		j = (j + 1) & (s->cap - 1);
	s->slots[j] = e;
	s->count++;
}

static void pset_remove(struct pset *s, const void *e)
{
	size_t mask = s->cap - 1, hole = entry_hash(e) & mask;
	while (s->slots[hole] != e)
		hole = (hole + 1) & mask;
	s->slots[hole] = NULL;
	s->count--;
	for (size_t j = (hole + 1) & mask; s->slots[j]; j = (j + 1) & mask) {
		size_t home = entry_hash(s->slots[j]) & mask;
		/* May move back iff hole lies cyclically in [home, j). */
		bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
		if (movable) {
			s->slots[hole] = s->slots[j];
			s->slots[j] = NULL;
			hole = j;
		}
	}
}

/* ---- dense ids ------------------------------------------------------------------------------- */

#define ID_CHUNK 4096
#define ID_CHUNKS (INTERN_MAX_IDS / ID_CHUNK)
_Static_assert(ID_CHUNK * ID_CHUNKS == INTERN_MAX_IDS, "ids fill whole chunks");

struct idmap {
	void **chunks[ID_CHUNKS];
	uint32_t limit;      /* ids handed out are < limit */
	uint32_t *free_ids;  /* stack of reusable ids */
	size_t nfree, free_cap;
};

static long idmap_take(struct idmap *m, void *e)
{
	uint32_t id;
	if (m->nfree) {
		id = m->free_ids[--m->nfree];
	} else {
		if (m->limit >= (uint32_t)ID_CHUNK * ID_CHUNKS)
			return -1;
		id = m->limit;
		if (!m->chunks[id / ID_CHUNK] && !(m->chunks[id / ID_CHUNK] = calloc(ID_CHUNK, sizeof(void *))))
			return -1;
		m->limit++;
	}
	m->chunks[id / ID_CHUNK][id % ID_CHUNK] = e;
	return id;
}

static void idmap_release(struct idmap *m, uint32_t id)
{
	m->chunks[id / ID_CHUNK][id % ID_CHUNK] = NULL;
	if (m->nfree == m->free_cap) {
		size_t ncap = m->free_cap ? m->free_cap * 2 : 256;
		uint32_t *n = realloc(m->free_ids, ncap * sizeof(*n));
		if (!n)
			return; /* the id is simply not reused */
		m->free_ids = n;
		m->free_cap = ncap;
	}
	m->free_ids[m->nfree++] = id;
}

/* Lock-free for readers: it reads only the chunk of `id` (written before any batch that uses
 * the id was published) and never `limit`, which the owner may be changing. */
static void *idmap_get(const struct idmap *m, uint32_t id)
{
	void **chunk = id / ID_CHUNK < ID_CHUNKS ? m->chunks[id / ID_CHUNK] : NULL;
	return chunk ? chunk[id % ID_CHUNK] : NULL;
}

static void idmap_destroy(struct idmap *m)
{
	for (size_t i = 0; i < ID_CHUNKS; i++)
		free(m->chunks[i]);
	free(m->free_ids);
}

/* ---- the table ------------------------------------------------------------------------------- */

struct str_entry {
	uint32_t hash; /* first: pset reads it */
	uint32_t len;
	uint32_t refs;
	char s[];
};

struct intern {
	struct pset strs, stacks, threads;
	struct idmap stack_ids, thread_ids;
	size_t str_bytes, stack_bytes, thread_bytes;
};

static uint32_t mix32(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

struct intern *intern_new(void)
{
	struct intern *it = calloc(1, sizeof(*it));
	if (!it)
		return NULL;
	if (pset_init(&it->strs) < 0 || pset_init(&it->stacks) < 0 || pset_init(&it->threads) < 0) {
		intern_free(it);
		return NULL;
	}
	return it;
}

void intern_free(struct intern *it)
{
	if (!it)
		return;
	struct pset *sets[3] = {&it->strs, &it->stacks, &it->threads};
	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; sets[k]->slots && i < sets[k]->cap; i++)
			free(sets[k]->slots[i]);
		free(sets[k]->slots);
	}
	idmap_destroy(&it->stack_ids);
	idmap_destroy(&it->thread_ids);
	free(it);
}

/* ---- strings --------------------------------------------------------------------------------- */

static struct str_entry *str_entry_of(const char *s)
{
	return (struct str_entry *)(s - offsetof(struct str_entry, s));
}

static uint32_t intern_str_hash(const char *s)
{
	return str_entry_of(s)->hash;
}

const char *intern_strn(struct intern *it, const char *s, size_t len)
{
	uint32_t h = (uint32_t)hash_bytes(s, len, 0);
	struct pset *ps = &it->strs;
	for (size_t i = h & (ps->cap - 1); ps->slots[i]; i = (i + 1) & (ps->cap - 1)) {
		struct str_entry *e = ps->slots[i];
		if (e->hash == h && e->len == len && memcmp(e->s, s, len) == 0)
			return e->s;
	}
	if (pset_reserve(ps) < 0)
		return NULL;
	struct str_entry *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	e->hash = h;
	e->len = (uint32_t)len;
	e->refs = 0;
	memcpy(e->s, s, len);
	e->s[len] = '\0';
	pset_insert(ps, e);
	it->str_bytes += sizeof(*e) + len + 1;
	return e->s;
}

const char *intern_str(struct intern *it, const char *s)
{
	return intern_strn(it, s, strlen(s));
}

static void str_unref(struct intern *it, const char *s)
{
	struct str_entry *e = str_entry_of(s);
	if (--e->refs > 0)
		return;
	pset_remove(&it->strs, e);
	it->str_bytes -= sizeof(*e) + e->len + 1;
	free(e);
}

/* ---- stacks ---------------------------------------------------------------------------------- */

/* From the frames' content hashes, so the same stack hashes alike in every intern table. */
static uint32_t stack_hash(const char *const *frames, uint16_t n, uint16_t nk)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ nk;
	for (uint16_t i = 0; i < n; i++) {
		h = (h ^ intern_str_hash(frames[i])) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return mix32(h);
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

struct stack *intern_stack(struct intern *it, const char *const *frames, uint16_t nframes,
			   uint16_t nkernel)
{
	assert(nkernel <= nframes && nframes <= STACK_MAX_FRAMES);
	uint32_t h = stack_hash(frames, nframes, nkernel);
	struct pset *ps = &it->stacks;
	for (size_t i = h & (ps->cap - 1); ps->slots[i]; i = (i + 1) & (ps->cap - 1)) {
		struct stack *st = ps->slots[i];
		if (st->hash == h && st->nframes == nframes && st->nkernel == nkernel &&
		    (nframes == 0 || memcmp(st->frames, frames, nframes * sizeof(*frames)) == 0)) {
			st->refs++;
			return st;
		}
	}
	if (pset_reserve(ps) < 0)
		return NULL;
	size_t sz = sizeof(struct stack) + nframes * sizeof(*frames);
	struct stack *st = malloc(sz);
	if (!st)
		return NULL;
	long id = idmap_take(&it->stack_ids, st);
	if (id < 0) {
		free(st);
		return NULL;
	}
	st->hash = h;
	st->refs = 1;
	st->id = (uint32_t)id;
	st->mark = 0;
	st->nframes = nframes;
	st->nkernel = nkernel;
	if (nframes)
		memcpy(st->frames, frames, nframes * sizeof(*frames));
	for (uint16_t f = 0; f < nframes; f++)
		str_entry_of(frames[f])->refs++;
	pset_insert(ps, st);
	it->stack_bytes += sz;
	return st;
}

void intern_stack_ref(struct stack *st)
{
	st->refs++;
}

void intern_stack_unref(struct intern *it, struct stack *st)
{
	assert(st->refs > 0);
	if (--st->refs > 0)
		return;
	pset_remove(&it->stacks, st);
	idmap_release(&it->stack_ids, st->id);
	it->stack_bytes -= sizeof(*st) + st->nframes * sizeof(st->frames[0]);
	for (uint16_t f = 0; f < st->nframes; f++)
		str_unref(it, st->frames[f]);
	free(st);
}

struct stack *intern_stack_by_id(const struct intern *it, uint32_t id)
{
	return idmap_get(&it->stack_ids, id);
}

uint32_t intern_stack_id_limit(const struct intern *it)
{
	return it->stack_ids.limit;
}

/* ---- threads --------------------------------------------------------------------------------- */

/* The strings of a thread record, in the order intern_thread hashes them. */
#define THREAD_NSTRS 4
static void thread_strs(const struct thread_rec *th, const char *out[THREAD_NSTRS])
{
	out[0] = th->comm, out[1] = th->container, out[2] = th->pod, out[3] = th->namespace;
}

struct thread_rec *intern_thread(struct intern *it, const struct thread_key *k)
{
	const char *in[THREAD_NSTRS] = {k->comm, k->container, k->pod, k->namespace}, *c[THREAD_NSTRS];
	uint64_t seed = 0;
	for (int i = 0; i < THREAD_NSTRS; i++) {
		if (!(c[i] = intern_str(it, in[i] ? in[i] : "")))
			return NULL;
		seed = (seed ^ intern_str_hash(c[i])) * 0x100000001b3ULL;
	}
	int64_t key[3] = {k->pid, k->tid, k->cgroup};
	uint32_t h = mix32(hash_bytes(key, sizeof(key), seed));
	struct pset *ps = &it->threads;
	for (size_t i = h & (ps->cap - 1); ps->slots[i]; i = (i + 1) & (ps->cap - 1)) {
		struct thread_rec *th = ps->slots[i];
		if (th->hash == h && th->pid == k->pid && th->tid == k->tid && th->cgroup == k->cgroup &&
		    th->comm == c[0] && th->container == c[1] && th->pod == c[2] && th->namespace == c[3]) {
			th->refs++;
			return th;
		}
	}
	if (pset_reserve(ps) < 0)
		return NULL;
	struct thread_rec *th = calloc(1, sizeof(*th));
	if (!th)
		return NULL;
	long id = idmap_take(&it->thread_ids, th);
	if (id < 0) {
		free(th);
		return NULL;
	}
	*th = (struct thread_rec){h, 1, (uint32_t)id, 0, k->pid, k->tid, k->cgroup, c[0], c[1], c[2], c[3]};
	for (int i = 0; i < THREAD_NSTRS; i++)
		str_entry_of(c[i])->refs++;
	pset_insert(ps, th);
	it->thread_bytes += sizeof(*th);
	return th;
}

void intern_thread_ref(struct thread_rec *th)
{
	th->refs++;
}

void intern_thread_unref(struct intern *it, struct thread_rec *th)
{
	assert(th->refs > 0);
	if (--th->refs > 0)
		return;
	pset_remove(&it->threads, th);
	idmap_release(&it->thread_ids, th->id);
	it->thread_bytes -= sizeof(*th);
	const char *strs[THREAD_NSTRS];
	thread_strs(th, strs);
	for (int i = 0; i < THREAD_NSTRS; i++)
		str_unref(it, strs[i]);
	free(th);
}

struct thread_rec *intern_thread_by_id(const struct intern *it, uint32_t id)
{
	return idmap_get(&it->thread_ids, id);
}

uint32_t intern_thread_id_limit(const struct intern *it)
{
	return it->thread_ids.limit;
}

/* ---- accounting ------------------------------------------------------------------------------ */

size_t intern_bytes(const struct intern *it)
{
	size_t chunks = 0;
	for (uint32_t i = 0; i * (size_t)ID_CHUNK < it->stack_ids.limit; i++)
		chunks++;
	for (uint32_t i = 0; i * (size_t)ID_CHUNK < it->thread_ids.limit; i++)
		chunks++;
	return sizeof(*it) + it->str_bytes + it->stack_bytes + it->thread_bytes +
	       (it->strs.cap + it->stacks.cap + it->threads.cap) * sizeof(void *) +
	       chunks * ID_CHUNK * sizeof(void *) +
	       (it->stack_ids.free_cap + it->thread_ids.free_cap) * sizeof(uint32_t);
}

size_t intern_nstacks(const struct intern *it)
{
	return it->stacks.count;
}

size_t intern_nstrings(const struct intern *it)
{
	return it->strs.count;
}

size_t intern_nthreads(const struct intern *it)
{
	return it->threads.count;
}
