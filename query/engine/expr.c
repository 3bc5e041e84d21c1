/* expr.c - binding and column-at-a-time evaluation of expressions (see expr.h).
 *
 * Each built-in function has a type rule (checked once, at bind time) and an evaluator that
 * fills a whole output column from whole argument columns. Literal arguments are broadcast to
 * columns; column arguments are borrowed, not copied. */
#include "expr.h"
#include "core/qctx.h"
#include "core/intern.h"

#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- construction ---------------------------------------------------------------------- */

static struct expr *expr_alloc(enum expr_kind kind, enum vtype type)
{
	struct expr *e = calloc(1, sizeof(*e));
	if (e) {
		e->kind = kind;
		e->type = type;
		e->col = e->fn = -1;
	}
	return e;
}

struct expr *expr_col(const char *name)
{
	struct expr *e = expr_alloc(EX_COL, VT_INT);
	if (e && !(e->name = strdup(name))) {
		free(e);
		return NULL;
	}
	return e;
}

struct expr *expr_int(int64_t v)
{
	struct expr *e = expr_alloc(EX_LIT, VT_INT);
	if (e)
		e->lit.i = v;
	return e;
}

struct expr *expr_float(double v)
{
	struct expr *e = expr_alloc(EX_LIT, VT_FLOAT);
	if (e)
		e->lit.f = v;
	return e;
}

struct expr *expr_bool(bool v)
{
	struct expr *e = expr_alloc(EX_LIT, VT_BOOL);
	if (e)
		e->lit.i = v;
	return e;
}

struct expr *expr_time(int64_t ns)
{
	struct expr *e = expr_alloc(EX_LIT, VT_TIME);
	if (e)
		e->lit.i = ns;
	return e;
}

struct expr *expr_str(const char *s)
{
	struct expr *e = expr_alloc(EX_LIT, VT_STRING);
	if (e && !(e->lit.s = strdup(s))) {
		free(e);
		return NULL;
	}
	return e;
}

struct expr *expr_call(const char *fn, int nargs, struct expr **args)
{
	struct expr *e = expr_alloc(EX_CALL, VT_BOOL);
	if (!e || !(e->name = strdup(fn)) || !(e->args = calloc(nargs ? nargs : 1, sizeof(*args)))) {
		for (int i = 0; i < nargs; i++)
			expr_free(args[i]);
		expr_free(e);
		return NULL;
	}
	e->nargs = nargs;
	memcpy(e->args, args, nargs * sizeof(*args));
	return e;
}

void expr_free(struct expr *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->nargs; i++)
		expr_free(e->args[i]);
	free(e->args);
	free(e->name);
	if (e->kind == EX_LIT && e->type == VT_STRING)
		free(e->lit.s);
	free(e);
}

struct expr *expr_clone(const struct expr *e)
{
	struct expr *c = expr_alloc(e->kind, e->type);
	if (!c)
		return NULL;
	*c = *e;
	c->name = NULL;
	c->args = NULL;
	c->nargs = 0;
	if (e->kind == EX_LIT && e->type == VT_STRING && !(c->lit.s = strdup(e->lit.s)))
		goto fail;
	if (e->name && !(c->name = strdup(e->name)))
		goto fail;
	if (e->nargs) {
		if (!(c->args = calloc(e->nargs, sizeof(*c->args))))
			goto fail;
		for (; c->nargs < e->nargs; c->nargs++)
			if (!(c->args[c->nargs] = expr_clone(e->args[c->nargs])))
				goto fail;
	}
	return c;
fail:
	if (e->kind == EX_LIT && e->type == VT_STRING && c->lit.s == e->lit.s)
		c->lit.s = NULL;
	expr_free(c);
	return NULL;
}

/* ---- type rules -------------------------------------------------------------------------- */

typedef int (*eval_fn)(struct qctx *q, const struct expr *e, struct column *argv, size_t n,
		       struct column *out);

struct func_def {
	const char *name;
	int min_args, max_args; /* max -1 = variadic */
	int (*type_rule)(struct expr *e, char *err, size_t errlen);
	eval_fn eval;
};

static bool is_numeric(enum vtype t)
{
	return t == VT_INT || t == VT_FLOAT || t == VT_TIME || t == VT_BOOL;
}

static int type_err(struct expr *e, char *err, size_t errlen, const char *want)
{
	char args[128] = "";
	for (int i = 0; i < e->nargs; i++) {
		size_t l = strlen(args);
		snprintf(args + l, sizeof(args) - l, "%s%s", i ? ", " : "", vtype_name(e->args[i]->type));
	}
	snprintf(err, errlen, "%s(%s): %s", e->name, args, want);
	return -1;
}

