/* script.c - the sandboxed Lua VM that turns a script into a plan (see script.h).
 *
 * Layout of a run: new lua_State with a counting allocator -> open base/table/string/math/utf8
 * (+ debug, whose getinfo only the prelude keeps) -> run the prelude with the plan builders
 * (the `C` table below) -> build the script's environment from an allow-list -> load the
 * script as text and call it under a message handler -> hand back the plan. */
#include "script.h"
#include "engine/expr.h"
#include "engine/plan.h"
#include "core/clock.h"
#include "core/qctx.h"
#include "core/timeparse.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const char wisp_prelude_lua[];
extern const size_t wisp_prelude_lua_len;

#define LOG_MAX (64 * 1024)
#define HOOK_EVERY 10000

struct script_run {
	struct plan *plan;        /* being built; owned until handed out */
	int64_t now_ns;
	size_t mem_used, mem_limit;
	int mem_hit;              /* an allocation was refused */
	uint64_t instructions, max_instructions;
	int64_t deadline;         /* CLOCK_MONOTONIC ns */
	int stopped;              /* a limit tripped: the hook now fires on every instruction */
	char *log;                /* print() output */
	size_t log_len;
	const struct script_limits *lim;
};

/* ---- the prelude's bytecode -------------------------------------------------------------------- */

/* Parsing the prelude costs over a millisecond per query; loading its bytecode a tenth of that.
 * The bytecode is made once per process from our own embedded text, so only it is ever loaded
 * in binary mode: scripts are always loaded as text. */
static struct {
	pthread_once_t once;
	char *code;
	size_t len;
} prelude = {PTHREAD_ONCE_INIT, NULL, 0};

static int collect_bytecode(lua_State *L, const void *p, size_t sz, void *ud)
{
	(void)L;
	(void)ud;
	char *n = realloc(prelude.code, prelude.len + sz);
	if (!n)
		return 1;
	memcpy(n + prelude.len, p, sz);
	prelude.code = n;
	prelude.len += sz;
	return 0;
}

static void prelude_dump(void)
{
	lua_State *L = luaL_newstate();
	if (L && luaL_loadbufferx(L, wisp_prelude_lua, wisp_prelude_lua_len, "=prelude", "t") == LUA_OK &&
	    lua_dump(L, collect_bytecode, NULL, 0) != 0) {
		free(prelude.code);
		prelude.code = NULL;
	}
	if (L)
		lua_close(L);
}

void script_init(void)
{
	pthread_once(&prelude.once, prelude_dump);
}

/* Loads the prelude (bytecode when it could be made, else the text). */
static int load_prelude(lua_State *L)
{
	script_init();
	if (prelude.code)
		return luaL_loadbufferx(L, prelude.code, prelude.len, "=prelude", "b");
	return luaL_loadbufferx(L, wisp_prelude_lua, wisp_prelude_lua_len, "=prelude", "t");
}

/* ---- allocator and hook ---------------------------------------------------------------------- */

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct script_run *run = ud;
	size_t old = ptr ? osize : 0;
	if (nsize == 0) {
		free(ptr);
		run->mem_used -= old;
		return NULL;
	}
	if (nsize > old && run->mem_used - old + nsize > run->mem_limit) {
		run->mem_hit = 1;
		return NULL;
	}
	void *p = realloc(ptr, nsize);
	if (p)
		run->mem_used = run->mem_used - old + nsize;
	return p;
}

static struct script_run *run_of(lua_State *L)
{
	return *(struct script_run **)lua_getextraspace(L);
}

static void limit_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct script_run *run = run_of(L);
	run->instructions += run->stopped ? 1 : HOOK_EVERY;
	const char *why = NULL;
	if (run->stopped)
		why = "stopped";
	else if (run->instructions > run->max_instructions)
		why = "instruction";
	else if (mono_now_ns() > run->deadline)
		why = "time";
	if (!why)
		return;
	if (!run->stopped) {
		run->stopped = 1;
		/* From now on every instruction fails, so pcall cannot swallow the stop. */
		lua_sethook(L, limit_hook, LUA_MASKCOUNT, 1);
	}
	/* In a hook, level 0 is the running Lua function: name its line ourselves. */
	char where[300] = "", msg[200];
	lua_Debug at;
	if (lua_getstack(L, 0, &at) && lua_getinfo(L, "Sl", &at) && at.currentline > 0)
		snprintf(where, sizeof(where), "%s:%d: ", at.short_src, at.currentline);
	snprintf(msg, sizeof(msg), "script exceeded its %s limit (%.1f s or %" PRIu64 " M instructions)",
		 run->instructions > run->max_instructions ? "instruction" : "time",
		 (double)run->lim->timeout_ns / 1e9, run->max_instructions / 1000000);
	lua_pushfstring(L, "%s%s", where, msg);
	lua_error(L);
}

