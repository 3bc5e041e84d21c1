/* exec.c - plan execution: operators, hash aggregation, the agent-side bridge pipeline and the
 * coordinator-side finish (see exec.h). Every operator takes whole tables and evaluates one
 * column at a time; nothing here loops over rows in Lua. */
#include "exec.h"
#include "core/catalog.h"
#include "core/intern.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------ */

/* An owned table with the schema's columns, each array set to hold exactly `rows` rows. */
static struct table *table_sized(struct qctx *q, const struct table *schema, size_t rows)
{
	struct table *t = table_new_like(schema);
	if (!t || table_reserve(t, rows ? rows : 1) < 0) {
		table_free(t);
		qctx_fail(q, "out of memory");
		return NULL;
	}
	return t;
}

static struct table *copy_rows(struct qctx *q, const struct table *in, const uint32_t *sel, size_t n)
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

/* ---- streaming operators over batches ------------------------------------------------------ */

/* What flows through the streaming operators (filter, map, project, frames): columns that all
 * index one row space, and a selection vector naming the live rows. A filter only narrows the
 * selection; a map adds computed columns, written at the live rows, next to borrowed ones; a
 * projection renames and drops; frames starts a new, dense row space. Rows are copied only where
 * frames multiplies them or a caller wants a plain table (apply_streaming).
 *
 * Ownership: the batch owns view.cols (the array, not the names: those belong to the plan or
 * the wrapped table), own_sel, base, and the arrays in own[]. Every other column array is
 * borrowed from the table it wraps, which must outlive it. Values outside the selection are
 * undefined and never read. */
struct batch {
	struct table view;      /* .borrowed */
	const uint32_t *sel;    /* live rows of view, ascending; NULL = all view.nrows */
	size_t n;               /* live rows */
	uint32_t *own_sel;
	struct table *base;     /* the rows frames made */
	void **own;
	int nown, owncap;
};

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

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	batch_release(b);
	free(b->own);
	free(b->view.cols);
	free(b);
}

/* A batch over rows sel[0..n) of t (all rows when sel is NULL), borrowing both. */
static struct batch *batch_wrap(struct qctx *q, const struct table *t, const uint32_t *sel, size_t n)
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
	if (expr_eval_sel(q, n->pred, &b->view, b->sel, b->n, &keep) < 0)
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
		if (expr_eval_sel(q, n->exprs[i], &b->view, b->sel, b->n, &v) < 0)
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

/* One row per distinct function of each live row's stack (recursion counts once), with the
 * row's other columns, the frame's name and whether it is the leaf. */
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
			const char *fr = st->frames[f];
			bool seen = false;
			for (size_t j = first; j < k && !seen; j++)
				seen = names[j] == fr; /* one stack's frames share one intern table */
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

static int batch_apply(struct qctx *q, const struct plan_node *n, struct batch *b)
{
	switch (n->kind) {
	case N_FILTER: return batch_filter(q, n, b);
	case N_MAP: return batch_map(q, n, b);
	case N_PROJECT: return batch_project(q, n, b);
	case N_FRAMES: return batch_frames(q, n, b);
	default: return qctx_fail(q, "operator %d cannot stream", n->kind);
	}
}

/* A streaming operator over a whole table: a new owned table, or NULL with the error in q. */
static struct table *apply_streaming(struct qctx *q, const struct plan_node *n, const struct table *in)
{
	struct batch *b = batch_wrap(q, in, NULL, in->nrows);
	struct table *out = b && batch_apply(q, n, b) == 0 ? copy_rows(q, &b->view, b->sel, b->n) : NULL;
	batch_free(b);
	return out;
}

struct sort_ctx {
	const struct table *t;
	int nkeys;
	int cols[32];
	bool desc[32];
};

static int sort_cmp(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *s = arg;
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
static void heap_down(uint32_t *h, size_t n, size_t i, const struct sort_ctx *s)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && sort_cmp(&h[l], &h[m], (void *)s) > 0)
			m = l;
		if (r < n && sort_cmp(&h[r], &h[m], (void *)s) > 0)
			m = r;
		if (m == i)
			return;
		uint32_t t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* The first `limit` rows of `in` in the sort order (all when limit < 0). Keeping only a few
 * (sort then head) needs a heap of that many rows, not a sort of every row. */
