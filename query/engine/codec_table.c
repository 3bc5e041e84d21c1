/* codec_table.c - tables on the wire (see codec.h for the layout): strings and stacks go once
 * per message into dictionaries that rows index, and decoded strings and stacks are interned in
 * the query, so equal ones from different agents are the same pointer. */
#include "codec.h"
#include "core/hashmap.h"
#include "core/intern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int codec_pack_table(msgpack_packer *pk, const struct table *t)
{
	struct hashmap strs, stacks; /* string values and frames by content; stacks by pointer */
	int rc = -1;
	hashmap_init(&strs, true);
	hashmap_init(&stacks, false);
	/* Collect dictionaries first: stacks (and their frames) and string values. */
	for (int c = 0; c < t->ncols; c++) {
		const struct column *col = &t->cols[c];
		for (size_t i = 0; i < t->nrows; i++) {
			if (col->type == VT_STRING && hashmap_index(&strs, col->v.s[i]) < 0)
				goto out;
			if (col->type == VT_STACK) {
				size_t before = stacks.count;
				if (hashmap_index(&stacks, col->v.k[i]) < 0)
					goto out;
				if (stacks.count > before)
					for (int f = 0; f < col->v.k[i]->nframes; f++)
						if (hashmap_index(&strs, col->v.k[i]->frames[f]) < 0)
							goto out;
			}
		}
	}
	msgpack_pack_map(pk, 5);
	mp_pack_str(pk, "name");
	if (t->name)
		mp_pack_str(pk, t->name);
	else
		msgpack_pack_nil(pk);
	mp_pack_str(pk, "nrows");
	msgpack_pack_uint64(pk, t->nrows);
	mp_pack_str(pk, "strs");
	msgpack_pack_array(pk, strs.count);
	for (size_t i = 0; i < strs.count; i++)
		mp_pack_str(pk, strs.order[i]);
	mp_pack_str(pk, "stacks");
	msgpack_pack_array(pk, stacks.count);
	for (size_t i = 0; i < stacks.count; i++) {
		const struct stack *st = stacks.order[i];
		msgpack_pack_array(pk, 1 + st->nframes);
		msgpack_pack_uint32(pk, st->nkernel);
		for (int f = 0; f < st->nframes; f++)
			msgpack_pack_uint32(pk, (uint32_t)hashmap_index(&strs, st->frames[f]));
	}
	mp_pack_str(pk, "cols");
	msgpack_pack_array(pk, t->ncols);
	for (int c = 0; c < t->ncols; c++) {
		const struct column *col = &t->cols[c];
		msgpack_pack_map(pk, 3);
		mp_pack_str(pk, "n");
		mp_pack_str(pk, col->name);
		mp_pack_str(pk, "t");
		mp_pack_str(pk, vtype_name(col->type));
		mp_pack_str(pk, "v");
		msgpack_pack_array(pk, t->nrows);
		for (size_t i = 0; i < t->nrows; i++) {
			switch (col->type) {
			case VT_BOOL: col->v.b[i] ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
			case VT_FLOAT: msgpack_pack_double(pk, col->v.f[i]); break;
			case VT_STRING: msgpack_pack_uint32(pk, (uint32_t)hashmap_index(&strs, col->v.s[i])); break;
			case VT_STACK: msgpack_pack_uint32(pk, (uint32_t)hashmap_index(&stacks, col->v.k[i])); break;
			default: msgpack_pack_int64(pk, col->v.i[i]); break;
			}
		}
	}
	rc = 0;
out:
	hashmap_destroy(&strs);
	hashmap_destroy(&stacks);
	return rc;
}

static int bad(struct qctx *q, const char *what)
{
	return qctx_fail(q, "malformed table: %s", what);
}

/* The empty table described by the "cols" headers (names and types), sized for nrows. */
static struct table *new_table_from_header(struct qctx *q, const msgpack_object *cols_o, int64_t nrows)
{
	uint32_t ncols = cols_o->via.array.size;
	const char *names[ncols ? ncols : 1];
	enum vtype types[ncols ? ncols : 1];
	char namebuf[ncols ? ncols : 1][128];
	for (uint32_t c = 0; c < ncols; c++) {
		const msgpack_object *col = &cols_o->via.array.ptr[c], *v = mp_get(col, "v");
		char tname[16];
		int ty;
		if (!mp_str(mp_get(col, "n"), namebuf[c], sizeof(namebuf[c])) ||
		    !mp_str(mp_get(col, "t"), tname, sizeof(tname)) || (ty = vtype_from_name(tname)) < 0 ||
		    !v || v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size != (uint64_t)nrows) {
			bad(q, "column header");
			return NULL;
		}
		names[c] = namebuf[c];
		types[c] = (enum vtype)ty;
	}
	/* The columns count against the query's memory before they are allocated. */
	if (qctx_check(q, (size_t)ncols * (size_t)(nrows ? nrows : 1) * 8) < 0)
		return NULL;
	struct table *t = table_new((int)ncols, names, types);
	if (!t || table_reserve(t, nrows ? (size_t)nrows : 1) < 0) {
		table_free(t);
		qctx_fail(q, "out of memory");
		return NULL;
	}
	return t;
}