static int rule_compare(struct expr *e, char *err, size_t errlen)
{
	enum vtype a = e->args[0]->type, b = e->args[1]->type;
	bool eqop = !strcmp(e->name, "eq") || !strcmp(e->name, "ne");
	e->type = VT_BOOL;
	if (is_numeric(a) && is_numeric(b))
		return 0;
	if (a == VT_STRING && b == VT_STRING)
		return 0;
	if (eqop && a == VT_STACK && b == VT_STACK)
		return 0;
	return type_err(e, err, errlen, "cannot compare these types");
}

static int rule_logic(struct expr *e, char *err, size_t errlen)
{
	e->type = VT_BOOL;
	for (int i = 0; i < e->nargs; i++)
		if (e->args[i]->type != VT_BOOL)
			return type_err(e, err, errlen, "arguments must be bool");
	return 0;
}

static int rule_arith(struct expr *e, char *err, size_t errlen)
{
	enum vtype a = e->args[0]->type, b = e->nargs > 1 ? e->args[1]->type : VT_INT;
	if (!is_numeric(a) || !is_numeric(b) || a == VT_BOOL || b == VT_BOOL)
		return type_err(e, err, errlen, "arguments must be numbers");
	if (!strcmp(e->name, "div"))
		e->type = VT_FLOAT;
	else if (a == VT_FLOAT || b == VT_FLOAT)
		e->type = VT_FLOAT;
	else if (a == VT_TIME && b == VT_TIME)
		e->type = !strcmp(e->name, "sub") ? VT_INT : VT_TIME;
	else if (a == VT_TIME || b == VT_TIME)
		e->type = VT_TIME;
	else
		e->type = VT_INT;
	return 0;
}

static int rule_strpred(struct expr *e, char *err, size_t errlen)
{
	e->type = VT_BOOL;
	if (e->args[0]->type != VT_STRING || e->args[1]->type != VT_STRING)
		return type_err(e, err, errlen, "arguments must be strings");
	return 0;
}

/* matches(string, 'regex'): POSIX extended regex; the pattern must be a literal and compile. */
static int rule_matches(struct expr *e, char *err, size_t errlen)
{
	e->type = VT_BOOL;
	if (e->args[0]->type != VT_STRING || e->args[1]->kind != EX_LIT || e->args[1]->type != VT_STRING)
		return type_err(e, err, errlen, "takes (string, 'regex literal')");
	regex_t re;
	int rc = regcomp(&re, e->args[1]->lit.s, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char why[128];
		regerror(rc, &re, why, sizeof(why));
		snprintf(err, errlen, "matches: bad regex '%s': %s", e->args[1]->lit.s, why);
		return -1;
	}
	regfree(&re);
	return 0;
}

static int rule_concat(struct expr *e, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	e->type = VT_STRING;
	return 0;
}

static int rule_in(struct expr *e, char *err, size_t errlen)
{
	e->type = VT_BOOL;
	enum vtype a = e->args[0]->type;
	for (int i = 1; i < e->nargs; i++) {
		enum vtype b = e->args[i]->type;
		if (e->args[i]->kind != EX_LIT)
			return type_err(e, err, errlen, "the set must hold literals");
		if (!((is_numeric(a) && is_numeric(b)) || (a == VT_STRING && b == VT_STRING)))
			return type_err(e, err, errlen, "set values must have the column's type");
	}
	return 0;
}

static int rule_select(struct expr *e, char *err, size_t errlen)
{
	enum vtype a = e->args[1]->type, b = e->args[2]->type;
	if (e->args[0]->type != VT_BOOL)
		return type_err(e, err, errlen, "the condition must be bool");
	if (a == b)
		e->type = a;
	else if (is_numeric(a) && is_numeric(b) && a != VT_BOOL && b != VT_BOOL)
		e->type = (a == VT_FLOAT || b == VT_FLOAT) ? VT_FLOAT : VT_INT;
	else
		return type_err(e, err, errlen, "both branches must have the same type");
	return 0;
}

static int rule_stack_to(struct expr *e, char *err, size_t errlen, enum vtype out)
{
	e->type = out;
	if (e->args[0]->type != VT_STACK)
		return type_err(e, err, errlen, "the argument must be a stack");
	return 0;
}

static int rule_leaf(struct expr *e, char *err, size_t errlen)
{
	return rule_stack_to(e, err, errlen, VT_STRING);
}

