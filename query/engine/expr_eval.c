/* expr_eval.c - column-at-a-time evaluation of bound expressions (see expr.h). Each built-in
 * function's evaluator fills a whole output column from whole argument columns; literal
 * arguments are broadcast to columns, column arguments are borrowed (gathered under a
 * selection), never copied otherwise. */
#include "expr.h"
#include "expr_internal.h"
#include "sketch.h"
#include "core/frame.h"
#include "core/intern.h"
#include "core/qctx.h"

#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- evaluation helpers ---------------------------------------------------------------------- */

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

/* r[i] = A[i] op B[i] for every i < n, arrays of one numeric type. */
#define CMP_ARRAYS(A, B)                                                                           \
	do {                                                                                       \
		switch (op) {                                                                      \
		case CMP_EQ: CMP_LOOP(==, A, B); break;                                            \
		case CMP_NE: CMP_LOOP(!=, A, B); break;                                            \
		case CMP_LT: CMP_LOOP(<, A, B); break;                                             \
		case CMP_LE: CMP_LOOP(<=, A, B); break;                                            \
		case CMP_GT: CMP_LOOP(>, A, B); break;                                             \
		case CMP_GE: CMP_LOOP(>=, A, B); break;                                            \
		}                                                                                  \
	} while (0)

/* Two scratch arrays of n 8-byte values, where arguments are converted to one numeric type. */
struct scratch2 {
	void *a, *b;
};

static void scratch2_free(struct scratch2 *t)
{
	free(t->a);
	free(t->b);
}

/* 0, or -1 (error in q, nothing held) on out-of-memory. */
static int scratch2_get(struct qctx *q, size_t n, struct scratch2 *t)
{
	t->a = malloc(n * 8 + 8);
	t->b = malloc(n * 8 + 8);
	if (t->a && t->b)
		return 0;
	scratch2_free(t);
	return qctx_fail(q, "out of memory");
}

int eval_compare(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
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
	struct scratch2 t;
	if (scratch2_get(q, n, &t) < 0)
		return -1;
	if (x->type == VT_FLOAT || y->type == VT_FLOAT) {
		const double *A = as_f64(x, n, t.a), *B = as_f64(y, n, t.b);
		CMP_ARRAYS(A, B);
	} else {
		const int64_t *A = as_i64(x, n, t.a), *B = as_i64(y, n, t.b);
		CMP_ARRAYS(A, B);
	}
	scratch2_free(&t);
	return 0;
}

int eval_and(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	memcpy(out->v.b, a[0].v.b, n);
	for (int k = 1; k < e->nargs; k++)
		for (size_t i = 0; i < n; i++)
			out->v.b[i] &= a[k].v.b[i];
	return 0;
}

int eval_or(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	memcpy(out->v.b, a[0].v.b, n);
	for (int k = 1; k < e->nargs; k++)
		for (size_t i = 0; i < n; i++)
			out->v.b[i] |= a[k].v.b[i];
	return 0;
}

int eval_not(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out->v.b[i] = !a[0].v.b[i];
	return 0;
}

