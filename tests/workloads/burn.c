/* burn.c - a CPU workload with a known profile, for tests: main -> run_phase -> one of two leaf
 * functions, alternating so that about 3/4 of the CPU time is spent in spend_three_quarters()
 * and 1/4 in spend_one_quarter(). Built with clang -O2 -fno-omit-frame-pointer so a frame-pointer
 * unwinder sees the whole chain.
 *
 *   burn [SECONDS]   (default 10; prints its pid on stdout first) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The busy loops check the clock every ~20k multiplications: almost all time stays here. */
__attribute__((noinline)) void spend_three_quarters(double unit)
{
	double end = now_s() + 3 * unit;
	uint64_t x = 1;
	while (now_s() < end)
		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

__attribute__((noinline)) void spend_one_quarter(double unit)
{
	double end = now_s() + unit;
	uint64_t x = 2;
	while (now_s() < end)
		for (int i = 0; i < 20000; i++)
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
	double end = now_s() + seconds;
	srand((unsigned)getpid());
	while (now_s() < end) {
		double unit = 0.0001 + 0.0009 * (rand() / (double)RAND_MAX);
		run_phase(1, unit);
		run_phase(0, unit);
	}
	return 0;
}
