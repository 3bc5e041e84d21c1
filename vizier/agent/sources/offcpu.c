/* offcpu.c - held off-CPU starts, by thread id, until their ends (see offcpu.h).
 *
 * The table: open addressing on tid (never 0: idle is not sampled), linear probing, deletion by
 * backward shift (no tombstones: a table that holds and releases all day stays short). It grows
 * by doubling while at most half full, up to 2 x OFFCPU_MAX_HELD slots. Each held start owns one
 * reference to its stack and one to its thread record in the off-CPU ring, released when the row
 * is appended (the ring takes its own) or the start replaced. */
#include "offcpu.h"
#include <linux/types.h>
#include "profile.h"
#include "ring/ring.h"
#include "core/intern.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct held {
	uint32_t tid;            /* 0: empty slot */
	uint32_t state;          /* enum offcpu_state */
	struct thread_rec *th;   /* owned reference */
	struct stack *st;        /* owned reference */
};

struct offcpu {
	struct ring *ring;
	struct held *slots;
	size_t cap;              /* a power of two, or 0 */
	size_t n;                /* slots in use */
	uint64_t rng;            /* xorshift64 state: rounding of fractional weights */
	atomic_uint_fast64_t periods, unmatched, dropped, held; /* offcpu_stats, read by other threads */
};

#define MIN_SLOTS 1024
#define MAX_SLOTS (2 * OFFCPU_MAX_HELD)

struct offcpu *offcpu_new(struct ring *ring)
{
	struct offcpu *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->ring = ring;
	if (getrandom(&o->rng, sizeof(o->rng), 0) != sizeof(o->rng))
		o->rng = (uint64_t)time(NULL);
	o->rng |= 1; /* xorshift's state is never 0 */
	return o;
}

static void release(struct offcpu *o, struct held *h)
{
	ring_release_stack(o->ring, h->st);
	ring_release_thread(o->ring, h->th);
}

void offcpu_free(struct offcpu *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->cap; i++)
		if (o->slots[i].tid)
			release(o, &o->slots[i]);
	free(o->slots);
	free(o);
}

static size_t slot_of(const struct offcpu *o, uint32_t tid)
{
	return (tid * 0x9e3779b1u) & (o->cap - 1);
}

/* The slot holding tid, or the empty slot where it would go. cap > n. */
static struct held *find(struct offcpu *o, uint32_t tid)
{
	size_t i = slot_of(o, tid);
	while (o->slots[i].tid && o->slots[i].tid != tid)
		i = (i + 1) & (o->cap - 1);
	return &o->slots[i];
}

static int grow(struct offcpu *o)
{
	size_t ncap = o->cap ? 2 * o->cap : MIN_SLOTS;
	struct held *old = o->slots, *slots = calloc(ncap, sizeof(*slots));
	if (!slots)
		return -1;
	size_t ocap = o->cap;
	o->slots = slots;
	o->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].tid)
			*find(o, old[i].tid) = old[i];
	free(old);
	return 0;
}

/* Empties slot h, moving later entries of its probe run back so that every entry stays
 * reachable from its home slot. */
static void remove_slot(struct offcpu *o, struct held *h)
{
	size_t mask = o->cap - 1, hole = (size_t)(h - o->slots), i = hole;
	for (;;) {
		i = (i + 1) & mask;
		if (!o->slots[i].tid)
			break;
		size_t home = slot_of(o, o->slots[i].tid);
		/* The entry at i may fill the hole unless its home lies cyclically in (hole, i]. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			o->slots[hole] = o->slots[i];
			hole = i;
		}
	}
	o->slots[hole].tid = 0;
	o->n--;
}

void offcpu_begin(struct offcpu *o, const struct ring_sample *s, struct stack *st, unsigned state)
{
	uint32_t tid = (uint32_t)s->tid;
	if (!st || !tid || (o->n + 1 > o->cap / 2 && (o->cap >= MAX_SLOTS || grow(o) < 0))) {
		atomic_fetch_add_explicit(&o->dropped, 1, memory_order_relaxed);
		return;
	}
	struct thread_key k = {s->pid, s->tid, s->cgroup, s->comm, s->container, s->pod, s->namespace};
	struct thread_rec *th = ring_thread(o->ring, &k);
	if (!th) {
		atomic_fetch_add_explicit(&o->dropped, 1, memory_order_relaxed);
		return;
	}
	ring_ref_stack(o->ring, st);
	struct held *h = find(o, tid);
	if (h->tid) /* its end was lost: this start replaces it */
		release(o, h);
	else
		o->n++;
	*h = (struct held){tid, state, th, st};
	assert(o->n <= o->cap / 2);
	atomic_store_explicit(&o->held, o->n, memory_order_relaxed);
}

static uint64_t next_random(struct offcpu *o)
{
	o->rng ^= o->rng << 13;
	o->rng ^= o->rng >> 7;
	o->rng ^= o->rng << 17;
	return o->rng;
}

void offcpu_end(struct offcpu *o, uint32_t tid, int64_t wall_ns, uint64_t blocked_ns, uint32_t weight)
{
	struct held *h = o->cap ? find(o, tid) : NULL;
	if (!h || !h->tid) {
		if (weight) /* an unseen end (weight 0) of a start that was not held: counted by the kernel */
			atomic_fetch_add_explicit(&o->unmatched, 1, memory_order_relaxed);
		return;
	}
	/* Weight 0: it ended while the switch hook was paused, untimed: no row (counted by the
	 * kernel). Else count: weight rounded up or down at random, in proportion, so that sums stay
	 * unbiased; blocked_ns carries the exact weight. */
	if (weight) {
		uint32_t whole = weight / WISP_OFFCPU_WEIGHT_ONE, frac = weight % WISP_OFFCPU_WEIGHT_ONE;
		uint32_t count = whole + (next_random(o) % WISP_OFFCPU_WEIGHT_ONE < frac);
		unsigned __int128 ns = (unsigned __int128)blocked_ns * weight / WISP_OFFCPU_WEIGHT_ONE;
		struct ring_row row = {wall_ns, h->th, h->st, h->state, count, ns > INT64_MAX ? INT64_MAX : (int64_t)ns};
		if (ring_append_rows(o->ring, &row, 1) == 0)
			atomic_fetch_add_explicit(&o->periods, 1, memory_order_relaxed);
	}
	release(o, h);
	remove_slot(o, h);
	atomic_store_explicit(&o->held, o->n, memory_order_relaxed);
}

void offcpu_get_stats(struct offcpu *o, struct offcpu_stats *out)
{
	out->periods = atomic_load_explicit(&o->periods, memory_order_relaxed);
	out->unmatched = atomic_load_explicit(&o->unmatched, memory_order_relaxed);
	out->dropped = atomic_load_explicit(&o->dropped, memory_order_relaxed);
	out->held = atomic_load_explicit(&o->held, memory_order_relaxed);
}
