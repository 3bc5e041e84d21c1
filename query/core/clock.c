/* clock.c - monotonic and wall clocks in nanoseconds (see clock.h). */
#include "clock.h"

#include <time.h>

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t mono_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

int64_t wall_now_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}
