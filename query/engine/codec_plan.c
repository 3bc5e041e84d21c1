/* codec_plan.c - plans and expressions on the wire (see codec.h for the layout). The decoder
 * rebuilds a plan through the validating builders (plan.c), so a decoded plan is checked as a
 * script-built one is; nothing in the message is trusted. */
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- expressions ----------------------------------------------------------------------------- */

/* An expression crosses as one flat array of items in post-order (children before their call),
 * so its depth never becomes msgpack nesting (msgpack-c unpacks at most 32 levels):
 *   ["c", column] ["i", int] ["f", float] ["b", bool] ["t", ns] ["s", str] ["x", function, nargs]
 * A call takes the nargs items before it as its arguments; the last item is the root. */

static uint32_t count_items(const struct expr *e)
{
	uint32_t n = 1;
	for (int i = 0; i < e->nargs; i++)
		n += count_items(e->args[i]);
	return n;
}

static void pack_items(msgpack_packer *pk, const struct expr *e)
{
	for (int i = 0; i < e->nargs; i++)
		pack_items(pk, e->args[i]);
	switch (e->kind) {
	case EX_COL:
		msgpack_pack_array(pk, 2);
		mp_pack_str(pk, "c");
		mp_pack_str(pk, e->name);
		return;
	case EX_LIT:
		msgpack_pack_array(pk, 2);
		switch (e->type) {
		case VT_FLOAT: mp_pack_str(pk, "f"); msgpack_pack_double(pk, e->lit.f); return;
		case VT_STRING: mp_pack_str(pk, "s"); mp_pack_str(pk, e->lit.s); return;
		case VT_BOOL: mp_pack_str(pk, "b"); e->lit.i ? msgpack_pack_true(pk) : msgpack_pack_false(pk); return;
		case VT_TIME: mp_pack_str(pk, "t"); msgpack_pack_int64(pk, e->lit.i); return;
		default: mp_pack_str(pk, "i"); msgpack_pack_int64(pk, e->lit.i); return;
		}
	case EX_CALL:
		msgpack_pack_array(pk, 3);
		mp_pack_str(pk, "x");
		mp_pack_str(pk, e->name);
		msgpack_pack_uint32(pk, (uint32_t)e->nargs);
		return;
	}
}

static void pack_expr(msgpack_packer *pk, const struct expr *e)
{
	msgpack_pack_array(pk, count_items(e));
	pack_items(pk, e);
}

/* A msgpack string as a new malloc'd C string; NULL when o is not a string (or on OOM). */
static char *dup_str(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_STR ? strndup(o->via.str.ptr, o->via.str.size) : NULL;
}

/* One leaf item, or NULL when it is not one. */
static struct expr *unpack_leaf(char tag, const msgpack_object *a)
{
	int64_t i;
	char *s = NULL;
	struct expr *e = NULL;
	switch (tag) {
	case 'c': e = (s = dup_str(a)) ? expr_col(s) : NULL; break;
	case 's': e = (s = dup_str(a)) ? expr_str(s) : NULL; break;
	case 'i': e = mp_int(a, &i) ? expr_int(i) : NULL; break;
	case 't': e = mp_int(a, &i) ? expr_time(i) : NULL; break;
	case 'b': e = a->type == MSGPACK_OBJECT_BOOLEAN ? expr_bool(a->via.boolean) : NULL; break;
	case 'f':
		e = a->type == MSGPACK_OBJECT_FLOAT64 || a->type == MSGPACK_OBJECT_FLOAT32 ? expr_float(a->via.f64) : NULL;
		break;
	}
	free(s);
	return e;
}

/* The items of o rebuilt on a stack; NULL with a message in err when they do not form exactly
 * one expression of at most EXPR_MAX_DEPTH levels. */
