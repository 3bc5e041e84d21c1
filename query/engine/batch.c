/* batch.c - the rows the streaming operators work on. A batch is a set of columns over one row
 * space plus a selection vector: filter narrows the selection, map computes columns at the live
 * rows next to borrowed ones, project renames and drops, frames starts a new dense row space (see
 * batch.h for ownership). Also the plain-table helpers every operator uses: sized tables and
 * row copies that report out-of-memory into the query. */
#include "batch.h"
#include "core/intern.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables of rows -------------------------------------------------------------------------- */

struct table *table_sized(struct qctx *q, const struct table *schema, size_t rows)
{
	struct table *t = table_new_like(schema);
	if (!t || table_reserve(t, rows ? rows : 1) < 0) {
		table_free(t);
		qctx_fail(q, "out of memory");
		return NULL;
	}
	return t;
}

struct table *copy_rows(struct qctx *q, const struct table *in, const uint32_t *sel, size_t n)
{
	struct table *t = table_sized(q, in, n);
	if (t && table_append_rows(t, in, sel, n) < 0) {
		table_free(t);
		qctx_fail(q, "out of memory");
		return NULL;
	}
	return t;
}

/* Replaces column c's array of owned table t with `vals` (nrows values), taking ownership. */
static void column_adopt(struct table *t, int c, enum vtype type, void *vals)
{
	free(t->cols[c].v.p);
	t->cols[c].v.p = vals;
	t->cols[c].type = type;
}

/* ---- batches --------------------------------------------------------------------------------- */

/* Frees the arrays the batch computed or made (not view.cols, not the own[] list itself). */
static void batch_release(struct batch *b)
{
	for (int i = 0; i < b->nown; i++)
		free(b->own[i]);
	b->nown = 0;
	free(b->own_sel);
	b->own_sel = NULL;
	table_free(b->base);
	b->base = NULL;
}

void batch_free(struct batch *b)
{
	if (!b)
		return;
	batch_release(b);
	free(b->own);
	free(b->view.cols);
	free(b);
}

struct batch *batch_wrap(struct qctx *q, const struct table *t, const uint32_t *sel, size_t n)
{
	struct batch *b = calloc(1, sizeof(*b));
	struct column *cols = malloc((t->ncols ? t->ncols : 1) * sizeof(*cols));
	if (!b || !cols) {
		free(b);
		free(cols);
		qctx_fail(q, "out of memory");
		return NULL;
	}
	memcpy(cols, t->cols, t->ncols * sizeof(*cols));
	b->view = (struct table){.ncols = t->ncols, .cols = cols, .nrows = t->nrows, .cap = t->nrows, .borrowed = true};
	b->sel = sel;
	b->n = sel ? n : t->nrows;
	return b;
}

static int batch_own(struct qctx *q, struct batch *b, void *p)
{
	if (b->nown == b->owncap) {
		int ncap = b->owncap ? b->owncap * 2 : 8;
		void **no = realloc(b->own, ncap * sizeof(*no));
		if (!no) {
			free(p);
			return qctx_fail(q, "out of memory");
		}
		b->own = no;
		b->owncap = ncap;
	}
	b->own[b->nown++] = p;
	return 0;
}

static int batch_filter(struct qctx *q, const struct plan_node *n, struct batch *b)
{
	struct column keep;
	if (expr_eval(q, n->pred, &b->view, b->sel, b->n, &keep) < 0)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < b->n; i++)
		k += keep.v.b[i];
	if (k == b->n) {
		free(keep.v.p);
		return 0;
	}
	uint32_t *sel = malloc((k + 1) * sizeof(*sel)); /* + 1: the branchless fill writes one past */
	if (!sel) {
		free(keep.v.p);
		return qctx_fail(q, "out of memory");
	}
	k = 0;
	for (size_t i = 0; i < b->n; i++) {
		sel[k] = b->sel ? b->sel[i] : (uint32_t)i;
		k += keep.v.b[i];
	}
	free(keep.v.p);
	free(b->own_sel);
	for (size_t i = 1; i < k; i++)
		assert(sel[i] > sel[i - 1]); /* a selection only narrows: rows stay in order */
	b->sel = b->own_sel = sel;
	b->n = k;
	return 0;
}

/* Values vals[0..b->n) of the live rows spread to their positions in the row space. */
static void *scatter(const struct batch *b, const struct column *vals)
{
	size_t w = vtype_size(vals->type);
	void *full = malloc((b->view.nrows ? b->view.nrows : 1) * w);
	if (full && w == 8)
		for (size_t r = 0; r < b->n; r++)
			((int64_t *)full)[b->sel[r]] = vals->v.i[r];
	else if (full)
		for (size_t r = 0; r < b->n; r++)
			((uint8_t *)full)[b->sel[r]] = vals->v.b[r];
	return full;
}

/* Computed columns are evaluated at the live rows only. The node's schema is the input's columns
 * in place (a computed one replacing its namesake) and the new ones after. */
