/* ops_agg.c - hash aggregation: group rows by key columns and fold aggregates (count, sum,
 * min, max, mean, any) into per-group states; merge partial states that other processes made
 * from the same plan; finalize states into the node's output. The partial state layout
 * (agg_state_schema) is what crosses the wire, so an aggregate computed on many agents and
 * merged equals the same aggregate over all their rows. */
#include "ops.h"
#include "batch.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows are consumed in blocks: hash every key column over the block, find or create each row's
 * group, then fold one aggregate at a time over the block. */
#define AGG_BLOCK 1024
#define AGG_STR_MEMO_MIN 12 /* log2 of the string memo's first size; it doubles with the groups */
#define AGG_STR_MEMO_MAX 20
#define KEY_MIX 0x100000001b3ULL /* folds one key column's hash into a row's */

struct str_memo {
	const char *s;
	uint64_t h;  /* hash of s's content */
	uint32_t g;  /* single string key: s's group + 1, 0 = not yet known */
};

struct agg_run {
	struct qctx *q;
	const struct plan_node *n;
	struct table *groups;  /* keys then states (agg_state_schema layout); owned */
	int nkeys;
	int *state_col;        /* per aggregate: its (first) column in groups */
	uint32_t *index;       /* open addressing: group + 1, 0 = empty */
	uint64_t *hashes;      /* per group */
	size_t icap;           /* index slots, power of two */
	size_t hcap;           /* hashes allocated */
	int in_key[64];        /* input column of each key (update) */
	int in_arg[256];       /* input column of each aggregate's argument (update), -1 for count */
	bool counts[256];      /* per aggregate: a sum of sample counts, which is never negative */
	bool theirs;           /* the last merge failed because of the states it was given */
	struct str_memo *strs; /* 1 << strbits entries once a string key is seen; owned */
	int strbits;
	/* the block being consumed: input row, hash, group; first[g - g0] = the block row that
	 * created group g (groups from g0 on are new in this block) */
	uint32_t brow[AGG_BLOCK], bgroup[AGG_BLOCK], first[AGG_BLOCK];
	uint64_t bhash[AGG_BLOCK];
};

struct table *agg_state_schema(const struct plan *p, const struct plan_node *n)
{
	const struct table *in = p->nodes[n->inputs[0]]->schema;
	struct table *t = table_new(0, NULL, NULL);
	if (!t)
		return NULL;
	for (int i = 0; i < n->nexprs; i++)
		if (table_add_column(t, n->names[i], n->schema->cols[i].type) < 0)
			goto fail;
	for (int i = 0; i < n->naggs; i++) {
		const struct agg_spec *a = &n->aggs[i];
		enum vtype out = n->schema->cols[n->nexprs + i].type;
		char name[300];
		if (a->fn == AGG_MEAN) {
			int c = table_find(in, a->arg);
			snprintf(name, sizeof(name), "%s.sum", a->out);
			if (table_add_column(t, name, in->cols[c].type == VT_FLOAT ? VT_FLOAT : VT_INT) < 0)
				goto fail;
			snprintf(name, sizeof(name), "%s.n", a->out);
			if (table_add_column(t, name, VT_INT) < 0)
				goto fail;
		} else if (table_add_column(t, a->out, out) < 0) {
			goto fail;
		}
	}
	return t;
fail:
	table_free(t);
	return NULL;
}

struct agg_run *agg_run_new(struct qctx *q, const struct plan *p, const struct plan_node *n)
{
	struct agg_run *a = calloc(1, sizeof(*a));
	if (!a || n->nexprs > 64 || n->naggs > 256)
		goto fail;
	a->q = q;
	a->n = n;
	a->nkeys = n->nexprs;
	if (!(a->groups = agg_state_schema(p, n)) || !(a->state_col = calloc(n->naggs + 1, sizeof(int))))
		goto fail;
	int c = a->nkeys;
	for (int i = 0; i < n->naggs; i++) {
		a->state_col[i] = c;
		c += n->aggs[i].fn == AGG_MEAN ? 2 : 1;
		a->counts[i] = n->aggs[i].fn == AGG_SUM && plan_column_counts_samples(p, n->inputs[0], n->aggs[i].arg);
	}
	a->icap = 1024;
	if (!(a->index = calloc(a->icap, sizeof(*a->index))))
		goto fail;
	return a;
fail:
	qctx_fail(q, n->nexprs > 64 || n->naggs > 256 ? "too many keys or aggregates" : "out of memory");
	agg_run_free(a);
	return NULL;
}

