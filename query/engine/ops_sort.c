/* ops_sort.c - ordering rows: sort (all rows, or only the first `limit` through a bounded heap,
 * which is what sort followed by head becomes) and head. */
#include "ops.h"
#include "batch.h"

#include <stdlib.h>

int sort_keys_cmp(const void *a, const void *b, void *arg)
{
	const struct sort_keys *s = arg;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	for (int k = 0; k < s->nkeys; k++) {
		const struct column *c = &s->t->cols[s->cols[k]];
		int r = value_cmp(c->type, &c->v, i, &c->v, j);
		if (r)
			return s->desc[k] ? -r : r;
	}
	return (i > j) - (i < j); /* stable */
}

/* Moves the row at heap slot i down to its place in a heap whose top is the row that sorts last. */
static void heap_down(uint32_t *h, size_t n, size_t i, const struct sort_keys *s)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && sort_keys_cmp(&h[l], &h[m], (void *)s) > 0)
			m = l;
		if (r < n && sort_keys_cmp(&h[r], &h[m], (void *)s) > 0)
			m = r;
		if (m == i)
			return;
		uint32_t t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Keeping only a few rows (sort then head) needs a heap of that many rows, not a sort of every
 * row. */
struct table *op_sort(struct qctx *q, const struct plan_node *n, const struct table *in, int64_t limit)
{
	struct sort_keys s = {.t = in, .nkeys = n->nexprs < 32 ? n->nexprs : 32};
	for (int k = 0; k < s.nkeys; k++) {
		s.cols[k] = table_find(in, n->names[k]);
		s.desc[k] = n->desc[k];
	}
	size_t keep = limit >= 0 && (size_t)limit < in->nrows ? (size_t)limit : in->nrows;
	uint32_t *perm = malloc((keep ? keep : 1) * sizeof(*perm));
	if (!perm) {
		qctx_fail(q, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < keep; i++)
		perm[i] = (uint32_t)i;
	if (keep > 0 && keep < in->nrows) {
		for (size_t i = keep / 2; i-- > 0;)
			heap_down(perm, keep, i, &s);
		for (size_t i = keep; i < in->nrows; i++) {
			uint32_t r = (uint32_t)i;
			if (sort_keys_cmp(&r, &perm[0], &s) < 0) {
				perm[0] = r;
				heap_down(perm, keep, 0, &s);
			}
		}
	}
	qsort_r(perm, keep, sizeof(*perm), sort_keys_cmp, &s);
	struct table *out = copy_rows(q, in, perm, keep);
	free(perm);
	return out;
}

struct table *op_head(struct qctx *q, const struct plan_node *n, const struct table *in)
{
	size_t k = (size_t)n->limit < in->nrows ? (size_t)n->limit : in->nrows;
	return copy_rows(q, in, NULL, k);
}