static int rule_depth(struct expr *e, char *err, size_t errlen)
{
	return rule_stack_to(e, err, errlen, VT_INT);
}

static int rule_has_function(struct expr *e, char *err, size_t errlen)
{
	e->type = VT_BOOL;
	if (e->args[0]->type != VT_STACK || e->args[1]->type != VT_STRING)
		return type_err(e, err, errlen, "takes (stack, string)");
	return 0;
}

static int rule_bin(struct expr *e, char *err, size_t errlen)
{
	e->type = VT_TIME;
	if (e->args[0]->type != VT_TIME || e->args[1]->type != VT_INT || e->args[1]->kind != EX_LIT ||
	    e->args[1]->lit.i <= 0)
		return type_err(e, err, errlen, "takes (time, positive duration in ns)");
	return 0;
}

static int rule_to_string(struct expr *e, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	e->type = VT_STRING;
	return 0;
}

static int rule_to_int(struct expr *e, char *err, size_t errlen)
{
	e->type = VT_INT;
	if (!is_numeric(e->args[0]->type))
		return type_err(e, err, errlen, "takes a number");
	return 0;
}

static int rule_to_float(struct expr *e, char *err, size_t errlen)
{
	e->type = VT_FLOAT;
	if (!is_numeric(e->args[0]->type))
		return type_err(e, err, errlen, "takes a number");
	return 0;
}

/* ---- evaluation helpers ------------------------------------------------------------------ */

static int alloc_out(struct qctx *q, struct column *out, enum vtype t, size_t n)
{
	out->type = t;
	out->name = NULL;
	out->v.p = malloc((n ? n : 1) * vtype_size(t));
	if (!out->v.p)
		return qctx_fail(q, "out of memory");
	return 0;
}

/* A numeric argument as doubles: a borrowed pointer when already float, else converted into tmp. */
static const double *as_f64(const struct column *c, size_t n, double *tmp)
{
	if (c->type == VT_FLOAT)
		return c->v.f;
	if (c->type == VT_BOOL)
		for (size_t i = 0; i < n; i++)
			tmp[i] = c->v.b[i];
	else
		for (size_t i = 0; i < n; i++)
			tmp[i] = (double)c->v.i[i];
	return tmp;
}

static const int64_t *as_i64(const struct column *c, size_t n, int64_t *tmp)
{
	if (c->type == VT_INT || c->type == VT_TIME)
		return c->v.i;
	if (c->type == VT_BOOL)
		for (size_t i = 0; i < n; i++)
			tmp[i] = c->v.b[i];
	else
		for (size_t i = 0; i < n; i++)
			tmp[i] = (int64_t)c->v.f[i];
	return tmp;
}

