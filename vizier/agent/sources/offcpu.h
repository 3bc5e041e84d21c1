/* offcpu.h - pairing the two halves of sampled off-CPU periods into offcpu_samples rows. The BPF
 * program writes a start record when a sampled thread leaves the CPU (its stacks, why it left)
 * and an end record when it comes back (how long, what it stands for); the collector symbolizes
 * the start and hands it here, where it is held by thread id until its end arrives, then
 * appended to the off-CPU ring as one row at the time it ended. Drain thread only, but for
 * offcpu_get_stats. */
#ifndef WISP_OFFCPU_H
#define WISP_OFFCPU_H

#include <stdint.h>

struct offcpu;
struct ring;
struct ring_sample;
struct stack;

#define OFFCPU_MAX_HELD 65536 /* starts waiting for their end (threads off the CPU, sampled) */

struct offcpu_stats {
	uint64_t periods;   /* rows appended (one per taken period) */
	uint64_t unmatched; /* ends without a held start (the start was lost or dropped) */
	uint64_t dropped;   /* starts not held: OFFCPU_MAX_HELD reached, or out of memory */
	uint64_t held;      /* starts held now */
};

/* Appends to ring (an offcpu_samples ring, which must outlive it). NULL on out-of-memory. */
struct offcpu *offcpu_new(struct ring *ring);
void offcpu_free(struct offcpu *o);

/* A start: s names the thread (time, count, value and frames unused), st is its stack in the
 * off-CPU ring (borrowed: the held start takes its own reference; NULL: the collector could not
 * make it, and the start is counted dropped); state is why it left (enum offcpu_state). A held
 * start of the same thread (whose end was lost) is replaced. */
void offcpu_begin(struct offcpu *o, const struct ring_sample *s, struct stack *st, unsigned state);
/* An end: tid came back at wall_ns after blocked_ns off the CPU; the period stands for
 * weight / WISP_OFFCPU_WEIGHT_ONE periods. Appends the row. Weight 0: its end was not seen
 * (bpf/profile.h): the start is let go without a row. */
void offcpu_end(struct offcpu *o, uint32_t tid, int64_t wall_ns, uint64_t blocked_ns, uint32_t weight);

/* Thread-safe. */
void offcpu_get_stats(struct offcpu *o, struct offcpu_stats *out);

#endif
