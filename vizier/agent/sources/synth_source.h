/* synth_source.h - drives the synthetic profile source (query/ring/synthetic.h) in wispd:
 * back-fills `backfill` seconds of history at `speed` simulated seconds per real second, then
 * keeps appending each second as real time passes. */
#ifndef WISP_SYNTH_SOURCE_H
#define WISP_SYNTH_SOURCE_H

#include <stddef.h>

struct ring;
struct synth_source;
struct progress;

/* spec: the text after "synthetic:" (see synth_parse). After each second it appends, it publishes
 * that second's end to progress (progress.h; NULL: none). NULL with a message on error. */
struct synth_source *synth_source_start(const char *spec, struct ring *r, struct progress *progress, char *err,
					size_t errlen);
void synth_source_stop(struct synth_source *s);

#endif