enum cmp_op { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

static enum cmp_op cmp_op_of(const char *name)
{
	static const char *const names[] = {"eq", "ne", "lt", "le", "gt", "ge"};
	for (int i = 0; i < 6; i++)
		if (!strcmp(names[i], name))
			return (enum cmp_op)i;
	return CMP_EQ;
}

static inline uint8_t cmp_result(enum cmp_op op, int c)
{
	switch (op) {
	case CMP_EQ: return c == 0;
	case CMP_NE: return c != 0;
	case CMP_LT: return c < 0;
	case CMP_LE: return c <= 0;
	case CMP_GT: return c > 0;
	default: return c >= 0;
	}
}

#define CMP_LOOP(OP, A, B)                                                                         \
	do {                                                                                       \
		for (size_t i = 0; i < n; i++)                                                     \
			r[i] = (A[i])OP(B[i]);                                                     \
	} while (0)

static int eval_compare(struct qctx *q, const struct expr *e, struct column *a, size_t n,
			struct column *out)
{
	enum cmp_op op = cmp_op_of(e->name);
	struct column *x = &a[0], *y = &a[1];
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	uint8_t *r = out->v.b;
	if (x->type == VT_STRING) {
		for (size_t i = 0; i < n; i++)
			r[i] = cmp_result(op, x->v.s[i] == y->v.s[i] ? 0 : strcmp(x->v.s[i], y->v.s[i]));
		return 0;
	}
	if (x->type == VT_STACK) {
		for (size_t i = 0; i < n; i++)
			r[i] = stack_equal(x->v.k[i], y->v.k[i]) == (op == CMP_EQ);
		return 0;
	}
	if (x->type == VT_FLOAT || y->type == VT_FLOAT) {
		double *t1 = malloc(n * 8 + 8), *t2 = malloc(n * 8 + 8);
		if (!t1 || !t2) {
			free(t1);
			free(t2);
			return qctx_fail(q, "out of memory");
		}
		const double *A = as_f64(x, n, t1), *B = as_f64(y, n, t2);
		switch (op) {
		case CMP_EQ: CMP_LOOP(==, A, B); break;
		case CMP_NE: CMP_LOOP(!=, A, B); break;
		case CMP_LT: CMP_LOOP(<, A, B); break;
		case CMP_LE: CMP_LOOP(<=, A, B); break;
		case CMP_GT: CMP_LOOP(>, A, B); break;
		case CMP_GE: CMP_LOOP(>=, A, B); break;
		}
		free(t1);
		free(t2);
		return 0;
	}
	int64_t *t1 = malloc(n * 8 + 8), *t2 = malloc(n * 8 + 8);
	if (!t1 || !t2) {
		free(t1);
		free(t2);
		return qctx_fail(q, "out of memory");
	}
	const int64_t *A = as_i64(x, n, t1), *B = as_i64(y, n, t2);
	switch (op) {
	case CMP_EQ: CMP_LOOP(==, A, B); break;
	case CMP_NE: CMP_LOOP(!=, A, B); break;
	case CMP_LT: CMP_LOOP(<, A, B); break;
	case CMP_LE: CMP_LOOP(<=, A, B); break;
	case CMP_GT: CMP_LOOP(>, A, B); break;
	case CMP_GE: CMP_LOOP(>=, A, B); break;
	}
	free(t1);
	free(t2);
	return 0;
}

static int eval_and(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	memcpy(out->v.b, a[0].v.b, n);
	for (int k = 1; k < e->nargs; k++)
		for (size_t i = 0; i < n; i++)
			out->v.b[i] &= a[k].v.b[i];
	return 0;
}

static int eval_or(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	memcpy(out->v.b, a[0].v.b, n);
	for (int k = 1; k < e->nargs; k++)
		for (size_t i = 0; i < n; i++)
			out->v.b[i] |= a[k].v.b[i];
	return 0;
}

static int eval_not(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out->v.b[i] = !a[0].v.b[i];
	return 0;
}

static int eval_arith(struct qctx *q, const struct expr *e, struct column *a, size_t n,
		      struct column *out)
{
	char op = e->name[0] == 'a' ? '+' : e->name[0] == 's' ? '-' : e->name[0] == 'm' ?
		  (e->name[1] == 'u' ? '*' : '%') : e->name[0] == 'd' ? '/' : 'n';
	if (alloc_out(q, out, e->type, n) < 0)
		return -1;
	if (e->type == VT_FLOAT) {
		double *t1 = malloc(n * 8 + 8), *t2 = malloc(n * 8 + 8);
		if (!t1 || !t2) {
			free(t1);
			free(t2);
			return qctx_fail(q, "out of memory");
		}
		const double *A = as_f64(&a[0], n, t1), *B = op == 'n' ? A : as_f64(&a[1], n, t2);
		double *r = out->v.f;
		for (size_t i = 0; i < n; i++) {
			switch (op) {
			case '+': r[i] = A[i] + B[i]; break;
			case '-': r[i] = A[i] - B[i]; break;
			case '*': r[i] = A[i] * B[i]; break;
			case '/': r[i] = B[i] != 0 ? A[i] / B[i] : NAN; break;
			case '%': r[i] = B[i] != 0 ? fmod(A[i], B[i]) : NAN; break;
			default: r[i] = -A[i]; break;
			}
		}
		free(t1);
		free(t2);
		return 0;
	}
	const int64_t *A = a[0].v.i, *B = op == 'n' ? A : a[1].v.i;
	int64_t *r = out->v.i;
	for (size_t i = 0; i < n; i++) {
		switch (op) {
		case '+': r[i] = (int64_t)((uint64_t)A[i] + (uint64_t)B[i]); break;
		case '-': r[i] = (int64_t)((uint64_t)A[i] - (uint64_t)B[i]); break;
		case '*': r[i] = (int64_t)((uint64_t)A[i] * (uint64_t)B[i]); break;
		case '%': r[i] = (B[i] == 0 || (B[i] == -1)) ? 0 : A[i] % B[i]; break;
		default: r[i] = (int64_t)(0 - (uint64_t)A[i]); break;
		}
	}
	return 0;
}

static int eval_strpred(struct qctx *q, const struct expr *e, struct column *a, size_t n,
			struct column *out)
{
	char kind = e->name[0]; /* c(ontains), s(tartswith), e(ndswith) */
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *s = a[0].v.s[i], *p = a[1].v.s[i];
		if (kind == 'c') {
			out->v.b[i] = strstr(s, p) != NULL;
		} else {
			size_t ls = strlen(s), lp = strlen(p);
			out->v.b[i] = lp <= ls && memcmp(kind == 's' ? s : s + ls - lp, p, lp) == 0;
		}
	}
	return 0;
}

