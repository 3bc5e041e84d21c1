/* plan_split.c - dividing a plan between agents and the coordinator (see plan.h): which nodes
 * run on every agent, and the bridges where their results cross to the coordinator (rows, or
 * partial aggregates), including the push-down of a second aggregation that only re-sums the
 * first one's sums. */
#include "plan.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- push-down of a second aggregation ------------------------------------------------------- */

enum col_class { CC_KEY, CC_ADD, CC_OTHER };

static enum col_class class_of(const struct table *schema, const enum col_class *cls, const char *name)
{
	int c = table_find(schema, name);
	return c < 0 ? CC_OTHER : cls[c];
}

static bool only_keys(const struct table *schema, const enum col_class *cls, const struct expr *e)
{
	if (e->kind == EX_COL)
		return class_of(schema, cls, e->name) == CC_KEY;
	for (int i = 0; i < e->nargs; i++)
		if (!only_keys(schema, cls, e->args[i]))
			return false;
	return true;
}

static bool is_zero(const struct expr *e)
{
	return e->kind == EX_LIT && ((e->type == VT_FLOAT && e->lit.f == 0) || (e->type != VT_FLOAT && e->type != VT_STRING && e->lit.i == 0));
}

/* Is e linear in additive columns (a sum over agents of e equals e over the summed rows)? */
static bool linear(const struct table *schema, const enum col_class *cls, const struct expr *e)
{
	if (e->kind == EX_COL)
		return class_of(schema, cls, e->name) == CC_ADD;
	if (e->kind != EX_CALL)
		return false;
	if (!strcmp(e->name, "select"))
		return only_keys(schema, cls, e->args[0]) &&
		       (linear(schema, cls, e->args[1]) || is_zero(e->args[1])) &&
		       (linear(schema, cls, e->args[2]) || is_zero(e->args[2]));
	if (!strcmp(e->name, "add") || !strcmp(e->name, "sub"))
		return linear(schema, cls, e->args[0]) && linear(schema, cls, e->args[1]);
	if (!strcmp(e->name, "mul"))
		return (linear(schema, cls, e->args[0]) && e->args[1]->kind == EX_LIT) ||
		       (linear(schema, cls, e->args[1]) && e->args[0]->kind == EX_LIT);
	if (!strcmp(e->name, "div"))
		return linear(schema, cls, e->args[0]) && e->args[1]->kind == EX_LIT;
	if (!strcmp(e->name, "neg") || !strcmp(e->name, "float"))
		return linear(schema, cls, e->args[0]);
	return false;
}

/* If agg2 can run on the agents over their local result of an earlier AGG, returns that AGG's
 * id; else -1. */
static int pushable_through(const struct plan *p, const struct plan_node *agg2)
{
	const struct plan_node *chain[64];
	int n = 0;
	const struct plan_node *cur = p->nodes[agg2->inputs[0]];
	while (cur->kind != N_AGG) {
		if (cur->kind != N_FILTER && cur->kind != N_MAP && cur->kind != N_PROJECT && cur->kind != N_FRAMES)
			return -1;
		if (n == 64 || p->agent_side[cur->id])
			return -1;
		chain[n++] = cur;
		cur = p->nodes[cur->inputs[0]];
	}
	const struct plan_node *agg1 = cur;
	if (!p->agent_side[agg1->inputs[0]])
		return -1;
	/* Classes of agg1's output columns, carried through the chain. */
	enum col_class cls[1024];
	const struct table *schema = agg1->schema;
	if (schema->ncols > 1024)
		return -1;
	for (int c = 0; c < agg1->nexprs; c++)
		cls[c] = CC_KEY;
	for (int i = 0; i < agg1->naggs; i++) {
		enum agg_fn fn = agg1->aggs[i].fn;
		cls[agg1->nexprs + i] = fn == AGG_SUM || fn == AGG_COUNT ? CC_ADD : CC_OTHER;
	}
	for (int k = n - 1; k >= 0; k--) {
		const struct plan_node *op = chain[k];
		enum col_class next[1024];
		if (op->schema->ncols > 1024)
			return -1;
		switch (op->kind) {
		case N_FILTER:
			if (!only_keys(schema, cls, op->pred))
				return -1;
			memcpy(next, cls, schema->ncols * sizeof(*cls));
			break;
		case N_MAP:
			memcpy(next, cls, schema->ncols * sizeof(*cls));
			for (int c = schema->ncols; c < op->schema->ncols; c++)
				next[c] = CC_OTHER;
			for (int i = 0; i < op->nexprs; i++) {
				enum col_class c = only_keys(schema, cls, op->exprs[i]) ? CC_KEY :
						   linear(schema, cls, op->exprs[i]) ? CC_ADD : CC_OTHER;
				next[table_find(op->schema, op->names[i])] = c;
			}
			break;
		case N_PROJECT:
			for (int i = 0; i < op->nexprs; i++)
				next[i] = class_of(schema, cls, op->from[i]);
			break;
		case N_FRAMES:
			if (class_of(schema, cls, op->stack_col) != CC_KEY)
				return -1;
			memcpy(next, cls, schema->ncols * sizeof(*cls));
			next[schema->ncols] = next[schema->ncols + 1] = CC_KEY;
			break;
		default:
			return -1;
		}
		memcpy(cls, next, op->schema->ncols * sizeof(*cls));
		schema = op->schema;
	}
	for (int k = 0; k < agg2->nexprs; k++)
		if (class_of(schema, cls, agg2->names[k]) != CC_KEY)
			return -1;
	for (int i = 0; i < agg2->naggs; i++) {
		const struct agg_spec *a = &agg2->aggs[i];
		enum col_class c = a->arg ? class_of(schema, cls, a->arg) : CC_OTHER;
		bool ok = (a->fn == AGG_SUM && c == CC_ADD) ||
			  ((a->fn == AGG_MIN || a->fn == AGG_MAX || a->fn == AGG_ANY) && c == CC_KEY);
		if (!ok)
			return -1;
	}
	return agg1->id;
}

