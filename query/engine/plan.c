/* plan.c - building and validating query plans: each builder checks its inputs and computes
 * the new node's output schema, so a mistake is reported where the script made it (see plan.h).
 * Splitting between agents and the coordinator is plan_split.c. */
#include "plan.h"
#include "core/catalog.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const agg_names[AGG_FN_COUNT_] = {"count", "sum", "min", "max", "mean", "any"};

const char *agg_fn_name(enum agg_fn fn)
{
	return (unsigned)fn < AGG_FN_COUNT_ ? agg_names[fn] : "?";
}

int agg_fn_from_name(const char *name)
{
	for (int i = 0; i < AGG_FN_COUNT_; i++)
		if (strcmp(agg_names[i], name) == 0)
			return i;
	return -1;
}

struct plan *plan_new(void)
{
	return calloc(1, sizeof(struct plan));
}

static void free_strv(char **v, int n)
{
	if (!v)
		return;
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void node_free(struct plan_node *n)
{
	if (!n)
		return;
	free(n->inputs);
	table_free(n->schema);
	free(n->table);
	expr_free(n->pred);
	if (n->exprs)
		for (int i = 0; i < n->nexprs; i++)
			expr_free(n->exprs[i]);
	free(n->exprs);
	free_strv(n->names, n->nexprs);
	free_strv(n->from, n->nexprs);
	free(n->desc);
	for (int i = 0; i < n->naggs; i++) {
		free(n->aggs[i].out);
		free(n->aggs[i].arg);
	}
	free(n->aggs);
	free_strv(n->right_keys, n->nexprs);
	free(n->suffix);
	free(n->qbucket);
	free(n->qweight);
	free(n->qout);
	free(n->stack_col);
	free(n->frame_col);
	free(n->leaf_col);
	free(n);
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nnodes; i++)
		node_free(p->nodes[i]);
	free(p->nodes);
	for (int i = 0; i < p->ndisplays; i++)
		free(p->displays[i].name);
	free(p->displays);
	free(p->agent_side);
	free(p->bridges);
	free(p);
}

static int fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

/* Appends a node with the given inputs; returns it (owned by the plan) or NULL. */
static struct plan_node *add_node(struct plan *p, enum node_kind kind, int nin, const int *ins,
				  char *err, size_t errlen)
{
	for (int i = 0; i < nin; i++)
		if (ins[i] < 0 || ins[i] >= p->nnodes) {
			fail(err, errlen, "invalid input dataframe");
			return NULL;
		}
	if (p->nnodes >= 10000) {
		fail(err, errlen, "plan too large (10000 operators)");
		return NULL;
	}
	struct plan_node **nn = realloc(p->nodes, (p->nnodes + 1) * sizeof(*nn));
	if (!nn)
		goto oom;
	p->nodes = nn;
	struct plan_node *n = calloc(1, sizeof(*n));
	if (!n)
		goto oom;
	n->kind = kind;
	n->limit = -1;
	n->inputs = calloc(nin ? nin : 1, sizeof(int));
	if (!n->inputs) {
		free(n);
		goto oom;
	}
	if (nin)
		memcpy(n->inputs, ins, nin * sizeof(int));
	n->ninputs = nin;
	n->id = p->nnodes;
	p->nodes[p->nnodes++] = n;
	return n;
oom:
	fail(err, errlen, "out of memory");
	return NULL;
}

/* Drops the last node (a builder failed after add_node). Returns -1 for convenience. */
static int drop_last(struct plan *p)
{
	node_free(p->nodes[--p->nnodes]);
	return -1;
}

static int fail_drop(struct plan *p, char *err, size_t errlen, const char *msg)
{
	fail(err, errlen, msg);
	return drop_last(p);
}

static int oom(struct plan *p, char *err, size_t errlen)
{
	return fail_drop(p, err, errlen, "out of memory");
}

static char **strv_dup(int n, const char *const *v)
{
	assert(n >= 0);
	char **out = calloc(n > 0 ? (size_t)n : 1, sizeof(*out));
	if (!out)
		return NULL;
	for (int i = 0; i < n; i++)
		if (!(out[i] = strdup(v[i]))) {
			free_strv(out, i);
			return NULL;
		}
	return out;
}

static struct table *in_schema(const struct plan *p, const struct plan_node *n, int k)
{
	return p->nodes[n->inputs[k]]->schema;
}

