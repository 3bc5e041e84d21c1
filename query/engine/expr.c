/* expr.c - expressions: building them, binding them to an input schema (columns resolved, the
 * built-in functions' arity and type rules checked once), and the table of built-in functions
 * (see expr.h). Evaluation is in expr_eval.c. */
#include "expr.h"
#include "expr_internal.h"
#include "core/frame.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- construction ---------------------------------------------------------------------------- */

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
	if (e->prepared)
		expr_function(e->fn)->free_prepared(e->prepared);
	free(e);
}

/* ---- type rules ------------------------------------------------------------------------------ */

static bool is_numeric(enum vtype t)
{
	return t == VT_INT || t == VT_FLOAT || t == VT_TIME || t == VT_BOOL;
}

static int type_err(struct expr *e, char *err, size_t errlen, const char *want)
{
	char args[160] = "";
	for (int i = 0; i < e->nargs; i++) {
		size_t l = strlen(args);
		if (l > 100) { /* a set of thousands: the first types, then how many there are */
			snprintf(args + l, sizeof(args) - l, ", … (%d arguments)", e->nargs);
			break;
		}
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

/* Does a POSIX pattern hold a backreference (\1 to \9)? Matching those is NP-hard, and glibc's
 * matcher can then run for hours on one string, where no deadline can stop it. */
static bool has_backreference(const char *re)
{
	for (const char *p = re; *p; p++)
		if (*p == '\\' && p[1]) {
			if (p[1] >= '1' && p[1] <= '9')
				return true;
			p++; /* an escaped character, perhaps a backslash */
		}
	return false;
}

/* matches(string, 'regex'): POSIX extended regex; the pattern must be a literal, compile, and
 * hold no backreference (so matching a string takes time polynomial in its length). */
static int rule_matches(struct expr *e, char *err, size_t errlen)
{
	e->type = VT_BOOL;
	if (e->args[0]->type != VT_STRING || e->args[1]->kind != EX_LIT || e->args[1]->type != VT_STRING)
		return type_err(e, err, errlen, "takes (string, 'regex literal')");
	if (has_backreference(e->args[1]->lit.s)) {
		snprintf(err, errlen, "matches: '%s' has a backreference (\\1 to \\9); they are not supported",
			 e->args[1]->lit.s);
		return -1;
	}
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

void in_set_free(void *set)
{
	struct in_set *s = set;
	if (!s)
		return;
	free(s->ints);
	free(s->dbls);
	free(s->strs);
	free(s);
}

/* The sorted set of e's literals (see struct in_set), for a column of type col. NULL on OOM. */
static struct in_set *in_set_new(const struct expr *e, enum vtype col)
{
	size_t n = (size_t)e->nargs - 1;
	struct in_set *s = calloc(1, sizeof(*s));
	if (!s || !(s->ints = malloc(n * sizeof(*s->ints))) || !(s->dbls = malloc(n * sizeof(*s->dbls))) ||
	    !(s->strs = malloc(n * sizeof(*s->strs)))) {
		in_set_free(s);
		return NULL;
	}
	for (int k = 1; k < e->nargs; k++) {
		const struct expr *lit = e->args[k];
		if (lit->type == VT_STRING)
			s->strs[s->nstrs++] = lit->lit.s;
		else if (lit->type == VT_FLOAT && lit->lit.f == lit->lit.f)
			s->dbls[s->ndbls++] = lit->lit.f;
		else if (lit->type != VT_FLOAT && col == VT_FLOAT)
			s->dbls[s->ndbls++] = (double)lit->lit.i;
		else if (lit->type != VT_FLOAT)
			s->ints[s->nints++] = lit->lit.i;
	}
	qsort(s->ints, s->nints, sizeof(*s->ints), cmp_i64);
	qsort(s->dbls, s->ndbls, sizeof(*s->dbls), cmp_f64);
	qsort(s->strs, s->nstrs, sizeof(*s->strs), cmp_str);
	return s;
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
	in_set_free(e->prepared);
	e->prepared = NULL;
	if (e->nargs - 1 >= IN_SET_MIN && !(e->prepared = in_set_new(e, a))) {
		snprintf(err, errlen, "out of memory");
		return -1;
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

/* leaf(stack[, 'view']), folded(stack[, 'view']) and view(stack[, 'view']): the view is a
 * literal (core/frame.h). */
static int rule_viewed(struct expr *e, char *err, size_t errlen, enum vtype out)
{
	if (rule_stack_to(e, err, errlen, out) < 0)
		return -1;
	if (e->nargs == 2 && (e->args[1]->kind != EX_LIT || e->args[1]->type != VT_STRING ||
			      frame_view_parse(e->args[1]->lit.s) < 0))
		return type_err(e, err, errlen, "the view must be 'function', 'line' or 'raw'");
	return 0;
}

static int rule_stack_view(struct expr *e, char *err, size_t errlen)
{
	return rule_viewed(e, err, errlen, VT_STRING);
}

static int rule_view(struct expr *e, char *err, size_t errlen)
{
	return rule_viewed(e, err, errlen, VT_STACK);
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

static int rule_stack_bool(struct expr *e, char *err, size_t errlen)
{
	return rule_stack_to(e, err, errlen, VT_BOOL);
}

/* frames(stack, 'kinds'): the kinds are a literal (core/frame.h). */
static int rule_frames(struct expr *e, char *err, size_t errlen)
{
	if (rule_stack_to(e, err, errlen, VT_STACK) < 0)
		return -1;
	if (e->args[1]->kind != EX_LIT || e->args[1]->type != VT_STRING || !frame_kinds_parse(e->args[1]->lit.s))
		return type_err(e, err, errlen, "the kinds must be 'python', 'native' or 'kernel', or a list of them ('python,native')");
	return 0;
}

/* ---- the built-in functions ------------------------------------------------------------------ */

static const struct func_def functions[] = {
	{"eq", 2, 2, rule_compare, eval_compare, NULL},
	{"ne", 2, 2, rule_compare, eval_compare, NULL},
	{"lt", 2, 2, rule_compare, eval_compare, NULL},
	{"le", 2, 2, rule_compare, eval_compare, NULL},
	{"gt", 2, 2, rule_compare, eval_compare, NULL},
	{"ge", 2, 2, rule_compare, eval_compare, NULL},
	{"and", 1, -1, rule_logic, eval_and, NULL},
	{"or", 1, -1, rule_logic, eval_or, NULL},
	{"not", 1, 1, rule_logic, eval_not, NULL},
	{"add", 2, 2, rule_arith, eval_arith, NULL},
	{"sub", 2, 2, rule_arith, eval_arith, NULL},
	{"mul", 2, 2, rule_arith, eval_arith, NULL},
	{"div", 2, 2, rule_arith, eval_arith, NULL},
	{"mod", 2, 2, rule_arith, eval_arith, NULL},
	{"neg", 1, 1, rule_arith, eval_arith, NULL},
	{"contains", 2, 2, rule_strpred, eval_strpred, NULL},
	{"startswith", 2, 2, rule_strpred, eval_strpred, NULL},
	{"endswith", 2, 2, rule_strpred, eval_strpred, NULL},
	{"matches", 2, 2, rule_matches, eval_matches, NULL},
	{"concat", 1, -1, rule_concat, eval_to_string, NULL},
	{"string", 1, 1, rule_to_string, eval_to_string, NULL},
	{"int", 1, 1, rule_to_int, eval_to_int, NULL},
	{"float", 1, 1, rule_to_float, eval_to_float, NULL},
	{"in", 1, -1, rule_in, eval_in, in_set_free},
	{"select", 3, 3, rule_select, eval_select, NULL},
	{"leaf", 1, 2, rule_stack_view, eval_leaf, NULL},
	{"folded", 1, 2, rule_stack_view, eval_folded, NULL},
	{"view", 1, 2, rule_view, eval_view, NULL},
	{"depth", 1, 1, rule_depth, eval_depth, NULL},
	{"has_function", 2, 2, rule_has_function, eval_has_function, NULL},
	{"in_kernel", 1, 1, rule_stack_bool, eval_in_kernel, NULL},
	{"kernel_depth", 1, 1, rule_depth, eval_kernel_depth, NULL},
	{"bin", 2, 2, rule_bin, eval_bin, NULL},
	{"qbucket", 1, 1, rule_to_int, eval_qbucket, NULL},
	{"frames", 2, 2, rule_frames, eval_frames, NULL},
};
#define NFUNCTIONS (int)(sizeof(functions) / sizeof(functions[0]))

const struct func_def *expr_function(int fn)
{
	return fn >= 0 && fn < NFUNCTIONS ? &functions[fn] : NULL;
}

/* ---- binding --------------------------------------------------------------------------------- */

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