int codec_unpack_table(struct qctx *q, const msgpack_object *o, struct table **out)
{
	const msgpack_object *nrows_o = mp_get(o, "nrows"), *strs_o = mp_get(o, "strs"),
			     *stacks_o = mp_get(o, "stacks"), *cols_o = mp_get(o, "cols"),
			     *name_o = mp_get(o, "name");
	struct intern *it = qctx_intern(q);
	size_t interned = it ? intern_bytes(it) : 0; /* what the intern table held before */
	const char **strs = NULL;
	const struct stack **stacks = NULL;
	struct table *t = NULL;
	int64_t nrows;
	int rc = -1;
	*out = NULL;
	if (!it)
		return -1;
	if (!mp_int(nrows_o, &nrows) || nrows < 0 || nrows > 100000000)
		return bad(q, "nrows");
	if (!strs_o || strs_o->type != MSGPACK_OBJECT_ARRAY || !stacks_o ||
	    stacks_o->type != MSGPACK_OBJECT_ARRAY || !cols_o || cols_o->type != MSGPACK_OBJECT_ARRAY ||
	    cols_o->via.array.size > 1024)
		return bad(q, "missing strs, stacks or cols");
	uint32_t nstrs = strs_o->via.array.size, nstacks = stacks_o->via.array.size;
	strs = calloc(nstrs ? nstrs : 1, sizeof(*strs));
	stacks = calloc(nstacks ? nstacks : 1, sizeof(*stacks));
	if (!strs || !stacks) {
		qctx_fail(q, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < nstrs; i++) {
		const msgpack_object *s = &strs_o->via.array.ptr[i];
		if (s->type != MSGPACK_OBJECT_STR) {
			bad(q, "strs");
			goto out;
		}
		if (!(strs[i] = intern_strn(it, s->via.str.ptr, s->via.str.size))) {
			qctx_fail(q, "out of memory");
			goto out;
		}
	}
	for (uint32_t i = 0; i < nstacks; i++) {
		const msgpack_object *s = &stacks_o->via.array.ptr[i];
		int64_t nk, fi;
		if (s->type != MSGPACK_OBJECT_ARRAY || s->via.array.size < 1 || s->via.array.size > 1 + STACK_MAX_FRAMES ||
		    !mp_int(&s->via.array.ptr[0], &nk) || nk < 0 || nk > (int64_t)s->via.array.size - 1) {
			bad(q, "stacks");
			goto out;
		}
		uint16_t nf = (uint16_t)(s->via.array.size - 1);
		const char *frames[STACK_MAX_FRAMES];
		for (uint16_t f = 0; f < nf; f++) {
			if (!mp_int(&s->via.array.ptr[1 + f], &fi) || fi < 0 || fi >= nstrs) {
				bad(q, "stack frame index");
				goto out;
			}
			frames[f] = strs[fi];
		}
		struct stack *st = intern_stack(it, frames, nf, (uint16_t)nk);
		if (!st) {
			qctx_fail(q, "out of memory");
			goto out;
		}
		if (st->refs > 1) /* the intern table keeps one reference per distinct stack */
			intern_stack_unref(it, st);
		stacks[i] = st;
	}
	uint32_t ncols = cols_o->via.array.size;
	if (!(t = new_table_from_header(q, cols_o, nrows)))
		goto out;
	for (uint32_t c = 0; c < ncols; c++) {
		const msgpack_object *v = mp_get(&cols_o->via.array.ptr[c], "v");
		struct column *col = &t->cols[c];
		for (int64_t i = 0; i < nrows; i++) {
			const msgpack_object *e = &v->via.array.ptr[i];
			int64_t x = 0;
			switch (col->type) {
			case VT_BOOL:
				if (e->type != MSGPACK_OBJECT_BOOLEAN)
					goto bad_value;
				col->v.b[i] = e->via.boolean;
				break;
			case VT_FLOAT:
				if (e->type == MSGPACK_OBJECT_FLOAT64 || e->type == MSGPACK_OBJECT_FLOAT32)
					col->v.f[i] = e->via.f64;
				else if (mp_int(e, &x))
					col->v.f[i] = (double)x;
				else
					goto bad_value;
				break;
			case VT_STRING:
				if (!mp_int(e, &x) || x < 0 || x >= nstrs)
					goto bad_value;
				col->v.s[i] = strs[x];
				break;
			case VT_STACK:
				if (!mp_int(e, &x) || x < 0 || x >= nstacks)
					goto bad_value;
				col->v.k[i] = stacks[x];
				break;
			default:
				if (!mp_int(e, &x))
					goto bad_value;
				col->v.i[i] = x;
				break;
			}
		}
	}
	t->nrows = (size_t)nrows;
	if (name_o && name_o->type == MSGPACK_OBJECT_STR) {
		char nm[256];
		mp_str(name_o, nm, sizeof(nm));
		table_set_name(t, nm);
	}
	/* The table and the strings and stacks it brought are held from now on: see codec.h. */
	size_t held = table_bytes(t) + intern_bytes(it) - interned;
	if (qctx_check(q, held) < 0)
		goto out;
	q->mem_used += held;
	*out = t;
	t = NULL;
	rc = 0;
	goto out;
bad_value:
	bad(q, "value of the wrong type");
out:
	table_free(t);
	free(strs);
	free(stacks);
	return rc;
}
