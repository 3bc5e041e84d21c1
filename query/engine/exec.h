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

/* Bridges of one plan share what they can within q (a partial aggregate that several bridges
 * continue from); a plan whose scans change range between runs (an exec with ranges) makes q
 * forget it first. */
void exec_forget(struct qctx *q);

/* Coordinator side, for each agent's answer: is t what bridge b produces (its columns and their
 * types)? 0, or -1 with what differs in err. */
int exec_check_input(const struct plan *p, int b, const struct table *t, char *err, size_t errlen);

/* Coordinator side: merges n inputs of bridge b (NULL entries skipped) into one table of the same
 * shape, as if one agent had sent it: the union of ROWS, the merged states of a PARTIAL
 * aggregate. Live queries keep their window as such merged panes. *out is new and owned. 0, or
 * -1 with the error in q and q->bad_input the input it could not merge (or -1). */
int exec_merge_bridge(struct qctx *q, const struct plan *p, int b, struct table *const *ins, int n,
		      struct table **out);

/* Coordinator side: inputs[i][a] is agent a's table for bridge i (nagents per bridge, borrowed).
 * Fills outs[d] (new owned tables) for every display d. Displays are truncated to q->max_rows;
 * truncated[d] says whether that happened. 0, or -1 with the error in q; q->bad_input is then
 * the agent whose input it could not merge (a sum that overflows, a negative count...), or -1
 * when the failure is nobody's input in particular. */
int exec_finish(struct qctx *q, const struct plan *p, struct table *const *const *inputs, int nagents,
		struct table **outs, bool *truncated);

#endif
