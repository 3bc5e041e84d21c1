/* nofp.c - a workload built the way distributions build (gcc -O2: no frame pointers), whose hot
 * path runs through libc (also without frame pointers) and back: main -> sort_phase -> qsort ->
 * libc's internal merge sort -> cmp_ints, for 3/4 of its CPU time, and main -> mix_phase ->
 * mix_leaf for 1/4 (in this thread's CPU time, as burn.c measures). A frame-pointer walk loses
 * main in almost every sample; an unwinder that reads .eh_frame finds it in all of them.
 *
 *   nofp [SECONDS [LINGER]]   (default 10; prints its pid on stdout first; then sleeps LINGER s) */
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

__attribute__((noinline)) int cmp_ints(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

__attribute__((noinline)) void sort_phase(double unit, int *v, size_t n)
{
	double end = cpu_s() + 3 * unit;
	uint32_t seed = 1;
	while (cpu_s() < end) {
		for (size_t i = 0; i < n; i++)
			v[i] = (int)(seed = seed * 1103515245u + 12345u);
		qsort(v, n, sizeof(*v), cmp_ints);
	}
	sink = (uint64_t)v[0];
}

__attribute__((noinline)) uint64_t mix_leaf(uint64_t x)
{
	for (int i = 0; i < 200000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

__attribute__((noinline)) void mix_phase(double unit)
{
	double end = cpu_s() + unit;
	uint64_t x = 2;
	while (cpu_s() < end)
		x = mix_leaf(x);
	sink = x;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	size_t n = 4096;
	int *v = malloc(n * sizeof(*v));
	if (!v)
		return 1;
	printf("%d\n", (int)getpid());
	fflush(stdout);
	double stop = cpu_s() + seconds;
	while (cpu_s() < stop) {
		sort_phase(0.01, v, n);
		mix_phase(0.01);
	}
	free(v);
	if (argc > 2)
		sleep((unsigned)atoi(argv[2]));
	return 0;
}