/* ---- Lua -> C expression conversion ------------------------------------------------------- */

static struct expr *to_expr(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
	struct expr *e = NULL;
	idx = lua_absindex(L, idx);
	if (depth > 200 || !lua_istable(L, idx)) {
		snprintf(err, errlen, depth > 200 ? "expression too deep" : "not an expression");
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
		int n = lua_istable(L, -1) ? (int)luaL_len(L, -1) : -1;
		if (fn && n >= 0 && n <= 1000) {
			struct expr *args[n ? n : 1];
			int i;
			for (i = 0; i < n; i++) {
				lua_geti(L, -1, i + 1);
				args[i] = to_expr(L, -1, depth + 1, err, errlen);
				lua_pop(L, 1);
				if (!args[i])
					break;
			}
			if (i == n) {
				e = expr_call(fn, n, args);
			} else {
				for (int j = 0; j < i; j++)
					expr_free(args[j]);
				lua_pop(L, 2);
				return NULL;
			}
		}
		lua_pop(L, 2);
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
					luaL_checkstring(L, 3), luaL_checkstring(L, 4), err, sizeof(err)), err);
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

static const luaL_Reg plan_builders[] = {
	{"now", c_now}, {"parse_time", c_parse_time}, {"parse_duration", c_parse_duration},
	{"source", c_source}, {"filter", c_filter}, {"map", c_map}, {"project", c_project},
	{"frames", c_frames}, {"agg", c_agg}, {"sort", c_sort}, {"head", c_head},
	{"union", c_union}, {"join", c_join}, {"quantiles", c_quantiles}, {"display", c_display}, {"set_line", c_set_line}, {NULL, NULL},
};

/* ---- sandbox --------------------------------------------------------------------------------- */

/* print(): collected into the run's log, returned to the client. */
static int sandbox_print(lua_State *L)
{
	struct script_run *run = run_of(L);
	int n = lua_gettop(L);
	for (int i = 1; i <= n; i++) {
		size_t len;
		const char *s = luaL_tolstring(L, i, &len);
		size_t room = LOG_MAX - run->log_len;
		size_t take = (len + 1 < room ? len + 1 : room);
		if (take > 0) {
			char *nl = realloc(run->log, run->log_len + take + 1);
			if (nl) {
				run->log = nl;
				memcpy(run->log + run->log_len, s, take - 1);
				run->log[run->log_len + take - 1] = i < n ? '\t' : '\n';
				run->log_len += take;
				run->log[run->log_len] = '\0';
			}
		}
		lua_pop(L, 1);
	}
	return 0;
}

/* load(): text chunks only, into the sandbox environment unless one is given. */
static int sandbox_load(lua_State *L)
{
	int has_env = !lua_isnone(L, 4);
	lua_settop(L, 4);
	lua_getglobal(L, "load"); /* the real one, kept in the prelude's globals */
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	lua_pushliteral(L, "t");
	if (has_env)
		lua_pushvalue(L, 4);
	else
		lua_pushvalue(L, lua_upvalueindex(1));
	lua_call(L, 4, 2);
	return 2;
}

static const char *const allowed_globals[] = {
	"assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring",
	"type", "xpcall", "rawequal", "rawget", "rawlen", "rawset", "setmetatable", "getmetatable",
	"_VERSION", NULL,
};
static const char *const allowed_libs[] = {"string", "table", "math", "utf8", NULL};
/* Names scripts may reach for but cannot have: a clear error instead of "nil value". */
static const char *const forbidden_globals[] = {
	"os", "io", "require", "package", "debug", "dofile", "loadfile", "collectgarbage",
	"loadstring", "module", "coroutine", NULL,
};

static int env_index(lua_State *L)
{
	const char *k = lua_tostring(L, 2);
	for (const char *const *g = forbidden_globals; k && *g; g++)
		if (!strcmp(*g, k))
			return luaL_error(L, "'%s' is not available in Wisp scripts (they only build queries: "
					     "no files, processes, modules or GC control)", k);
	return 0;
}

static int msghandler(lua_State *L)
{
	if (!lua_isstring(L, 1)) {
		const char *t = luaL_typename(L, 1);
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		lua_pushfstring(L, "(error object is a %s value)", t);
	}
	return 1;
}