int plan_source(struct plan *p, const char *table, int64_t t0, int64_t t1, char *err, size_t errlen)
{
	const struct table *schema = catalog_schema(table);
	if (!schema) {
		snprintf(err, errlen, "unknown table '%s' (tables: %s)", table, catalog_names());
		return -1;
	}
	if (t1 <= t0) {
		snprintf(err, errlen, "empty time range: end_time is not after start_time");
		return -1;
	}
	struct plan_node *n = add_node(p, N_SOURCE, 0, NULL, err, errlen);
	if (!n)
		return -1;
	n->t0 = t0;
	n->t1 = t1;
	if (!(n->table = strdup(table)) || !(n->schema = table_new_like(schema)))
		return oom(p, err, errlen);
	return n->id;
}

int plan_filter(struct plan *p, int in, struct expr *pred, char *err, size_t errlen)
{
	struct plan_node *n = add_node(p, N_FILTER, 1, &in, err, errlen);
	if (!n) {
		expr_free(pred);
		return -1;
	}
	n->pred = pred;
	if (expr_bind(pred, in_schema(p, n, 0), err, errlen) < 0)
		return drop_last(p);
	if (pred->type != VT_BOOL) {
		snprintf(err, errlen, "filter needs a bool expression, got %s", vtype_name(pred->type));
		return drop_last(p);
	}
	if (!(n->schema = table_new_like(in_schema(p, n, 0))))
		return oom(p, err, errlen);
	return n->id;
}

int plan_map(struct plan *p, int in, int cnt, const char *const *names, struct expr **exprs,
	     char *err, size_t errlen)
{
	struct plan_node *n = add_node(p, N_MAP, 1, &in, err, errlen);
	if (!n) {
		for (int i = 0; i < cnt; i++)
			expr_free(exprs[i]);
		return -1;
	}
	n->exprs = calloc(cnt ? cnt : 1, sizeof(*n->exprs));
	if (!n->exprs) {
		for (int i = 0; i < cnt; i++)
			expr_free(exprs[i]);
		return oom(p, err, errlen);
	}
	memcpy(n->exprs, exprs, cnt * sizeof(*exprs));
	n->nexprs = cnt;
	if (!(n->names = strv_dup(cnt, names)) || !(n->schema = table_new_like(in_schema(p, n, 0))))
		return oom(p, err, errlen);
	for (int i = 0; i < cnt; i++) {
		if (!names[i][0])
			return fail_drop(p, err, errlen, "empty column name");
		if (expr_bind(exprs[i], in_schema(p, n, 0), err, errlen) < 0)
			return drop_last(p);
		int c = table_find(n->schema, names[i]);
		if (c >= 0)
			n->schema->cols[c].type = exprs[i]->type;
		else if (table_add_column(n->schema, names[i], exprs[i]->type) < 0)
			return oom(p, err, errlen);
	}
	return n->id;
}

int plan_project(struct plan *p, int in, int cnt, const char *const *from, const char *const *as,
		 char *err, size_t errlen)
{
	struct plan_node *n = add_node(p, N_PROJECT, 1, &in, err, errlen);
	if (!n)
		return -1;
	const struct table *s = in_schema(p, n, 0);
	const char *names[cnt ? cnt : 1];
	enum vtype types[cnt ? cnt : 1];
	for (int i = 0; i < cnt; i++) {
		int c = table_find(s, from[i]);
		if (c < 0) {
			struct expr probe = {.kind = EX_COL, .name = (char *)from[i]};
			expr_bind(&probe, s, err, errlen);
			return drop_last(p);
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(as[i], as[j])) {
				snprintf(err, errlen, "duplicate column '%s'", as[i]);
				return drop_last(p);
			}
		names[i] = as[i];
		types[i] = s->cols[c].type;
	}
	n->nexprs = cnt;
	if (!(n->from = strv_dup(cnt, from)) || !(n->names = strv_dup(cnt, as)) ||
	    !(n->schema = table_new(cnt, names, types)))
		return oom(p, err, errlen);
	return n->id;
}

