/* table.c - typed column sets (see table.h). */
#include "table.h"
#include "hashmap.h"
#include "intern.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[VT_COUNT_] = {"bool", "int", "float", "time", "string", "stack"};

const char *vtype_name(enum vtype t)
{
	return (unsigned)t < VT_COUNT_ ? type_names[t] : "?";
}

int vtype_from_name(const char *name)
{
	for (int i = 0; i < VT_COUNT_; i++)
		if (strcmp(type_names[i], name) == 0)
			return i;
	return -1;
}

struct table *table_new(int ncols, const char *const *names, const enum vtype *types)
{
	struct table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cols = calloc(ncols ? ncols : 1, sizeof(*t->cols));
	if (!t->cols)
		goto fail;
	t->ncols = ncols;
	for (int c = 0; c < ncols; c++) {
		t->cols[c].type = types[c];
		if (!(t->cols[c].name = strdup(names[c])))
			goto fail;
	}
	return t;
fail:
	table_free(t);
	return NULL;
}

struct table *table_new_like(const struct table *src)
{
	const char *names[src->ncols ? src->ncols : 1];
	enum vtype types[src->ncols ? src->ncols : 1];
	for (int c = 0; c < src->ncols; c++) {
		names[c] = src->cols[c].name;
		types[c] = src->cols[c].type;
	}
	return table_new(src->ncols, names, types);
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (int c = 0; c < t->ncols; c++) {
		free(t->cols[c].name);
		if (!t->borrowed)
			free(t->cols[c].v.p);
	}
	free(t->cols);
	free(t->name);
	free(t);
}

int table_set_name(struct table *t, const char *name)
{
	char *n = name ? strdup(name) : NULL;
	if (name && !n)
		return -1;
	free(t->name);
	t->name = n;
	return 0;
}

int table_reserve(struct table *t, size_t rows)
{
	if (t->borrowed)
		return -1;
	if (rows <= t->cap)
		return 0;
	size_t ncap = t->cap ? t->cap : 64;
	while (ncap < rows)
		ncap *= 2;
	for (int c = 0; c < t->ncols; c++) {
		void *p = realloc(t->cols[c].v.p, ncap * vtype_size(t->cols[c].type));
		if (!p)
			return -1;
		t->cols[c].v.p = p;
	}
	t->cap = ncap;
	return 0;
}

int table_add_column(struct table *t, const char *name, enum vtype type)
{
	if (t->borrowed)
		return -1;
	struct column *nc = realloc(t->cols, (t->ncols + 1) * sizeof(*nc));
	if (!nc)
		return -1;
	t->cols = nc;
	struct column *col = &t->cols[t->ncols];
	memset(col, 0, sizeof(*col));
	col->type = type;
	col->name = strdup(name);
	size_t cap = t->cap ? t->cap : 1;
	col->v.p = calloc(cap, vtype_size(type));
	if (!col->name || !col->v.p) {
		free(col->name);
		free(col->v.p);
		return -1;
	}
	if (type == VT_STRING)
		for (size_t r = 0; r < t->nrows; r++)
			col->v.s[r] = "";
	if (!t->cap)
		t->cap = 1;
	return t->ncols++;
}

int table_find(const struct table *t, const char *name)
{
	for (int c = 0; c < t->ncols; c++)
		if (strcmp(t->cols[c].name, name) == 0)
			return c;
	return -1;
}

int table_append_rows(struct table *dst, const struct table *src, const uint32_t *sel, size_t n)
{
	if (table_reserve(dst, dst->nrows + n) < 0)
		return -1;
	for (int c = 0; c < dst->ncols; c++) {
		struct column *d = &dst->cols[c];
		const struct column *s = &src->cols[c];
		size_t w = vtype_size(d->type);
		if (!sel) {
			memcpy((char *)d->v.p + dst->nrows * w, s->v.p, n * w);
			continue;
		}
		if (w == 8) {
			int64_t *out = d->v.i + dst->nrows;
			for (size_t k = 0; k < n; k++)
				out[k] = s->v.i[sel[k]];
		} else {
			uint8_t *out = d->v.b + dst->nrows;
			for (size_t k = 0; k < n; k++)
				out[k] = s->v.b[sel[k]];
		}
	}
	dst->nrows += n;
	assert(dst->nrows <= dst->cap);
	return 0;
}

size_t table_bytes(const struct table *t)
{
	size_t n = sizeof(*t);
	for (int c = 0; c < t->ncols; c++)
		n += (t->borrowed ? 0 : t->cap * vtype_size(t->cols[c].type));
	return n;
}

static int stack_cmp(const struct stack *a, const struct stack *b)
{
	if (a == b)
		return 0;
	/* Compare root first, as a flame graph orders its children. */
	int ia = a->nframes - 1, ib = b->nframes - 1;
	for (; ia >= 0 && ib >= 0; ia--, ib--) {
		int c = strcmp(a->frames[ia], b->frames[ib]);
		if (c)
			return c;
	}
	return (ia >= 0) - (ib >= 0);
}

int value_cmp(enum vtype t, const union colvals *a, size_t i, const union colvals *b, size_t j)
{
	switch (t) {
	case VT_BOOL:
		return (a->b[i] > b->b[j]) - (a->b[i] < b->b[j]);
	case VT_FLOAT:
		return (a->f[i] > b->f[j]) - (a->f[i] < b->f[j]);
	case VT_STRING:
		return a->s[i] == b->s[j] ? 0 : strcmp(a->s[i], b->s[j]);
	case VT_STACK:
		return stack_cmp(a->k[i], b->k[j]);
	default:
		return (a->i[i] > b->i[j]) - (a->i[i] < b->i[j]);
	}
}

bool value_eq(enum vtype t, const union colvals *a, size_t i, const union colvals *b, size_t j)
{
	switch (t) {
	case VT_BOOL:
		return a->b[i] == b->b[j];
	case VT_FLOAT:
		return a->f[i] == b->f[j];
	case VT_STRING:
		return a->s[i] == b->s[j] || strcmp(a->s[i], b->s[j]) == 0;
	case VT_STACK:
		return stack_equal(a->k[i], b->k[j]);
	default:
		return a->i[i] == b->i[j];
	}
}

uint64_t value_hash(enum vtype t, const union colvals *v, size_t i)
{
	uint64_t x;
	switch (t) {
	case VT_BOOL:
		x = v->b[i];
		break;
	case VT_STRING:
		return hash_bytes(v->s[i], strlen(v->s[i]), 7);
	case VT_STACK: /* by content: stacks from different intern tables meet in one query */
		x = v->k[i]->hash;
		break;
	case VT_FLOAT: {
		double d = v->f[i] == 0.0 ? 0.0 : v->f[i]; /* -0.0 == 0.0 */
		memcpy(&x, &d, 8);
		break;
	}
	default:
		x = (uint64_t)v->i[i];
		break;
	}
	return hash_mix64(x);
}
