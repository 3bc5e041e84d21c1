/* progress.h - how far a live source's samples are complete in the ring, so that a query over
 * [t0, t1) can wait until every sample stamped before t1 is there instead of guessing a delay.
 *
 * The producer (the BPF drain thread, the synthetic source's thread) publishes a time after each
 * batch it appended: every sample stamped before it is in the ring. Between batches it naps with
 * progress_nap, which a waiting reader cuts short: a query wakes the drain at once rather than
 * waiting for its next period. A reader (a query's thread, source_prepare) waits with
 * progress_wait. Owned by the source (source.c), which outlives its producer: after
 * progress_close, waits return at once. All functions are thread-safe and take NULL. */
#ifndef WISP_PROGRESS_H
#define WISP_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress;

struct progress *progress_new(void);
void progress_free(struct progress *p); /* no producer or reader may be using it */

/* Producer: every sample stamped (wall-clock ns) before ns is in the ring. Never moves back. */
void progress_publish(struct progress *p, int64_t ns);
/* Producer: sleeps up to max_ns, less when a reader waits for more than was published. */
void progress_nap(struct progress *p, int64_t max_ns);
/* Producer gone: no more progress; waits return at once. */
void progress_close(struct progress *p);

/* Reader: until everything before t is published (true), or timeout_ns passed or the producer is
 * gone (false). */
bool progress_wait(struct progress *p, int64_t t, int64_t timeout_ns);

#endif
