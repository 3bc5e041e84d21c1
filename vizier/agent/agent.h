/* agent.h - the agent: one node's rings (stack_samples, and offcpu_samples when the source records
 * off-CPU periods), the source filling them, and the answers to the coordinator's requests over
 * them. An exec request runs the plan's bridges over the ring and
 * answers with their partial results; a snapshot request answers with a snapshot file of a time
 * range. Runs in `wispd agent` (through the link to a coordinator, link.h) and in-process in
 * `wispd standalone`. */
#ifndef WISP_AGENT_H
#define WISP_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/sources/source.h"

struct agent;
struct agent_status;
struct proto_buf;
struct proto_msg;

struct agent_config {
	const char *node;           /* this node's name: the `node` column (copied) */
	size_t ring_bytes;          /* the rings' budget, all tables together */
	const char *source;         /* see source.h: bpf, synthetic:SPEC, replay:FILES */
	struct source_options opt;  /* for the bpf and s3 sources */
	const char *export_url;     /* continuous export (exporter.h): s3://BUCKET/PREFIX, or NULL */
	int64_t export_every_ns;
	int offcpu_share;           /* percent of ring_bytes for offcpu_samples (source_has_offcpu) */
};

/* Makes the ring and starts the source. NULL with a message in err. */
struct agent *agent_new(const struct agent_config *cfg, char *err, size_t errlen);
/* Stops the source (no more samples); the ring still answers. */
void agent_stop_source(struct agent *a);
/* Stops everything and frees the ring. No answer may be running. */
void agent_free(struct agent *a);

const char *agent_node(const struct agent *a);

/* Answers request m (exec or snapshot) with a result message packed into out; failures are
 * answered too, as results with an error. Thread-safe: runs on worker threads. */
void agent_answer(struct agent *a, const struct proto_msg *m, struct proto_buf *out);
void agent_get_status(struct agent *a, struct agent_status *st);

#endif