struct table *op_sort_limit(struct qctx *q, const struct plan_node *n, const struct table *in, int64_t limit)
{
	struct sort_ctx s = {.t = in, .nkeys = n->nexprs < 32 ? n->nexprs : 32};
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
			if (sort_cmp(&r, &perm[0], &s) < 0) {
				perm[0] = r;
				heap_down(perm, keep, 0, &s);
			}
		}
	}
	qsort_r(perm, keep, sizeof(*perm), sort_cmp, &s);
	struct table *out = copy_rows(q, in, perm, keep);
	free(perm);
	return out;
}

struct table *op_sort(struct qctx *q, const struct plan_node *n, const struct table *in)
{
	return op_sort_limit(q, n, in, -1);
}

struct table *op_head(struct qctx *q, const struct plan_node *n, const struct table *in)
{
	size_t k = (size_t)n->limit < in->nrows ? (size_t)n->limit : in->nrows;
	return copy_rows(q, in, NULL, k);
}

/* Hash join: index the right input by its keys, probe with every left row. Unmatched rows of a
 * left join get zero values on the right (0, 0.0, false, "", the empty stack). */
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

static void set_value(struct column *d, size_t di, const struct column *s, size_t si);

/* Quantiles from a histogram: rows (keys, bucket, weight) sorted by keys then bucket; per key
 * group, the q-quantile is the first bucket whose cumulative weight reaches q x the total. */