static int batch_map(struct qctx *q, const struct plan_node *n, struct batch *b)
{
	const struct table *out = n->schema;
	struct column *cols = realloc(b->view.cols, out->ncols * sizeof(*cols));
	if (!cols)
		return qctx_fail(q, "out of memory");
	b->view.cols = cols;
	struct column vals[n->nexprs ? n->nexprs : 1];
	for (int i = 0; i < n->nexprs; i++) {
		struct column v;
		if (expr_eval(q, n->exprs[i], &b->view, b->sel, b->n, &v) < 0)
			return -1;
		void *arr = v.v.p;
		if (b->sel) {
			arr = scatter(b, &v);
			free(v.v.p);
			if (!arr)
				return qctx_fail(q, "out of memory");
		}
		if (batch_own(q, b, arr) < 0)
			return -1;
		vals[i] = (struct column){NULL, v.type, {.p = arr}};
	}
	for (int i = 0; i < n->nexprs; i++) {
		int c = table_find(out, n->names[i]);
		cols[c] = (struct column){out->cols[c].name, vals[i].type, {.p = vals[i].v.p}};
	}
	b->view.ncols = out->ncols;
	return 0;
}

static int batch_project(struct qctx *q, const struct plan_node *n, struct batch *b)
{
	struct column *cols = malloc((n->nexprs ? n->nexprs : 1) * sizeof(*cols));
	if (!cols)
		return qctx_fail(q, "out of memory");
	for (int i = 0; i < n->nexprs; i++) {
		cols[i] = b->view.cols[table_find(&b->view, n->from[i])];
		cols[i].name = n->schema->cols[i].name;
	}
	free(b->view.cols);
	b->view.cols = cols;
	b->view.ncols = n->nexprs;
	return 0;
}

/* One row per distinct function (or line, or raw name: the node's view) of each live row's stack
 * (recursion counts once), with the row's other columns, the frame's view and whether it is the
 * leaf. */
static int batch_frames(struct qctx *q, const struct plan_node *n, struct batch *b)
{
	const struct column *stacks = &b->view.cols[table_find(&b->view, n->stack_col)];
	size_t total = 0;
	for (size_t i = 0; i < b->n; i++)
		total += stacks->v.k[b->sel ? b->sel[i] : i]->nframes;
	uint32_t *rows = malloc((total ? total : 1) * sizeof(*rows));
	const char **names = malloc((total ? total : 1) * sizeof(*names));
	uint8_t *leaf = malloc(total ? total : 1);
	struct table *out = NULL;
	int rc = -1;
	if (!rows || !names || !leaf) {
		qctx_fail(q, "out of memory");
		goto done;
	}
	size_t k = 0;
	for (size_t i = 0; i < b->n; i++) {
		uint32_t r = b->sel ? b->sel[i] : (uint32_t)i;
		const struct stack *st = stacks->v.k[r];
		size_t first = k;
		for (int f = 0; f < st->nframes; f++) {
			const char *fr = qctx_frame(q, st->frames[f], n->view);
			bool seen = false;
			if (!fr)
				goto done;
			for (size_t j = first; j < k && !seen; j++)
				seen = names[j] == fr; /* one pointer per view content (qctx_frame) */
			if (seen)
				continue;
			rows[k] = r;
			names[k] = fr;
			leaf[k] = f == 0;
			k++;
		}
	}
	if (!(out = table_sized(q, n->schema, k)))
		goto done;
	out->ncols = b->view.ncols; /* the input's columns, then adopt frame + leaf */
	if (table_append_rows(out, &b->view, rows, k) < 0) {
		out->ncols = n->schema->ncols;
		qctx_fail(q, "out of memory");
		goto done;
	}
	out->ncols = n->schema->ncols;
	column_adopt(out, b->view.ncols, VT_STRING, names);
	column_adopt(out, b->view.ncols + 1, VT_BOOL, leaf);
	names = NULL;
	leaf = NULL;
	/* The batch now views only `out`: drop everything it held before. */
	struct column *cols = realloc(b->view.cols, out->ncols * sizeof(*cols));
	if (!cols) {
		qctx_fail(q, "out of memory");
		goto done;
	}
	batch_release(b);
	memcpy(cols, out->cols, out->ncols * sizeof(*cols));
	b->view = (struct table){.ncols = out->ncols, .cols = cols, .nrows = k, .cap = k, .borrowed = true};
	b->sel = NULL;
	b->n = k;
	b->base = out;
	out = NULL;
	rc = 0;
done:
	table_free(out);
	free(rows);
	free(names);
	free(leaf);
	return rc;
}

int batch_apply(struct qctx *q, const struct plan_node *n, struct batch *b)
{
	switch (n->kind) {
	case N_FILTER: return batch_filter(q, n, b);
	case N_MAP: return batch_map(q, n, b);
	case N_PROJECT: return batch_project(q, n, b);
	case N_FRAMES: return batch_frames(q, n, b);
	default: return qctx_fail(q, "operator %d cannot stream", n->kind);
	}
}

struct table *apply_streaming(struct qctx *q, const struct plan_node *n, const struct table *in)
{
	struct batch *b = batch_wrap(q, in, NULL, in->nrows);
	struct table *out = b && batch_apply(q, n, b) == 0 ? copy_rows(q, &b->view, b->sel, b->n) : NULL;
	batch_free(b);
	return out;
}
