/* cli.h - what the wisp commands share: the parsed command line, the one request/one answer
 * exchange with the coordinator and the stream of a live query (client.c), and the scripts `run`
 * finds (scripts.c). Each command is its own file: cmd_run.c, cmd_live.c, cmd_agents.c,
 * cmd_snapshot.c, cmd_export.c. Exit status: 0 on success,
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
	int64_t every_ms, window_ms; /* live --every, --window */
	int64_t ticks;             /* live --ticks: stop after this many (0: never) */
};

/* ---- client.c ---- */

/* Sends request to the coordinator and waits (up to timeout_s) for one answer. An answer of
 * type `want` goes to handle, which returns the exit status; an error answer, a malformed or
 * unexpected one, a failed connection or no answer in time are reported here. */
int cli_exchange(const struct cli *o, const struct proto_buf *request, double timeout_s, enum proto_type want,
		 int (*handle)(const struct cli *o, const struct proto_msg *m));
/* A stream of answers to one request (live queries): each answer but an error goes to on_answer,
 * and on_poll runs every poll_ms; either returns the exit status to stop, or -1 to go on. An
 * error answer, a closed connection or no first answer within timeout_s end it (status 1 or 2). */
struct cli_stream {
	int (*on_answer)(void *arg, const struct proto_msg *m);
	int (*on_poll)(void *arg);
	int poll_ms;
	void *arg;
};
int cli_stream(const struct cli *o, const struct proto_buf *request, double timeout_s, const struct cli_stream *s);
/* Prints each warning of an answer to stderr. */
void cli_print_warnings(const msgpack_object *warnings);

/* ---- scripts.c ---- */

/* The path of script `arg`: a file, else NAME[.lua] in $WISP_SCRIPTS_PATH, the build's scripts
 * directory and the installed ones. 0, or -1 when there is none. */
int script_find(const char *arg, char *path, size_t len);
/* The whole file (NUL-terminated, malloc'd; *len its size); NULL when unreadable or over 16 MiB. */
char *script_read(const char *path, size_t *len);
/* script_find and script_read, with the error printed: the source (malloc'd) and its file name
 * in name; NULL when there is none. */
char *script_load(const char *arg, size_t *len, char *name, size_t namelen);

/* ---- cmd_run.c, shared with export ---- */

/* What to do with a script's result tables (decoded into q); returns the exit status. */
typedef int (*cli_tables_fn)(struct qctx *q, struct table **tables, int n, const struct proto_answer *a, void *arg);
/* The tables of an answer (its "tables" array, or NULL), decoded into q; the error is printed.
 * 0, or -1. cli_free_tables frees them. */
int cli_unpack_tables(struct qctx *q, const msgpack_object *arr, struct table ***out, int *n);
void cli_free_tables(struct table **t, int n);
/* Runs script (a file or a bundled script's name) with argv on the coordinator and hands its
 * tables to use. The exit status: use's, or 1/2 when the script or the exchange failed. */
int cli_run_script(const struct cli *o, const char *script, const char *const *argv, int argc, cli_tables_fn use,
		   void *arg);
/* Every agent's node and sampling rate, for pprof (free with cli_rates_free). 0, or the status. */
int cli_fetch_rates(const struct cli *o, struct pprof_opts *out);
void cli_rates_free(struct pprof_opts *p);

/* ---- the commands ---- */
int cmd_run(const struct cli *o);
int cmd_live(const struct cli *o);
int cmd_agents(const struct cli *o);
int cmd_snapshot(const struct cli *o);
int cmd_export(const struct cli *o);
int cmd_scripts(void);

#endif