struct table *op_quantiles(struct qctx *q, const struct plan_node *n, const struct table *in)
{
	struct sort_ctx s = {.t = in, .nkeys = n->nexprs + 1};
	for (int k = 0; k < n->nexprs; k++)
		s.cols[k] = table_find(in, n->names[k]);
	s.cols[n->nexprs] = table_find(in, n->qbucket);
	int wc = table_find(in, n->qweight);
	uint32_t *perm = malloc((in->nrows ? in->nrows : 1) * sizeof(*perm));
	struct table *out = table_sized(q, n->schema, in->nrows);
	if (!perm || !out) {
		free(perm);
		table_free(out);
		qctx_fail(q, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < in->nrows; i++)
		perm[i] = (uint32_t)i;
	qsort_r(perm, in->nrows, sizeof(*perm), sort_cmp, &s);
	static const double qs[3] = {0.5, 0.9, 0.99};
	const int64_t *bucket = in->cols[s.cols[n->nexprs]].v.i, *w = in->cols[wc].v.i;
	for (size_t i = 0; i < in->nrows;) {
		size_t j = i;
		int64_t total = 0;
		for (; j < in->nrows; j++) {
			bool same = true;
			for (int k = 0; k < n->nexprs && same; k++) {
				const struct column *c = &in->cols[s.cols[k]];
				same = value_eq(c->type, &c->v, perm[i], &c->v, perm[j]);
			}
			if (!same)
				break;
			total += w[perm[j]] > 0 ? w[perm[j]] : 0;
		}
		size_t r = out->nrows++;
		for (int k = 0; k < n->nexprs; k++)
			set_value(&out->cols[k], r, &in->cols[s.cols[k]], perm[i]);
		for (int qi = 0; qi < 3; qi++) {
			double need = qs[qi] * (double)total;
			int64_t cum = 0, key = 0;
			for (size_t x = i; x < j; x++) {
				cum += w[perm[x]] > 0 ? w[perm[x]] : 0;
				key = bucket[perm[x]];
				if ((double)cum >= need)
					break;
			}
			out->cols[n->nexprs + qi].v.f[r] = quantile_value(key);
		}
		i = j;
	}
	free(perm);
	return out;
}

/* ---- hash aggregation --------------------------------------------------------------------- */

/* Rows are consumed in blocks: hash every key column over the block, find or create each row's
 * group, then fold one aggregate at a time over the block. */
#define AGG_BLOCK 1024
#define AGG_STR_MEMO_MIN 12 /* log2 of the string memo's first size; it doubles with the groups */
#define AGG_STR_MEMO_MAX 20
#define KEY_MIX 0x100000001b3ULL /* folds one key column's hash into a row's */

struct str_memo {
	const char *s;
	uint64_t h;  /* hash of s's content */
	uint32_t g;  /* single string key: s's group + 1, 0 = not yet known */
};

struct agg_run {
	struct qctx *q;
	const struct plan_node *n;
	struct table *groups;  /* keys then states (agg_state_schema layout); owned */
	int nkeys;
	int *state_col;        /* per aggregate: its (first) column in groups */
	uint32_t *index;       /* open addressing: group + 1, 0 = empty */
	uint64_t *hashes;      /* per group */
	size_t icap;           /* index slots, power of two */
	size_t hcap;           /* hashes allocated */
	int in_key[64];        /* input column of each key (update) */
	int in_arg[256];       /* input column of each aggregate's argument (update), -1 for count */
	struct str_memo *strs; /* 1 << strbits entries once a string key is seen; owned */
	int strbits;
	/* the block being consumed: input row, hash, group; first[g - g0] = the block row that
	 * created group g (groups from g0 on are new in this block) */
	uint32_t brow[AGG_BLOCK], bgroup[AGG_BLOCK], first[AGG_BLOCK];
	uint64_t bhash[AGG_BLOCK];
};

struct agg_run *agg_run_new(struct qctx *q, const struct plan *p, const struct plan_node *n)
{
	struct agg_run *a = calloc(1, sizeof(*a));
	if (!a || n->nexprs > 64 || n->naggs > 256)
		goto fail;
	a->q = q;
	a->n = n;
	a->nkeys = n->nexprs;
	if (!(a->groups = agg_state_schema(p, n)) || !(a->state_col = calloc(n->naggs + 1, sizeof(int))))
		goto fail;
	int c = a->nkeys;
	for (int i = 0; i < n->naggs; i++) {
		a->state_col[i] = c;
		c += n->aggs[i].fn == AGG_MEAN ? 2 : 1;
	}
	a->icap = 1024;
	if (!(a->index = calloc(a->icap, sizeof(*a->index))))
		goto fail;
	return a;
fail:
	qctx_fail(q, n->nexprs > 64 || n->naggs > 256 ? "too many keys or aggregates" : "out of memory");
	agg_run_free(a);
	return NULL;
}

void agg_run_free(struct agg_run *a)
{
	if (!a)
		return;
	table_free(a->groups);
	free(a->state_col);
	free(a->index);
	free(a->hashes);
	free(a->strs);
	free(a);
}

static int agg_grow(struct agg_run *a)
{
	size_t ncap = a->icap * 2;
	uint32_t *ni = calloc(ncap, sizeof(*ni));
	if (!ni)
		return qctx_fail(a->q, "out of memory");
	for (size_t g = 0; g < a->groups->nrows; g++) {
		size_t j = a->hashes[g] & (ncap - 1);
		while (ni[j])
			j = (j + 1) & (ncap - 1);
		ni[j] = (uint32_t)g + 1;
	}
	free(a->index);
	a->index = ni;
	a->icap = ncap;
	return 0;
}

static void set_value(struct column *d, size_t di, const struct column *s, size_t si)
{
	size_t w = vtype_size(d->type);
	memcpy((char *)d->v.p + di * w, (char *)s->v.p + si * w, w);
}

/* The string memo, (re)sized to about twice the groups so distinct keys rarely share a slot. */
static int str_memo_fit(struct agg_run *a)
{
	int bits = a->strbits ? a->strbits : AGG_STR_MEMO_MIN;
	while (bits < AGG_STR_MEMO_MAX && ((size_t)1 << bits) < a->groups->nrows * 2)
		bits++;
	if (a->strs && bits == a->strbits)
		return 0;
	free(a->strs);
	a->strbits = bits;
	if (!(a->strs = calloc((size_t)1 << bits, sizeof(*a->strs))))
		return qctx_fail(a->q, "out of memory");
	return 0;
}

static inline struct str_memo *str_memo(struct agg_run *a, const struct column *c, size_t r)
{
	const char *s = c->v.s[r];
	struct str_memo *e = &a->strs[((uintptr_t)s >> 3) * 0x9e3779b97f4a7c15ULL >> (64 - a->strbits)];
	if (e->s != s)
		*e = (struct str_memo){s, value_hash(VT_STRING, &c->v, r), 0};
	return e;
}

/* Mixes key column c of the block's rows into their hashes. Strings are hashed by content
 * (equal strings from different agents meet here) but memoized by pointer: rows repeat the same
 * interned pointers, and hashing means reading the whole string. */
static void hash_key_column(struct agg_run *a, const struct column *c, size_t m)
{
	if (c->type != VT_STRING) {
		for (size_t i = 0; i < m; i++)
			a->bhash[i] = (a->bhash[i] ^ value_hash(c->type, &c->v, a->brow[i])) * KEY_MIX;
		return;
	}
	for (size_t i = 0; i < m; i++) {
		struct str_memo *e = str_memo(a, c, a->brow[i]);
		a->bhash[i] = (a->bhash[i] ^ e->h) * KEY_MIX;
	}
}

/* Group of input row r (key columns at kc[], hash h), created when new; -1 on error. */
static long agg_group(struct agg_run *a, const struct table *rows, const int *kc, size_t r, uint64_t h)
{
	struct table *g = a->groups;
	size_t mask = a->icap - 1, j = h & mask;
	for (uint32_t e; (e = a->index[j]) != 0; j = (j + 1) & mask) {
		size_t gi = e - 1;
		if (a->hashes[gi] != h)
			continue;
		bool same = true;
		for (int k = 0; k < a->nkeys && same; k++) {
			const struct column *c = &rows->cols[kc[k]];
			same = value_eq(c->type, &c->v, r, &g->cols[k].v, gi);
		}
		if (same)
			return (long)gi;
	}
	/* New group: append keys, zero states. */
	if ((g->nrows + 1) * 2 > a->icap) {
		if (agg_grow(a) < 0)
			return -1;
		return agg_group(a, rows, kc, r, h);
	}
	if (g->nrows >= UINT32_MAX - 1)
		return qctx_fail(a->q, "too many groups");
	if (table_reserve(g, g->nrows + 1) < 0)
		return qctx_fail(a->q, "out of memory");
	if (g->nrows >= a->hcap) {
		size_t nh = a->hcap ? a->hcap * 2 : 256;
		uint64_t *hs = realloc(a->hashes, nh * sizeof(*hs));
		if (!hs)
			return qctx_fail(a->q, "out of memory");
		a->hashes = hs;
		a->hcap = nh;
	}
	size_t gi = g->nrows++;
	for (int k = 0; k < a->nkeys; k++)
		set_value(&g->cols[k], gi, &rows->cols[kc[k]], r);
	for (int c = a->nkeys; c < g->ncols; c++)
		memset((char *)g->cols[c].v.p + gi * vtype_size(g->cols[c].type), 0, vtype_size(g->cols[c].type));
	a->hashes[gi] = h;
	a->index[j] = (uint32_t)gi + 1;
	return (long)gi;
}

/* Adds column v at the block's rows into sum state st (int or float). */
static void fold_sum(const struct agg_run *a, struct column *st, const struct column *v, size_t m)
{
	const uint32_t *row = a->brow, *grp = a->bgroup;
	if (st->type == VT_FLOAT && v->type == VT_FLOAT)
		for (size_t i = 0; i < m; i++)
			st->v.f[grp[i]] += v->v.f[row[i]];
	else if (st->type == VT_FLOAT)
		for (size_t i = 0; i < m; i++)
			st->v.f[grp[i]] += (double)v->v.i[row[i]];
	else /* wrapping, like the merge of partial sums */
		for (size_t i = 0; i < m; i++)
			st->v.i[grp[i]] = (int64_t)((uint64_t)st->v.i[grp[i]] + (uint64_t)v->v.i[row[i]]);
}

/* Folds aggregate i over the block (m rows; groups from g0 on were created by it). merge: the
 * input holds partial states. */
static void agg_fold(struct agg_run *a, int i, const struct table *rows, int src, size_t m, size_t g0, bool merge)
{
	const struct agg_spec *sp = &a->n->aggs[i];
	struct column *st = &a->groups->cols[a->state_col[i]];
	const struct column *v = src >= 0 ? &rows->cols[src] : NULL;
	const uint32_t *row = a->brow, *grp = a->bgroup;
	switch (sp->fn) {
	case AGG_COUNT:
		if (merge)
			for (size_t k = 0; k < m; k++)
				st->v.i[grp[k]] += v->v.i[row[k]];
		else
			for (size_t k = 0; k < m; k++)
				st->v.i[grp[k]]++;
		break;
	case AGG_SUM:
		fold_sum(a, st, v, m);
		break;
	case AGG_MEAN: {
		struct column *cnt = &a->groups->cols[a->state_col[i] + 1];
		fold_sum(a, st, v, m);
		if (merge)
			for (size_t k = 0; k < m; k++)
				cnt->v.i[grp[k]] += rows->cols[src + 1].v.i[row[k]];
		else
			for (size_t k = 0; k < m; k++)
				cnt->v.i[grp[k]]++;
		break;
	}
	case AGG_MIN:
	case AGG_MAX:
	case AGG_ANY:
		for (size_t k = 0; k < m; k++) {
			size_t g = grp[k];
			bool created = g >= g0 && a->first[g - g0] == k;
			int c = created || sp->fn == AGG_ANY ? 0 : value_cmp(st->type, &v->v, row[k], &st->v, g);
			if (created || (sp->fn == AGG_MIN ? c < 0 : c > 0))
				set_value(st, g, v, row[k]);
		}
		break;
	default:
		break;
	}
}

/* Consumes rows sel[0..n) of `rows` (all when sel is NULL): key columns at kc[], each
 * aggregate's argument (or state) column at src[]. */
static int agg_consume(struct agg_run *a, const struct table *rows, const uint32_t *sel, size_t n, const int *kc,
		       const int *src, bool merge)
{
	for (size_t off = 0; off < n; off += AGG_BLOCK) {
		size_t m = n - off < AGG_BLOCK ? n - off : AGG_BLOCK;
		for (size_t i = 0; i < m; i++) {
			a->brow[i] = sel ? sel[off + i] : (uint32_t)(off + i);
			a->bhash[i] = 0x9e3779b97f4a7c15ULL;
		}
		/* One string key: the memo remembers each pointer's group, so repeats skip hashing and
		 * the probe alike. */
		const struct column *key = a->nkeys == 1 && rows->cols[kc[0]].type == VT_STRING ? &rows->cols[kc[0]] : NULL;
		for (int k = 0; k < a->nkeys; k++) {
			if (rows->cols[kc[k]].type == VT_STRING && str_memo_fit(a) < 0)
				return -1;
			if (!key)
				hash_key_column(a, &rows->cols[kc[k]], m);
		}
		size_t g0 = a->groups->nrows;
		for (size_t i = 0; i < m; i++) {
			struct str_memo *e = key ? str_memo(a, key, a->brow[i]) : NULL;
			if (e && e->g) {
				a->bgroup[i] = e->g - 1;
				continue;
			}
			uint64_t h = e ? (a->bhash[i] ^ e->h) * KEY_MIX : a->bhash[i];
			size_t before = a->groups->nrows;
			long g = agg_group(a, rows, kc, a->brow[i], h);
			if (g < 0)
				return -1;
			if (a->groups->nrows != before)
				a->first[g - g0] = (uint32_t)i;
			a->bgroup[i] = (uint32_t)g;
			if (e)
				e->g = (uint32_t)g + 1;
		}
		for (int i = 0; i < a->n->naggs; i++)
			agg_fold(a, i, rows, src[i], m, g0, merge);
		if (qctx_check(a->q, table_bytes(a->groups)) < 0)
			return -1;
	}
	return 0;
}

int agg_run_update_sel(struct agg_run *a, const struct table *rows, const uint32_t *sel, size_t n)
{
	for (int k = 0; k < a->nkeys; k++)
		a->in_key[k] = table_find(rows, a->n->names[k]);
	for (int i = 0; i < a->n->naggs; i++)
		a->in_arg[i] = a->n->aggs[i].arg ? table_find(rows, a->n->aggs[i].arg) : -1;
	return agg_consume(a, rows, sel, n, a->in_key, a->in_arg, false);
}

int agg_run_update(struct agg_run *a, const struct table *rows)
{
	return agg_run_update_sel(a, rows, NULL, rows->nrows);
}

int agg_run_merge(struct agg_run *a, const struct table *states)
{
	int kc[64];
	if (states->ncols != a->groups->ncols)
		return qctx_fail(a->q, "partial aggregate has %d columns, expected %d", states->ncols,
				 a->groups->ncols);
	for (int c = 0; c < states->ncols; c++)
		if (states->cols[c].type != a->groups->cols[c].type)
			return qctx_fail(a->q, "partial aggregate column %d has the wrong type", c);
	for (int k = 0; k < a->nkeys; k++)
		kc[k] = k;
	return agg_consume(a, states, NULL, states->nrows, kc, a->state_col, true);
}

struct table *agg_run_states(struct agg_run *a)
{
	struct table *t = a->groups;
	a->groups = NULL;
	return t;
}

struct table *agg_run_finalize(struct agg_run *a)
{
	const struct plan_node *n = a->n;
	struct table *g = a->groups;
	struct table *out = table_sized(a->q, n->schema, g->nrows);
	if (!out)
		return NULL;
	for (int k = 0; k < a->nkeys; k++)
		memcpy(out->cols[k].v.p, g->cols[k].v.p, g->nrows * vtype_size(g->cols[k].type));
	for (int i = 0; i < n->naggs; i++) {
		struct column *o = &out->cols[a->nkeys + i], *s = &g->cols[a->state_col[i]];
		if (n->aggs[i].fn == AGG_MEAN) {
			const int64_t *cnt = g->cols[a->state_col[i] + 1].v.i;
			for (size_t r = 0; r < g->nrows; r++) {
				double sum = s->type == VT_FLOAT ? s->v.f[r] : (double)s->v.i[r];
				o->v.f[r] = cnt[r] ? sum / (double)cnt[r] : 0.0;
			}
		} else {
			memcpy(o->v.p, s->v.p, g->nrows * vtype_size(o->type));
		}
	}
	out->nrows = g->nrows;
	return out;
}

/* ---- agent side: bridges -------------------------------------------------------------------- */

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
		rc = agg_run_update_sel(br->agg, &b->view, b->sel, b->n);
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
	if (!(a1 = agg_run_new(q, p, p->nodes[b->through])) || agg_run_merge(a1, states) < 0 ||
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
	if (!(a2 = agg_run_new(q, p, agg2)) || agg_run_update_sel(a2, &rows->view, rows->sel, rows->n) < 0)
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

/* ---- coordinator side --------------------------------------------------------------------- */

static int bridge_index(const struct plan *p, int node, enum bridge_kind kind)
{
	for (int i = 0; i < p->nbridges; i++)
		if (p->bridges[i].node == node && p->bridges[i].kind == kind)
			return i;
	return -1;
}

static struct table *union_tables(struct qctx *q, const struct table *schema, struct table *const *ins,
				  int n)
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
			table_free(out);
			qctx_fail(q, "a partial result has %d columns, expected %d", ins[i]->ncols, schema->ncols);
			return NULL;
		}
		for (int c = 0; c < schema->ncols; c++)
			if (ins[i]->cols[c].type != schema->cols[c].type) {
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
		res = union_tables(q, n->schema, inputs[b], nagents);
	} else if (n->kind == N_AGG && bridge_index(p, id, BRIDGE_PARTIAL) >= 0) {
		int b = bridge_index(p, id, BRIDGE_PARTIAL);
		struct agg_run *a = b >= 0 ? agg_run_new(q, p, n) : NULL;
		if (b < 0 && !qctx_failed(q))
			qctx_fail(q, "internal: no partial bridge for node %d", id);
		for (int i = 0; a && i < nagents; i++)
			if (inputs[b][i] && agg_run_merge(a, inputs[b][i]) < 0)
				break;
		if (a && !qctx_failed(q))
			res = agg_run_finalize(a);
		agg_run_free(a);
	} else if (n->kind == N_HEAD && p->nodes[n->inputs[0]]->kind == N_SORT && !p->agent_side[n->inputs[0]]) {
		const struct plan_node *sort = p->nodes[n->inputs[0]]; /* sort + head: keep only the top */
		if (!(in[0] = finish_node(q, p, inputs, nagents, memo, sort->inputs[0])))
			return NULL;
		res = op_sort_limit(q, sort, in[0], n->limit);
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
			if (a && agg_run_update(a, in[0]) == 0)
				res = agg_run_finalize(a);
			agg_run_free(a);
			break;
		}
		case N_SORT: res = op_sort(q, n, in[0]); break;
		case N_JOIN: res = op_join(q, n, in[0], in[1]); break;
		case N_QUANTILES: res = op_quantiles(q, n, in[0]); break;
		case N_HEAD: res = op_head(q, n, in[0]); break;
		case N_UNION: {
			struct table *ins[n->ninputs];
			for (int k = 0; k < n->ninputs; k++)
				if (!(ins[k] = finish_node(q, p, inputs, nagents, memo, n->inputs[k])))
					return NULL;
			res = union_tables(q, n->schema, ins, n->ninputs);
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

int exec_local(struct qctx *q, struct plan *p, const struct scan_source *src, struct table **outs,
	       bool *truncated)
{
	if (plan_split(p) < 0)
		return qctx_fail(q, "out of memory");
	struct table *res[p->nbridges ? p->nbridges : 1];
	struct table *const *ins[p->nbridges ? p->nbridges : 1];
	int rc = 0, b;
	for (b = 0; b < p->nbridges && rc == 0; b++) {
		rc = exec_bridge(q, p, &p->bridges[b], src, &res[b]);
		ins[b] = &res[b];
	}
	if (rc == 0)
		rc = exec_finish(q, p, ins, 1, outs, truncated);
	for (int i = 0; i < b; i++)
		table_free(res[i]);
	return rc;
}
