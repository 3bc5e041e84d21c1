/* wisp.c - the Wisp command-line client.
 *
 *   wisp [-c ws://HOST:PORT] run FILE.lua|NAME [-o table|json|csv|folded] [--max-rows N]
 *        [--max-memory MB] [--timeout SECONDS] [--stats] [-- SCRIPT ARGS...]
 *   wisp [-c ws://HOST:PORT] agents [-o table|json]
 *   wisp [-c ws://HOST:PORT] snapshot [--start T] [--end T] [--dir DIR]
 *   wisp scripts
 *
 * It connects to the coordinator (-c, else $WISP_COORDINATOR, else ws://127.0.0.1:7070), sends
 * one request, prints the answer and exits: 0 on success, 1 when the query failed, 2 on usage or
 * connection errors. */
#include "format/render.h"
#include "core/clock.h"
#include "ws_peer.h"
#include "engine/codec.h"
#include "core/qctx.h"
#include "core/table.h"

#include <dirent.h>
#include <errno.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DEFAULT_COORDINATOR "ws://127.0.0.1:7070"
#define WISP_PROTOCOL "wisp.v1"

#ifndef WISP_SCRIPTS_DIR
#define WISP_SCRIPTS_DIR "/usr/local/share/wisp/scripts"
#endif

struct client {
	msgpack_sbuffer request;
	struct ws_peer peer;
	enum output_format fmt;
	bool agents_cmd;
	bool stats;               /* print the query's statistics to stderr */
	bool done;
	int exit_code;
	char host[256], path[256];
	int port;
	const char *url;
	const char *dir;          /* snapshot: where files go */
	lws_sorted_usec_list_t deadline; /* wakes the service loop when the answer is late */
	double timeout_s;
};

static void deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct client *cl = lws_container_of(sul, struct client, deadline);
	if (!cl->done) {
		fprintf(stderr, "wisp: no answer from %s within %.0f s\n", cl->url, cl->timeout_s);
		cl->done = true;
		cl->exit_code = 2;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wisp [-c ws://HOST:PORT] run FILE.lua|NAME [-o table|json|csv|folded] [--max-rows N]\n"
		"            [--max-memory MB] [--timeout SECONDS] [--stats] [-- SCRIPT ARGS...]\n"
		"       wisp [-c ws://HOST:PORT] agents [-o table|json]\n"
		"       wisp [-c ws://HOST:PORT] snapshot [--start -1h] [--end now] [--dir DIR]\n"
		"       wisp scripts\n"
		"\n"
		"The coordinator address comes from -c, else $WISP_COORDINATOR, else " DEFAULT_COORDINATOR ".\n"
		"NAME finds a bundled script (see `wisp scripts`); $WISP_SCRIPTS_PATH adds directories.\n");
}

/* ---- bundled scripts --------------------------------------------------------------------- */

static int find_script(const char *arg, char *path, size_t len)
{
	struct stat st;
	if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) {
		snprintf(path, len, "%s", arg);
		return 0;
	}
	if (strchr(arg, '/'))
		return -1;
	const char *env = getenv("WISP_SCRIPTS_PATH");
	char dirs[4096];
	snprintf(dirs, sizeof(dirs), "%s%s%s:/usr/local/share/wisp/scripts:/usr/share/wisp/scripts",
		 env ? env : "", env ? ":" : "", WISP_SCRIPTS_DIR);
	bool has_ext = strlen(arg) > 4 && !strcmp(arg + strlen(arg) - 4, ".lua");
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(path, len, "%s/%s%s", d, arg, has_ext ? "" : ".lua");
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			return 0;
	}
	return -1;
}

