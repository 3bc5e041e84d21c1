/* pingpong.c - a context-switch storm, for tests and benchmarks: two processes pass one byte back
 * and forth over two pipes as fast as they can, so each blocks in read() once per round trip.
 *
 *   pingpong [SECONDS]   (default 5) prints "PID CHILD_PID" first, and at the end
 *                        "round_trips N" and "round_trips_per_second R" */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Answers every byte on in with one on out, until in closes. */
__attribute__((noinline)) static void pong(int in, int out)
{
	char c;
	while (read(in, &c, 1) == 1)
		if (write(out, &c, 1) != 1)
			break;
}

/* Sends a byte and waits for its answer until end; the round trips made. */
__attribute__((noinline)) static long ping(int out, int in, double end)
{
	long n = 0;
	char c = 'x';
	while ((n & 255) || now_s() < end) {
		if (write(out, &c, 1) != 1 || read(in, &c, 1) != 1)
			break;
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	int a[2], b[2];
	if (pipe(a) < 0 || pipe(b) < 0)
		return 1;
	pid_t child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		close(a[1]);
		close(b[0]);
		pong(a[0], b[1]);
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	printf("%d %d\n", (int)getpid(), (int)child);
	fflush(stdout);
	double t0 = now_s();
	long n = ping(a[1], b[0], t0 + seconds);
	double took = now_s() - t0;
	close(a[1]);
	waitpid(child, NULL, 0);
	printf("round_trips %ld\nround_trips_per_second %.0f\n", n, n / took);
	return 0;
}
