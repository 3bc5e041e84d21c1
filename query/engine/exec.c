/* exec.c - running a split plan (see exec.h). Agents run bridges: a scan of a stored table
 * through the streaming operators (batch.c) into a partial aggregate (ops_agg.c) or a set of
 * rows, asking the source to collapse time when the plan cannot tell. The coordinator finishes:
 * merges what every agent sent for each bridge and runs the remaining operators, memoizing each
 * node's result, into one table per display. Every operator takes whole tables and evaluates
 * one column at a time; nothing here loops over rows in Lua. */
#include "exec.h"
#include "batch.h"
#include "ops.h"
#include "core/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- agent side: bridges --------------------------------------------------------------------- */

struct bridge_run {
	struct qctx *q;
	const struct plan *p;
	const struct plan_node *chain[256]; /* streaming operators after the source, in order */
	int nchain;
	const struct plan_node *source;
	struct agg_run *agg;   /* PARTIAL */
	struct table *rows;    /* ROWS */
	int64_t limit;         /* ROWS: stop after this many (-1 = all) */
};

/* A batch over the rows of a scan chunk inside the source's [t0, t1). */
static struct batch *time_window(struct bridge_run *br, const struct table *rows)
{
	const int64_t *t = rows->cols[SS_TIME].v.i;
	int64_t t0 = br->source->t0, t1 = br->source->t1;
	size_t n = rows->nrows, k = 0;
	for (size_t i = 0; i < n; i++)
		k += t[i] >= t0 && t[i] < t1;
	if (k == n)
		return batch_wrap(br->q, rows, NULL, n);
	uint32_t *sel = malloc((k + 1) * sizeof(*sel)); /* + 1: the branchless fill writes one past */
	if (!sel) {
		qctx_fail(br->q, "out of memory");
		return NULL;
	}
	k = 0;
	for (size_t i = 0; i < n; i++) {
		sel[k] = (uint32_t)i;
		k += t[i] >= t0 && t[i] < t1;
	}
	struct batch *b = batch_wrap(br->q, rows, sel, k);
	if (b)
		b->own_sel = sel;
	else
		free(sel);
	return b;
}

static int bridge_chunk(void *arg, const struct table *rows)
{
	struct bridge_run *br = arg;
	struct batch *b = catalog_is_timeseries(br->source->table) ? time_window(br, rows)
								    : batch_wrap(br->q, rows, NULL, rows->nrows);
	int rc = b ? 0 : -1;
	for (int i = 0; i < br->nchain && rc == 0 && b->n > 0; i++)
		rc = batch_apply(br->q, br->chain[i], b);
	if (rc < 0 || b->n == 0)
		goto done;
	if (br->agg) {
		rc = agg_run_update(br->agg, &b->view, b->sel, b->n);
	} else {
		size_t n = b->n;
		if (br->limit >= 0 && br->rows->nrows + n > (size_t)br->limit)
			n = (size_t)br->limit - br->rows->nrows;
		if (table_append_rows(br->rows, &b->view, b->sel, n) < 0)
			rc = qctx_fail(br->q, "out of memory");
		else if (br->rows->nrows > EXEC_MAX_BRIDGE_ROWS)
			rc = qctx_fail(br->q, "more than %d rows would leave this agent; aggregate or head() first",
				       EXEC_MAX_BRIDGE_ROWS);
		else
			rc = qctx_check(br->q, table_bytes(br->rows));
		if (rc == 0 && br->limit >= 0 && br->rows->nrows >= (size_t)br->limit)
			rc = 1; /* enough rows: stop the scan */
	}
done:
	batch_free(b);
	if (rc == 0)
		rc = qctx_check(br->q, 0);
	return rc;
}

static bool expr_uses(const struct expr *e, const char *col)
{
	if (e->kind == EX_COL)
		return !strcmp(e->name, col);
	for (int i = 0; i < e->nargs; i++)
		if (expr_uses(e->args[i], col))
			return true;
	return false;
}

