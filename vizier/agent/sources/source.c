/* source.c - choosing and running an agent's sample source (see source.h). */
#include "source.h"
#include "collector.h"
#include "core/clock.h"
#include "progress.h"
#include "ring/ring.h"
#include "replay.h"
#include "s3_source.h"
#include "synth_source.h"

#include <assert.h>
#include <linux/types.h>
#include "unwind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum source_kind { SOURCE_BPF, SOURCE_SYNTHETIC, SOURCE_REPLAY, SOURCE_S3 };

struct source {
	enum source_kind kind;
	struct collector *collector; /* bpf */
	struct synth_source *synth;  /* synthetic */
	struct s3_source *s3;        /* s3 */
	struct progress *progress;   /* bpf, synthetic: how far the ring is complete (owned) */
};

/* How long a query over a range that ends now waits for the samples stamped before its end (the
 * drain, woken at once, takes milliseconds; a producer that cannot keep up is not waited for
 * longer). A range that ends later than this from now is not waited for. */
#define SOURCE_SYNC_NS 250000000LL

bool source_has_offcpu(const char *spec, const struct source_options *opt)
{
	return (!strcmp(spec, "bpf") && opt->offcpu) || !strncmp(spec, "replay:", 7) || !strncmp(spec, "s3://", 5);
}

struct source *source_start(const char *spec, const struct source_options *opt, const struct ring_set *set,
			    char *err, size_t errlen)
{
	struct ring *ring = ring_set_get(set, RING_STACK_SAMPLES), *offcpu_ring = ring_set_get(set, RING_OFFCPU_SAMPLES);
	assert(ring);
	struct source *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	bool live = !strcmp(spec, "bpf") || !strncmp(spec, "synthetic", 9);
	if (live && !(s->progress = progress_new())) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!strcmp(spec, "bpf")) {
		struct collector_config cc = {opt->hz, opt->ringbuf_bytes, opt->include_idle, opt->unwind_mb, opt->python,
					     s->progress, opt->kube, opt->offcpu_rate, opt->offcpu_storm};
		s->kind = SOURCE_BPF;
		s->collector = collector_start(&cc, ring, opt->offcpu ? offcpu_ring : NULL, err, errlen);
		if (!s->collector)
			goto fail;
	} else if (!strncmp(spec, "synthetic:", 10) || !strcmp(spec, "synthetic")) {
		s->kind = SOURCE_SYNTHETIC;
		s->synth = synth_source_start(spec[9] ? spec + 10 : "", ring, s->progress, err, errlen);
		if (!s->synth)
			goto fail;
	} else if (!strncmp(spec, "replay:", 7)) {
		s->kind = SOURCE_REPLAY;
		if (replay_load(spec + 7, set, err, errlen) < 0)
			goto fail;
	} else if (!strncmp(spec, "s3://", 5)) {
		struct s3_source_options so = {opt->node, opt->cache_dir, opt->cache_bytes};
		s->kind = SOURCE_S3;
		if (!(s->s3 = s3_source_open(spec, &so, set, err, errlen)))
			goto fail;
	} else {
		snprintf(err, errlen, "--source must be bpf, synthetic:SPEC, replay:FILE[,FILE...] or s3://BUCKET/PREFIX");
		goto fail;
	}
	return s;
fail:
	progress_free(s->progress);
	free(s);
	return NULL;
}

void source_quiesce(struct source *s)
{
	if (!s)
		return;
	collector_stop(s->collector);
	synth_source_stop(s->synth);
	s->collector = NULL;
	s->synth = NULL;
	progress_close(s->progress);
}

void source_stop(struct source *s)
{
	if (!s)
		return;
	source_quiesce(s);
	s3_source_close(s->s3);
	progress_free(s->progress);
	free(s);
}

int source_prepare(struct source *s, int64_t t0, int64_t t1, char *err, size_t errlen)
{
	if (s && s->progress && t1 - wall_now_ns() <= SOURCE_SYNC_NS)
		progress_wait(s->progress, t1, SOURCE_SYNC_NS);
	return s && s->s3 ? s3_source_prepare(s->s3, t0, t1, err, errlen) : 0;
}

void source_get_stats(struct source *s, struct source_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!s || !s->collector)
		return;
	struct collector_stats cs;
	collector_get_stats(s->collector, &cs);
	out->hz = cs.hz;
	out->cpus = cs.ncpus;
	out->bpf_samples = cs.bpf_samples;
	out->lost = cs.bpf_lost + cs.append_failed;
	out->truncated_unreadable = cs.unwind_end[WISP_UNWIND_END_READ];
	out->truncated_depth = cs.unwind_end[WISP_UNWIND_END_DEPTH];
	out->truncated_no_info = cs.unwind_end[WISP_UNWIND_END_BAD_FP];
	out->fp_fallback_samples = cs.unwind_fp_used;
	out->unwind_files = cs.unwinder.files;
	out->unwind_bytes = cs.unwinder.bytes;
	out->unwind_rows = cs.unwinder.rows;
	out->unwind_rows_cap = cs.unwinder.rows_cap;
	out->unwind_build_ns = cs.unwinder.build_ns;
	out->unwind_cfi_bytes = cs.unwinder.cfi_bytes;
	out->py_samples = cs.py_walks;
	out->py_walk_ns = cs.py_walk_ns;
	out->py_frames = cs.python.frames;
	out->py_code_gone = cs.python.code_gone;
	out->py_code_failed = cs.python.code_failed;
	out->kube = cs.kube;
	out->offcpu_switches = cs.offcpu_switches;
	out->offcpu_periods = cs.offcpu.periods;
	/* dropped in the kernel, unpaired (a half lost), not held, or ended unseen while the hook was
	 * paused */
	out->offcpu_lost = cs.offcpu_lost + cs.offcpu.unmatched + cs.offcpu.dropped + cs.offcpu_unseen;
	out->offcpu_unseen = cs.offcpu_unseen;
	out->offcpu_hook_pct = cs.storm.hook_pct;
	out->frames_named = cs.frames_named;
	out->frames_looked_up = cs.frames_looked_up;
	out->stacks_interned = cs.stacks_interned;
	out->stacks_looked_up = cs.stacks_looked_up;
	out->memo_bytes = cs.memo_bytes;
}
