/* dlopen_main.c - a program (gcc -O2, no frame pointers) that opens a library after it started:
 * it sleeps a second, dlopens LIB, then calls its lib_outer from main -> run_lib until SECONDS
 * of CPU time pass. The library's frames must unwind to main once it is loaded.
 *   dlopen_main LIB [SECONDS]   (prints its pid on stdout first) */
#include <dlfcn.h>
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

__attribute__((noinline)) void run_lib(uint64_t (*outer)(uint64_t, int), double seconds)
{
	double stop = cpu_s() + seconds;
	uint64_t x = 1;
	while (cpu_s() < stop)
		x = outer(x, 10);
	sink = x;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	printf("%d\n", (int)getpid());
	fflush(stdout);
	sleep(1);
	void *h = dlopen(argv[1], RTLD_NOW);
	uint64_t (*outer)(uint64_t, int) = h ? (uint64_t(*)(uint64_t, int))dlsym(h, "lib_outer") : NULL;
	if (!outer) {
		fprintf(stderr, "dlopen_main: %s\n", dlerror());
		return 1;
	}
	run_lib(outer, argc > 2 ? atof(argv[2]) : 5);
	return 0;
}