static int eval_matches(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	regex_t re;
	if (regcomp(&re, e->args[1]->lit.s, REG_EXTENDED | REG_NOSUB) != 0)
		return qctx_fail(q, "matches: bad regex");
	if (alloc_out(q, out, VT_BOOL, n) < 0) {
		regfree(&re);
		return -1;
	}
	const char *last = NULL;
	uint8_t last_r = 0;
	for (size_t i = 0; i < n; i++) {
		if (a[0].v.s[i] != last) { /* rows repeat interned strings: match each once in a row */
			last = a[0].v.s[i];
			last_r = regexec(&re, last, 0, NULL, 0) == 0;
		}
		out->v.b[i] = last_r;
	}
	regfree(&re);
	return 0;
}

static int format_value(char *buf, size_t len, const struct column *c, size_t i)
{
	switch (c->type) {
	case VT_BOOL: return snprintf(buf, len, "%s", c->v.b[i] ? "true" : "false");
	case VT_FLOAT: return snprintf(buf, len, "%.17g", c->v.f[i]);
	case VT_STRING: return snprintf(buf, len, "%s", c->v.s[i]);
	case VT_STACK: return snprintf(buf, len, "<stack of %u frames>", c->v.k[i]->nframes);
	default: return snprintf(buf, len, "%" PRId64, c->v.i[i]);
	}
}

static int eval_to_string(struct qctx *q, const struct expr *e, struct column *a, size_t n,
			  struct column *out)
{
	char buf[4096];
	if (alloc_out(q, out, VT_STRING, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t used = 0;
		for (int k = 0; k < e->nargs && used < sizeof(buf) - 1; k++) {
			if (a[k].type == VT_STACK) {
				const char *f = qctx_stack_folded(q, a[k].v.k[i]);
				if (!f)
					return -1;
				used += snprintf(buf + used, sizeof(buf) - used, "%s", f);
			} else {
				used += format_value(buf + used, sizeof(buf) - used, &a[k], i);
			}
			if (used > sizeof(buf) - 1)
				used = sizeof(buf) - 1;
		}
		if (e->nargs == 1 && a[0].type == VT_STRING) {
			out->v.s[i] = a[0].v.s[i];
			continue;
		}
		if (!(out->v.s[i] = qctx_strndup(q, buf, used)))
			return -1;
	}
	return 0;
}

static int eval_in(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	memset(out->v.b, 0, n);
	for (int k = 1; k < e->nargs; k++) {
		const struct expr *lit = e->args[k];
		for (size_t i = 0; i < n; i++) {
			if (out->v.b[i])
				continue;
			switch (a[0].type) {
			case VT_STRING: out->v.b[i] = strcmp(a[0].v.s[i], lit->lit.s) == 0; break;
			case VT_FLOAT:
				out->v.b[i] = a[0].v.f[i] == (lit->type == VT_FLOAT ? lit->lit.f : (double)lit->lit.i);
				break;
			case VT_BOOL: out->v.b[i] = a[0].v.b[i] == (lit->type == VT_FLOAT ? lit->lit.f : lit->lit.i); break;
			default:
				out->v.b[i] = lit->type == VT_FLOAT ? (double)a[0].v.i[i] == lit->lit.f
								    : a[0].v.i[i] == lit->lit.i;
				break;
			}
		}
	}
	return 0;
}

static int eval_select(struct qctx *q, const struct expr *e, struct column *a, size_t n,
		       struct column *out)
{
	if (alloc_out(q, out, e->type, n) < 0)
		return -1;
	if (e->type == VT_FLOAT) {
		double *t1 = malloc(n * 8 + 8), *t2 = malloc(n * 8 + 8);
		if (!t1 || !t2) {
			free(t1);
			free(t2);
			return qctx_fail(q, "out of memory");
		}
		const double *A = as_f64(&a[1], n, t1), *B = as_f64(&a[2], n, t2);
		for (size_t i = 0; i < n; i++)
			out->v.f[i] = a[0].v.b[i] ? A[i] : B[i];
		free(t1);
		free(t2);
	} else if (e->type == VT_BOOL) {
		for (size_t i = 0; i < n; i++)
			out->v.b[i] = a[0].v.b[i] ? a[1].v.b[i] : a[2].v.b[i];
	} else {
		for (size_t i = 0; i < n; i++)
			out->v.i[i] = a[0].v.b[i] ? a[1].v.i[i] : a[2].v.i[i];
	}
	return 0;
}

static int eval_leaf(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_STRING, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out->v.s[i] = a[0].v.k[i]->nframes ? a[0].v.k[i]->frames[0] : "[no frames]";
	return 0;
}

static int eval_depth(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_INT, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out->v.i[i] = a[0].v.k[i]->nframes;
	return 0;
}

static int eval_folded(struct qctx *q, const struct expr *e, struct column *a, size_t n,
		       struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_STRING, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!(out->v.s[i] = qctx_stack_folded(q, a[0].v.k[i])))
			return -1;
	return 0;
}