static bool streaming(enum node_kind k)
{
	return k == N_FILTER || k == N_MAP || k == N_PROJECT || k == N_FRAMES;
}

static int add_bridge(struct plan *p, int node, enum bridge_kind kind, int64_t limit, int through)
{
	for (int i = 0; i < p->nbridges; i++)
		if (p->bridges[i].node == node && p->bridges[i].kind == kind) {
			if (p->bridges[i].limit >= 0 && (limit < 0 || limit > p->bridges[i].limit))
				p->bridges[i].limit = limit;
			return 0;
		}
	struct plan_bridge *b = realloc(p->bridges, (p->nbridges + 1) * sizeof(*b));
	if (!b)
		return -1;
	p->bridges = b;
	b[p->nbridges++] = (struct plan_bridge){node, kind, limit, through};
	return 0;
}

/* Walks what the coordinator needs, from node id down, adding the bridges that feed it. */
static int need(struct plan *p, int id, int64_t limit, char *visited)
{
	const struct plan_node *n = p->nodes[id];
	if (p->agent_side[id])
		return add_bridge(p, id, BRIDGE_ROWS, limit, -1);
	if (visited[id])
		return 0;
	visited[id] = 1;
	if (n->kind == N_AGG && p->agent_side[n->inputs[0]])
		return add_bridge(p, id, BRIDGE_PARTIAL, -1, -1);
	if (n->kind == N_AGG) {
		int through = pushable_through(p, n);
		if (through >= 0)
			return add_bridge(p, id, BRIDGE_PARTIAL, -1, through);
	}
	for (int k = 0; k < n->ninputs; k++)
		if (need(p, n->inputs[k], n->kind == N_HEAD ? n->limit : -1, visited) < 0)
			return -1;
	return 0;
}

int plan_split(struct plan *p)
{
	free(p->agent_side);
	free(p->bridges);
	p->bridges = NULL;
	p->nbridges = 0;
	char *visited = calloc(p->nnodes ? p->nnodes : 1, 1);
	if (!visited || !(p->agent_side = calloc(p->nnodes ? p->nnodes : 1, sizeof(int)))) {
		free(visited);
		return -1;
	}
	/* Inputs always have smaller ids, so one pass in id order sees inputs first. */
	for (int i = 0; i < p->nnodes; i++) {
		struct plan_node *n = p->nodes[i];
		for (int k = 0; k < n->ninputs; k++)
			assert(n->inputs[k] < i);
		p->agent_side[i] = n->kind == N_SOURCE || (streaming(n->kind) && p->agent_side[n->inputs[0]]);
	}
	int rc = 0;
	for (int d = 0; d < p->ndisplays && rc == 0; d++)
		rc = need(p, p->displays[d].node, -1, visited);
	free(visited);
	return rc;
}
