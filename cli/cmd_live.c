/* cmd_live.c - `wisp live FILE.lua|NAME [-o table|jsonl|folded] [--every 1s] [--window 30s]
 * [--ticks N] [-- ARGS]`: subscribes to the script (docs/PROTOCOL.md, "subscribe") and shows
 * every tick of its sliding window.
 *
 *   table   on a terminal, redrawn in place like top (the alternate screen; the header says
 *           which tick, which window, how many agents answered; the table is cut to the
 *           terminal's size, which is read again on every draw and on SIGWINCH); `q` or Ctrl-C
 *           quits and gives the terminal back as it was. Not on a terminal: each tick's
 *           header and whole table, then a blank line.
 *   jsonl   one JSON document per tick and line:
 *           {"tick":N,"time":NS,"window_start":NS,"watchers":W,"skipped":S,"tables":[...as -o
 *           json...],"warnings":[...],"stats":{agents, answered, agents_ms, slowest_exec_ms,
 *           slowest_node, bytes_in, merge_ms, rows, ms}}
 *   folded  each tick's folded stacks, then a blank line (warnings on stderr).
 *
 * --ticks N stops after N ticks (exit 0); so do q, Ctrl-C and SIGTERM. */
#include "cli.h"
#include "core/qctx.h"
#include "core/timeparse.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 50
#define MAX_WARNINGS_SHOWN 4

static volatile sig_atomic_t stop_signal, resized;

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		resized = 1;
	else
		stop_signal = 1;
}

struct view {
	const struct cli *o;
	const char *name;
	bool screen;            /* table on a terminal: redrawn in place */
	bool keys;              /* stdin is a terminal, in non-canonical mode: q quits */
	struct termios saved;
	uint64_t ticks;         /* ticks shown */
	char *text;             /* the last tick's header and table, for redraws (owned) */
	size_t text_len;
};

/* ---- drawing --------------------------------------------------------------------------------- */

/* Writes line[0..len) cut to cols columns (UTF-8 continuation bytes take none). */
static void put_cut(const char *line, size_t len, int cols)
{
	int used = 0;
	size_t i = 0;
	for (; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if ((ch & 0xc0) != 0x80 && used++ == cols)
			break;
	}
	fwrite(line, 1, i, stdout);
}

/* The last tick on the screen: from the top, cut to the terminal, the rest cleared. */
static void draw(struct view *v)
{
	struct winsize ws = {0};
	int rows = 24, cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
		rows = ws.ws_row, cols = ws.ws_col;
	fputs("\033[H", stdout);
	const char *p = v->text, *end = v->text + v->text_len;
	for (int row = 0; p && p < end && row < rows - 1; row++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		put_cut(p, len, cols);
		fputs("\033[K\n", stdout);
		p = nl ? nl + 1 : end;
	}
	fputs("\033[J", stdout);
	fflush(stdout);
}

static void clock_str(int64_t ns, char *buf, size_t len)
{
	time_t s = (time_t)(ns / 1000000000LL);
	struct tm tm;
	localtime_r(&s, &tm);
	strftime(buf, len, "%H:%M:%S", &tm);
}

/* The header, warnings and tables of a tick as text (table format). */
static int tick_text(struct view *v, struct qctx *q, const struct live_tick *t, const struct proto_answer *a,
		     struct table **tables, int n)
{
	struct query_stats st;
	char from[16], to[16], err[512], w[4096];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -1;
	proto_read_stats(a->stats, &st);
	clock_str(t->window_start_ns, from, sizeof(from));
	clock_str(t->time_ns, to, sizeof(to));
	fprintf(f, "wisp live %s  tick %llu  window %s-%s (%.0f s)  every %.3g s  %d/%d agents  %.0f ms", v->name,
		(unsigned long long)t->tick, from, to, (double)(t->time_ns - t->window_start_ns) / 1e9,
		(double)v->o->every_ms / 1e3, st.answered, st.agents, st.ms);
	if (t->watchers > 1)
		fprintf(f, "  %d watching", t->watchers);
	if (t->skipped)
		fprintf(f, "  (%llu ticks skipped)", (unsigned long long)t->skipped);
	fputs(v->keys ? "  q quits\n" : "\n", f);
	uint32_t nw = a->warnings ? a->warnings->via.array.size : 0;
	for (uint32_t i = 0; i < nw && i < MAX_WARNINGS_SHOWN; i++)
		if (proto_string_at(a->warnings, i, w, sizeof(w)))
			fprintf(f, "warning: %s\n", w);
	if (nw > MAX_WARNINGS_SHOWN)
		fprintf(f, "warning: ... and %u more\n", nw - MAX_WARNINGS_SHOWN);
	fputc('\n', f);
	int rc = render_tables(f, q, tables, n, OUT_TABLE, err, sizeof(err));
	if (rc < 0)
		fprintf(f, "wisp: %s\n", err);
	fclose(f);
	free(v->text);
	v->text = buf;
	v->text_len = len;
	return 0;
}