static int eval_in_kernel(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out->v.b[i] = a[0].v.k[i]->nkernel > 0; /* kernel frames come first: the leaf is one */
	return 0;
}

static int eval_kernel_depth(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_INT, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out->v.i[i] = a[0].v.k[i]->nkernel;
	return 0;
}

static int rule_stack_bool(struct expr *e, char *err, size_t errlen)
{
	return rule_stack_to(e, err, errlen, VT_BOOL);
}

static int eval_has_function(struct qctx *q, const struct expr *e, struct column *a, size_t n,
			     struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	const struct stack *last = NULL;
	uint8_t last_r = 0;
	for (size_t i = 0; i < n; i++) {
		const struct stack *st = a[0].v.k[i];
		const char *pat = a[1].v.s[i];
		if (st != last || (i && pat != a[1].v.s[i - 1])) {
			last_r = 0;
			for (int f = 0; f < st->nframes && !last_r; f++)
				last_r = strstr(st->frames[f], pat) != NULL;
			last = st;
		}
		out->v.b[i] = last_r;
	}
	return 0;
}

static int eval_qbucket(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_INT, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		double x = a[0].type == VT_FLOAT ? a[0].v.f[i] : a[0].type == VT_BOOL ? a[0].v.b[i] : (double)a[0].v.i[i];
		out->v.i[i] = quantile_bucket(x);
	}
	return 0;
}

static int eval_bin(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	if (alloc_out(q, out, VT_TIME, n) < 0)
		return -1;
	int64_t w = e->args[1]->lit.i;
	for (size_t i = 0; i < n; i++) {
		int64_t t = a[0].v.i[i];
		int64_t r = t % w;
		out->v.i[i] = t - (r < 0 ? r + w : r);
	}
	return 0;
}

static int eval_to_int(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_INT, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out->v.i[i] = a[0].type == VT_FLOAT ? (int64_t)a[0].v.f[i] :
			      a[0].type == VT_BOOL ? a[0].v.b[i] : a[0].v.i[i];
	return 0;
}

static int eval_to_float(struct qctx *q, const struct expr *e, struct column *a, size_t n,
			 struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_FLOAT, n) < 0)
		return -1;
	as_f64(&a[0], n, out->v.f);
	if (a[0].type == VT_FLOAT)
		memcpy(out->v.f, a[0].v.f, n * 8);
	return 0;
}

