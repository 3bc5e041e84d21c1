/* expr_internal.h - what binding (expr.c) and evaluation (expr_eval.c) share: the table of
 * built-in functions and the evaluators it points to. Private to query/engine/. */
#ifndef WISP_EXPR_INTERNAL_H
#define WISP_EXPR_INTERNAL_H

#include "expr.h"

struct qctx;

/* Fills out (a new malloc'd column of n values) from argument columns argv[0..e->nargs). */
typedef int eval_fn(struct qctx *q, const struct expr *e, struct column *argv, size_t n, struct column *out);

struct func_def {
	const char *name;
	int min_args, max_args; /* max -1 = variadic */
	int (*type_rule)(struct expr *e, char *err, size_t errlen); /* sets e->type; 0 or -1 */
	eval_fn *eval;
};

/* The function with index fn (expr->fn once bound), or NULL. */
const struct func_def *expr_function(int fn);

#define EVAL_FN(name) int name(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
EVAL_FN(eval_and);
EVAL_FN(eval_arith);
EVAL_FN(eval_bin);
EVAL_FN(eval_compare);
EVAL_FN(eval_depth);
EVAL_FN(eval_folded);
EVAL_FN(eval_has_function);
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
