/* waiter.c - an off-CPU workload with a known profile, for tests: one thread that spends 3/4 of
 * its wall time asleep in wait_sleeping() (clock_nanosleep) and 1/4 blocked reading a pipe in
 * wait_reading(), and almost no CPU. A child process writes the pipe on a fixed schedule: every
 * PERIOD, the parent sleeps until 3/4 of the period has passed, then reads the byte the child
 * writes at the period's end. Both sleep to absolute times on one clock, so the split does not
 * drift however late either is woken.
 *
 *   waiter [SECONDS]   (default 10; prints its pid on stdout first; the child is not counted) */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_NS 100000000LL /* 100 ms: 75 asleep, 25 reading */

static void at(int64_t ns)
{
	struct timespec ts = {ns / 1000000000LL, ns % 1000000000LL};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
		;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) void wait_sleeping(int64_t until)
{
	at(until);
	__asm__ volatile("" ::: "memory"); /* not a tail call: this frame stays on the stack */
}

__attribute__((noinline)) int wait_reading(int fd)
{
	char c;
	int n = (int)read(fd, &c, 1);
	__asm__ volatile("" ::: "memory");
	return n;
}

__attribute__((noinline)) void run(int fd, int64_t t0, long periods)
{
	for (long k = 0; k < periods; k++) {
		wait_sleeping(t0 + k * PERIOD_NS + PERIOD_NS * 3 / 4);
		if (wait_reading(fd) != 1)
			return;
	}
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	long periods = (long)(seconds * 1e9 / PERIOD_NS);
	int fds[2];
	printf("%d\n", (int)getpid());
	fflush(stdout);
	if (pipe(fds) < 0)
		return 1;
	int64_t t0 = now_ns();
	pid_t child = fork();
	if (child < 0)
		return 1;
	if (child == 0) { /* the writer: a byte at the end of every period */
		close(fds[0]);
		for (long k = 1; k <= periods; k++) {
			at(t0 + k * PERIOD_NS);
			if (write(fds[1], "x", 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	run(fds[0], t0, periods);
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	return 0;
}
