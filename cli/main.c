/* main.c - the Wisp command-line client: options, then one command.
 *
 *   wisp [-c ws://HOST:PORT] run FILE.lua|NAME [-o table|json|csv|folded|pprof] [--max-rows N]
 *        [--max-memory MB] [--timeout SECONDS] [--stats] [-- SCRIPT ARGS...]
 *   wisp [-c ws://HOST:PORT] live FILE.lua|NAME [-o table|jsonl|folded] [--every 1s] [--window 30s]
 *        [--ticks N] [--max-rows N] [-- SCRIPT ARGS...]
 *   wisp [-c ws://HOST:PORT] agents [-o table|json]
 *   wisp [-c ws://HOST:PORT] snapshot [--start T] [--end T] [--dir DIR]
 *   wisp [-c ws://HOST:PORT] export s3://BUCKET/PREFIX [--start T] [--end T | --interval DUR]
 *        [--format wispsnap|pprof]
 *   wisp scripts
 *   wisp --version
 *   (global options) --token-file FILE | $WISP_TOKEN, --ca FILE | $WISP_CA
 *
 * Every command but `scripts` connects to the coordinator (-c, else $WISP_COORDINATOR, else
 * ws://127.0.0.1:7070; wss:// for TLS), sends one request, prints the answer (live: every tick until it is told
 * to stop) and exits: 0 on success, 1 when the query failed, 2 on usage or connection errors. */
#include "cli.h"
#include "core/timeparse.h"

#include <libwebsockets.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wisp [-c ws://HOST:PORT] run FILE.lua|NAME [-o table|json|csv|folded|pprof] [--max-rows N]\n"
		"            [--max-memory MB] [--timeout SECONDS] [--stats] [-- SCRIPT ARGS...]\n"
		"       wisp [-c ws://HOST:PORT] live FILE.lua|NAME [-o table|jsonl|folded] [--every 1s] [--window 30s]\n"
		"            [--ticks N] [--max-rows N] [-- SCRIPT ARGS...]\n"
		"       wisp [-c ws://HOST:PORT] agents [-o table|json]\n"
		"       wisp [-c ws://HOST:PORT] snapshot [--start -1h] [--end now] [--dir DIR]\n"
		"       wisp [-c ws://HOST:PORT] export s3://BUCKET/PREFIX [--start -1h] [--end now] [--interval 1h]\n"
		"            [--format wispsnap|pprof]\n"
		"       wisp scripts\n"
		"       wisp --version\n"
		"\n"
		"Options before the command:\n"
		"  -c, --coordinator URL  ws://HOST:PORT, or wss://HOST:PORT for TLS (default $WISP_COORDINATOR,\n"
		"                         else " DEFAULT_COORDINATOR ")\n"
		"  --token-file FILE      the token to send: the file's only word, or from lines 'ROLE TOKEN'\n"
		"                         its admin token, else its read token (default: $WISP_TOKEN_FILE;\n"
		"                         $WISP_TOKEN gives the token itself)\n"
		"  --ca FILE              the CA certificates (PEM) a wss:// coordinator is verified against\n"
		"                         (default $WISP_CA, else the system's)\n"
		"NAME finds a bundled script (see `wisp scripts`); $WISP_SCRIPTS_PATH adds directories.\n"
		"Exit status: 0 success, 1 the query failed, 2 usage, connection or credential errors.\n");
}

/* The token and CA the connection uses: --token-file (or $WISP_TOKEN_FILE), else $WISP_TOKEN;
 * --ca (or $WISP_CA). 0, or -1 with the reason printed. */