/* May the source collapse time for this bridge? Only when the result cannot change: a partial
 * aggregate whose every aggregate is sum(count) (count as the source gave it) or min/max/any,
 * and where nothing reads time_ or redefines count. count() and mean would change. */
static bool collapse_ok(const struct bridge_run *br, const struct plan_bridge *b)
{
	const struct plan_node *agg = br->p->nodes[b->node];
	if (b->kind != BRIDGE_PARTIAL)
		return false;
	for (int i = 0; i < br->nchain; i++) {
		const struct plan_node *n = br->chain[i];
		if (n->kind == N_FILTER && expr_uses(n->pred, "time_"))
			return false;
		if (n->kind == N_MAP)
			for (int k = 0; k < n->nexprs; k++)
				if (expr_uses(n->exprs[k], "time_") || !strcmp(n->names[k], "count"))
					return false;
		if (n->kind == N_PROJECT)
			for (int k = 0; k < n->nexprs; k++)
				if (strcmp(n->from[k], n->names[k]) && (!strcmp(n->from[k], "count") || !strcmp(n->names[k], "count") ||
									 !strcmp(n->names[k], "time_")))
					return false;
	}
	for (int k = 0; k < agg->nexprs; k++)
		if (!strcmp(agg->names[k], "time_"))
			return false;
	for (int i = 0; i < agg->naggs; i++) {
		const struct agg_spec *a = &agg->aggs[i];
		if (a->fn == AGG_COUNT || a->fn == AGG_MEAN || (a->arg && !strcmp(a->arg, "time_")))
			return false;
		if (a->fn == AGG_SUM && strcmp(a->arg, "count"))
			return false;
	}
	return true;
}

static void mark_expr(const struct table *src, const struct expr *e, int *mask)
{
	if (e->kind == EX_COL) {
		int c = table_find(src, e->name);
		if (c >= 0)
			*mask |= 1 << c;
	}
	for (int i = 0; i < e->nargs; i++)
		mark_expr(src, e->args[i], mask);
}

static void mark_name(const struct table *src, const char *name, int *mask)
{
	int c = table_find(src, name);
	if (c >= 0)
		*mask |= 1 << c;
}

/* The source columns a bridge reads (by name: a computed column that reuses a source column's
 * name counts too, which only makes the mask larger). Bit c = source column c. */
static int columns_read(const struct bridge_run *br, const struct plan_bridge *b)
{
	const struct table *src = br->source->schema;
	const struct plan_node *agg = br->p->nodes[b->node];
	int mask = 0;
	for (int i = 0; i < br->nchain; i++) {
		const struct plan_node *n = br->chain[i];
		switch (n->kind) {
		case N_FILTER: mark_expr(src, n->pred, &mask); break;
		case N_MAP:
			for (int k = 0; k < n->nexprs; k++)
				mark_expr(src, n->exprs[k], &mask);
			break;
		case N_PROJECT:
			for (int k = 0; k < n->nexprs; k++)
				mark_name(src, n->from[k], &mask);
			break;
		case N_FRAMES: mark_name(src, n->stack_col, &mask); break;
		default: break;
		}
	}
	for (int k = 0; k < agg->nexprs; k++)
		mark_name(src, agg->names[k], &mask);
	for (int i = 0; i < agg->naggs; i++)
		if (agg->aggs[i].arg)
			mark_name(src, agg->aggs[i].arg, &mask);
	return mask ? mask : 1 << table_find(src, "count");
}

/* A pushed-down second aggregation: finish the earlier AGG locally (it is additive, so this
 * agent's share of it is exact), run the operators between the two, then build agg2's partial
 * state from that. */