int plan_frames(struct plan *p, int in, const char *stack_col, const char *frame_col,
		const char *leaf_col, const char *view, char *err, size_t errlen)
{
	struct plan_node *n = add_node(p, N_FRAMES, 1, &in, err, errlen);
	if (!n)
		return -1;
	int v = view ? frame_view_parse(view) : FRAME_FUNCTION;
	if (v < 0) {
		snprintf(err, errlen, "frames: view '%s' must be 'function', 'line' or 'raw'", view);
		return drop_last(p);
	}
	n->view = (enum frame_view)v;
	const struct table *s = in_schema(p, n, 0);
	int c = table_find(s, stack_col);
	if (c < 0 || s->cols[c].type != VT_STACK) {
		snprintf(err, errlen, "frames: '%s' is not a stack column", stack_col);
		return drop_last(p);
	}
	if (table_find(s, frame_col) >= 0 || table_find(s, leaf_col) >= 0 || !strcmp(frame_col, leaf_col)) {
		snprintf(err, errlen, "frames: output columns '%s', '%s' must be new names", frame_col, leaf_col);
		return drop_last(p);
	}
	if (!(n->stack_col = strdup(stack_col)) || !(n->frame_col = strdup(frame_col)) ||
	    !(n->leaf_col = strdup(leaf_col)) || !(n->schema = table_new_like(s)) ||
	    table_add_column(n->schema, frame_col, VT_STRING) < 0 ||
	    table_add_column(n->schema, leaf_col, VT_BOOL) < 0)
		return oom(p, err, errlen);
	return n->id;
}

static enum vtype agg_out_type(enum agg_fn fn, enum vtype in)
{
	switch (fn) {
	case AGG_COUNT: return VT_INT;
	case AGG_MEAN: return VT_FLOAT;
	case AGG_SUM: return in == VT_FLOAT ? VT_FLOAT : VT_INT;
	default: return in;
	}
}

int plan_agg(struct plan *p, int in, int nkeys, const char *const *keys, int naggs,
	     const struct agg_spec *aggs, char *err, size_t errlen)
{
	struct plan_node *n = add_node(p, N_AGG, 1, &in, err, errlen);
	if (!n)
		return -1;
	const struct table *s = in_schema(p, n, 0);
	int ncols = nkeys + naggs;
	const char *names[ncols ? ncols : 1];
	enum vtype types[ncols ? ncols : 1];
	if (naggs == 0 && nkeys == 0)
		return fail_drop(p, err, errlen, "agg needs at least one key or aggregate");
	for (int i = 0; i < nkeys; i++) {
		int c = table_find(s, keys[i]);
		if (c < 0) {
			struct expr probe = {.kind = EX_COL, .name = (char *)keys[i]};
			expr_bind(&probe, s, err, errlen);
			return drop_last(p);
		}
		names[i] = keys[i];
		types[i] = s->cols[c].type;
	}
	n->aggs = calloc(naggs ? naggs : 1, sizeof(*n->aggs));
	if (!n->aggs)
		return oom(p, err, errlen);
	for (int i = 0; i < naggs; i++) {
		const struct agg_spec *a = &aggs[i];
		enum vtype t = VT_INT;
		if (a->fn != AGG_COUNT) {
			int c = a->arg ? table_find(s, a->arg) : -1;
			if (c < 0) {
				snprintf(err, errlen, "%s: unknown column '%s'", agg_fn_name(a->fn),
					 a->arg ? a->arg : "(none)");
				return drop_last(p);
			}
			t = s->cols[c].type;
			if ((a->fn == AGG_SUM || a->fn == AGG_MEAN) && t != VT_INT && t != VT_FLOAT) {
				snprintf(err, errlen, "%s('%s'): needs a number column, '%s' is %s",
					 agg_fn_name(a->fn), a->arg, a->arg, vtype_name(t));
				return drop_last(p);
			}
			if ((a->fn == AGG_MIN || a->fn == AGG_MAX) && t == VT_STACK) {
				snprintf(err, errlen, "%s('%s'): stacks have no order", agg_fn_name(a->fn), a->arg);
				return drop_last(p);
			}
		}
		names[nkeys + i] = a->out;
		types[nkeys + i] = agg_out_type(a->fn, t);
		for (int j = 0; j < nkeys + i; j++)
			if (!strcmp(names[j], a->out)) {
				snprintf(err, errlen, "duplicate output column '%s'", a->out);
				n->naggs = i;
				return drop_last(p);
			}
		n->aggs[i].fn = a->fn;
		n->naggs = i + 1;
		if (!(n->aggs[i].out = strdup(a->out)) || (a->arg && !(n->aggs[i].arg = strdup(a->arg))))
			return oom(p, err, errlen);
	}
	n->nexprs = nkeys;
	if (!(n->names = strv_dup(nkeys, keys)) || !(n->schema = table_new(ncols, names, types)))
		return oom(p, err, errlen);
	return n->id;
}

