/* table.h - the unit of data the query engine moves around: a named set of typed columns of
 * equal length. Ring batches are exposed as borrowed tables (no copy); operators return new
 * owned tables.
 *
 * Ownership: an owned table frees its column arrays. String and stack values are pointers and
 * are never owned by a table: they point into the ring's intern table (pinned for the query) or
 * into the query's arena (struct qctx), both of which outlive every table of the query. */
#ifndef WISP_TABLE_H
#define WISP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct stack;

enum vtype {
	VT_BOOL = 0,  /* uint8_t 0/1 */
	VT_INT = 1,   /* int64_t */
	VT_FLOAT = 2, /* double */
	VT_TIME = 3,  /* int64_t nanoseconds since the Unix epoch */
	VT_STRING = 4,/* const char *, NUL-terminated, never NULL */
	VT_STACK = 5, /* const struct stack * (intern.h), never NULL */
	VT_COUNT_
};

const char *vtype_name(enum vtype t);
int vtype_from_name(const char *name); /* -1 if unknown */
/* Bytes per value: 1 for bool, 8 for every other type (strings and stacks are pointers). */
static inline size_t vtype_size(enum vtype t)
{
	return t == VT_BOOL ? 1 : 8;
}

union colvals {
	void *p;
	uint8_t *b;
	int64_t *i;
	double *f;
	const char **s;
	const struct stack **k;
};

struct column {
	char *name;       /* owned by the table */
	enum vtype type;
	union colvals v;  /* nrows values (cap allocated when owned) */
};

struct table {
	char *name;          /* display name, may be NULL; owned */
	int ncols;
	struct column *cols; /* ncols entries; owned */
	size_t nrows;        /* rows in every column */
	size_t cap;          /* rows allocated per column (owned tables) */
	bool borrowed;       /* column arrays belong to someone else: never freed or grown here */
};

/* A new owned, empty table with the given columns; NULL on out-of-memory. */
struct table *table_new(int ncols, const char *const *names, const enum vtype *types);
/* Same columns (names, types) as t, no rows. */
struct table *table_new_like(const struct table *t);
void table_free(struct table *t);
int table_set_name(struct table *t, const char *name);

/* Ensures room for `rows` rows in an owned table. 0 or -1 (out of memory). */
int table_reserve(struct table *t, size_t rows);
/* Adds a column (owned table, filled with zero values for existing rows); returns its index or -1. */
int table_add_column(struct table *t, const char *name, enum vtype type);
int table_find(const struct table *t, const char *name); /* column index or -1 */

/* Appends the rows of src listed in sel[0..n) (all rows when sel == NULL, n = src->nrows). */
int table_append_rows(struct table *dst, const struct table *src, const uint32_t *sel, size_t n);

/* Approximate bytes held by the column arrays. */
size_t table_bytes(const struct table *t);

/* Comparison and hashing of single values, shared by sort, group-by and join. */
int value_cmp(enum vtype t, const union colvals *a, size_t i, const union colvals *b, size_t j);
/* Copies value si of column s into slot di of column d (same type). */
static inline void value_copy(struct column *d, size_t di, const struct column *s, size_t si)
{
	size_t w = vtype_size(d->type);
	memcpy((char *)d->v.p + di * w, (const char *)s->v.p + si * w, w);
}
bool value_eq(enum vtype t, const union colvals *a, size_t i, const union colvals *b, size_t j);
uint64_t value_hash(enum vtype t, const union colvals *v, size_t i);

#endif