static const struct func_def functions[] = {
	{"eq", 2, 2, rule_compare, eval_compare},
	{"ne", 2, 2, rule_compare, eval_compare},
	{"lt", 2, 2, rule_compare, eval_compare},
	{"le", 2, 2, rule_compare, eval_compare},
	{"gt", 2, 2, rule_compare, eval_compare},
	{"ge", 2, 2, rule_compare, eval_compare},
	{"and", 1, -1, rule_logic, eval_and},
	{"or", 1, -1, rule_logic, eval_or},
	{"not", 1, 1, rule_logic, eval_not},
	{"add", 2, 2, rule_arith, eval_arith},
	{"sub", 2, 2, rule_arith, eval_arith},
	{"mul", 2, 2, rule_arith, eval_arith},
	{"div", 2, 2, rule_arith, eval_arith},
	{"mod", 2, 2, rule_arith, eval_arith},
	{"neg", 1, 1, rule_arith, eval_arith},
	{"contains", 2, 2, rule_strpred, eval_strpred},
	{"startswith", 2, 2, rule_strpred, eval_strpred},
	{"endswith", 2, 2, rule_strpred, eval_strpred},
	{"matches", 2, 2, rule_matches, eval_matches},
	{"concat", 1, -1, rule_concat, eval_to_string},
	{"string", 1, 1, rule_to_string, eval_to_string},
	{"int", 1, 1, rule_to_int, eval_to_int},
	{"float", 1, 1, rule_to_float, eval_to_float},
	{"in", 1, -1, rule_in, eval_in},
	{"select", 3, 3, rule_select, eval_select},
	{"leaf", 1, 1, rule_leaf, eval_leaf},
	{"folded", 1, 1, rule_leaf, eval_folded},
	{"depth", 1, 1, rule_depth, eval_depth},
	{"has_function", 2, 2, rule_has_function, eval_has_function},
	{"in_kernel", 1, 1, rule_stack_bool, eval_in_kernel},
	{"kernel_depth", 1, 1, rule_depth, eval_kernel_depth},
	{"bin", 2, 2, rule_bin, eval_bin},
	{"qbucket", 1, 1, rule_to_int, eval_qbucket},
};
#define NFUNCTIONS (int)(sizeof(functions) / sizeof(functions[0]))

bool expr_function_exists(const char *name)
{
	for (int i = 0; i < NFUNCTIONS; i++)
		if (!strcmp(functions[i].name, name))
			return true;
	return false;
}

int expr_bind(struct expr *e, const struct table *schema, char *err, size_t errlen)
{
	switch (e->kind) {
	case EX_LIT:
		return 0;
	case EX_COL:
		e->col = table_find(schema, e->name);
		if (e->col < 0) {
			char cols[256] = "";
			for (int c = 0; c < schema->ncols; c++) {
				size_t l = strlen(cols);
				snprintf(cols + l, sizeof(cols) - l, "%s%s", c ? ", " : "", schema->cols[c].name);
			}
			snprintf(err, errlen, "unknown column '%s' (columns: %s)", e->name, cols);
			return -1;
		}
		e->type = schema->cols[e->col].type;
		return 0;
	case EX_CALL:
		for (int i = 0; i < e->nargs; i++)
			if (expr_bind(e->args[i], schema, err, errlen) < 0)
				return -1;
		for (int f = 0; f < NFUNCTIONS; f++) {
			if (strcmp(functions[f].name, e->name))
				continue;
			if (e->nargs < functions[f].min_args ||
			    (functions[f].max_args >= 0 && e->nargs > functions[f].max_args)) {
				snprintf(err, errlen, "%s() takes %d%s argument%s, got %d", e->name,
					 functions[f].min_args, functions[f].max_args < 0 ? " or more" : "",
					 functions[f].min_args == 1 ? "" : "s", e->nargs);
				return -1;
			}
			e->fn = f;
			return functions[f].type_rule(e, err, errlen);
		}
		snprintf(err, errlen, "unknown function '%s'", e->name);
		return -1;
	}
	return -1;
}

static int broadcast(struct qctx *q, const struct expr *lit, size_t n, struct column *out)
{
	if (alloc_out(q, out, lit->type, n) < 0)
		return -1;
	switch (lit->type) {
	case VT_BOOL: memset(out->v.b, (int)lit->lit.i, n); break;
	case VT_FLOAT: for (size_t i = 0; i < n; i++) out->v.f[i] = lit->lit.f; break;
	case VT_STRING: {
		const char *s = qctx_strndup(q, lit->lit.s, strlen(lit->lit.s));
		if (!s)
			return -1;
		for (size_t i = 0; i < n; i++)
			out->v.s[i] = s;
		break;
	}
	default: for (size_t i = 0; i < n; i++) out->v.i[i] = lit->lit.i; break;
	}
	return 0;
}

/* Column c at the selected rows: a borrowed pointer without a selection, else gathered into a
 * new array (*owned set). */
static int column_at(struct qctx *q, const struct column *c, const uint32_t *sel, size_t n, struct column *out,
		     bool *owned)
{
	*out = *c;
	*owned = sel != NULL;
	if (!sel)
		return 0;
	if (alloc_out(q, out, c->type, n) < 0)
		return -1;
	if (vtype_size(c->type) == 8)
		for (size_t i = 0; i < n; i++)
			out->v.i[i] = c->v.i[sel[i]];
	else
		for (size_t i = 0; i < n; i++)
			out->v.b[i] = c->v.b[sel[i]];
	return 0;
}

