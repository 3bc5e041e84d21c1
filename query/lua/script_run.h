/* script_run.h - the state of one script run, shared by the sandbox (sandbox.c), which sets it
 * up and enforces its limits, and the px builders (px.c), which add to its plan. It hangs off
 * the lua_State's extra space. Private to query/lua/. */
#ifndef WISP_SCRIPT_RUN_H
#define WISP_SCRIPT_RUN_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "script.h"

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

static inline struct script_run *run_of(lua_State *L)
{
	return *(struct script_run **)lua_getextraspace(L);
}

/* Pushes the table of plan builders the prelude receives as `C`. */
void px_push_builders(lua_State *L);

#endif
