/* ops_join.c - hash joins: index the right input by its keys, probe with every left row.
 * Inner and left joins; no keys is a cross join. */
#include "ops.h"
#include "batch.h"
#include "core/intern.h"

#include <stdlib.h>

/* The right side of an unmatched row of a left join: no frames. */
static const struct stack empty_stack;

static uint64_t row_hash(const struct table *t, const int *cols, int n, size_t r)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL;
	for (int k = 0; k < n; k++)
		h = (h ^ value_hash(t->cols[cols[k]].type, &t->cols[cols[k]].v, r)) * 0x100000001b3ULL;
	return h;
}

struct table *op_join(struct qctx *q, const struct plan_node *n, const struct table *l, const struct table *r)
{
	int lk[64], rk[64], nk = n->nexprs;
	for (int k = 0; k < nk; k++) {
		lk[k] = table_find(l, n->names[k]);
		rk[k] = table_find(r, n->right_keys[k]);
	}
	size_t cap = 16;
	while (cap < r->nrows * 2)
		cap *= 2;
	int64_t *heads = malloc(cap * sizeof(*heads)), *next = malloc((r->nrows + 1) * sizeof(*next));
	uint32_t *lsel = NULL;
	int64_t *rsel = NULL;
	size_t out_n = 0, out_cap = l->nrows + 16;
	struct table *out = NULL;
	if (!heads || !next || !(lsel = malloc(out_cap * sizeof(*lsel))) || !(rsel = malloc(out_cap * sizeof(*rsel)))) {
		qctx_fail(q, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < cap; i++)
		heads[i] = -1;
	for (size_t j = 0; j < r->nrows; j++) {
		size_t b = row_hash(r, rk, nk, j) & (cap - 1);
		next[j] = heads[b];
		heads[b] = (int64_t)j;
	}
	for (size_t i = 0; i < l->nrows; i++) {
		size_t b = row_hash(l, lk, nk, i) & (cap - 1);
		bool matched = false;
		for (int64_t j = heads[b];; j = next[j]) {
			if (j < 0) {
				if (matched || n->how != JOIN_LEFT)
					break;
			} else {
				bool eq = true;
				for (int k = 0; k < nk && eq; k++)
					eq = value_eq(l->cols[lk[k]].type, &l->cols[lk[k]].v, i, &r->cols[rk[k]].v, (size_t)j);
				if (!eq)
					continue;
				matched = true;
			}
			if (out_n == out_cap) {
				out_cap *= 2;
				void *a = realloc(lsel, out_cap * sizeof(*lsel)), *b2 = a ? realloc(rsel, out_cap * sizeof(*rsel)) : NULL;
				if (a)
					lsel = a;
				if (b2)
					rsel = b2;
				if (!a || !b2 || qctx_check(q, out_cap * 16) < 0) {
					qctx_fail(q, "out of memory");
					goto done;
				}
			}
			lsel[out_n] = (uint32_t)i;
			rsel[out_n++] = j;
			if (j < 0)
				break;
		}
	}
	if (!(out = table_sized(q, n->schema, out_n)))
		goto done;
	out->ncols = l->ncols;
	table_append_rows(out, l, lsel, out_n);
	out->ncols = n->schema->ncols;
	for (int c = 0; c < r->ncols; c++) {
		struct column *d = &out->cols[l->ncols + c];
		const struct column *src = &r->cols[c];
		for (size_t k = 0; k < out_n; k++) {
			int64_t j = rsel[k];
			switch (d->type) {
			case VT_BOOL: d->v.b[k] = j < 0 ? 0 : src->v.b[j]; break;
			case VT_FLOAT: d->v.f[k] = j < 0 ? 0.0 : src->v.f[j]; break;
			case VT_STRING: d->v.s[k] = j < 0 ? "" : src->v.s[j]; break;
			case VT_STACK: d->v.k[k] = j < 0 ? &empty_stack : src->v.k[j]; break;
			default: d->v.i[k] = j < 0 ? 0 : src->v.i[j]; break;
			}
		}
	}
done:
	free(heads);
	free(next);
	free(lsel);
	free(rsel);
	return out;
}
