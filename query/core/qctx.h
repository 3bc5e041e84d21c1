/* qctx.h - the per-query context: limits, the first error, and the arena that owns every string
 * and stack a query creates. Everything a query's tables point at lives here or in the (pinned)
 * ring, so tables never own values. One qctx per query per process; not shared across threads.
 *
 * Memos that live as long as the query live here too: each frame's views and each stack's
 * folded form and viewed stack per view (frame.h; for leaf(), folded(), view(), frames, string()
 * and the renderers), and the engine's cached partial aggregate (exec.c). */
#ifndef WISP_QCTX_H
#define WISP_QCTX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "hashmap.h"

struct intern;
struct stack;
struct table;

struct qctx {
	struct arena_chunk *chunks; /* bump allocator for strings made by operators */
	struct intern *intern;      /* stacks/strings decoded from other processes; lazily made */
	size_t mem_used;            /* arena bytes + bytes of live result tables, as accounted */
	size_t mem_limit;           /* 0 = unlimited */
	int64_t deadline_ns;        /* CLOCK_MONOTONIC; 0 = none */
	size_t max_rows;            /* result rows per displayed table (0 = unlimited) */
	const char *node;           /* this process's node name (the source's `node` column) */
	struct hashmap folded[FRAME_VIEWS]; /* stack -> its folded string in the arena (by identity) */
	struct hashmap views[FRAME_VIEWS];  /* frame -> its view (by identity) */
	struct hashmap viewed[FRAME_VIEWS]; /* stack -> the stack of its frames' views (by identity) */
	struct hashmap view_frames[FRAME_VIEWS]; /* frame -> its view as a frame of the intern table */
	struct hashmap view_strs;           /* every view made, by content: one pointer per content */
	int partial_node;           /* exec.c: the AGG whose local partial state is cached, or -1 */
	struct table *partial;      /* ... and that partial state (owned), or NULL */
	int bad_input;              /* exec_finish failed because of this agent's input, or -1 */
	char err[512];              /* first error, "" when none */
};

void qctx_init(struct qctx *q);
void qctx_destroy(struct qctx *q);

/* Records the first error (later ones are dropped) and returns -1. */
int qctx_fail(struct qctx *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool qctx_failed(const struct qctx *q);

/* Checks deadline and memory (extra = bytes about to be held); -1 with an error when exceeded. */
int qctx_check(struct qctx *q, size_t extra);

/* An arena copy owned by the query; NULL (and an error) on out-of-memory. */
char *qctx_strndup(struct qctx *q, const char *s, size_t n);
struct intern *qctx_intern(struct qctx *q);

/* A frame's view (frame.h), made once per frame and query. Equal views are one pointer, so
 * operators may compare them by identity. NULL on error (in q). */
const char *qctx_frame(struct qctx *q, const char *frame, enum frame_view v);
/* The folded form "root;...;leaf" of a stack in view v (kernel frames suffixed "_[k]"), made
 * once per stack, view and query, in the arena. NULL on error (in q). */
const char *qctx_stack_folded(struct qctx *q, const struct stack *st, enum frame_view v);
/* The stack of st's frames as view v spells them (px.view): itself when every frame is plain,
 * else a stack of the query's intern table (which holds it until the query ends) whose frames
 * are plain names, a Python frame keeping its kind. Every view of the result is the result, so
 * stacks that differ only where v does not look become one stack, and grouping by it keeps
 * references rather than strings. Made once per stack, view and query; the intern table's
 * growth counts in the query's memory. NULL on error (in q). */
const struct stack *qctx_stack_view(struct qctx *q, const struct stack *st, enum frame_view v);

#endif