static int exec_bridge_through(struct qctx *q, const struct plan *p, const struct plan_bridge *b,
			       const struct scan_source *src, struct table **out)
{
	const struct plan_node *agg2 = p->nodes[b->node], *ops[64];
	int nops = 0;
	struct plan_bridge first = {b->through, BRIDGE_PARTIAL, -1, -1};
	struct table *t = NULL, *states = NULL;
	struct batch *rows = NULL;
	struct agg_run *a1 = NULL, *a2 = NULL;
	int rc = -1;
	*out = NULL;
	for (const struct plan_node *n = p->nodes[agg2->inputs[0]]; n->id != b->through; n = p->nodes[n->inputs[0]]) {
		if (nops == 64)
			return qctx_fail(q, "internal: chain too long");
		ops[nops++] = n;
	}
	/* Several pushed aggregations often share one first aggregation (top_functions: by function
	 * and the grand total): compute its local partial once per query. */
	if (q->partial_node == b->through) {
		states = q->partial;
		q->partial = NULL;
	} else if (exec_bridge(q, p, &first, src, &states) < 0) {
		goto done;
	}
	bool theirs;
	if (!(a1 = agg_run_new(q, p, p->nodes[b->through])) || agg_run_merge(a1, states, &theirs) < 0 ||
	    !(t = agg_run_finalize(a1)))
		goto done;
	table_free(q->partial);
	q->partial = states; /* keep it for the next bridge through the same AGG */
	q->partial_node = b->through;
	states = NULL;
	if (!(rows = batch_wrap(q, t, NULL, t->nrows)))
		goto done;
	for (int i = nops - 1; i >= 0; i--)
		if (batch_apply(q, ops[i], rows) < 0)
			goto done;
	if (!(a2 = agg_run_new(q, p, agg2)) || agg_run_update(a2, &rows->view, rows->sel, rows->n) < 0)
		goto done;
	*out = agg_run_states(a2);
	rc = 0;
done:
	batch_free(rows);
	table_free(t);
	table_free(states);
	agg_run_free(a1);
	agg_run_free(a2);
	return rc;
}

int exec_bridge(struct qctx *q, const struct plan *p, const struct plan_bridge *b,
		const struct scan_source *src, struct table **out)
{
	if (b->kind == BRIDGE_PARTIAL && b->through >= 0)
		return exec_bridge_through(q, p, b, src, out);
	struct bridge_run br = {.q = q, .p = p, .limit = b->limit};
	const struct plan_node *n = p->nodes[b->node];
	int rc = -1;
	*out = NULL;
	if (b->kind == BRIDGE_PARTIAL) {
		if (!(br.agg = agg_run_new(q, p, n)))
			return -1;
		n = p->nodes[n->inputs[0]];
	}
	/* Walk up to the source, then reverse into execution order. */
	const struct plan_node *up[256];
	int nup = 0;
	while (n->kind != N_SOURCE) {
		if (nup == 256) {
			qctx_fail(q, "too many operators before the first aggregate");
			goto done;
		}
		up[nup++] = n;
		n = p->nodes[n->inputs[0]];
	}
	br.source = n;
	for (int i = nup - 1; i >= 0; i--)
		br.chain[br.nchain++] = up[i];
	if (!br.agg && !(br.rows = table_sized(q, p->nodes[b->node]->schema, 0)))
		goto done;
	if (br.limit != 0) {
		int flags = collapse_ok(&br, b) ? SCAN_COLLAPSE_TIME | columns_read(&br, b) << SCAN_COLUMN_SHIFT : 0;
		int src_rc = src->scan(src->ud, n->table, n->t0, n->t1, flags, bridge_chunk, &br);
		if (src_rc < 0 || qctx_failed(q)) {
			if (!qctx_failed(q))
				qctx_fail(q, "scan of %s failed", n->table);
			goto done;
		}
	}
	if (br.agg) {
		*out = agg_run_states(br.agg);
	} else {
		*out = br.rows;
		br.rows = NULL;
	}
	rc = 0;
done:
	agg_run_free(br.agg);
	table_free(br.rows);
	return rc;
}

void exec_forget(struct qctx *q)
{
	table_free(q->partial);
	q->partial = NULL;
	q->partial_node = -1;
}

/* ---- coordinator side ------------------------------------------------------------------------ */

