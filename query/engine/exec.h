/* exec.h - runs plans. Agents run bridges (exec_bridge): a scan of their ring through the
 * streaming operators into either a partial aggregate or a set of rows. The coordinator runs the
 * rest (exec_finish): it merges what every agent sent for each bridge and executes the remaining
 * operators, producing one table per display. Both sides share the operators below, so a plan
 * run on one node holding all data and the same plan merged from many give the same result. */
#ifndef WISP_EXEC_H
#define WISP_EXEC_H

#include "plan.h"
#include "core/qctx.h"
#include "core/scan.h"

/* Rows one agent may send for a ROWS bridge before the query fails (aggregate or head first). */
#define EXEC_MAX_BRIDGE_ROWS 2000000

/* Agent side: evaluates bridge `b` of a split plan over `src`. *out is a new owned table (the
 * partial state for PARTIAL bridges, rows for ROWS bridges). 0, or -1 with the error in q. */
int exec_bridge(struct qctx *q, const struct plan *p, const struct plan_bridge *b,
		const struct scan_source *src, struct table **out);

/* Coordinator side: inputs[i][a] is agent a's table for bridge i (nagents per bridge, borrowed).
 * Fills outs[d] (new owned tables) for every display d. Displays are truncated to q->max_rows;
 * truncated[d] says whether that happened. 0, or -1 with the error in q. */
int exec_finish(struct qctx *q, const struct plan *p, struct table *const *const *inputs, int nagents,
		struct table **outs, bool *truncated);

/* Convenience for tests and single-node use: split, run every bridge over src, finish. */
int exec_local(struct qctx *q, struct plan *p, const struct scan_source *src, struct table **outs,
	       bool *truncated);

/* The other operators, each returning a new owned table or NULL with the error in q. (Filter, map,
 * project and frames stream over batches inside exec.c.) */
struct table *op_sort(struct qctx *q, const struct plan_node *n, const struct table *in);
/* The first `limit` rows in sort node n's order (all when limit < 0), without sorting the rest. */
struct table *op_sort_limit(struct qctx *q, const struct plan_node *n, const struct table *in, int64_t limit);
struct table *op_head(struct qctx *q, const struct plan_node *n, const struct table *in);
struct table *op_quantiles(struct qctx *q, const struct plan_node *n, const struct table *in);
struct table *op_join(struct qctx *q, const struct plan_node *n, const struct table *left,
		      const struct table *right);

/* Hash aggregation: update from input rows, or merge partial states; then emit. */
struct agg_run;
struct agg_run *agg_run_new(struct qctx *q, const struct plan *p, const struct plan_node *n);
void agg_run_free(struct agg_run *a);
int agg_run_update(struct agg_run *a, const struct table *rows);
/* The same over the rows of `rows` listed in sel[0..n) (all when sel is NULL). */
int agg_run_update_sel(struct agg_run *a, const struct table *rows, const uint32_t *sel, size_t n);
int agg_run_merge(struct agg_run *a, const struct table *states);
struct table *agg_run_states(struct agg_run *a);   /* partial states, agg_state_schema layout */
struct table *agg_run_finalize(struct agg_run *a); /* final values, the node's schema */

#endif
