/* expr_internal.h - what binding (expr.c) and evaluation (expr_eval.c) share: the table of
 * built-in functions and the evaluators it points to. Private to query/engine/. */
#ifndef WISP_EXPR_INTERNAL_H
#define WISP_EXPR_INTERNAL_H

#include "expr.h"

#include <string.h>

struct qctx;

/* Fills out (a new malloc'd column of n values) from argument columns argv[0..e->nargs). */
typedef int eval_fn(struct qctx *q, const struct expr *e, struct column *argv, size_t n, struct column *out);

struct func_def {
	const char *name;
	int min_args, max_args; /* max -1 = variadic */
	int (*type_rule)(struct expr *e, char *err, size_t errlen); /* sets e->type; 0 or -1 */
	eval_fn *eval;
	void (*free_prepared)(void *prepared); /* what type_rule may leave in e->prepared */
};

/* The function with index fn (expr->fn once bound), or NULL. */
const struct func_def *expr_function(int fn);

/* The literals of a large `in` (IN_SET_MIN values or more), sorted for binary search: integer
 * literals exactly, float literals (and, for float columns, every literal) as doubles, strings
 * by content. Made by rule_in, read by eval_in, freed with the expression. */
#define IN_SET_MIN 8
struct in_set {
	int64_t *ints;
	size_t nints;
	double *dbls;     /* no NaN: it equals nothing */
	size_t ndbls;
	const char **strs; /* the literals' own strings */
	size_t nstrs;
};
void in_set_free(void *set);

/* The orders the sets are sorted in, for qsort and bsearch. */
static inline int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static inline int cmp_f64(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static inline int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}


#define EVAL_FN(name) int name(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
EVAL_FN(eval_and);
EVAL_FN(eval_arith);
EVAL_FN(eval_bin);
EVAL_FN(eval_compare);
EVAL_FN(eval_depth);
EVAL_FN(eval_folded);
EVAL_FN(eval_view);
EVAL_FN(eval_has_function);
EVAL_FN(eval_frames);
EVAL_FN(eval_in);
EVAL_FN(eval_in_kernel);
EVAL_FN(eval_kernel_depth);
EVAL_FN(eval_leaf);
EVAL_FN(eval_matches);
EVAL_FN(eval_not);
EVAL_FN(eval_or);
EVAL_FN(eval_qbucket);
EVAL_FN(eval_select);
EVAL_FN(eval_strpred);
EVAL_FN(eval_to_float);
EVAL_FN(eval_to_int);
EVAL_FN(eval_to_string);

#endif