static int bridge_index(const struct plan *p, int node, enum bridge_kind kind)
{
	for (int i = 0; i < p->nbridges; i++)
		if (p->bridges[i].node == node && p->bridges[i].kind == kind)
			return i;
	return -1;
}

/* The rows of ins[0..n) (NULL entries skipped) in one table. *bad is the input that did not
 * have the schema's columns, when that is why it failed. */
static struct table *union_tables(struct qctx *q, const struct table *schema, struct table *const *ins,
				  int n, int *bad)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += ins[i] ? ins[i]->nrows : 0;
	struct table *out = table_sized(q, schema, total);
	if (!out)
		return NULL;
	for (int i = 0; i < n; i++) {
		if (!ins[i] || !ins[i]->nrows)
			continue;
		if (ins[i]->ncols != schema->ncols) {
			*bad = i;
			table_free(out);
			qctx_fail(q, "a partial result has %d columns, expected %d", ins[i]->ncols, schema->ncols);
			return NULL;
		}
		for (int c = 0; c < schema->ncols; c++)
			if (ins[i]->cols[c].type != schema->cols[c].type) {
				*bad = i;
				table_free(out);
				qctx_fail(q, "a partial result's column '%s' has the wrong type", schema->cols[c].name);
				return NULL;
			}
		table_append_rows(out, ins[i], NULL, ins[i]->nrows);
	}
	return out;
}

static struct table *finish_node(struct qctx *q, const struct plan *p, struct table *const *const *inputs,
				 int nagents, struct table **memo, int id)
{
	if (memo[id])
		return memo[id];
	const struct plan_node *n = p->nodes[id];
	struct table *res = NULL, *in[2] = {NULL, NULL};
	if (p->agent_side[id]) {
		int b = bridge_index(p, id, BRIDGE_ROWS);
		if (b < 0) {
			qctx_fail(q, "internal: no bridge for node %d", id);
			return NULL;
		}
		res = union_tables(q, n->schema, inputs[b], nagents, &q->bad_input);
	} else if (n->kind == N_AGG && bridge_index(p, id, BRIDGE_PARTIAL) >= 0) {
		int b = bridge_index(p, id, BRIDGE_PARTIAL);
		struct agg_run *a = b >= 0 ? agg_run_new(q, p, n) : NULL;
		if (b < 0 && !qctx_failed(q))
			qctx_fail(q, "internal: no partial bridge for node %d", id);
		for (int i = 0; a && i < nagents; i++) {
			bool theirs;
			if (inputs[b][i] && agg_run_merge(a, inputs[b][i], &theirs) < 0) {
				q->bad_input = theirs ? i : -1;
				break;
			}
		}
		if (a && !qctx_failed(q))
			res = agg_run_finalize(a);
		agg_run_free(a);
	} else if (n->kind == N_HEAD && p->nodes[n->inputs[0]]->kind == N_SORT && !p->agent_side[n->inputs[0]]) {
		const struct plan_node *sort = p->nodes[n->inputs[0]]; /* sort + head: keep only the top */
		if (!(in[0] = finish_node(q, p, inputs, nagents, memo, sort->inputs[0])))
			return NULL;
		res = op_sort(q, sort, in[0], n->limit);
	} else {
		for (int k = 0; k < n->ninputs && k < 2; k++)
			if (!(in[k] = finish_node(q, p, inputs, nagents, memo, n->inputs[k])))
				return NULL;
		switch (n->kind) {
		case N_FILTER:
		case N_MAP:
		case N_PROJECT:
		case N_FRAMES:
			res = apply_streaming(q, n, in[0]);
			break;
		case N_AGG: {
			struct agg_run *a = agg_run_new(q, p, n);
			if (a && agg_run_update(a, in[0], NULL, in[0]->nrows) == 0)
				res = agg_run_finalize(a);
			agg_run_free(a);
			break;
		}
		case N_SORT: res = op_sort(q, n, in[0], -1); break;
		case N_JOIN: res = op_join(q, n, in[0], in[1]); break;
		case N_QUANTILES: res = op_quantiles(q, n, in[0]); break;
		case N_HEAD: res = op_head(q, n, in[0]); break;
		case N_UNION: {
			struct table *ins[n->ninputs];
			for (int k = 0; k < n->ninputs; k++)
				if (!(ins[k] = finish_node(q, p, inputs, nagents, memo, n->inputs[k])))
					return NULL;
			int none;
			res = union_tables(q, n->schema, ins, n->ninputs, &none);
			break;
		}
		default:
			qctx_fail(q, "internal: unexpected operator %d on the coordinator", n->kind);
		}
	}
	if (res && qctx_check(q, table_bytes(res)) < 0) {
		table_free(res);
		return NULL;
	}
	if (res)
		q->mem_used += table_bytes(res);
	return memo[id] = res;
}

