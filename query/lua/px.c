/* px.c - the C half of the px API: the plan builders the prelude (prelude.lua) calls as `C`.
 * Each takes plain Lua values (node ids, name lists, expression tables), calls the validating
 * plan builder (engine/plan.c) and returns the new node's id, column names and types, or nil
 * and the builder's message; the prelude turns that into DataFrame methods and errors at the
 * script's line. Lua expression tables become struct expr here. */
#include "script_run.h"
#include "engine/expr.h"
#include "engine/plan.h"
#include "core/timeparse.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct expr *to_expr(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
	struct expr *e = NULL;
	idx = lua_absindex(L, idx);
	if (depth > EXPR_MAX_DEPTH) {
		snprintf(err, errlen, "expression too deep (%d levels at most)", EXPR_MAX_DEPTH);
		return NULL;
	}
	if (!lua_istable(L, idx)) {
		snprintf(err, errlen, "not an expression");
		return NULL;
	}
	/* Each level holds a few values on the Lua stack while it reads its children: make room, as
	 * the Lua manual asks of C functions that push more than LUA_MINSTACK values. */
	if (!lua_checkstack(L, 4)) {
		snprintf(err, errlen, "expression too deep for the Lua stack");
		return NULL;
	}
	lua_getfield(L, idx, "k");
	const char *k = lua_tostring(L, -1);
	lua_pop(L, 1);
	if (!k) {
		snprintf(err, errlen, "not an expression");
		return NULL;
	}
	if (!strcmp(k, "col")) {
		lua_getfield(L, idx, "name");
		const char *name = lua_tostring(L, -1);
		e = name ? expr_col(name) : NULL;
		lua_pop(L, 1);
	} else if (!strcmp(k, "lit")) {
		lua_getfield(L, idx, "v");
		switch (lua_type(L, -1)) {
		case LUA_TBOOLEAN: e = expr_bool(lua_toboolean(L, -1)); break;
		case LUA_TSTRING: e = expr_str(lua_tostring(L, -1)); break;
		case LUA_TNUMBER:
			e = lua_isinteger(L, -1) ? expr_int(lua_tointeger(L, -1)) : expr_float(lua_tonumber(L, -1));
			break;
		}
		lua_pop(L, 1);
	} else if (!strcmp(k, "call")) {
		lua_getfield(L, idx, "fn");
		lua_getfield(L, idx, "args");
		const char *fn = lua_tostring(L, -2);
		lua_Integer n = lua_istable(L, -1) ? luaL_len(L, -1) : -1;
		struct expr **args = fn && n >= 0 && n <= EXPR_MAX_ARGS ? malloc((n ? n : 1) * sizeof(*args)) : NULL;
		if (fn && n > EXPR_MAX_ARGS)
			snprintf(err, errlen, "%s(): at most %d arguments (got %lld)", fn, EXPR_MAX_ARGS, (long long)n);
		int i = 0;
		for (; args && i < n; i++) {
			lua_geti(L, -1, i + 1);
			args[i] = to_expr(L, -1, depth + 1, err, errlen);
			lua_pop(L, 1);
			if (!args[i])
				break;
		}
		if (args && i == n) {
			e = expr_call(fn, (int)n, args);
		} else {
			for (int j = 0; args && j < i; j++)
				expr_free(args[j]);
		}
		free(args);
		lua_pop(L, 2);
		if (args && i < n)
			return NULL;
	}
	if (!e && !err[0])
		snprintf(err, errlen, "not an expression");
	return e;
}

/* Reads a Lua array of strings into v (pointers into the Lua strings, valid while on the stack). */
static int read_names(lua_State *L, int idx, const char **v, int max)
{
	if (!lua_istable(L, idx))
		return -1;
	int n = (int)luaL_len(L, idx);
	if (n > max)
		return -1;
	for (int i = 0; i < n; i++) {
		lua_geti(L, idx, i + 1);
		v[i] = lua_tostring(L, -1);
		lua_pop(L, 1); /* the table keeps the string alive */
		if (!v[i])
			return -1;
	}
	return n;
}

