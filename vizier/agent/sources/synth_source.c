/* synth_source.c - the synthetic source's driver thread (see synth_source.h). */
#include "synth_source.h"
#include "progress.h"
#include "core/clock.h"
#include "ring/synthetic.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct synth_source {
	struct synth *synth;
	struct synth_config cfg;
	struct progress *progress; /* not owned (the source's) */
	pthread_t thread;
	atomic_bool stop;
};

static void *drive(void *arg)
{
	struct synth_source *s = arg;
	int64_t now_sec = wall_now_ns() / 1000000000LL;
	int64_t next = now_sec - s->cfg.backfill_s; /* next simulated second to generate */
	int64_t start_mono = mono_now_ns();
	while (!atomic_load(&s->stop)) {
		now_sec = wall_now_ns() / 1000000000LL;
		/* Back-filling: as far as speed allows by now; then up to the last whole second. */
		double elapsed = (double)(mono_now_ns() - start_mono) / 1e9;
		int64_t target = now_sec - s->cfg.backfill_s + (int64_t)(elapsed * s->cfg.speed);
		if (target > now_sec)
			target = now_sec;
		int64_t due = target - next; /* seconds to generate now */
		if (due > 60)
			due = 60; /* stay responsive to stop */
		if (due > 0) {
			if (synth_fill(s->synth, next, due) < 0)
				fprintf(stderr, "wispd: synthetic source: the ring refused samples (out of memory)\n");
			next += due;
			progress_publish(s->progress, next * 1000000000LL);
			continue;
		}
		progress_nap(s->progress, 100 * 1000000LL); /* a query for the second just ended cuts it short */
	}
	return NULL;
}

struct synth_source *synth_source_start(const char *spec, struct ring *r, struct progress *progress, char *err,
					size_t errlen)
{
	struct synth_source *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->progress = progress;
	if (synth_parse(spec, &s->cfg, err, errlen) < 0)
		goto fail;
	if (!(s->synth = synth_new(&s->cfg, r))) {
		snprintf(err, errlen, "synthetic source: out of memory");
		goto fail;
	}
	if (pthread_create(&s->thread, NULL, drive, s) != 0) {
		snprintf(err, errlen, "synthetic source: cannot start its thread");
		synth_free(s->synth);
		goto fail;
	}
	return s;
fail:
	free(s);
	return NULL;
}

void synth_source_stop(struct synth_source *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	synth_free(s->synth);
	free(s);
}