void agg_run_free(struct agg_run *a)
{
	if (!a)
		return;
	table_free(a->groups);
	free(a->state_col);
	free(a->index);
	free(a->hashes);
	free(a->strs);
	free(a);
}

static int agg_grow(struct agg_run *a)
{
	size_t ncap = a->icap * 2;
	uint32_t *ni = calloc(ncap, sizeof(*ni));
	if (!ni)
		return qctx_fail(a->q, "out of memory");
	for (size_t g = 0; g < a->groups->nrows; g++) {
		size_t j = a->hashes[g] & (ncap - 1);
		while (ni[j])
			j = (j + 1) & (ncap - 1);
		ni[j] = (uint32_t)g + 1;
	}
	free(a->index);
	a->index = ni;
	a->icap = ncap;
	return 0;
}

/* The string memo, (re)sized to about twice the groups so distinct keys rarely share a slot. */
static int str_memo_fit(struct agg_run *a)
{
	int bits = a->strbits ? a->strbits : AGG_STR_MEMO_MIN;
	while (bits < AGG_STR_MEMO_MAX && ((size_t)1 << bits) < a->groups->nrows * 2)
		bits++;
	if (a->strs && bits == a->strbits)
		return 0;
	free(a->strs);
	a->strbits = bits;
	if (!(a->strs = calloc((size_t)1 << bits, sizeof(*a->strs))))
		return qctx_fail(a->q, "out of memory");
	return 0;
}

static inline struct str_memo *str_memo(struct agg_run *a, const struct column *c, size_t r)
{
	const char *s = c->v.s[r];
	struct str_memo *e = &a->strs[((uintptr_t)s >> 3) * 0x9e3779b97f4a7c15ULL >> (64 - a->strbits)];
	if (e->s != s)
		*e = (struct str_memo){s, value_hash(VT_STRING, &c->v, r), 0};
	return e;
}

/* Mixes key column c of the block's rows into their hashes. Strings are hashed by content
 * (equal strings from different agents meet here) but memoized by pointer: rows repeat the same
 * interned pointers, and hashing means reading the whole string. */
static void hash_key_column(struct agg_run *a, const struct column *c, size_t m)
{
	if (c->type != VT_STRING) {
		for (size_t i = 0; i < m; i++)
			a->bhash[i] = (a->bhash[i] ^ value_hash(c->type, &c->v, a->brow[i])) * KEY_MIX;
		return;
	}
	for (size_t i = 0; i < m; i++) {
		struct str_memo *e = str_memo(a, c, a->brow[i]);
		a->bhash[i] = (a->bhash[i] ^ e->h) * KEY_MIX;
	}
}

/* Group of input row r (key columns at kc[], hash h), created when new; -1 on error. */
static long agg_group(struct agg_run *a, const struct table *rows, const int *kc, size_t r, uint64_t h)
{
	struct table *g = a->groups;
	size_t mask = a->icap - 1, j = h & mask;
	for (uint32_t e; (e = a->index[j]) != 0; j = (j + 1) & mask) {
		size_t gi = e - 1;
		if (a->hashes[gi] != h)
			continue;
		bool same = true;
		for (int k = 0; k < a->nkeys && same; k++) {
			const struct column *c = &rows->cols[kc[k]];
			same = value_eq(c->type, &c->v, r, &g->cols[k].v, gi);
		}
		if (same)
			return (long)gi;
	}
	/* New group: append keys, zero states. */
	if ((g->nrows + 1) * 2 > a->icap) {
		if (agg_grow(a) < 0)
			return -1;
		return agg_group(a, rows, kc, r, h);
	}
	if (g->nrows >= UINT32_MAX - 1)
		return qctx_fail(a->q, "too many groups");
	if (table_reserve(g, g->nrows + 1) < 0)
		return qctx_fail(a->q, "out of memory");
	if (g->nrows >= a->hcap) {
		size_t nh = a->hcap ? a->hcap * 2 : 256;
		uint64_t *hs = realloc(a->hashes, nh * sizeof(*hs));
		if (!hs)
			return qctx_fail(a->q, "out of memory");
		a->hashes = hs;
		a->hcap = nh;
	}
	size_t gi = g->nrows++;
	for (int k = 0; k < a->nkeys; k++)
		value_copy(&g->cols[k], gi, &rows->cols[kc[k]], r);
	for (int c = a->nkeys; c < g->ncols; c++)
		memset((char *)g->cols[c].v.p + gi * vtype_size(g->cols[c].type), 0, vtype_size(g->cols[c].type));
	a->hashes[gi] = h;
	a->index[j] = (uint32_t)gi + 1;
	return (long)gi;
}