static struct expr *unpack_expr(const msgpack_object *o, char *err, size_t errlen)
{
	uint32_t n = o && o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.size : 0, sp = 0;
	struct expr **stack = malloc((n ? n : 1) * sizeof(*stack));
	int *depth = malloc((n ? n : 1) * sizeof(*depth));
	struct expr *root = NULL;
	snprintf(err, errlen, "malformed expression");
	for (uint32_t k = 0; stack && depth && k < n; k++) {
		const msgpack_object *it = &o->via.array.ptr[k];
		char tag[4];
		if (it->type != MSGPACK_OBJECT_ARRAY || it->via.array.size < 2 || !mp_str(&it->via.array.ptr[0], tag, sizeof(tag)))
			goto out;
		if (tag[0] != 'x') {
			if (!(stack[sp] = unpack_leaf(tag[0], &it->via.array.ptr[1])))
				goto out;
			depth[sp++] = 1;
			continue;
		}
		int64_t nargs;
		char *fn = dup_str(&it->via.array.ptr[1]);
		if (!fn || it->via.array.size != 3 || !mp_int(&it->via.array.ptr[2], &nargs) || nargs < 0 ||
		    nargs > EXPR_MAX_ARGS || (uint64_t)nargs > sp) {
			free(fn);
			goto out;
		}
		int d = 0;
		for (uint32_t j = sp - (uint32_t)nargs; j < sp; j++)
			d = depth[j] > d ? depth[j] : d;
		if (d + 1 > EXPR_MAX_DEPTH) {
			free(fn);
			snprintf(err, errlen, "expression too deep (%d levels at most)", EXPR_MAX_DEPTH);
			goto out;
		}
		sp -= (uint32_t)nargs;
		struct expr *call = expr_call(fn, (int)nargs, &stack[sp]); /* owns the arguments now */
		free(fn);
		if (!call)
			goto out;
		stack[sp] = call;
		depth[sp++] = d + 1;
	}
	if (sp == 1) {
		root = stack[0];
		sp = 0;
		err[0] = '\0';
	}
out:
	while (stack && sp > 0)
		expr_free(stack[--sp]);
	free(stack);
	free(depth);
	return root;
}

/* ---- plans ----------------------------------------------------------------------------------- */

static const char *const kind_names[] = {"source", "filter", "map", "project", "frames", "agg",
					 "sort", "head", "union", "join", "quantiles"};

static void pack_strv(msgpack_packer *pk, int n, char *const *v)
{
	msgpack_pack_array(pk, n);
	for (int i = 0; i < n; i++)
		mp_pack_str(pk, v[i]);
}

