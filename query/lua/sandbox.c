/* sandbox.c - the sandboxed Lua VM that turns a script into a plan (see script.h).
 *
 * Layout of a run: new lua_State with a counting allocator -> open base/table/string/math/utf8
 * (+ debug, whose getinfo only the prelude keeps) -> run the prelude with the plan builders
 * (px.c) -> build the script's environment from an allow-list -> load the script as text and
 * call it under a message handler -> hand back the plan. */
#include "script.h"
#include "script_run.h"
#include "engine/plan.h"
#include "core/clock.h"

#include <lauxlib.h>
#include <lualib.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char wisp_prelude_lua[];
extern const size_t wisp_prelude_lua_len;

#define LOG_MAX (64 * 1024)
#define HOOK_EVERY 10000

/* ---- the prelude's bytecode ------------------------------------------------------------------ */

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
	px_push_builders(L);
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