struct protected_args {
	const struct script_input *in;
	struct script_run *run;
};

/* Runs inside lua_pcall so that errors anywhere in setup are caught too. */
static int run_protected(lua_State *L)
{
	const struct script_input *in = lua_touserdata(L, 1);
	char chunk[300];
	snprintf(chunk, sizeof(chunk), "@%s", in->name ? in->name : "script.lua");

	luaL_openlibs(L);
	/* The prelude: C builders, debug.getinfo, argv, the script's chunk name. */
	if (load_prelude(L) != LUA_OK)
		return lua_error(L);
	luaL_newlib(L, plan_builders);
	lua_getglobal(L, "debug");
	lua_getfield(L, -1, "getinfo");
	lua_remove(L, -2);
	lua_createtable(L, in->argc, 0);
	for (int i = 0; i < in->argc; i++) {
		lua_pushstring(L, in->argv[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_pushstring(L, chunk);
	lua_call(L, 4, 1); /* -> px */
	int px = lua_gettop(L);

	/* The script's environment: allow-listed globals, safe libraries, px. */
	lua_newtable(L);
	int env = lua_gettop(L);
	for (const char *const *g = allowed_globals; *g; g++) {
		lua_getglobal(L, *g);
		lua_setfield(L, env, *g);
	}
	for (const char *const *g = allowed_libs; *g; g++) {
		lua_getglobal(L, *g);
		lua_setfield(L, env, *g);
	}
	lua_getglobal(L, "string");
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	lua_pop(L, 1);
	lua_pushcfunction(L, sandbox_print);
	lua_setfield(L, env, "print");
	lua_pushvalue(L, env);
	lua_pushcclosure(L, sandbox_load, 1);
	lua_setfield(L, env, "load");
	lua_pushvalue(L, px);
	lua_setfield(L, env, "px");
	lua_pushvalue(L, env);
	lua_setfield(L, env, "_G");
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, env_index);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, env);

	/* The script itself: text only, with env as its _ENV upvalue. */
	if (luaL_loadbufferx(L, in->source, in->len, chunk, "t") != LUA_OK)
		return lua_error(L);
	lua_pushvalue(L, env);
	lua_setupvalue(L, -2, 1);
	lua_call(L, 0, 0);
	return 0;
}

int script_compile(const struct script_input *in, const struct script_limits *lim, struct plan **out,
		   char **log, char *err, size_t errlen)
{
	static const struct script_limits defaults = SCRIPT_DEFAULT_LIMITS;
	struct script_run run = {0};
	lua_State *L = NULL;
	int rc = -1;

	*out = NULL;
	if (log)
		*log = NULL;
	if (!lim)
		lim = &defaults;
	run.lim = lim;
	run.now_ns = in->now_ns;
	run.mem_limit = lim->mem_bytes;
	run.max_instructions = lim->max_instructions;
	run.deadline = mono_now_ns() + lim->timeout_ns;
	if (in->len >= 4 && in->source[0] == '\x1b') {
		snprintf(err, errlen, "%s: precompiled (bytecode) scripts are not accepted", in->name);
		return -1;
	}
	if (!(run.plan = plan_new()) || !(L = lua_newstate(capped_alloc, &run))) {
		snprintf(err, errlen, "out of memory starting the script");
		goto out;
	}
	*(struct script_run **)lua_getextraspace(L) = &run;
	lua_sethook(L, limit_hook, LUA_MASKCOUNT, HOOK_EVERY);

	lua_pushcfunction(L, msghandler);
	lua_pushcfunction(L, run_protected);
	lua_pushlightuserdata(L, (void *)in);
	int status = lua_pcall(L, 1, 0, 1);
	if (log) { /* what the script printed helps most when it failed */
		*log = run.log;
		run.log = NULL;
	}
	if (status != LUA_OK) {
		if (status == LUA_ERRMEM || run.mem_hit)
			snprintf(err, errlen, "%s: script exceeded its memory limit (%zu MiB)", in->name,
				 lim->mem_bytes >> 20);
		else
			snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "script error");
		goto out;
	}
	if (run.plan->ndisplays == 0) {
		snprintf(err, errlen, "%s: the script displayed nothing (call px.display(df, 'name'))", in->name);
		goto out;
	}
	*out = run.plan;
	run.plan = NULL;
	rc = 0;
out:
	if (L)
		lua_close(L);
	plan_free(run.plan);
	free(run.log);
	return rc;
}