int codec_pack_plan(msgpack_packer *pk, const struct plan *p)
{
	msgpack_pack_map(pk, 2);
	mp_pack_str(pk, "nodes");
	msgpack_pack_array(pk, p->nnodes);
	for (int i = 0; i < p->nnodes; i++) {
		const struct plan_node *n = p->nodes[i];
		int nfields = 3;
		switch (n->kind) {
		case N_SOURCE: nfields += 3; break;
		case N_FILTER: nfields += 1; break;
		case N_MAP: nfields += 2; break;
		case N_PROJECT: nfields += 2; break;
		case N_FRAMES: nfields += 4; break;
		case N_AGG: nfields += 2; break;
		case N_SORT: nfields += 2; break;
		case N_HEAD: nfields += 1; break;
		case N_UNION: break;
		case N_JOIN: nfields += 4; break;
		case N_QUANTILES: nfields += 4; break;
		}
		msgpack_pack_map(pk, nfields);
		mp_pack_str(pk, "k");
		mp_pack_str(pk, kind_names[n->kind]);
		mp_pack_str(pk, "in");
		msgpack_pack_array(pk, n->ninputs);
		for (int k = 0; k < n->ninputs; k++)
			msgpack_pack_int(pk, n->inputs[k]);
		mp_pack_str(pk, "line");
		msgpack_pack_int(pk, n->line);
		switch (n->kind) {
		case N_SOURCE:
			mp_pack_str(pk, "table"); mp_pack_str(pk, n->table);
			mp_pack_str(pk, "t0"); msgpack_pack_int64(pk, n->t0);
			mp_pack_str(pk, "t1"); msgpack_pack_int64(pk, n->t1);
			break;
		case N_FILTER:
			mp_pack_str(pk, "pred"); pack_expr(pk, n->pred);
			break;
		case N_MAP:
			mp_pack_str(pk, "names"); pack_strv(pk, n->nexprs, n->names);
			mp_pack_str(pk, "exprs");
			msgpack_pack_array(pk, n->nexprs);
			for (int k = 0; k < n->nexprs; k++)
				pack_expr(pk, n->exprs[k]);
			break;
		case N_PROJECT:
			mp_pack_str(pk, "from"); pack_strv(pk, n->nexprs, n->from);
			mp_pack_str(pk, "as"); pack_strv(pk, n->nexprs, n->names);
			break;
		case N_FRAMES:
			mp_pack_str(pk, "stack"); mp_pack_str(pk, n->stack_col);
			mp_pack_str(pk, "frame"); mp_pack_str(pk, n->frame_col);
			mp_pack_str(pk, "leaf"); mp_pack_str(pk, n->leaf_col);
			mp_pack_str(pk, "view"); mp_pack_str(pk, frame_view_name(n->view));
			break;
		case N_AGG:
			mp_pack_str(pk, "keys"); pack_strv(pk, n->nexprs, n->names);
			mp_pack_str(pk, "aggs");
			msgpack_pack_array(pk, n->naggs);
			for (int k = 0; k < n->naggs; k++) {
				msgpack_pack_array(pk, 3);
				mp_pack_str(pk, n->aggs[k].out);
				mp_pack_str(pk, agg_fn_name(n->aggs[k].fn));
				if (n->aggs[k].arg)
					mp_pack_str(pk, n->aggs[k].arg);
				else
					msgpack_pack_nil(pk);
			}
			break;
		case N_SORT:
			mp_pack_str(pk, "keys"); pack_strv(pk, n->nexprs, n->names);
			mp_pack_str(pk, "desc");
			msgpack_pack_array(pk, n->nexprs);
			for (int k = 0; k < n->nexprs; k++)
				n->desc[k] ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
			break;
		case N_HEAD:
			mp_pack_str(pk, "n"); msgpack_pack_int64(pk, n->limit);
			break;
		case N_UNION:
			break;
		case N_JOIN:
			mp_pack_str(pk, "how"); mp_pack_str(pk, n->how == JOIN_LEFT ? "left" : "inner");
			mp_pack_str(pk, "left_on"); pack_strv(pk, n->nexprs, n->names);
			mp_pack_str(pk, "right_on"); pack_strv(pk, n->nexprs, n->right_keys);
			mp_pack_str(pk, "suffix"); mp_pack_str(pk, n->suffix);
			break;
		case N_QUANTILES:
			mp_pack_str(pk, "keys"); pack_strv(pk, n->nexprs, n->names);
			mp_pack_str(pk, "bucket"); mp_pack_str(pk, n->qbucket);
			mp_pack_str(pk, "weight"); mp_pack_str(pk, n->qweight);
			mp_pack_str(pk, "out"); mp_pack_str(pk, n->qout);
			break;
		}
	}
	mp_pack_str(pk, "displays");
	msgpack_pack_array(pk, p->ndisplays);
	for (int d = 0; d < p->ndisplays; d++) {
		msgpack_pack_array(pk, 2);
		msgpack_pack_int(pk, p->displays[d].node);
		mp_pack_str(pk, p->displays[d].name);
	}
	return 0;
}

/* Reads a msgpack array of strings into a NULL-safe array of C strings (malloc'd block). */
static char **read_strv(const msgpack_object *o, int *n)
{
	if (!o || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > 4096)
		return NULL;
	size_t total = 0;
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_STR)
			return NULL;
		total += o->via.array.ptr[i].via.str.size + 1;
	}
	char **v = malloc((o->via.array.size + 1) * sizeof(char *) + total);
	if (!v)
		return NULL;
	char *p = (char *)(v + o->via.array.size + 1);
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		const msgpack_object *s = &o->via.array.ptr[i];
		v[i] = p;
		memcpy(p, s->via.str.ptr, s->via.str.size);
		p[s->via.str.size] = '\0';
		p += s->via.str.size + 1;
	}
	*n = (int)o->via.array.size;
	return v;
}