int plan_sort(struct plan *p, int in, int cnt, const char *const *keys, const bool *desc, char *err,
	      size_t errlen)
{
	struct plan_node *n = add_node(p, N_SORT, 1, &in, err, errlen);
	if (!n)
		return -1;
	const struct table *s = in_schema(p, n, 0);
	if (cnt == 0)
		return fail_drop(p, err, errlen, "sort needs at least one column");
	for (int i = 0; i < cnt; i++)
		if (table_find(s, keys[i]) < 0) {
			struct expr probe = {.kind = EX_COL, .name = (char *)keys[i]};
			expr_bind(&probe, s, err, errlen);
			return drop_last(p);
		}
	n->nexprs = cnt;
	if (!(n->names = strv_dup(cnt, keys)) || !(n->desc = calloc(cnt, sizeof(bool))) ||
	    !(n->schema = table_new_like(s)))
		return oom(p, err, errlen);
	memcpy(n->desc, desc, cnt * sizeof(bool));
	return n->id;
}

int plan_head(struct plan *p, int in, int64_t lim, char *err, size_t errlen)
{
	if (lim < 0)
		return fail(err, errlen, "head: n must be >= 0");
	struct plan_node *n = add_node(p, N_HEAD, 1, &in, err, errlen);
	if (!n)
		return -1;
	n->limit = lim;
	if (!(n->schema = table_new_like(in_schema(p, n, 0))))
		return oom(p, err, errlen);
	return n->id;
}

int plan_union(struct plan *p, int cnt, const int *ins, char *err, size_t errlen)
{
	if (cnt < 1)
		return fail(err, errlen, "union needs at least one dataframe");
	struct plan_node *n = add_node(p, N_UNION, cnt, ins, err, errlen);
	if (!n)
		return -1;
	const struct table *a = in_schema(p, n, 0);
	for (int k = 1; k < cnt; k++) {
		const struct table *b = in_schema(p, n, k);
		bool same = a->ncols == b->ncols;
		for (int c = 0; same && c < a->ncols; c++)
			same = !strcmp(a->cols[c].name, b->cols[c].name) && a->cols[c].type == b->cols[c].type;
		if (!same)
			return fail_drop(p, err, errlen, "union: dataframes must have the same columns");
	}
	if (!(n->schema = table_new_like(a)))
		return oom(p, err, errlen);
	return n->id;
}

int plan_join(struct plan *p, int left, int right, enum join_kind how, int nkeys,
	      const char *const *left_keys, const char *const *right_keys, const char *suffix, char *err,
	      size_t errlen)
{
	int ins[2] = {left, right};
	struct plan_node *n = add_node(p, N_JOIN, 2, ins, err, errlen);
	if (!n)
		return -1;
	const struct table *l = in_schema(p, n, 0), *r = in_schema(p, n, 1);
	if (nkeys > 64)
		return fail_drop(p, err, errlen, "join: at most 64 keys");
	for (int k = 0; k < nkeys; k++) {
		int a = table_find(l, left_keys[k]), b = table_find(r, right_keys[k]);
		if (a < 0 || b < 0) {
			snprintf(err, errlen, "join: unknown key column '%s'", a < 0 ? left_keys[k] : right_keys[k]);
			return drop_last(p);
		}
		if (l->cols[a].type != r->cols[b].type) {
			snprintf(err, errlen, "join: key '%s' is %s on the left but '%s' is %s on the right",
				 left_keys[k], vtype_name(l->cols[a].type), right_keys[k], vtype_name(r->cols[b].type));
			return drop_last(p);
		}
	}
	n->how = how;
	n->nexprs = nkeys;
	if (!(n->names = strv_dup(nkeys, left_keys)) || !(n->right_keys = strv_dup(nkeys, right_keys)) ||
	    !(n->suffix = strdup(suffix ? suffix : "_x")) || !(n->schema = table_new_like(l)))
		return oom(p, err, errlen);
	for (int c = 0; c < r->ncols; c++) {
		char name[300];
		snprintf(name, sizeof(name), "%s", r->cols[c].name);
		if (table_find(n->schema, name) >= 0)
			snprintf(name, sizeof(name), "%s%s", r->cols[c].name, n->suffix);
		if (table_find(n->schema, name) >= 0) {
			snprintf(err, errlen, "join: column '%s' would appear twice; rename it first", name);
			return drop_last(p);
		}
		if (table_add_column(n->schema, name, r->cols[c].type) < 0)
			return oom(p, err, errlen);
	}
	return n->id;
}