/* Pushes the result of a builder: id, names, types | nil, err. */
static int push_node(lua_State *L, int id, const char *err)
{
	struct script_run *run = run_of(L);
	if (id < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	const struct table *s = run->plan->nodes[id]->schema;
	lua_pushinteger(L, id);
	lua_createtable(L, s->ncols, 0);
	lua_createtable(L, s->ncols, 0);
	for (int c = 0; c < s->ncols; c++) {
		lua_pushstring(L, s->cols[c].name);
		lua_rawseti(L, -3, c + 1);
		lua_pushstring(L, vtype_name(s->cols[c].type));
		lua_rawseti(L, -2, c + 1);
	}
	return 3;
}

#define ERRBUF char err[512] = ""

static int c_now(lua_State *L)
{
	lua_pushinteger(L, run_of(L)->now_ns);
	return 1;
}

static int c_parse_time(lua_State *L)
{
	int64_t v;
	if (lua_isinteger(L, 1)) {
		lua_pushinteger(L, lua_tointeger(L, 1));
		return 1;
	}
	const char *s = lua_tostring(L, 1);
	if (s && parse_time(s, run_of(L)->now_ns, &v) == 0) {
		lua_pushinteger(L, v);
		return 1;
	}
	lua_pushnil(L);
	lua_pushfstring(L, "bad time '%s' (use -30s, -5m, -2h, now, 2026-11-22T10:00:00Z or ns since the epoch)",
			s ? s : luaL_typename(L, 1));
	return 2;
}

static int c_parse_duration(lua_State *L)
{
	int64_t v;
	const char *s = lua_tostring(L, 1);
	if (s && parse_duration(s, &v) == 0) {
		lua_pushinteger(L, v);
		return 1;
	}
	lua_pushnil(L);
	lua_pushfstring(L, "bad duration '%s' (use 10s, 5m, 1h, 250ms)", s ? s : luaL_typename(L, 1));
	return 2;
}

static int c_source(lua_State *L)
{
	ERRBUF;
	const char *table = luaL_checkstring(L, 1);
	int64_t t0 = luaL_checkinteger(L, 2), t1 = luaL_checkinteger(L, 3);
	return push_node(L, plan_source(run_of(L)->plan, table, t0, t1, err, sizeof(err)), err);
}

static int c_filter(lua_State *L)
{
	ERRBUF;
	struct expr *e = to_expr(L, 2, 0, err, sizeof(err));
	if (!e)
		return push_node(L, -1, err);
	return push_node(L, plan_filter(run_of(L)->plan, (int)luaL_checkinteger(L, 1), e, err, sizeof(err)), err);
}

static int c_map(lua_State *L)
{
	ERRBUF;
	const char *names[256];
	int n = read_names(L, 2, names, 256);
	if (n < 0 || !lua_istable(L, 3) || luaL_len(L, 3) != n)
		return push_node(L, -1, "map: bad arguments");
	struct expr *exprs[256];
	for (int i = 0; i < n; i++) {
		lua_geti(L, 3, i + 1);
		exprs[i] = to_expr(L, -1, 0, err, sizeof(err));
		lua_pop(L, 1);
		if (!exprs[i]) {
			for (int j = 0; j < i; j++)
				expr_free(exprs[j]);
			return push_node(L, -1, err);
		}
	}
	return push_node(L, plan_map(run_of(L)->plan, (int)luaL_checkinteger(L, 1), n, names, exprs, err,
				     sizeof(err)), err);
}

static int c_project(lua_State *L)
{
	ERRBUF;
	const char *from[1024], *as[1024];
	int n1 = read_names(L, 2, from, 1024), n2 = read_names(L, 3, as, 1024);
	if (n1 < 0 || n1 != n2)
		return push_node(L, -1, "select: bad column list");
	return push_node(L, plan_project(run_of(L)->plan, (int)luaL_checkinteger(L, 1), n1, from, as, err,
					 sizeof(err)), err);
}

static int c_frames(lua_State *L)
{
	ERRBUF;
	return push_node(L, plan_frames(run_of(L)->plan, (int)luaL_checkinteger(L, 1), luaL_checkstring(L, 2),
					luaL_checkstring(L, 3), luaL_checkstring(L, 4), luaL_optstring(L, 5, NULL), err,
					sizeof(err)), err);
}

static int c_agg(lua_State *L)
{
	ERRBUF;
	const char *keys[64];
	int nk = read_names(L, 2, keys, 64);
	if (nk < 0)
		return push_node(L, -1, "groupby: bad key list (at most 64 keys)");
	luaL_checktype(L, 3, LUA_TTABLE);
	int na = (int)luaL_len(L, 3);
	if (na > 256)
		return push_node(L, -1, "agg: at most 256 aggregates");
	struct agg_spec specs[256];
	for (int i = 0; i < na; i++) {
		lua_geti(L, 3, i + 1);
		lua_geti(L, -1, 1);
		lua_geti(L, -2, 2);
		lua_geti(L, -3, 3);
		const char *out = lua_tostring(L, -3), *fn = lua_tostring(L, -2), *arg = lua_tostring(L, -1);
		lua_pop(L, 4); /* strings stay alive: they are referenced by the spec table */
		int f = fn ? agg_fn_from_name(fn) : -1;
		if (!out || f < 0) {
			snprintf(err, sizeof(err), "agg: unknown aggregate '%s'", fn ? fn : "?");
			return push_node(L, -1, err);
		}
		specs[i] = (struct agg_spec){(char *)out, (enum agg_fn)f, (char *)arg};
	}
	return push_node(L, plan_agg(run_of(L)->plan, (int)luaL_checkinteger(L, 1), nk, keys, na, specs, err,
				     sizeof(err)), err);
}

static int c_sort(lua_State *L)
{
	ERRBUF;
	const char *keys[32];
	bool desc[32];
	int n = read_names(L, 2, keys, 32);
	if (n < 0 || !lua_istable(L, 3))
		return push_node(L, -1, "sort: bad key list (at most 32 keys)");
	for (int i = 0; i < n; i++) {
		lua_geti(L, 3, i + 1);
		desc[i] = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	return push_node(L, plan_sort(run_of(L)->plan, (int)luaL_checkinteger(L, 1), n, keys, desc, err,
				      sizeof(err)), err);
}

static int c_head(lua_State *L)
{
	ERRBUF;
	return push_node(L, plan_head(run_of(L)->plan, (int)luaL_checkinteger(L, 1), luaL_checkinteger(L, 2),
				      err, sizeof(err)), err);
}

static int c_union(lua_State *L)
{
	ERRBUF;
	luaL_checktype(L, 1, LUA_TTABLE);
	int n = (int)luaL_len(L, 1);
	if (n < 1 || n > 64)
		return push_node(L, -1, "union: 1 to 64 dataframes");
	int ids[64];
	for (int i = 0; i < n; i++) {
		lua_geti(L, 1, i + 1);
		ids[i] = (int)lua_tointeger(L, -1);
		lua_pop(L, 1);
	}
	return push_node(L, plan_union(run_of(L)->plan, n, ids, err, sizeof(err)), err);
}

static int c_join(lua_State *L)
{
	ERRBUF;
	const char *lk[64], *rk[64];
	int n1 = read_names(L, 4, lk, 64), n2 = read_names(L, 5, rk, 64);
	const char *how = luaL_checkstring(L, 3);
	if (n1 < 0 || n1 != n2)
		return push_node(L, -1, "merge: left_on and right_on must list the same number of columns");
	if (strcmp(how, "inner") && strcmp(how, "left"))
		return push_node(L, -1, "merge: how must be 'inner' or 'left'");
	return push_node(L, plan_join(run_of(L)->plan, (int)luaL_checkinteger(L, 1), (int)luaL_checkinteger(L, 2),
				      !strcmp(how, "left") ? JOIN_LEFT : JOIN_INNER, n1, lk, rk,
				      luaL_optstring(L, 6, "_x"), err, sizeof(err)), err);
}

static int c_quantiles(lua_State *L)
{
	ERRBUF;
	const char *keys[64];
	int nk = read_names(L, 2, keys, 64);
	if (nk < 0)
		return push_node(L, -1, "quantiles: bad key list");
	return push_node(L, plan_quantiles(run_of(L)->plan, (int)luaL_checkinteger(L, 1), nk, keys, luaL_checkstring(L, 3),
					   luaL_checkstring(L, 4), luaL_checkstring(L, 5), err, sizeof(err)), err);
}

static int c_display(lua_State *L)
{
	ERRBUF;
	if (plan_display(run_of(L)->plan, (int)luaL_checkinteger(L, 1), luaL_checkstring(L, 2), err,
			 sizeof(err)) < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int c_set_line(lua_State *L)
{
	plan_set_line(run_of(L)->plan, (int)luaL_checkinteger(L, 1), (int)luaL_checkinteger(L, 2));
	return 0;
}

static const luaL_Reg builders[] = {
	{"now", c_now}, {"parse_time", c_parse_time}, {"parse_duration", c_parse_duration},
	{"source", c_source}, {"filter", c_filter}, {"map", c_map}, {"project", c_project},
	{"frames", c_frames}, {"agg", c_agg}, {"sort", c_sort}, {"head", c_head},
	{"union", c_union}, {"join", c_join}, {"quantiles", c_quantiles}, {"display", c_display}, {"set_line", c_set_line}, {NULL, NULL},
};

void px_push_builders(lua_State *L)
{
	luaL_newlib(L, builders);
}
