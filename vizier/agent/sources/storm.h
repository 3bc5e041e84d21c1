/* storm.h - when the off-CPU switch hook is attached. The hook runs on every context switch of
 * the host, and on this project's 2-CPU VM an empty program there already slows a ping-pong of
 * two processes at its maximum switch rate by about 4.7 % (docs/PERFORMANCE.md, Off-CPU). So
 * while switches away from user threads run above `rate` a second per CPU (a storm), the hook
 * is attached only a window at the start of each cycle: periods are taken in the window, stand
 * for the whole cycle (the BPF program's offcpu_scale), and a short closing phase with taking off
 * lets the taken ones end while the hook is still there. Below that rate it stays attached. The
 * switch rate is measured while attached (the BPF program counts switches), so a storm is seen
 * within STORM_CHECK_MS once the rate is a quarter of `rate` (within a cycle below that), and its
 * end within a cycle.
 *
 * Each cycle is one of two kinds, decided at its start: attached throughout (offcpu_scale one),
 * or a window (scale about STORM_CYCLE_MS / STORM_WINDOW_MS: the last cycle's switches over its
 * window's, /proc/stat) and then off. A window's periods stand for
 * its own cycle only, so no stretch of time goes unrepresented or counted twice when the kind
 * changes. Owns its thread and, from storm_start on, the hook's link. */
#ifndef WISP_STORM_H
#define WISP_STORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORM_CYCLE_MS 300
#define STORM_WINDOW_MS 15 /* taking periods: a twentieth of the cycle */
#define STORM_CLOSE_MS 5   /* then not taking, so that the taken ones end while it is attached */
#define STORM_CHECK_MS 50  /* a cycle attached throughout looks at the rate this often, and ends
			    * there when a storm began: the next cycle, a window, starts at once */

struct bpf_program;
struct bpf_map;
struct storm;

struct storm_stats {
	int hook_pct; /* percent of the last minute the hook was attached (100 with no storm) */
};

/* Attaches prog (the switch hook) and starts the thread. counters is the BPF per-CPU counter
 * array (WISP_CNT_OFFCPU_SWITCHES is read), scale and taking point to the BPF program's
 * offcpu_scale and offcpu_taking (its mapped .data: they must outlive the storm). rate: switches
 * a second per CPU from which the hook is paused; 0: never paused (then no thread). NULL with a
 * message in err when the hook cannot be attached, or out of memory. */
struct storm *storm_start(struct bpf_program *prog, struct bpf_map *counters, volatile uint32_t *scale,
			  volatile bool *taking, uint32_t rate, int ncpus, char *err, size_t errlen);
/* Stops the thread and detaches the hook. */
void storm_stop(struct storm *s);
/* Thread-safe. */
void storm_get_stats(struct storm *s, struct storm_stats *out);

#endif
