/* clock.h - the two clocks every layer reads: monotonic time for deadlines and durations, wall
 * time for sample timestamps and a query's "now". Both in nanoseconds. */
#ifndef WISP_CLOCK_H
#define WISP_CLOCK_H

#include <stdint.h>

int64_t mono_now_ns(void); /* CLOCK_MONOTONIC */
int64_t wall_now_ns(void); /* CLOCK_REALTIME: ns since the Unix epoch */

#endif