static int unpack_node(struct plan *p, const msgpack_object *o, char *err, size_t errlen)
{
	char kind[16], s1[256], s2[256], s3[256];
	const msgpack_object *in = mp_get(o, "in");
	int64_t ins[64], line = 0, x, y;
	int nin = 0, id = -1;
	if (!mp_str(mp_get(o, "k"), kind, sizeof(kind)) || !in || in->type != MSGPACK_OBJECT_ARRAY ||
	    in->via.array.size > 64)
		goto malformed;
	for (uint32_t i = 0; i < in->via.array.size; i++)
		if (!mp_int(&in->via.array.ptr[i], &ins[nin++]) || ins[nin - 1] < 0 || ins[nin - 1] >= p->nnodes)
			goto malformed;
	mp_int(mp_get(o, "line"), &line);
	int need = !strcmp(kind, "source") ? 0 : !strcmp(kind, "union") ? -1 : !strcmp(kind, "join") ? 2 : 1;
	if ((need >= 0 && nin != need) || (need < 0 && nin < 1))
		goto malformed;
	if (!strcmp(kind, "source")) {
		if (!mp_str(mp_get(o, "table"), s1, sizeof(s1)) || !mp_int(mp_get(o, "t0"), &x) ||
		    !mp_int(mp_get(o, "t1"), &y))
			goto malformed;
		id = plan_source(p, s1, x, y, err, errlen);
	} else if (!strcmp(kind, "filter")) {
		struct expr *e = unpack_expr(mp_get(o, "pred"), err, errlen);
		if (!e)
			return -1;
		id = plan_filter(p, (int)ins[0], e, err, errlen);
	} else if (!strcmp(kind, "map")) {
		int nn = 0;
		char **names = read_strv(mp_get(o, "names"), &nn);
		const msgpack_object *ex = mp_get(o, "exprs");
		if (!names || !ex || ex->type != MSGPACK_OBJECT_ARRAY || ex->via.array.size != (uint32_t)nn) {
			free(names);
			goto malformed;
		}
		struct expr *exprs[nn ? nn : 1];
		for (int k = 0; k < nn; k++)
			if (!(exprs[k] = unpack_expr(&ex->via.array.ptr[k], err, errlen))) {
				for (int j = 0; j < k; j++)
					expr_free(exprs[j]);
				free(names);
				return -1;
			}
		id = plan_map(p, (int)ins[0], nn, (const char *const *)names, exprs, err, errlen);
		free(names);
	} else if (!strcmp(kind, "project")) {
		int n1 = 0, n2 = 0;
		char **from = read_strv(mp_get(o, "from"), &n1), **as = read_strv(mp_get(o, "as"), &n2);
		if (from && as && n1 == n2)
			id = plan_project(p, (int)ins[0], n1, (const char *const *)from, (const char *const *)as,
					  err, errlen);
		bool ok = from && as && n1 == n2;
		free(from);
		free(as);
		if (!ok)
			goto malformed;
	} else if (!strcmp(kind, "frames")) {
		if (!mp_str(mp_get(o, "stack"), s1, sizeof(s1)) || !mp_str(mp_get(o, "frame"), s2, sizeof(s2)) ||
		    !mp_str(mp_get(o, "leaf"), s3, sizeof(s3)))
			goto malformed;
		char view[16] = "function"; /* absent in plans from before views */
		const msgpack_object *vo = mp_get(o, "view");
		if (vo && !mp_str(vo, view, sizeof(view)))
			goto malformed;
		id = plan_frames(p, (int)ins[0], s1, s2, s3, view, err, errlen);
	} else if (!strcmp(kind, "agg")) {
		int nk = 0;
		char **keys = read_strv(mp_get(o, "keys"), &nk);
		const msgpack_object *ag = mp_get(o, "aggs");
		if (!keys || !ag || ag->type != MSGPACK_OBJECT_ARRAY || ag->via.array.size > 256) {
			free(keys);
			goto malformed;
		}
		uint32_t na = ag->via.array.size;
		struct agg_spec specs[na ? na : 1];
		char outs[na ? na : 1][256], args[na ? na : 1][256];
		bool ok = true;
		for (uint32_t k = 0; k < na && ok; k++) {
			const msgpack_object *a = &ag->via.array.ptr[k];
			char fn[16];
			int f;
			ok = a->type == MSGPACK_OBJECT_ARRAY && a->via.array.size == 3 &&
			     mp_str(&a->via.array.ptr[0], outs[k], 256) && mp_str(&a->via.array.ptr[1], fn, 16) &&
			     (f = agg_fn_from_name(fn)) >= 0;
			if (!ok)
				break;
			specs[k].out = outs[k];
			specs[k].fn = (enum agg_fn)f;
			specs[k].arg = mp_str(&a->via.array.ptr[2], args[k], 256) ? args[k] : NULL;
		}
		if (ok)
			id = plan_agg(p, (int)ins[0], nk, (const char *const *)keys, (int)na, specs, err, errlen);
		free(keys);
		if (!ok)
			goto malformed;
	} else if (!strcmp(kind, "sort")) {
		int nk = 0;
		char **keys = read_strv(mp_get(o, "keys"), &nk);
		const msgpack_object *d = mp_get(o, "desc");
		if (!keys || !d || d->type != MSGPACK_OBJECT_ARRAY || d->via.array.size != (uint32_t)nk) {
			free(keys);
			goto malformed;
		}
		bool desc[nk ? nk : 1];
		for (int k = 0; k < nk; k++)
			desc[k] = d->via.array.ptr[k].type == MSGPACK_OBJECT_BOOLEAN && d->via.array.ptr[k].via.boolean;
		id = plan_sort(p, (int)ins[0], nk, (const char *const *)keys, desc, err, errlen);
		free(keys);
	} else if (!strcmp(kind, "head")) {
		if (!mp_int(mp_get(o, "n"), &x))
			goto malformed;
		id = plan_head(p, (int)ins[0], x, err, errlen);
	} else if (!strcmp(kind, "join")) {
		int n1 = 0, n2 = 0;
		char how[16];
		char **lk = read_strv(mp_get(o, "left_on"), &n1), **rk = read_strv(mp_get(o, "right_on"), &n2);
		bool ok = lk && rk && n1 == n2 && mp_str(mp_get(o, "how"), how, sizeof(how)) &&
			  mp_str(mp_get(o, "suffix"), s1, sizeof(s1)) && (!strcmp(how, "inner") || !strcmp(how, "left"));
		if (ok)
			id = plan_join(p, (int)ins[0], (int)ins[1], !strcmp(how, "left") ? JOIN_LEFT : JOIN_INNER, n1,
				       (const char *const *)lk, (const char *const *)rk, s1, err, errlen);
		free(lk);
		free(rk);
		if (!ok)
			goto malformed;
	} else if (!strcmp(kind, "quantiles")) {
		int nk = 0;
		char **keys = read_strv(mp_get(o, "keys"), &nk);
		bool ok = keys && mp_str(mp_get(o, "bucket"), s1, sizeof(s1)) && mp_str(mp_get(o, "weight"), s2, sizeof(s2)) &&
			  mp_str(mp_get(o, "out"), s3, sizeof(s3));
		if (ok)
			id = plan_quantiles(p, (int)ins[0], nk, (const char *const *)keys, s1, s2, s3, err, errlen);
		free(keys);
		if (!ok)
			goto malformed;
	} else if (!strcmp(kind, "union")) {
		int ii[64];
		for (int k = 0; k < nin; k++)
			ii[k] = (int)ins[k];
		id = plan_union(p, nin, ii, err, errlen);
	} else {
		goto malformed;
	}
	if (id >= 0)
		plan_set_line(p, id, (int)line);
	return id;
malformed:
	snprintf(err, errlen, "malformed plan node %d", p->nnodes);
	return -1;
}

int codec_unpack_plan(const msgpack_object *o, struct plan **out, char *err, size_t errlen)
{
	const msgpack_object *nodes = mp_get(o, "nodes"), *disp = mp_get(o, "displays");
	struct plan *p = plan_new();
	*out = NULL;
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!nodes || nodes->type != MSGPACK_OBJECT_ARRAY || !disp || disp->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(err, errlen, "malformed plan");
		goto fail;
	}
	for (uint32_t i = 0; i < nodes->via.array.size; i++)
		if (unpack_node(p, &nodes->via.array.ptr[i], err, errlen) < 0)
			goto fail;
	for (uint32_t d = 0; d < disp->via.array.size; d++) {
		const msgpack_object *e = &disp->via.array.ptr[d];
		char name[256];
		int64_t node;
		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2 || !mp_int(&e->via.array.ptr[0], &node) ||
		    !mp_str(&e->via.array.ptr[1], name, sizeof(name)) || node < 0 || node >= p->nnodes) {
			snprintf(err, errlen, "malformed display");
			goto fail;
		}
		if (plan_display(p, (int)node, name, err, errlen) < 0)
			goto fail;
	}
	*out = p;
	return 0;
fail:
	plan_free(p);
	return -1;
}
