/* ring_internal.h - the ring's private structures, shared by ring.c (life, append, evict),
 * ring_seal.c (the sealed format), ring_scan.c (reading) and snapshot.c (snapshot files).
 * Nothing outside query/ring/ includes this. */
#ifndef WISP_RING_INTERNAL_H
#define WISP_RING_INTERNAL_H

#include "ring.h"

#include "core/intern.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HOT_CHUNK 4096
#define HOT_CHUNKS (RING_HOT_ROWS / HOT_CHUNK)
#define ZSTD_LEVEL 3

struct hot_chunk {
	int64_t time[HOT_CHUNK];
	uint32_t thread[HOT_CHUNK];
	uint32_t stack[HOT_CHUNK];
	uint32_t count[HOT_CHUNK];
	uint16_t cpu[HOT_CHUNK];
};

struct idlist {
	uint32_t *ids;
	size_t n, cap;
};

struct ring_batch {
	struct ring_batch *newer;   /* list from oldest (ring->oldest) to hot (ring->hot) */
	int pins;                   /* 1 while in the list + 1 per scan + 1 per batch it replaced */
	bool sealed;
	bool has_value;             /* rows carry a value (offcpu_samples: ns blocked) */
	bool owns_refs;             /* holds one reference per distinct stack and thread it uses */
	uint64_t first_row, nrow_ids; /* its row ids: [first_row, first_row + nrow_ids) */
	int64_t tmin, tmax;         /* time range, ns */
	uint64_t samples;           /* sum of count */
	size_t rows;                /* rows a ROWS scan yields */
	size_t bytes;               /* accounted size */
	struct ring_batch *successor; /* a replaced hot batch pins the sealed batch that took over */
	/* hot */
	struct hot_chunk *chunks[HOT_CHUNKS];
	int64_t *values[HOT_CHUNKS]; /* has_value: HOT_CHUNK values beside each chunk */
	struct idlist stacks, threads; /* distinct ids referenced */
	uint32_t mark;              /* marks records this batch has seen */
	/* sealed */
	int64_t base_sec;
	uint32_t nseries;
	uint32_t nstacks, nthreads; /* distinct stacks and threads (rollup entries) */
	size_t block_bytes;         /* sealed: size of the mapping holding the batch and streams */
	size_t hdr_len, pts_len, roll_len; /* uncompressed sizes */
	void *zhdr, *zpts, *zroll;
	size_t zhdr_len, zpts_len, zroll_len;
};

struct ring {
	pthread_mutex_t lock;
	struct intern *intern;        /* guarded by lock */
	struct ring_batch *oldest;    /* list head */
	struct ring_batch *hot;       /* list tail, being appended */
	size_t budget;
	int64_t batch_ns;
	size_t batch_bytes;           /* bytes of batches in the list */
	uint64_t next_row;            /* id of the next appended row */
	uint64_t evicted_rows, evicted_samples, appended_samples;
	uint32_t next_mark;
	bool sealing;                 /* a seal is in progress (one writer) */
	char *node;
	enum ring_table table;        /* what it holds; has_value for offcpu_samples */
};

/* ---- varints --------------------------------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static inline int buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 4096;
	while (ncap < b->len + more)
		ncap *= 2;
	uint8_t *n = realloc(b->p, ncap);
	if (!n)
		return -1;
	b->p = n;
	b->cap = ncap;
	return 0;
}

static inline void put_varint(struct buf *b, uint64_t v)
{
	while (v >= 0x80) {
		b->p[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->p[b->len++] = (uint8_t)v;
}

/* Reads a varint; false if it runs past end or is longer than 10 bytes. */
static inline bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (*p >= end)
			return false;
		uint8_t b = *(*p)++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return true;
		}
	}
	return false;
}


struct point {
	uint64_t key;   /* see seal_key */
	uint32_t sec;   /* seconds after base_sec */
	uint32_t count;
	uint64_t value; /* summed like count; stored only by batches with has_value */
};

/* thread id (22 bits) | cpu or off-CPU state (14 bits) | stack id (24 bits). Live ids stay far below these
 * (intern.c caps ids at 2^24; a ring holds thousands of threads), CPUs below 16384. */
#define KEY_THREAD(k) ((k) >> 38)
#define KEY_CPU(k) (((k) >> 24) & 0x3fff)
#define KEY_STACK(k) ((k) & 0xffffff)
#define MAX_CPU 0x3fff
_Static_assert(INTERN_MAX_IDS <= 0xffffff + 1, "every stack id fits the key's 24 bits");
_Static_assert(MAX_CPU <= UINT16_MAX, "hot chunks keep the cpu in 16 bits");

static inline uint64_t seal_key(uint32_t thread, uint32_t cpu, uint32_t stack)
{
	assert(thread <= 0x3fffff && stack <= 0xffffff);
	return (uint64_t)(thread & 0x3fffff) << 38 | (uint64_t)(cpu > MAX_CPU ? MAX_CPU : cpu) << 24 | (stack & 0xffffff);
}

/* ---- ring_seal.c: the sealed format ---------------------------------------------------------- */

/* Decoded series headers of a sealed batch. Start from {0}; decoding again reuses the buffers
 * (scans decode many batches); series_free releases them. */
struct series {
	uint32_t n;
	uint32_t *thread, *cpu, *stack, *npoints;
	uint64_t *total;
	void *mem, *raw;
	size_t mem_cap, raw_cap;
};

int decode_series(const struct ring_batch *b, struct series *s);
void series_free(struct series *s);
/* A buffer of at least n bytes in *buf (capacity *cap), reused when big enough. */
void *scratch(void **buf, size_t *cap, size_t n);
/* Encodes points (keys and seconds after base_sec; sorted and merged here, so any order and
 * duplicates are fine) into a new sealed batch that owns no references yet; with has_value their
 * values too. NULL on OOM. */
struct ring_batch *seal_points(struct point *pts, size_t n, bool has_value, int64_t base_sec, int64_t tmin,
			       int64_t tmax);
/* Encodes hot batch h (not modified) into a new sealed batch with h's row ids. No lock needed:
 * h is detached from the ring while this runs. NULL on OOM. */
struct ring_batch *batch_seal(const struct ring_batch *h);

/* ---- ring.c: the list, references, pins ------------------------------------------------------ */

/* Drops one pin (frees the batch at zero); caller holds the lock. */
void batch_unpin(struct ring *r, struct ring_batch *b);
/* Makes b hold one reference per distinct stack and thread its series use; caller holds the lock. */
int ring_batch_take_refs(struct ring *r, struct ring_batch *b);
/* Adds a sealed batch (which owns its references) to the ring in time order; caller holds the
 * lock. Evicts to fit. */
void ring_insert_sealed(struct ring *r, struct ring_batch *b);

#endif
