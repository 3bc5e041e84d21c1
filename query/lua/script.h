/* script.h - runs a user's Lua script in a sandbox and turns it into a query plan.
 *
 * Each run gets a fresh lua_State with only the safe parts of the standard library (no io, os,
 * require, debug, dofile/loadfile, string.dump, collectgarbage; load() accepts text only), a
 * capped allocator and an instruction/time hook. The script sees `px` (query/lua/prelude.lua)
 * and builds a plan through it; the plan is the only thing that leaves the VM. */
#ifndef WISP_SCRIPT_H
#define WISP_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

struct plan;

struct script_limits {
	size_t mem_bytes;          /* Lua heap cap */
	int64_t timeout_ns;        /* wall time for the script to build its plan */
	uint64_t max_instructions; /* VM instructions */
};

#define SCRIPT_DEFAULT_LIMITS {64u << 20, 2000000000LL, 200000000ULL}

struct script_input {
	const char *name;         /* shown in errors: "top_functions.lua" */
	const char *source;       /* Lua source text (never bytecode) */
	size_t len;
	const char *const *argv;  /* script arguments ("--pid", "42", ...) */
	int argc;
	int64_t now_ns;           /* the query's "now" (wall clock, ns) */
};

/* Prepares process-wide state (the prelude's bytecode) once. script_compile does it on first use;
 * a script helper does it when it starts. */
void script_init(void);

/* Runs the script. On success *out is a new plan (not yet split). *log (when log is not NULL)
 * receives what the script printed, on success and failure alike; the caller frees both. On
 * failure returns -1 with a message naming the script line where there is one. */
int script_compile(const struct script_input *in, const struct script_limits *lim, struct plan **out,
		   char **log, char *err, size_t errlen);

/* Script helpers: the same compile in a separate process that is killed at the deadline, for the
 * daemon, where a script must never hang a thread (C-level loops such as pattern-matching bombs
 * ignore Lua's hook) or crash the process. The pool starts helpers as `EXE --script-helper` with
 * their socket on fd 3 (EXE's main must then call script_helper_main) and keeps up to max_idle
 * of them for the next scripts. script_pool_compile is thread-safe. With exe NULL the pool
 * compiles in the calling process, unisolated (fuzzers: a crash there is the finding). */
struct script_pool;
struct script_pool *script_pool_new(const char *exe, int max_idle);
void script_pool_free(struct script_pool *sp); /* no compile may be running */
int script_pool_compile(struct script_pool *sp, const struct script_input *in, const struct script_limits *lim,
			struct plan **out, char **log, char *err, size_t errlen);
/* The helper's loop: answers requests on fd 3 until it is closed. The process's exit code. */
int script_helper_main(void);

#endif