static int list_scripts(void)
{
	const char *env = getenv("WISP_SCRIPTS_PATH");
	char dirs[4096];
	snprintf(dirs, sizeof(dirs), "%s%s%s", env ? env : "", env ? ":" : "", WISP_SCRIPTS_DIR);
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		DIR *dir = opendir(d);
		struct dirent *e;
		if (!dir)
			continue;
		while ((e = readdir(dir)) != NULL) {
			size_t l = strlen(e->d_name);
			if (l <= 4 || strcmp(e->d_name + l - 4, ".lua"))
				continue;
			char p[4096], line[512] = "";
			snprintf(p, sizeof(p), "%s/%s", d, e->d_name);
			FILE *f = fopen(p, "r");
			if (f) { /* first comment line: "-- name.lua - what it answers" */
				if (fgets(line, sizeof(line), f))
					line[strcspn(line, "\n")] = '\0';
				fclose(f);
			}
			const char *dash = strstr(line, " - ");
			printf("%-22.*s %s\n", (int)(l - 4), e->d_name, dash ? dash + 3 : "");
		}
		closedir(dir);
	}
	return 0;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n >= 0 && n < (16 << 20) && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc(n + 1))) {
			*len = fread(buf, 1, n, f);
			buf[*len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/* ---- responses ---------------------------------------------------------------------------- */

static void print_agents(struct client *cl, const msgpack_object *m)
{
	const msgpack_object *agents = mp_get(m, "agents");
	const char *names[] = {"node", "kind", "address", "connected_s", "samples", "rows", "ring_mb", "oldest_s",
			       "hz", "cpus", "lost"};
	enum vtype types[] = {VT_STRING, VT_STRING, VT_STRING, VT_FLOAT, VT_INT, VT_INT, VT_FLOAT, VT_FLOAT,
			      VT_INT, VT_INT, VT_INT};
	struct table *t = table_new(11, names, types);
	struct qctx q;
	qctx_init(&q);
	int64_t now = 0;
	if (!t || !agents || agents->type != MSGPACK_OBJECT_ARRAY)
		goto out;
	table_set_name(t, "agents");
	for (uint32_t i = 0; i < agents->via.array.size; i++) {
		const msgpack_object *a = &agents->via.array.ptr[i], *st = mp_get(a, "status");
		char buf[256];
		int64_t v;
		if (table_reserve(t, t->nrows + 1) < 0)
			break;
		size_t r = t->nrows++;
		const char **s[3] = {&t->cols[0].v.s[r], &t->cols[1].v.s[r], &t->cols[2].v.s[r]};
		const char *keys[3] = {"node", "kind", "address"};
		for (int k = 0; k < 3; k++) {
			buf[0] = '\0';
			mp_str(mp_get(a, keys[k]), buf, sizeof(buf));
			*s[k] = qctx_strndup(&q, buf, strlen(buf));
		}
		const msgpack_object *cs = mp_get(a, "connected_s");
		t->cols[3].v.f[r] = cs && cs->type == MSGPACK_OBJECT_FLOAT64 ? cs->via.f64 : 0;
		t->cols[4].v.i[r] = mp_int(mp_get(st, "samples"), &v) ? v : 0;
		t->cols[5].v.i[r] = mp_int(mp_get(st, "rows"), &v) ? v : 0;
		t->cols[6].v.f[r] = mp_int(mp_get(st, "ring_bytes"), &v) ? (double)v / 1048576.0 : 0;
		int64_t oldest = mp_int(mp_get(st, "oldest_ns"), &v) ? v : 0;
		if (!now)
			now = wall_now_ns();
		t->cols[7].v.f[r] = oldest ? (double)(now - oldest) / 1e9 : 0;
		t->cols[8].v.i[r] = mp_int(mp_get(st, "hz"), &v) ? v : 0;
		t->cols[9].v.i[r] = mp_int(mp_get(st, "cpus"), &v) ? v : 0;
		t->cols[10].v.i[r] = mp_int(mp_get(st, "lost_samples"), &v) ? v : 0;
	}
	render_tables(stdout, &q, &t, 1, cl->fmt == OUT_JSON ? OUT_JSON : OUT_TABLE, NULL, 0);
	cl->exit_code = 0;
out:
	table_free(t);
	qctx_destroy(&q);
}

/* "stats: ..." on stderr from the answer's stats map. */
static void print_stats(const msgpack_object *st)
{
	double compile = 0, agents = 0, slowest = 0, merge = 0, total = 0;
	int64_t n = 0, answered = 0, bytes = 0, rows = 0;
	char node[64] = "";
	if (!st || st->type != MSGPACK_OBJECT_MAP)
		return;
	mp_int(mp_get(st, "agents"), &n);
	mp_int(mp_get(st, "answered"), &answered);
	mp_int(mp_get(st, "bytes_in"), &bytes);
	mp_int(mp_get(st, "rows"), &rows);
	mp_double(mp_get(st, "compile_ms"), &compile);
	mp_double(mp_get(st, "agents_ms"), &agents);
	mp_double(mp_get(st, "slowest_exec_ms"), &slowest);
	mp_double(mp_get(st, "merge_ms"), &merge);
	mp_double(mp_get(st, "ms"), &total);
	mp_str(mp_get(st, "slowest_node"), node, sizeof(node));
	fprintf(stderr,
		"stats: %lld/%lld agents answered | compile %.2f ms | agents %.2f ms (slowest exec %.2f ms on %s) | "
		"%.1f KiB in | merge %.2f ms | %lld rows | total %.2f ms\n",
		(long long)answered, (long long)n, compile, agents, slowest, node, (double)bytes / 1024.0, merge,
		(long long)rows, total);
}

static void print_result(struct client *cl, const msgpack_object *m)
{
	const msgpack_object *tabs = mp_get(m, "tables"), *warn = mp_get(m, "warnings");
	char buf[4096];
	struct qctx q;
	qctx_init(&q);
	if (mp_str(mp_get(m, "log"), buf, sizeof(buf)) && buf[0])
		fputs(buf, stderr);
	if (warn && warn->type == MSGPACK_OBJECT_ARRAY)
		for (uint32_t i = 0; i < warn->via.array.size; i++)
			if (mp_str(&warn->via.array.ptr[i], buf, sizeof(buf)))
				fprintf(stderr, "wisp: warning: %s\n", buf);
	if (!tabs || tabs->type != MSGPACK_OBJECT_ARRAY) {
		fprintf(stderr, "wisp: malformed answer from the coordinator\n");
		cl->exit_code = 1;
		qctx_destroy(&q);
		return;
	}
	int n = (int)tabs->via.array.size;
	struct table **t = calloc(n ? n : 1, sizeof(*t));
	int i;
	for (i = 0; t && i < n; i++)
		if (codec_unpack_table(&q, &tabs->via.array.ptr[i], &t[i]) < 0)
			break;
	if (!t || i < n) {
		fprintf(stderr, "wisp: malformed answer from the coordinator: %s\n", q.err);
		cl->exit_code = 1;
	} else {
		char err[512];
		cl->exit_code = render_tables(stdout, &q, t, n, cl->fmt, err, sizeof(err)) < 0 ? 1 : 0;
		if (cl->exit_code)
			fprintf(stderr, "wisp: %s\n", err);
		if (cl->stats)
			print_stats(mp_get(m, "stats"));
	}
	for (int k = 0; t && k < n; k++)
		table_free(t[k]);
	free(t);
	qctx_destroy(&q);
}

/* Writes each node's snapshot to DIR/NODE-YYYYmmddTHHMMSSZ.wispsnap. */
static void save_snapshots(struct client *cl, const msgpack_object *m)
{
	const msgpack_object *files = mp_get(m, "files"), *warn = mp_get(m, "warnings");
	char buf[1024], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if (warn && warn->type == MSGPACK_OBJECT_ARRAY)
		for (uint32_t i = 0; i < warn->via.array.size; i++)
			if (mp_str(&warn->via.array.ptr[i], buf, sizeof(buf)))
				fprintf(stderr, "wisp: warning: %s\n", buf);
	cl->exit_code = 0;
	for (uint32_t i = 0; files && files->type == MSGPACK_OBJECT_ARRAY && i < files->via.array.size; i++) {
		const msgpack_object *f = &files->via.array.ptr[i], *data = mp_get(f, "data");
		char node[128] = "node", path[4096];
		mp_str(mp_get(f, "node"), node, sizeof(node));
		for (char *p = node; *p; p++)
			if (*p == '/' || *p == '.')
				*p = '_';
		if (!data || data->type != MSGPACK_OBJECT_BIN)
			continue;
		snprintf(path, sizeof(path), "%s/%s-%s.wispsnap", cl->dir, node, stamp);
		FILE *out = fopen(path, "wb");
		if (!out || fwrite(data->via.bin.ptr, 1, data->via.bin.size, out) != data->via.bin.size || fclose(out) != 0) {
			fprintf(stderr, "wisp: cannot write %s: %s\n", path, strerror(errno));
			cl->exit_code = 1;
			continue;
		}
		printf("%s\t%u bytes\n", path, data->via.bin.size);
	}
}

static void on_message(struct client *cl, const char *data, size_t len)
{
	msgpack_unpacked u;
	char type[32] = "", msg[4096] = "";
	msgpack_unpacked_init(&u);
	cl->done = true;
	cl->exit_code = 1;
	if (!mp_unpack(&u, data, len) ||
	    !mp_str(mp_get(&u.data, "type"), type, sizeof(type))) {
		fprintf(stderr, "wisp: malformed answer from the coordinator\n");
	} else if (!strcmp(type, "error")) {
		if (mp_str(mp_get(&u.data, "log"), msg, sizeof(msg)) && msg[0])
			fputs(msg, stderr);
		mp_str(mp_get(&u.data, "message"), msg, sizeof(msg));
		fprintf(stderr, "wisp: error: %s\n", msg);
	} else if (!strcmp(type, "result")) {
		print_result(cl, &u.data);
	} else if (!strcmp(type, "agents")) {
		print_agents(cl, &u.data);
	} else if (!strcmp(type, "snapshots")) {
		save_snapshots(cl, &u.data);
	} else {
		fprintf(stderr, "wisp: unexpected answer '%s' from the coordinator\n", type);
	}
	msgpack_unpacked_destroy(&u);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct client *cl = lws_context_user(lws_get_context(wsi));
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		cl->peer.wsi = wsi;
		ws_peer_send(&cl->peer, cl->request.data, cl->request.size);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		int r = ws_peer_receive(&cl->peer, in, len, 1u << 30);
		if (r < 0) {
			fprintf(stderr, "wisp: answer too large\n");
			cl->done = true;
			cl->exit_code = 1;
			return -1;
		}
		if (r == 1) {
			on_message(cl, cl->peer.rx, cl->peer.rx_len);
			ws_peer_consume(&cl->peer);
			return -1; /* one request, one answer: close */
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return ws_peer_on_writeable(&cl->peer);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		fprintf(stderr, "wisp: cannot connect to the coordinator at %s: %s\n", cl->url,
			in ? (const char *)in : "connection failed");
		cl->done = true;
		cl->exit_code = 2;
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!cl->done) {
			fprintf(stderr, "wisp: the coordinator at %s closed the connection\n", cl->url);
			cl->done = true;
			cl->exit_code = 2;
		}
		break;
	default:
		break;
	}
	return 0;
}

static int exchange(struct client *cl, double timeout_s)
{
	static const struct lws_protocols protocols[] = {{WISP_PROTOCOL, callback, 0, 65536, 0, NULL, 0},
							 {NULL, NULL, 0, 0, 0, NULL, 0}};
	struct lws_context_creation_info info = {0};
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = cl;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context *ctx = lws_create_context(&info);
	if (!ctx) {
		fprintf(stderr, "wisp: cannot start the websocket client\n");
		return 2;
	}
	struct lws_client_connect_info ci = {0};
	ci.context = ctx;
	ci.address = cl->host;
	ci.port = cl->port;
	ci.path = cl->path;
	ci.host = cl->host;
	ci.origin = cl->host;
	ci.protocol = WISP_PROTOCOL;
	if (!lws_client_connect_via_info(&ci) && !cl->done) {
		fprintf(stderr, "wisp: cannot connect to the coordinator at %s\n", cl->url);
		cl->done = true;
		cl->exit_code = 2;
	}
	cl->timeout_s = timeout_s;
	lws_sul_schedule(ctx, 0, &cl->deadline, deadline_cb, (lws_usec_t)(timeout_s * LWS_US_PER_SEC));
	while (!cl->done)
		if (lws_service(ctx, 0) < 0)
			break;
	lws_sul_cancel(&cl->deadline);
	lws_context_destroy(ctx);
	ws_peer_clear(&cl->peer);
	return cl->exit_code;
}

int main(int argc, char **argv)
{
	struct client cl = {.exit_code = 1};
	const char *url = getenv("WISP_COORDINATOR"), *cmd = NULL, *script_arg = NULL;
	int64_t max_rows = 10000, max_memory_mb = 1024;
	double timeout_s = 10;
	int i = 1, nscript_args = 0;
	char **script_args = NULL;

	if (!url || !*url)
		url = DEFAULT_COORDINATOR;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--coordinator")) && i + 1 < argc) {
			url = argv[++i];
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
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
	cmd = argv[i++];
	if (!strcmp(cmd, "scripts"))
		return list_scripts();
	const char *snap_start = "-1h", *snap_end = "now";
	cl.dir = ".";
	if (strcmp(cmd, "run") && strcmp(cmd, "agents") && strcmp(cmd, "snapshot")) {
		fprintf(stderr, "wisp: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			script_args = argv + i + 1;
			nscript_args = argc - i - 1;
			break;
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			if (output_format_parse(argv[++i], &cl.fmt) < 0) {
				fprintf(stderr, "wisp: -o must be table, json, csv or folded\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--max-rows") && i + 1 < argc) {
			max_rows = strtoll(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--max-memory") && i + 1 < argc) {
			max_memory_mb = strtoll(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--stats")) {
			cl.stats = true;
		} else if (!strcmp(cmd, "snapshot") && !strcmp(argv[i], "--start") && i + 1 < argc) {
			snap_start = argv[++i];
		} else if (!strcmp(cmd, "snapshot") && !strcmp(argv[i], "--end") && i + 1 < argc) {
			snap_end = argv[++i];
		} else if (!strcmp(cmd, "snapshot") && !strcmp(argv[i], "--dir") && i + 1 < argc) {
			cl.dir = argv[++i];
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			timeout_s = strtod(argv[++i], NULL);
		} else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--coordinator")) && i + 1 < argc) {
			url = argv[++i];
		} else if (argv[i][0] != '-' && !script_arg && !strcmp(cmd, "run")) {
			script_arg = argv[i];
		} else {
			fprintf(stderr, "wisp: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (max_rows <= 0 || max_memory_mb <= 0 || timeout_s <= 0) {
		fprintf(stderr, "wisp: --max-rows, --max-memory and --timeout must be positive\n");
		return 2;
	}
	cl.url = url;
	if (ws_url_parse(url, cl.host, sizeof(cl.host), &cl.port, cl.path, sizeof(cl.path)) < 0) {
		fprintf(stderr, "wisp: bad coordinator address '%s' (expected ws://HOST:PORT)\n", url);
		return 2;
	}
	msgpack_sbuffer_init(&cl.request);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &cl.request, msgpack_sbuffer_write);
	if (!strcmp(cmd, "snapshot")) {
		timeout_s = timeout_s < 60 ? 60 : timeout_s;
		msgpack_pack_map(&pk, 5);
		mp_pack_str(&pk, "type"); mp_pack_str(&pk, "snapshot");
		mp_pack_str(&pk, "id"); msgpack_pack_int(&pk, 1);
		mp_pack_str(&pk, "start"); mp_pack_str(&pk, snap_start);
		mp_pack_str(&pk, "end"); mp_pack_str(&pk, snap_end);
		mp_pack_str(&pk, "timeout_ms"); msgpack_pack_int64(&pk, (int64_t)(timeout_s * 1000));
	} else if (!strcmp(cmd, "agents")) {
		cl.agents_cmd = true;
		msgpack_pack_map(&pk, 2);
		mp_pack_str(&pk, "type"); mp_pack_str(&pk, "agents");
		mp_pack_str(&pk, "id"); msgpack_pack_int(&pk, 1);
	} else {
		char path[4096];
		size_t len = 0;
		if (!script_arg) {
			fprintf(stderr, "wisp: run needs a script file or a bundled script name\n");
			return 2;
		}
		if (find_script(script_arg, path, sizeof(path)) < 0) {
			fprintf(stderr, "wisp: no script '%s' (not a file, not a bundled script; see `wisp scripts`)\n",
				script_arg);
			return 2;
		}
		char *src = read_file(path, &len);
		if (!src) {
			fprintf(stderr, "wisp: cannot read %s: %s\n", path, strerror(errno ? errno : EFBIG));
			return 2;
		}
		const char *base = strrchr(path, '/');
		msgpack_pack_map(&pk, 8);
		mp_pack_str(&pk, "type"); mp_pack_str(&pk, "run");
		mp_pack_str(&pk, "id"); msgpack_pack_int(&pk, 1);
		mp_pack_str(&pk, "name"); mp_pack_str(&pk, base ? base + 1 : path);
		mp_pack_str(&pk, "script");
		msgpack_pack_str(&pk, len);
		msgpack_pack_str_body(&pk, src, len);
		mp_pack_str(&pk, "args");
		msgpack_pack_array(&pk, nscript_args);
		for (int k = 0; k < nscript_args; k++)
			mp_pack_str(&pk, script_args[k]);
		mp_pack_str(&pk, "max_rows"); msgpack_pack_int64(&pk, max_rows);
		mp_pack_str(&pk, "mem_limit_mb"); msgpack_pack_int64(&pk, max_memory_mb);
		mp_pack_str(&pk, "timeout_ms"); msgpack_pack_int64(&pk, (int64_t)(timeout_s * 1000));
		free(src);
	}
	int rc = exchange(&cl, timeout_s + 5);
	msgpack_sbuffer_destroy(&cl.request);
	return rc;
}