int eval_arith(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	char op = e->name[0] == 'a' ? '+' : e->name[0] == 's' ? '-' : e->name[0] == 'm' ?
		  (e->name[1] == 'u' ? '*' : '%') : e->name[0] == 'd' ? '/' : 'n';
	if (alloc_out(q, out, e->type, n) < 0)
		return -1;
	if (e->type == VT_FLOAT) {
		struct scratch2 t;
		if (scratch2_get(q, n, &t) < 0)
			return -1;
		const double *A = as_f64(&a[0], n, t.a), *B = op == 'n' ? A : as_f64(&a[1], n, t.b);
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
		scratch2_free(&t);
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

int eval_strpred(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
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

int eval_matches(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
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
	size_t matched = 0;
	for (size_t i = 0; i < n; i++) {
		if (a[0].v.s[i] != last) { /* rows repeat interned strings: match each once in a row */
			last = a[0].v.s[i];
			last_r = regexec(&re, last, 0, NULL, 0) == 0;
			if (++matched % 256 == 0 && qctx_check(q, 0) < 0)
				break; /* the deadline passed between two strings */
		}
		out->v.b[i] = last_r;
	}
	regfree(&re);
	return qctx_failed(q) ? -1 : 0;
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

int eval_to_string(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	char buf[4096];
	if (alloc_out(q, out, VT_STRING, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t used = 0;
		for (int k = 0; k < e->nargs && used < sizeof(buf) - 1; k++) {
			if (a[k].type == VT_STACK) {
				const char *f = qctx_stack_folded(q, a[k].v.k[i], FRAME_FUNCTION);
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

static bool in_ints(const struct in_set *s, int64_t v)
{
	return bsearch(&v, s->ints, s->nints, sizeof(*s->ints), cmp_i64) != NULL;
}

static bool in_dbls(const struct in_set *s, double v)
{
	return bsearch(&v, s->dbls, s->ndbls, sizeof(*s->dbls), cmp_f64) != NULL;
}

/* A large set: one binary search per row (strings: per distinct pointer, rows repeat them). */
static void in_sorted(const struct in_set *s, const struct column *c, size_t n, uint8_t *r)
{
	const char *last = NULL;
	bool last_r = false;
	for (size_t i = 0; i < n; i++)
		switch (c->type) {
		case VT_STRING:
			if (c->v.s[i] != last) {
				last = c->v.s[i];
				last_r = bsearch(&last, s->strs, s->nstrs, sizeof(*s->strs), cmp_str) != NULL;
			}
			r[i] = last_r;
			break;
		case VT_FLOAT: r[i] = in_dbls(s, c->v.f[i]); break;
		case VT_BOOL: r[i] = in_ints(s, c->v.b[i]) || in_dbls(s, c->v.b[i]); break;
		default: r[i] = in_ints(s, c->v.i[i]) || in_dbls(s, (double)c->v.i[i]); break;
		}
}

int eval_in(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	if (e->prepared) {
		in_sorted(e->prepared, &a[0], n, out->v.b);
		return 0;
	}
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

int eval_select(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	if (alloc_out(q, out, e->type, n) < 0)
		return -1;
	if (e->type == VT_FLOAT) {
		struct scratch2 t;
		if (scratch2_get(q, n, &t) < 0)
			return -1;
		const double *A = as_f64(&a[1], n, t.a), *B = as_f64(&a[2], n, t.b);
		for (size_t i = 0; i < n; i++)
			out->v.f[i] = a[0].v.b[i] ? A[i] : B[i];
		scratch2_free(&t);
	} else if (e->type == VT_BOOL) {
		for (size_t i = 0; i < n; i++)
			out->v.b[i] = a[0].v.b[i] ? a[1].v.b[i] : a[2].v.b[i];
	} else {
		for (size_t i = 0; i < n; i++)
			out->v.i[i] = a[0].v.b[i] ? a[1].v.i[i] : a[2].v.i[i];
	}
	return 0;
}

/* The view argument of leaf() and folded(), checked when bound. */
static enum frame_view view_arg(const struct expr *e)
{
	return e->nargs == 2 ? (enum frame_view)frame_view_parse(e->args[1]->lit.s) : FRAME_FUNCTION;
}

int eval_leaf(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	enum frame_view v = view_arg(e);
	if (alloc_out(q, out, VT_STRING, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct stack *st = a[0].v.k[i];
		if (i && st == a[0].v.k[i - 1])
			out->v.s[i] = out->v.s[i - 1];
		else if (!st->nframes)
			out->v.s[i] = "[no frames]";
		else if (!(out->v.s[i] = qctx_frame(q, st->frames[0], v)))
			return -1;
	}
	return 0;
}

int eval_depth(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_INT, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out->v.i[i] = a[0].v.k[i]->nframes;
	return 0;
}

int eval_folded(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	enum frame_view v = view_arg(e);
	if (alloc_out(q, out, VT_STRING, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!(out->v.s[i] = qctx_stack_folded(q, a[0].v.k[i], v)))
			return -1;
	return 0;
}

int eval_view(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	enum frame_view v = view_arg(e);
	if (alloc_out(q, out, VT_STACK, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!(out->v.k[i] = qctx_stack_view(q, a[0].v.k[i], v)))
			return -1;
	return 0;
}

/* frames(stack, kinds): each stack with only the frames of those kinds, in order. A stack they
 * all are stays itself; the others are made in the query's intern table (one reference each,
 * held by the table until the query ends), their frames interned there. */
int eval_frames(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	unsigned want = frame_kinds_parse(e->args[1]->lit.s);
	struct intern *it = qctx_intern(q);
	const char *keep[STACK_MAX_FRAMES];
	if (!it)
		return qctx_fail(q, "out of memory");
	if (alloc_out(q, out, VT_STACK, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct stack *st = a[0].v.k[i];
		if (i && st == a[0].v.k[i - 1]) {
			out->v.k[i] = out->v.k[i - 1];
			continue;
		}
		uint16_t nf = 0, nk = 0;
		for (uint16_t f = 0; f < st->nframes; f++) {
			enum frame_kind kind = f < st->nkernel ? FRAME_KERNEL : frame_user_kind(st->frames[f]);
			if (want & kind)
				keep[nf++] = st->frames[f];
			nk += (want & kind) && kind == FRAME_KERNEL;
		}
		if (nf == st->nframes) {
			out->v.k[i] = st;
			continue;
		}
		for (uint16_t f = 0; f < nf; f++)
			if (!(keep[f] = intern_str(it, keep[f])))
				return qctx_fail(q, "out of memory");
		struct stack *ns = intern_stack(it, keep, nf, nk);
		if (!ns)
			return qctx_fail(q, "out of memory");
		if (ns->refs > 1) /* the intern table keeps one reference per distinct stack */
			intern_stack_unref(it, ns);
		out->v.k[i] = ns;
	}
	return 0;
}

int eval_in_kernel(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_BOOL, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out->v.b[i] = a[0].v.k[i]->nkernel > 0; /* kernel frames come first: the leaf is one */
	return 0;
}

int eval_kernel_depth(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_INT, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out->v.i[i] = a[0].v.k[i]->nkernel;
	return 0;
}

int eval_has_function(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
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

int eval_qbucket(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
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

int eval_bin(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
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

int eval_to_int(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_INT, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out->v.i[i] = a[0].type == VT_FLOAT ? (int64_t)a[0].v.f[i] :
			      a[0].type == VT_BOOL ? a[0].v.b[i] : a[0].v.i[i];
	return 0;
}

int eval_to_float(struct qctx *q, const struct expr *e, struct column *a, size_t n, struct column *out)
{
	(void)e;
	if (alloc_out(q, out, VT_FLOAT, n) < 0)
		return -1;
	as_f64(&a[0], n, out->v.f);
	if (a[0].type == VT_FLOAT)
		memcpy(out->v.f, a[0].v.f, n * 8);
	return 0;
}

/* ---- expressions over columns ---------------------------------------------------------------- */

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

int expr_eval(struct qctx *q, const struct expr *e, const struct table *in, const uint32_t *sel, size_t n,
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
		} else if (expr_eval(q, a, in, sel, n, &argv[k]) < 0) {
			goto out;
		}
	}
	rc = expr_function(e->fn)->eval(q, e, argv, n, out);
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