int expr_eval_sel(struct qctx *q, const struct expr *e, const struct table *in, const uint32_t *sel, size_t n,
		  struct column *out)
{
	memset(out, 0, sizeof(*out));
	if (e->kind == EX_LIT)
		return broadcast(q, e, n, out);
	if (e->kind == EX_COL) {
		const struct column *c = &in->cols[e->col];
		bool owned;
		if (sel)
			return column_at(q, c, sel, n, out, &owned);
		if (alloc_out(q, out, c->type, n) < 0)
			return -1;
		memcpy(out->v.p, c->v.p, n * vtype_size(c->type));
		return 0;
	}
	/* EX_CALL: borrow column arguments (gathered under a selection), materialize the rest.
	 * `in` literals need no columns. */
	struct column argv[e->nargs ? e->nargs : 1];
	bool owned[e->nargs ? e->nargs : 1];
	int rc = -1, k;
	for (k = 0; k < e->nargs; k++) {
		const struct expr *a = e->args[k];
		owned[k] = a->kind != EX_COL;
		if (a->kind == EX_COL) {
			if (column_at(q, &in->cols[a->col], sel, n, &argv[k], &owned[k]) < 0)
				goto out;
		} else if (a->kind == EX_LIT && (e->fn >= 0 && !strcmp(e->name, "in") && k > 0)) {
			memset(&argv[k], 0, sizeof(argv[k]));
			argv[k].type = a->type;
		} else if (expr_eval_sel(q, a, in, sel, n, &argv[k]) < 0) {
			goto out;
		}
	}
	rc = functions[e->fn].eval(q, e, argv, n, out);
out:
	for (int i = 0; i < k; i++)
		if (owned[i])
			free(argv[i].v.p);
	if (rc < 0) {
		free(out->v.p);
		out->v.p = NULL;
	}
	return rc;
}

int expr_eval(struct qctx *q, const struct expr *e, const struct table *in, struct column *out)
{
	return expr_eval_sel(q, e, in, NULL, in->nrows, out);
}

void expr_format(const struct expr *e, char *buf, size_t len)
{
	size_t used;
	switch (e->kind) {
	case EX_COL: snprintf(buf, len, "%s", e->name); return;
	case EX_LIT:
		switch (e->type) {
		case VT_STRING: snprintf(buf, len, "'%s'", e->lit.s); return;
		case VT_FLOAT: snprintf(buf, len, "%g", e->lit.f); return;
		case VT_BOOL: snprintf(buf, len, "%s", e->lit.i ? "true" : "false"); return;
		default: snprintf(buf, len, "%" PRId64, e->lit.i); return;
		}
	case EX_CALL:
		used = snprintf(buf, len, "%s(", e->name);
		for (int i = 0; i < e->nargs && used < len; i++) {
			if (i)
				used += snprintf(buf + used, len - used, ", ");
			if (used < len)
				expr_format(e->args[i], buf + used, len - used);
			used += strlen(buf + used);
		}
		if (used < len)
			snprintf(buf + used, len - used, ")");
	}
}

/* ---- quantile sketch buckets ------------------------------------------------------------------ */

/* Log buckets of ratio GAMMA = (1 + A) / (1 - A), A = QUANTILE_ERROR: every value in bucket k
 * (GAMMA^(k-1), GAMMA^k] is within relative error A of the bucket's representative
 * 2 GAMMA^k / (GAMMA + 1). Keys: 0 for zero (and NaN), OFFSET + k for x > 0, -(OFFSET + k) for
 * x < 0, so keys sort in value order. */
#define QB_OFFSET 100000
static double qb_log_gamma(void)
{
	static double lg;
	if (!lg)
		lg = log((1.0 + QUANTILE_ERROR) / (1.0 - QUANTILE_ERROR));
	return lg;
}

int64_t quantile_bucket(double x)
{
	if (!(x == x) || x == 0)
		return 0;
	double ax = fabs(x);
	int64_t k = (int64_t)ceil(log(ax) / qb_log_gamma());
	if (k < -QB_OFFSET + 1)
		k = -QB_OFFSET + 1;
	if (k > QB_OFFSET * 10)
		k = QB_OFFSET * 10;
	return x > 0 ? QB_OFFSET + k : -(QB_OFFSET + k);
}

double quantile_value(int64_t key)
{
	if (key == 0)
		return 0;
	double g = exp(qb_log_gamma());
	int64_t k = (key > 0 ? key : -key) - QB_OFFSET;
	double v = 2.0 * pow(g, (double)k) / (g + 1.0);
	return key > 0 ? v : -v;
}