static int credentials(struct ws_endpoint *ep, const char *token_file, const char *token, const char *ca)
{
	char err[512];
	if (token_file && *token_file) {
		if (tokens_pick(token_file, GRANT_READ, ep->token, sizeof(ep->token), err, sizeof(err)) < 0) {
			fprintf(stderr, "wisp: %s\n", err);
			return -1;
		}
	} else if (token && *token) {
		if (strlen(token) >= sizeof(ep->token)) {
			fprintf(stderr, "wisp: $WISP_TOKEN is over %d characters\n", TOKEN_MAX);
			return -1;
		}
		snprintf(ep->token, sizeof(ep->token), "%s", token);
	}
	if (ca && *ca) {
		FILE *f = fopen(ca, "r");
		if (!f) {
			fprintf(stderr, "wisp: cannot read the CA file %s\n", ca);
			return -1;
		}
		fclose(f);
		ep->ca = ca;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cli o = {
		.url = getenv("WISP_COORDINATOR"), .max_rows = QUERY_MAX_ROWS, .max_memory_mb = QUERY_MEM_MB,
		.timeout_s = QUERY_TIMEOUT_MS / 1000.0, .start = SNAPSHOT_START, .end = SNAPSHOT_END, .dir = ".",
		.every_ms = LIVE_EVERY_MS, .window_ms = LIVE_WINDOW_MS,
	};
	int i = 1;
	const char *token_file = getenv("WISP_TOKEN_FILE"), *token = getenv("WISP_TOKEN"), *ca = getenv("WISP_CA");
	if (!o.url || !*o.url)
		o.url = DEFAULT_COORDINATOR;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--coordinator")) && i + 1 < argc) {
			o.url = argv[++i];
		} else if (!strcmp(argv[i], "--token-file") && i + 1 < argc) {
			token_file = argv[++i];
			token = NULL;
		} else if (!strcmp(argv[i], "--ca") && i + 1 < argc) {
			ca = argv[++i];
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("wisp %s (protocol %s, libwebsockets %s)\n", proto_wisp_version(), PROTO_NAME,
			       lws_get_library_version());
			return 0;
		} else {
			fprintf(stderr, "wisp: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[i++];
	if (!strcmp(cmd, "scripts"))
		return cmd_scripts();
	bool run = !strcmp(cmd, "run"), live = !strcmp(cmd, "live"), export = !strcmp(cmd, "export");
	bool snapshot = !strcmp(cmd, "snapshot") || export; /* (export takes snapshot's range) */
	if (!run && !live && !snapshot && strcmp(cmd, "agents")) {
		fprintf(stderr, "wisp: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { /* (a script's own help: after --) */
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--")) {
			o.script_args = argv + i + 1;
			o.nscript_args = argc - i - 1;
			break;
		} else if (live && !strcmp(argv[i], "-o") && i + 1 < argc) {
			const char *f = argv[++i];
			if (!strcmp(f, "jsonl")) {
				o.fmt = OUT_JSON;
			} else if (strcmp(f, "table") && strcmp(f, "folded")) {
				fprintf(stderr, "wisp: live -o must be table, jsonl or folded\n");
				return 2;
			} else {
				output_format_parse(f, &o.fmt);
			}
		} else if (live && (!strcmp(argv[i], "--every") || !strcmp(argv[i], "--window")) && i + 1 < argc) {
			int64_t ns;
			bool every = !strcmp(argv[i], "--every");
			if (parse_duration(argv[++i], &ns) < 0 || ns <= 0) {
				fprintf(stderr, "wisp: %s takes a duration such as 1s, 500ms or 5m, not '%s'\n",
					every ? "--every" : "--window", argv[i]);
				return 2;
			}
			*(every ? &o.every_ms : &o.window_ms) = ns / 1000000;
		} else if (live && !strcmp(argv[i], "--ticks") && i + 1 < argc) {
			char *endp;
			o.ticks = strtoll(argv[++i], &endp, 10);
			if (*endp || o.ticks <= 0) {
				fprintf(stderr, "wisp: --ticks takes a positive count, not '%s'\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			if (output_format_parse(argv[++i], &o.fmt) < 0) {
				fprintf(stderr, "wisp: -o must be table, json, csv, folded or pprof\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--max-rows") && i + 1 < argc) {
			o.max_rows = strtoll(argv[++i], NULL, 10);
			o.max_rows_given = true;
		} else if (!strcmp(argv[i], "--max-memory") && i + 1 < argc) {
			o.max_memory_mb = strtoll(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--stats")) {
			o.stats = true;
		} else if (snapshot && !strcmp(argv[i], "--start") && i + 1 < argc) {
			o.start = argv[++i];
		} else if (snapshot && !strcmp(argv[i], "--end") && i + 1 < argc) {
			o.end = argv[++i];
		} else if (export && !strcmp(argv[i], "--format") && i + 1 < argc) {
			o.format = argv[++i];
		} else if (export && !strcmp(argv[i], "--interval") && i + 1 < argc) {
			o.interval = argv[++i];
		} else if (snapshot && !export && !strcmp(argv[i], "--dir") && i + 1 < argc) {
			o.dir = argv[++i];
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			o.timeout_s = strtod(argv[++i], NULL);
		} else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--coordinator")) && i + 1 < argc) {
			o.url = argv[++i];
		} else if (argv[i][0] != '-' && !o.script && (run || live || export)) {
			o.script = argv[i];
		} else {
			fprintf(stderr, "wisp: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (o.max_rows <= 0 || o.max_memory_mb <= 0 || o.timeout_s <= 0) {
		fprintf(stderr, "wisp: --max-rows, --max-memory and --timeout must be positive\n");
		return 2;
	}
	if (ws_endpoint_parse(o.url, &o.ep) < 0) {
		fprintf(stderr, "wisp: bad coordinator address '%s' (expected ws://HOST:PORT or wss://HOST:PORT)\n", o.url);
		return 2;
	}
	if (credentials(&o.ep, token_file, token, ca) < 0)
		return 2;
	if (live && (o.every_ms < LIVE_MIN_EVERY_MS || o.window_ms < o.every_ms || o.window_ms > LIVE_MAX_WINDOW_MS)) {
		fprintf(stderr, "wisp: --every must be at least %d ms, and --window at least --every and at most 24h\n",
			LIVE_MIN_EVERY_MS);
		return 2;
	}
	return run ? cmd_run(&o) : live ? cmd_live(&o) : export ? cmd_export(&o) : snapshot ? cmd_snapshot(&o) : cmd_agents(&o);
}
