/* expr.h - scalar expressions over table columns: column references, literals and calls of the
 * built-in functions (comparisons, boolean logic, arithmetic, string and stack functions).
 *
 * Life of an expression: built (by the Lua API or the plan decoder), bound against an input
 * schema (resolves columns, checks and infers types), then evaluated one whole column at a time
 * over each input table. An expression owns its children and strings. */
#ifndef WISP_EXPR_H
#define WISP_EXPR_H

#include "core/table.h"

struct qctx;

/* Expressions nest at most this deep (builders, decoders and evaluators recurse), and a call
 * takes at most this many arguments (the set of an `in` can be large). */
#define EXPR_MAX_DEPTH 200
#define EXPR_MAX_ARGS 1000000

enum expr_kind { EX_COL, EX_LIT, EX_CALL };

struct expr {
	enum expr_kind kind;
	enum vtype type;   /* EX_LIT: the literal's type; others: result type once bound */
	char *name;        /* EX_COL: column name; EX_CALL: function name */
	int col;           /* EX_COL: column index once bound */
	int fn;            /* EX_CALL: function index once bound */
	union {
		int64_t i; /* INT, TIME, BOOL */
		double f;
		char *s;
	} lit;
	int nargs;
	struct expr **args; /* nargs children, owned */
	void *prepared;     /* EX_CALL: what binding prepared for evaluation (the sorted set of a large
			     * `in`), owned; NULL when nothing was */
};

struct expr *expr_col(const char *name);
struct expr *expr_int(int64_t v);
struct expr *expr_float(double v);
struct expr *expr_bool(bool v);
struct expr *expr_time(int64_t ns);
struct expr *expr_str(const char *s);
/* A call; takes ownership of args (and frees them if it fails). */
struct expr *expr_call(const char *fn, int nargs, struct expr **args);
void expr_free(struct expr *e);

/* Resolves columns against `schema` and checks types. 0, or -1 with a message in err. */
int expr_bind(struct expr *e, const struct table *schema, char *err, size_t errlen);

/* Evaluates a bound expression over the rows of `in` listed in sel[0..n) (all rows when sel is
 * NULL, n = in->nrows): out receives a malloc'd array of n values, one per selected row, in
 * selection order (the caller frees out->v.p). 0, or -1 with the error in q. */
int expr_eval(struct qctx *q, const struct expr *e, const struct table *in, const uint32_t *sel, size_t n,
	      struct column *out);

#endif