/* Adds column v at the block's rows into sum state st (int or float). */
/* Adds the block's values of integer column v into state st. true if a sum overflowed. */
static bool add_ints(const struct agg_run *a, int64_t *st, const int64_t *v, size_t m)
{
	const uint32_t *row = a->brow, *grp = a->bgroup;
	bool overflow = false;
	for (size_t i = 0; i < m; i++)
		overflow |= __builtin_add_overflow(st[grp[i]], v[row[i]], &st[grp[i]]);
	return overflow;
}

/* Counts a partial state may claim: no process has taken more than 2^62 samples (a million a
 * second for 146,000 years), and none has taken fewer than none. */
#define COUNT_MAX ((int64_t)1 << 62)

/* true when one of the block's values of integer column v cannot be a count. */
static bool counts_absurd(const struct agg_run *a, const int64_t *v, size_t m)
{
	bool bad = false;
	for (size_t i = 0; i < m; i++)
		bad |= v[a->brow[i]] < 0 || v[a->brow[i]] > COUNT_MAX;
	return bad;
}

/* Adds column v at the block's rows into sum state st (int or float). true if it overflowed. */
static bool fold_sum(const struct agg_run *a, struct column *st, const struct column *v, size_t m)
{
	const uint32_t *row = a->brow, *grp = a->bgroup;
	if (st->type == VT_FLOAT && v->type == VT_FLOAT)
		for (size_t i = 0; i < m; i++)
			st->v.f[grp[i]] += v->v.f[row[i]];
	else if (st->type == VT_FLOAT)
		for (size_t i = 0; i < m; i++)
			st->v.f[grp[i]] += (double)v->v.i[row[i]];
	else
		return add_ints(a, st->v.i, v->v.i, m);
	return false;
}

/* Folds aggregate i over the block (m rows; groups from g0 on were created by it). merge: the
 * input holds partial states. A sum that overflows 64 bits, or a partial state that claims a
 * negative number of rows or samples (another process's answer is not trusted), fails. */
static int agg_fold(struct agg_run *a, int i, const struct table *rows, int src, size_t m, size_t g0, bool merge)
{
	const struct agg_spec *sp = &a->n->aggs[i];
	struct column *st = &a->groups->cols[a->state_col[i]];
	const struct column *v = src >= 0 ? &rows->cols[src] : NULL;
	const uint32_t *row = a->brow, *grp = a->bgroup;
	bool overflow = false;
	switch (sp->fn) {
	case AGG_COUNT:
		if (merge && counts_absurd(a, v->v.i, m))
			return a->theirs = true, qctx_fail(a->q, "a partial count() is negative or over 2^62");
		if (merge)
			overflow = add_ints(a, st->v.i, v->v.i, m);
		else
			for (size_t k = 0; k < m; k++)
				st->v.i[grp[k]]++;
		break;
	case AGG_SUM:
		if (merge && a->counts[i] && counts_absurd(a, v->v.i, m))
			return a->theirs = true,
			       qctx_fail(a->q, "a partial sum of sample counts ('%s') is negative or over 2^62", sp->arg);
		overflow = fold_sum(a, st, v, m);
		break;
	case AGG_MEAN: {
		struct column *cnt = &a->groups->cols[a->state_col[i] + 1];
		if (merge && counts_absurd(a, rows->cols[src + 1].v.i, m))
			return a->theirs = true,
			       qctx_fail(a->q, "a partial mean() counts a negative number of rows, or over 2^62");
		overflow = fold_sum(a, st, v, m);
		if (merge)
			overflow |= add_ints(a, cnt->v.i, rows->cols[src + 1].v.i, m);
		else
			for (size_t k = 0; k < m; k++)
				cnt->v.i[grp[k]]++;
		break;
	}
	case AGG_MIN:
	case AGG_MAX:
	case AGG_ANY:
		for (size_t k = 0; k < m; k++) {
			size_t g = grp[k];
			bool created = g >= g0 && a->first[g - g0] == k;
			int c = created || sp->fn == AGG_ANY ? 0 : value_cmp(st->type, &v->v, row[k], &st->v, g);
			if (created || (sp->fn == AGG_MIN ? c < 0 : c > 0))
				value_copy(st, g, v, row[k]);
		}
		break;
	default:
		break;
	}
	if (overflow)
		return qctx_fail(a->q, "%s(%s) overflows 64-bit integers", agg_fn_name(sp->fn), sp->arg ? sp->arg : "");
	return 0;
}

/* Consumes rows sel[0..n) of `rows` (all when sel is NULL): key columns at kc[], each
 * aggregate's argument (or state) column at src[]. */
