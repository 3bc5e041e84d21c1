/* plan.h - the logical query plan: a DAG of operators built by a script, validated as it is
 * built (every node knows its output schema), then split between agents and the coordinator.
 *
 * Operators:
 *   SOURCE  scan a table of the ring over [t0, t1)
 *   FILTER  keep rows where a bool expression holds
 *   MAP     add or replace columns computed from expressions
 *   PROJECT keep, order and rename columns
 *   FRAMES  one row per distinct frame of a stack column (for inclusive "total" counts)
 *   AGG     group by key columns and aggregate (count, sum, min, max, mean, any)
 *   SORT    order by columns; HEAD: first n rows; UNION: rows of several inputs
 *   JOIN    inner or left hash join of two inputs on key columns (no keys: cross join)
 *   QUANTILES  p50/p90/p99 per key group from a (keys, bucket, weight) histogram (px.quantiles)
 *
 * Distribution (plan_split): SOURCE and the streaming operators after it (FILTER, MAP, PROJECT,
 * FRAMES) run on every agent. Where a coordinator-side operator reads agent-side data, the plan
 * has a bridge: an AGG there runs as partial aggregation on agents and merge + finalize on the
 * coordinator; any other operator receives the union of the agents' rows. One more push-down: an
 * AGG2 fed (through streaming operators) by an AGG1 whose aggregates are sums/counts, where
 * AGG2 groups by columns that depend only on AGG1's keys and only sums values linear in AGG1's
 * sums, runs on the agents too (over their local AGG1), and its partials merge exactly. This is
 * what lets "samples by stack -> frames -> sum by function" ship functions, not stacks. */
#ifndef WISP_PLAN_H
#define WISP_PLAN_H

#include "expr.h"
#include "core/frame.h"
#include "core/table.h"

enum node_kind { N_SOURCE, N_FILTER, N_MAP, N_PROJECT, N_FRAMES, N_AGG, N_SORT, N_HEAD, N_UNION, N_JOIN,
		 N_QUANTILES };
enum join_kind { JOIN_INNER, JOIN_LEFT };
enum agg_fn { AGG_COUNT, AGG_SUM, AGG_MIN, AGG_MAX, AGG_MEAN, AGG_ANY, AGG_FN_COUNT_ };

struct agg_spec {
	char *out;        /* output column */
	enum agg_fn fn;
	char *arg;        /* input column (NULL for count) */
};

struct plan_node {
	int id;
	enum node_kind kind;
	int ninputs;
	int *inputs;           /* node ids, all smaller than id */
	struct table *schema;  /* output columns; no rows */
	int line;              /* script line that made it (0 = unknown) */

	char *table;           /* SOURCE: table name */
	int64_t t0, t1;        /* SOURCE: [t0, t1) in ns since the epoch */
	struct expr *pred;     /* FILTER */
	int nexprs;            /* MAP: columns computed */
	char **names;          /* MAP: output names; PROJECT: output names; SORT: keys; AGG: keys */
	struct expr **exprs;   /* MAP: expressions, bound to the input schema */
	char **from;           /* PROJECT: input column of each output (nexprs entries) */
	bool *desc;            /* SORT: descending per key */
	int naggs;             /* AGG */
	struct agg_spec *aggs; /* AGG */
	char *stack_col, *frame_col, *leaf_col; /* FRAMES: input stack column, output names */
	enum frame_view view;  /* FRAMES: what the frame column holds of each frame */
	int64_t limit;         /* HEAD */
	enum join_kind how;    /* JOIN */
	char **right_keys;     /* JOIN: keys of input 1 (names holds input 0's); nexprs of each */
	char *suffix;          /* JOIN: appended to right columns whose names clash */
	char *qbucket, *qweight, *qout; /* QUANTILES: bucket and weight columns, output prefix */
};

struct plan_display {
	int node;
	char *name;
};

struct plan {
	int nnodes;
	struct plan_node **nodes;
	int ndisplays;
	struct plan_display *displays;
	/* Filled by plan_split: */
	int *agent_side;         /* per node: runs on agents */
	int nbridges;
	struct plan_bridge *bridges;
};

enum bridge_kind { BRIDGE_ROWS, BRIDGE_PARTIAL };

struct plan_bridge {
	int node;           /* ROWS: agent-side node whose rows cross; PARTIAL: the AGG node */
	enum bridge_kind kind;
	int64_t limit;      /* ROWS: agents may stop after this many rows (-1 = all) */
	int through;        /* PARTIAL: -1, or an earlier AGG the agent finishes locally first (see
			     * plan_split: a second aggregation that only re-sums the first one's sums) */
};

struct plan *plan_new(void);
void plan_free(struct plan *p);

/* Builders: each returns the new node id, or -1 with a message in err. Expressions and name
 * arrays passed in are copied or, for struct expr *, owned by the plan on success and failure. */
int plan_source(struct plan *p, const char *table, int64_t t0, int64_t t1, char *err, size_t errlen);
int plan_filter(struct plan *p, int in, struct expr *pred, char *err, size_t errlen);
int plan_map(struct plan *p, int in, int n, const char *const *names, struct expr **exprs, char *err,
	     size_t errlen);
int plan_project(struct plan *p, int in, int n, const char *const *from, const char *const *as,
		 char *err, size_t errlen);
/* view: "function", "line" or "raw" (core/frame.h); NULL = "function". */
int plan_frames(struct plan *p, int in, const char *stack_col, const char *frame_col,
		const char *leaf_col, const char *view, char *err, size_t errlen);
int plan_agg(struct plan *p, int in, int nkeys, const char *const *keys, int naggs,
	     const struct agg_spec *aggs, char *err, size_t errlen);
int plan_sort(struct plan *p, int in, int n, const char *const *keys, const bool *desc, char *err,
	      size_t errlen);
int plan_head(struct plan *p, int in, int64_t n, char *err, size_t errlen);
int plan_union(struct plan *p, int n, const int *ins, char *err, size_t errlen);
int plan_join(struct plan *p, int left, int right, enum join_kind how, int nkeys,
	      const char *const *left_keys, const char *const *right_keys, const char *suffix, char *err,
	      size_t errlen);
int plan_quantiles(struct plan *p, int in, int nkeys, const char *const *keys, const char *bucket,
		   const char *weight, const char *out, char *err, size_t errlen);
int plan_display(struct plan *p, int node, const char *name, char *err, size_t errlen);
void plan_set_line(struct plan *p, int node, int line);

/* Does column col of node id hold sample counts: the source's `count`, or sums or counts of it
 * through any operators? (None of its values can then be negative.) */
bool plan_column_counts_samples(const struct plan *p, int id, const char *col);

/* Marks agent-side nodes and computes the bridges. 0 or -1 (out of memory). */
int plan_split(struct plan *p);

const char *agg_fn_name(enum agg_fn fn);
int agg_fn_from_name(const char *name);

#endif
