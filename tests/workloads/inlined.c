/* inlined.c - a workload whose hot loop is an inlined function, built with gcc -O2 -g and no
 * frame pointers: main -> inline_phase (out of line) -> scramble (always inlined into it). A
 * profiler that reads DWARF shows scramble as a frame of its own at the line of its loop, under
 * inline_phase at the line of the call; one that reads only symbols shows inline_phase alone.
 *
 *   inlined [SECONDS]   (default 10; prints its pid on stdout first) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline __attribute__((always_inline)) uint64_t scramble(uint64_t x)
{
	for (int i = 0; i < 100000; i++)
		x = (x ^ (x >> 7)) * 6364136223846793005ULL + 1442695040888963407ULL; /* LINE:scramble */
	return x;
}

__attribute__((noinline)) void inline_phase(double seconds)
{
	double end = cpu_s() + seconds;
	uint64_t x = 3;
	while (cpu_s() < end)
		x = scramble(x); /* LINE:call */
	sink = x;
}

int main(int argc, char **argv)
{
	printf("%d\n", (int)getpid());
	fflush(stdout);
	inline_phase(argc > 1 ? atof(argv[1]) : 10);
	return 0;
}