static int agg_consume(struct agg_run *a, const struct table *rows, const uint32_t *sel, size_t n, const int *kc,
		       const int *src, bool merge)
{
	for (size_t off = 0; off < n; off += AGG_BLOCK) {
		size_t m = n - off < AGG_BLOCK ? n - off : AGG_BLOCK;
		for (size_t i = 0; i < m; i++) {
			a->brow[i] = sel ? sel[off + i] : (uint32_t)(off + i);
			a->bhash[i] = 0x9e3779b97f4a7c15ULL;
		}
		/* One string key: the memo remembers each pointer's group, so repeats skip hashing and
		 * the probe alike. */
		const struct column *key = a->nkeys == 1 && rows->cols[kc[0]].type == VT_STRING ? &rows->cols[kc[0]] : NULL;
		for (int k = 0; k < a->nkeys; k++) {
			if (rows->cols[kc[k]].type == VT_STRING && str_memo_fit(a) < 0)
				return -1;
			if (!key)
				hash_key_column(a, &rows->cols[kc[k]], m);
		}
		size_t g0 = a->groups->nrows;
		for (size_t i = 0; i < m; i++) {
			struct str_memo *e = key ? str_memo(a, key, a->brow[i]) : NULL;
			if (e && e->g) {
				a->bgroup[i] = e->g - 1;
				continue;
			}
			uint64_t h = e ? (a->bhash[i] ^ e->h) * KEY_MIX : a->bhash[i];
			size_t before = a->groups->nrows;
			long g = agg_group(a, rows, kc, a->brow[i], h);
			if (g < 0)
				return -1;
			if (a->groups->nrows != before)
				a->first[g - g0] = (uint32_t)i;
			a->bgroup[i] = (uint32_t)g;
			if (e)
				e->g = (uint32_t)g + 1;
		}
		for (int i = 0; i < a->n->naggs; i++)
			if (agg_fold(a, i, rows, src[i], m, g0, merge) < 0)
				return -1;
		if (qctx_check(a->q, table_bytes(a->groups)) < 0)
			return -1;
	}
	return 0;
}

int agg_run_update(struct agg_run *a, const struct table *rows, const uint32_t *sel, size_t n)
{
	for (int k = 0; k < a->nkeys; k++)
		a->in_key[k] = table_find(rows, a->n->names[k]);
	for (int i = 0; i < a->n->naggs; i++)
		a->in_arg[i] = a->n->aggs[i].arg ? table_find(rows, a->n->aggs[i].arg) : -1;
	return agg_consume(a, rows, sel, n, a->in_key, a->in_arg, false);
}

int agg_run_merge(struct agg_run *a, const struct table *states, bool *theirs)
{
	int kc[64];
	*theirs = true;
	if (states->ncols != a->groups->ncols)
		return qctx_fail(a->q, "partial aggregate has %d columns, expected %d", states->ncols,
				 a->groups->ncols);
	for (int c = 0; c < states->ncols; c++)
		if (states->cols[c].type != a->groups->cols[c].type)
			return qctx_fail(a->q, "partial aggregate column %d has the wrong type", c);
	for (int k = 0; k < a->nkeys; k++)
		kc[k] = k;
	a->theirs = false;
	int rc = agg_consume(a, states, NULL, states->nrows, kc, a->state_col, true);
	*theirs = rc < 0 && a->theirs;
	return rc;
}

struct table *agg_run_states(struct agg_run *a)
{
	struct table *t = a->groups;
	a->groups = NULL;
	return t;
}

struct table *agg_run_finalize(struct agg_run *a)
{
	const struct plan_node *n = a->n;
	struct table *g = a->groups;
	struct table *out = table_sized(a->q, n->schema, g->nrows);
	if (!out)
		return NULL;
	for (int k = 0; k < a->nkeys; k++)
		memcpy(out->cols[k].v.p, g->cols[k].v.p, g->nrows * vtype_size(g->cols[k].type));
	for (int i = 0; i < n->naggs; i++) {
		struct column *o = &out->cols[a->nkeys + i], *s = &g->cols[a->state_col[i]];
		if (n->aggs[i].fn == AGG_MEAN) {
			const int64_t *cnt = g->cols[a->state_col[i] + 1].v.i;
			for (size_t r = 0; r < g->nrows; r++) {
				double sum = s->type == VT_FLOAT ? s->v.f[r] : (double)s->v.i[r];
				o->v.f[r] = cnt[r] ? sum / (double)cnt[r] : 0.0;
			}
		} else {
			memcpy(o->v.p, s->v.p, g->nrows * vtype_size(o->type));
		}
	}
	out->nrows = g->nrows;
	return out;
}
