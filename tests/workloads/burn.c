/* burn.c - a CPU workload with a known profile, for tests: main -> run_phase -> one of two leaf
 * functions, alternating so that 3/4 of the CPU time is spent in spend_three_quarters() and 1/4
 * in spend_one_quarter(). The phases are measured in this thread's CPU time, not wall time, so
 * the split holds however often the machine descheduled it. Built with clang -O2
 * -fno-omit-frame-pointer so a frame-pointer unwinder sees the whole chain.
 *
 *   burn [SECONDS]   (default 10; prints its pid on stdout first) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time this thread has used: what a CPU profiler's samples measure. */
static double cpu_s(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

/* The busy loops read the CPU clock (a system call) every 200k multiplications, about every
 * 0.3 ms: 0.1 % of the time goes to the clock, and a phase (4 to 40 ms) overshoots by little. */
__attribute__((noinline)) void spend_three_quarters(double unit)
{
	double end = cpu_s() + 3 * unit;
	uint64_t x = 1;
	while (cpu_s() < end)
		for (int i = 0; i < 200000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

__attribute__((noinline)) void spend_one_quarter(double unit)
{
	double end = cpu_s() + unit;
	uint64_t x = 2;
	while (cpu_s() < end)
		for (int i = 0; i < 200000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

__attribute__((noinline)) void run_phase(int which, double unit)
{
	if (which)
		spend_three_quarters(unit);
	else
		spend_one_quarter(unit);
	sink++; /* not a tail call: run_phase keeps its frame */
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	printf("%d\n", (int)getpid());
	fflush(stdout);
	double end = clock_s(CLOCK_MONOTONIC) + seconds;
	srand((unsigned)getpid());
	while (clock_s(CLOCK_MONOTONIC) < end) {
		double unit = 0.004 + 0.036 * (rand() / (double)RAND_MAX);
		run_phase(1, unit);
		run_phase(0, unit);
	}
	return 0;
}
