/* batch.h - batches of rows with a selection vector, the unit the streaming operators (filter,
 * map, project, frames) pass along, and the plain-table helpers every operator shares. Private
 * to query/engine/. */
#ifndef WISP_BATCH_H
#define WISP_BATCH_H

#include "plan.h"
#include "core/qctx.h"

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

/* A batch over rows sel[0..n) of t (all rows when sel is NULL), borrowing both. NULL on OOM. */
struct batch *batch_wrap(struct qctx *q, const struct table *t, const uint32_t *sel, size_t n);
void batch_free(struct batch *b);
/* Applies streaming operator n (filter, map, project or frames) to b. 0, or -1 (error in q). */
int batch_apply(struct qctx *q, const struct plan_node *n, struct batch *b);
/* A streaming operator over a whole table: a new owned table, or NULL with the error in q. */
struct table *apply_streaming(struct qctx *q, const struct plan_node *n, const struct table *in);

/* An owned table with the schema's columns, each array set to hold exactly `rows` rows. */
struct table *table_sized(struct qctx *q, const struct table *schema, size_t rows);
/* A new owned table of rows sel[0..n) of in (all when sel is NULL). */
struct table *copy_rows(struct qctx *q, const struct table *in, const uint32_t *sel, size_t n);

#endif