int plan_quantiles(struct plan *p, int in, int nkeys, const char *const *keys, const char *bucket,
		   const char *weight, const char *out, char *err, size_t errlen)
{
	struct plan_node *n = add_node(p, N_QUANTILES, 1, &in, err, errlen);
	if (!n)
		return -1;
	const struct table *s = in_schema(p, n, 0);
	int bc = table_find(s, bucket), wc = table_find(s, weight);
	if (bc < 0 || wc < 0 || s->cols[bc].type != VT_INT || s->cols[wc].type != VT_INT || nkeys > 64)
		return fail_drop(p, err, errlen, "quantiles: needs int bucket and weight columns");
	const char *names[70];
	enum vtype types[70];
	for (int i = 0; i < nkeys; i++) {
		int c = table_find(s, keys[i]);
		if (c < 0)
			return fail_drop(p, err, errlen, "quantiles: unknown key column");
		names[i] = keys[i];
		types[i] = s->cols[c].type;
	}
	char qn[3][300];
	static const char *const sfx[3] = {"_p50", "_p90", "_p99"};
	for (int k = 0; k < 3; k++) {
		snprintf(qn[k], sizeof(qn[k]), "%s%s", out, sfx[k]);
		names[nkeys + k] = qn[k];
		types[nkeys + k] = VT_FLOAT;
	}
	n->nexprs = nkeys;
	if (!(n->names = strv_dup(nkeys, keys)) || !(n->qbucket = strdup(bucket)) || !(n->qweight = strdup(weight)) ||
	    !(n->qout = strdup(out)) || !(n->schema = table_new(nkeys + 3, names, types)))
		return oom(p, err, errlen);
	return n->id;
}

int plan_display(struct plan *p, int node, const char *name, char *err, size_t errlen)
{
	if (node < 0 || node >= p->nnodes)
		return fail(err, errlen, "display: invalid dataframe");
	for (int i = 0; i < p->ndisplays; i++)
		if (!strcmp(p->displays[i].name, name))
			return fail(err, errlen, "display: a table with this name is already displayed");
	if (p->ndisplays >= 64)
		return fail(err, errlen, "display: at most 64 tables");
	struct plan_display *d = realloc(p->displays, (p->ndisplays + 1) * sizeof(*d));
	if (!d)
		return fail(err, errlen, "out of memory");
	p->displays = d;
	if (!(d[p->ndisplays].name = strdup(name)))
		return fail(err, errlen, "out of memory");
	d[p->ndisplays++].node = node;
	return 0;
}

void plan_set_line(struct plan *p, int node, int line)
{
	if (node >= 0 && node < p->nnodes)
		p->nodes[node]->line = line;
}

bool plan_column_counts_samples(const struct plan *p, int id, const char *col)
{
	const struct plan_node *n = p->nodes[id];
	if (!col || table_find(n->schema, col) < 0)
		return false;
	switch (n->kind) {
	case N_SOURCE:
		return !strcmp(col, "count") && catalog_is_timeseries(n->table);
	case N_FILTER:
	case N_FRAMES:
	case N_SORT:
	case N_HEAD:
		return plan_column_counts_samples(p, n->inputs[0], col);
	case N_MAP:
		for (int i = 0; i < n->nexprs; i++)
			if (!strcmp(n->names[i], col))
				return false; /* computed here */
		return plan_column_counts_samples(p, n->inputs[0], col);
	case N_PROJECT:
		for (int i = 0; i < n->nexprs; i++)
			if (!strcmp(n->names[i], col))
				return plan_column_counts_samples(p, n->inputs[0], n->from[i]);
		return false;
	case N_AGG:
		for (int i = 0; i < n->naggs; i++)
			if (!strcmp(n->aggs[i].out, col))
				return n->aggs[i].fn == AGG_COUNT ||
				       (n->aggs[i].fn == AGG_SUM && plan_column_counts_samples(p, n->inputs[0], n->aggs[i].arg));
		return false;
	case N_UNION:
		for (int k = 0; k < n->ninputs; k++)
			if (!plan_column_counts_samples(p, n->inputs[k], col))
				return false;
		return true;
	default:
		return false;
	}
}
