/* ops.h - the engine's blocking operators, over whole tables: sort and head (ops_sort.c), join
 * (ops_join.c), quantiles (sketch.c) and hash aggregation (ops_agg.c). The streaming ones are in
 * batch.h. Each operator returns a new owned table, or NULL with the error in q. Private to
 * query/engine/: exec.c drives them. */
#ifndef WISP_OPS_H
#define WISP_OPS_H

#include "plan.h"
#include "core/qctx.h"

/* ---- ops_sort.c ------------------------------------------------------------------------------ */

/* The order of rows by key columns (desc[k] reverses key k), ties by row number: a stable sort.
 * For qsort_r over row numbers (uint32_t), with a struct sort_keys as the argument. */
struct sort_keys {
	const struct table *t;
	int nkeys;
	int cols[32];  /* column of each key */
	bool desc[32];
};
int sort_keys_cmp(const void *a, const void *b, void *keys);

/* The first `limit` rows of `in` in sort node n's order (all when limit < 0). */
struct table *op_sort(struct qctx *q, const struct plan_node *n, const struct table *in, int64_t limit);
struct table *op_head(struct qctx *q, const struct plan_node *n, const struct table *in);

/* ---- ops_join.c ------------------------------------------------------------------------------ */

/* Unmatched rows of a left join get zero values on the right (0, 0.0, false, "", no frames). */
struct table *op_join(struct qctx *q, const struct plan_node *n, const struct table *left,
		      const struct table *right);

/* ---- sketch.c -------------------------------------------------------------------------------- */

/* p50/p90/p99 per key group from rows (keys, bucket, weight), as px.quantiles builds them. */
struct table *op_quantiles(struct qctx *q, const struct plan_node *n, const struct table *in);

/* ---- ops_agg.c ------------------------------------------------------------------------------- */

/* Columns an AGG node's partial state has (keys, then state columns: mean keeps a sum and a
 * count), as an empty owned table; NULL on out-of-memory. */
struct table *agg_state_schema(const struct plan *p, const struct plan_node *agg);

/* One aggregation: update it from input rows, or merge partial states into it; then take its
 * partial states (the agents' answer) or its final values (the node's schema). */
struct agg_run;
struct agg_run *agg_run_new(struct qctx *q, const struct plan *p, const struct plan_node *n);
void agg_run_free(struct agg_run *a);
/* Folds the rows of `rows` listed in sel[0..n) (all when sel is NULL, n = rows->nrows). */
int agg_run_update(struct agg_run *a, const struct table *rows, const uint32_t *sel, size_t n);
/* Merges partial states (another agg_run's agg_run_states of the same node). On failure *theirs
 * says whether the states were at fault (their shape, a count no process can have) rather than
 * the merge (a sum over 64 bits, memory). */
int agg_run_merge(struct agg_run *a, const struct table *states, bool *theirs);
struct table *agg_run_states(struct agg_run *a);   /* takes the states; a is spent */
struct table *agg_run_finalize(struct agg_run *a); /* final values; a keeps its states */

#endif