static void print_jsonl(struct qctx *q, const struct live_tick *t, const struct proto_answer *a,
			struct table **tables, int n)
{
	char w[4096];
	printf("{\"tick\":%llu,\"time\":%lld,\"window_start\":%lld,\"watchers\":%d,\"skipped\":%llu,",
	       (unsigned long long)t->tick, (long long)t->time_ns, (long long)t->window_start_ns, t->watchers,
	       (unsigned long long)t->skipped);
	render_json_tables(stdout, q, tables, n);
	fputs(",\"warnings\":[", stdout);
	for (uint32_t i = 0; a->warnings && i < a->warnings->via.array.size; i++) {
		if (i)
			fputc(',', stdout);
		render_json_string(stdout, proto_string_at(a->warnings, i, w, sizeof(w)) ? w : "");
	}
	struct query_stats st;
	proto_read_stats(a->stats, &st);
	printf("],\"stats\":{\"agents\":%d,\"answered\":%d,\"agents_ms\":%.3f,\"slowest_exec_ms\":%.3f,"
	       "\"slowest_node\":", st.agents, st.answered, st.agents_ms, st.slowest_exec_ms);
	render_json_string(stdout, st.slowest_node);
	printf(",\"bytes_in\":%llu,\"merge_ms\":%.3f,\"rows\":%llu,\"ms\":%.3f}}\n", (unsigned long long)st.bytes_in,
	       st.merge_ms, (unsigned long long)st.rows, st.ms);
}

/* ---- the stream ------------------------------------------------------------------------------ */

static int on_tick(void *arg, const struct proto_msg *m)
{
	struct view *v = arg;
	struct proto_answer a;
	struct live_tick t;
	struct qctx q;
	struct table **tables;
	char err[512];
	int n, rc = -1;
	if (m->type != PT_TICK) {
		fprintf(stderr, "wisp: unexpected answer '%s' from the coordinator\n", m->type_name);
		return 1;
	}
	proto_read_tick(m->obj, &t);
	proto_read_answer(m, &a);
	qctx_init(&q);
	if (cli_unpack_tables(&q, a.tables, &tables, &n) < 0) {
		qctx_destroy(&q);
		return 1;
	}
	switch (v->o->fmt) {
	case OUT_JSON:
		print_jsonl(&q, &t, &a, tables, n);
		break;
	case OUT_FOLDED:
		cli_print_warnings(a.warnings);
		if (render_tables(stdout, &q, tables, n, OUT_FOLDED, err, sizeof(err)) < 0) {
			fprintf(stderr, "wisp: %s\n", err);
			rc = 1;
		}
		fputc('\n', stdout);
		break;
	default:
		if (tick_text(v, &q, &t, &a, tables, n) < 0) {
			rc = 1;
		} else if (v->screen) {
			draw(v);
		} else {
			fwrite(v->text, 1, v->text_len, stdout);
			fputc('\n', stdout);
		}
	}
	fflush(stdout);
	cli_free_tables(tables, n);
	qctx_destroy(&q);
	v->ticks++;
	if (rc < 0 && v->o->ticks && v->ticks >= (uint64_t)v->o->ticks)
		rc = 0;
	return rc;
}

static int on_poll(void *arg)
{
	struct view *v = arg;
	char key;
	if (stop_signal)
		return 0;
	while (v->keys && read(STDIN_FILENO, &key, 1) == 1)
		if (key == 'q' || key == 'Q')
			return 0;
	if (resized && v->screen && v->text) {
		resized = 0;
		draw(v);
	}
	return -1;
}

int cmd_live(const struct cli *o)
{
	char name[256];
	size_t len = 0;
	if (!o->script) {
		fprintf(stderr, "wisp: live needs a script file or a bundled script name\n");
		return 2;
	}
	if (o->fmt != OUT_TABLE && o->fmt != OUT_JSON && o->fmt != OUT_FOLDED) {
		fprintf(stderr, "wisp: live -o must be table, jsonl or folded\n");
		return 2;
	}
	char *src = script_load(o->script, &len, name, sizeof(name));
	if (!src)
		return 2;
	struct run_request r = {
		.id = 1, .script = src, .script_len = len, .argv = (const char *const *)o->script_args,
		.argc = o->nscript_args, .max_rows = o->max_rows, .timeout_ms = (int64_t)(o->timeout_s * 1000),
		.mem_limit_mb = o->max_memory_mb, .name = name, .every_ms = o->every_ms, .window_ms = o->window_ms,
	};
	struct proto_buf req;
	proto_buf_init(&req);
	proto_pack_subscribe(&req.pk, &r);
	free(src);

	struct view v = {.o = o, .name = name};
	v.screen = o->fmt == OUT_TABLE && isatty(STDOUT_FILENO);
	v.keys = v.screen && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &v.saved) == 0;
	struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term, old_winch;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGWINCH, &sa, &old_winch);
	if (v.keys) {
		struct termios raw = v.saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	if (v.screen)
		fputs("\033[?1049h\033[?25l\033[H\033[J", stdout); /* the alternate screen, no cursor */
	struct cli_stream s = {on_tick, on_poll, POLL_MS, &v};
	/* The first tick reads the whole window: it gets the query's timeout; later ones come each
	 * interval. */
	int rc = cli_stream(o, &req, o->timeout_s + 5, &s);
	if (v.screen) {
		fputs("\033[?25h\033[?1049l", stdout);
		fflush(stdout);
		if (v.text && rc == 0) /* what was on the screen stays in view */
			fwrite(v.text, 1, v.text_len, stdout);
	}
	if (v.keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &v.saved);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGWINCH, &old_winch, NULL);
	free(v.text);
	proto_buf_destroy(&req);
	return rc;
}