int exec_merge_bridge(struct qctx *q, const struct plan *p, int b, struct table *const *ins, int n,
		      struct table **out)
{
	const struct plan_bridge *br = &p->bridges[b];
	const struct plan_node *node = p->nodes[br->node];
	*out = NULL;
	q->bad_input = -1;
	if (br->kind == BRIDGE_ROWS) {
		*out = union_tables(q, node->schema, ins, n, &q->bad_input);
		return *out ? 0 : -1;
	}
	struct agg_run *a = agg_run_new(q, p, node);
	for (int i = 0; a && i < n; i++) {
		bool theirs;
		if (ins[i] && agg_run_merge(a, ins[i], &theirs) < 0) {
			q->bad_input = theirs ? i : -1;
			break;
		}
	}
	if (a && !qctx_failed(q))
		*out = agg_run_states(a);
	agg_run_free(a);
	if (!*out && !qctx_failed(q))
		qctx_fail(q, "out of memory");
	return *out ? 0 : -1;
}

int exec_check_input(const struct plan *p, int b, const struct table *t, char *err, size_t errlen)
{
	const struct plan_bridge *br = &p->bridges[b];
	const struct plan_node *n = p->nodes[br->node];
	struct table *want = br->kind == BRIDGE_PARTIAL ? agg_state_schema(p, n) : n->schema;
	int rc = -1;
	if (!want) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (t->ncols != want->ncols) {
		snprintf(err, errlen, "table %d has %d columns, expected %d", b, t->ncols, want->ncols);
		goto out;
	}
	for (int c = 0; c < want->ncols; c++)
		if (t->cols[c].type != want->cols[c].type || strcmp(t->cols[c].name, want->cols[c].name)) {
			snprintf(err, errlen, "table %d column %d is %s '%s', expected %s '%s'", b, c,
				 vtype_name(t->cols[c].type), t->cols[c].name, vtype_name(want->cols[c].type),
				 want->cols[c].name);
			goto out;
		}
	rc = 0;
out:
	if (want != n->schema)
		table_free(want);
	return rc;
}

int exec_finish(struct qctx *q, const struct plan *p, struct table *const *const *inputs, int nagents,
		struct table **outs, bool *truncated)
{
	struct table **memo = calloc(p->nnodes ? p->nnodes : 1, sizeof(*memo));
	int rc = -1;
	for (int d = 0; d < p->ndisplays; d++)
		outs[d] = NULL;
	if (!memo)
		return qctx_fail(q, "out of memory");
	for (int d = 0; d < p->ndisplays; d++) {
		struct table *t = finish_node(q, p, inputs, nagents, memo, p->displays[d].node);
		if (!t)
			goto done;
		size_t n = t->nrows;
		truncated[d] = q->max_rows && n > q->max_rows;
		if (truncated[d])
			n = q->max_rows;
		if (!(outs[d] = copy_rows(q, t, NULL, n)) || table_set_name(outs[d], p->displays[d].name) < 0)
			goto done;
	}
	rc = 0;
done:
	for (int i = 0; i < p->nnodes; i++)
		table_free(memo[i]);
	free(memo);
	if (rc < 0)
		for (int d = 0; d < p->ndisplays; d++) {
			table_free(outs[d]);
			outs[d] = NULL;
		}
	return rc;
}
