/* synthetic.h - a deterministic source of profile samples shaped like a real busy node, for
 * benchmarks, tests and demos (`wispd agent --source synthetic:...`).
 *
 * The model: `procs` processes of common kinds (nginx, postgres, java, ...), CPU demand
 * Zipf-distributed over processes; `threads` threads spread over them (busy processes have more),
 * each with a home CPU that changes every few seconds; `stacks` stacks built as call trees per
 * process (realistic names, shared prefixes, depths 8-48, a quarter ending in kernel syscall
 * paths), Zipf-distributed within each process, with thread groups favouring different stacks.
 * Every CPU produces `hz` samples per simulated second. The same seed gives the same samples. */
#ifndef WISP_SYNTHETIC_H
#define WISP_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>

struct ring;
struct ring_row;
struct synth;

struct synth_config {
	int cpus, hz, stacks, procs, threads;
	uint64_t seed;
	double speed;        /* simulated seconds per real second while back-filling */
	int64_t backfill_s;  /* start this many seconds in the past (0 = start now, real time) */
	int64_t shift_at_s;  /* if > 0: the profile changes at this many seconds into the data */
};

#define SYNTH_DEFAULTS {16, 99, 5000, 200, 1000, 1, 1.0, 0, 0}

/* Parses "cpus=16,hz=99,stacks=5000,procs=200,threads=1000,seed=1,speed=60,backfill=1h".
 * Unset keys keep their defaults. 0, or -1 with a message. */
int synth_parse(const char *spec, struct synth_config *out, char *err, size_t errlen);

/* Builds the model, interning its stacks and threads in ring r (held until synth_free). */
struct synth *synth_new(const struct synth_config *cfg, struct ring *r);
void synth_free(struct synth *s);

/* The samples of simulated second `sec` (seconds since the epoch) into rows (room for
 * cpus * hz rows). Returns the row count. */
size_t synth_second(struct synth *s, int64_t sec, struct ring_row *rows);

/* Appends seconds [from_sec, from_sec + n) to the ring. 0 or -1. */
int synth_fill(struct synth *s, int64_t from_sec, int64_t n);

/* Name of the function whose share the profile shift raises: what the tests of the diff scripts
 * expect to see ranked first. */
const char *synth_shift_function(const struct synth *s);

#endif
