/* cli.h - what the wisp commands share: the parsed command line, the one request/one answer
 * exchange with the coordinator (client.c), and the scripts `run` finds (scripts.c). Each
 * command is its own file: cmd_run.c, cmd_agents.c, cmd_snapshot.c, cmd_export.c. Exit status: 0 on success,
 * 1 when the query failed, 2 on usage or connection errors. */
#ifndef WISP_CLI_H
#define WISP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/render.h"
#include "net/proto.h"
#include "net/ws_client.h"

struct qctx;
struct table;

#define DEFAULT_COORDINATOR "ws://127.0.0.1:7070"

struct cli {
	const char *url;           /* the coordinator: -c, else $WISP_COORDINATOR, else the default */
	struct ws_endpoint ep;     /* ... parsed */
	enum output_format fmt;    /* -o */
	bool stats;                /* run --stats: the query's statistics on stderr */
	int64_t max_rows;          /* run --max-rows */
	bool max_rows_given;       /* ... on the command line (-o pprof is whole unless it is) */
	int64_t max_memory_mb;     /* run --max-memory */
	double timeout_s;          /* --timeout */
	const char *script;        /* run: a file or a bundled script's name; export: s3://BUCKET/PREFIX */
	char **script_args;        /* run: after "--" */
	int nscript_args;
	const char *start, *end;   /* snapshot and export --start, --end */
	const char *interval;      /* export --interval: the last closed interval of this length */
	const char *format;        /* export --format: wispsnap (default) or pprof */
	const char *dir;           /* snapshot --dir */
};

/* ---- client.c ---- */

/* Sends request to the coordinator and waits (up to timeout_s) for one answer. An answer of
 * type `want` goes to handle, which returns the exit status; an error answer, a malformed or
 * unexpected one, a failed connection or no answer in time are reported here. */
int cli_exchange(const struct cli *o, const struct proto_buf *request, double timeout_s, enum proto_type want,
		 int (*handle)(const struct cli *o, const struct proto_msg *m));
/* Prints each warning of an answer to stderr. */
void cli_print_warnings(const msgpack_object *warnings);

/* ---- scripts.c ---- */

/* The path of script `arg`: a file, else NAME[.lua] in $WISP_SCRIPTS_PATH, the build's scripts
 * directory and the installed ones. 0, or -1 when there is none. */
int script_find(const char *arg, char *path, size_t len);
/* The whole file (NUL-terminated, malloc'd; *len its size); NULL when unreadable or over 16 MiB. */
char *script_read(const char *path, size_t *len);

/* ---- cmd_run.c, shared with export ---- */

/* What to do with a script's result tables (decoded into q); returns the exit status. */
typedef int (*cli_tables_fn)(struct qctx *q, struct table **tables, int n, const struct proto_answer *a, void *arg);
/* Runs script (a file or a bundled script's name) with argv on the coordinator and hands its
 * tables to use. The exit status: use's, or 1/2 when the script or the exchange failed. */
int cli_run_script(const struct cli *o, const char *script, const char *const *argv, int argc, cli_tables_fn use,
		   void *arg);
/* Every agent's node and sampling rate, for pprof (free with cli_rates_free). 0, or the status. */
int cli_fetch_rates(const struct cli *o, struct pprof_opts *out);
void cli_rates_free(struct pprof_opts *p);

/* ---- the commands ---- */
int cmd_run(const struct cli *o);
int cmd_agents(const struct cli *o);
int cmd_snapshot(const struct cli *o);
int cmd_export(const struct cli *o);
int cmd_scripts(void);

#endif
