/* progress.c - a source's published progress and the wakeups around it (see progress.h): one
 * mutex, a condition the producer naps on (a reader signals it) and one readers wait on (the
 * producer broadcasts it). Both conditions run on CLOCK_MONOTONIC. */
#include "progress.h"
#include "core/clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct progress {
	pthread_mutex_t mu;
	pthread_cond_t wanted;   /* producer naps on it: a reader wants progress */
	pthread_cond_t moved;    /* readers wait on it: published moved, or closed */
	int64_t published;       /* ns; under mu */
	bool want;               /* a reader waits for a time that has come: drain now; under mu */
	bool closed;             /* the producer is gone; under mu */
};

struct progress *progress_new(void)
{
	struct progress *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;
	if (!p)
		return NULL;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wanted, &ca);
	pthread_cond_init(&p->moved, &ca);
	pthread_condattr_destroy(&ca);
	return p;
}

void progress_free(struct progress *p)
{
	if (!p)
		return;
	pthread_cond_destroy(&p->wanted);
	pthread_cond_destroy(&p->moved);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static struct timespec timespec_of(int64_t ns)
{
	return (struct timespec){ns / 1000000000LL, ns % 1000000000LL};
}

void progress_publish(struct progress *p, int64_t ns)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	if (ns > p->published) {
		p->published = ns;
		pthread_cond_broadcast(&p->moved);
	}
	pthread_mutex_unlock(&p->mu);
}

void progress_nap(struct progress *p, int64_t max_ns)
{
	if (!p) {
		struct timespec ts = timespec_of(max_ns);
		nanosleep(&ts, NULL);
		return;
	}
	struct timespec until = timespec_of(mono_now_ns() + max_ns);
	pthread_mutex_lock(&p->mu);
	if (!p->want) /* a reader that came during the last batch wants the next one now */
		pthread_cond_timedwait(&p->wanted, &p->mu, &until);
	p->want = false;
	pthread_mutex_unlock(&p->mu);
}

void progress_close(struct progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->closed = true;
	pthread_cond_broadcast(&p->moved);
	pthread_mutex_unlock(&p->mu);
}

bool progress_wait(struct progress *p, int64_t t, int64_t timeout_ns)
{
	if (!p)
		return true;
	int64_t until = mono_now_ns() + timeout_ns;
	pthread_mutex_lock(&p->mu);
	while (p->published < t && !p->closed) {
		int64_t now = mono_now_ns(), ahead = t - wall_now_ns(), wake = until;
		if (now >= until)
			break;
		if (ahead <= 0) { /* its time has come: ask for a batch now, not at the next period */
			p->want = true;
			pthread_cond_signal(&p->wanted);
		} else if (now + ahead < until) { /* not yet (another clock): sleep until then */
			wake = now + ahead;
		}
		struct timespec ts = timespec_of(wake);
		pthread_cond_timedwait(&p->moved, &p->mu, &ts);
	}
	bool done = p->published >= t;
	pthread_mutex_unlock(&p->mu);
	return done;
}
