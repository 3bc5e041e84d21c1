/* isolate.c - script helpers: compiling scripts in separate processes, so nothing a script does
 * can hang or crash the daemon. Lua's instruction hook cannot interrupt C code (a catastrophic
 * string.find pattern runs for hours inside one call); a helper process can simply be killed.
 *
 * A helper is a fresh exec of the daemon's own binary in helper mode (script_helper_main on
 * fd 3), not a fork: a forked child would share, copy-on-write, every page of the daemon, so
 * each page the daemon later rewrote (its ring is rewritten all the time) would be copied for
 * as long as the child lived, and the fork itself copies the page tables. The pool keeps a few
 * idle helpers; a request takes one (or starts one), and gives it back when it answered in
 * time. A helper that overruns its deadline, dies or garbles its answer is killed and dropped.
 *
 * Wire format on the helper's socket, both directions: a 4-byte little-endian length, then one
 * msgpack map, or nothing: the helper's first frame, once it has loaded, is empty. Request:
 * {name, source, args[], now_ns, mem_bytes, timeout_ns, instructions}. Answer: {log, ok,
 * plan | error}. The daemon decodes plans with the validating decoder. */
#include "script.h"
#include "engine/codec.h"
#include "engine/plan.h"
#include "core/clock.h"
#include "core/qctx.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FRAME (64u << 20)
#define HELPER_FD 3
#define HELPER_START_NS 10000000000LL /* a new helper loads within this */

extern char **environ;

struct helper {
	pid_t pid;
	int fd;
};

struct script_pool {
	pthread_mutex_t lock;
	char *exe;
	int max_idle;
	int nidle;
	struct helper *idle; /* max_idle entries */
};

/* ---- framing --------------------------------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL); /* a dead peer is an error, not SIGPIPE */
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int write_frame(int fd, const msgpack_sbuffer *sb)
{
	unsigned char hdr[4] = {(unsigned char)sb->size, (unsigned char)(sb->size >> 8),
				(unsigned char)(sb->size >> 16), (unsigned char)(sb->size >> 24)};
	return write_all(fd, hdr, 4) < 0 || write_all(fd, sb->data, sb->size) < 0 ? -1 : 0;
}

/* Reads exactly n bytes before deadline (CLOCK_MONOTONIC ns; 0 = none). 0, -1 on EOF or error,
 * -2 on timeout. */
static int read_exact(int fd, void *p, size_t n, int64_t deadline)
{
	char *c = p;
	while (n) {
		if (deadline) {
			int64_t left_ms = (deadline - mono_now_ns()) / 1000000;
			if (left_ms <= 0)
				return -2;
			struct pollfd pfd = {fd, POLLIN, 0};
			int pr = poll(&pfd, 1, (int)(left_ms > 1000 ? 1000 : left_ms));
			if (pr < 0 && errno != EINTR)
				return -1;
			if (pr <= 0)
				continue;
		}
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* A whole frame into *buf (malloc'd, caller frees). Same returns as read_exact. */
static int read_frame(int fd, char **buf, size_t *len, int64_t deadline)
{
	unsigned char hdr[4];
	int rc = read_exact(fd, hdr, 4, deadline);
	if (rc < 0)
		return rc;
	size_t n = hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
	if (n > MAX_FRAME || !(*buf = malloc(n ? n : 1)))
		return -1;
	if ((rc = read_exact(fd, *buf, n, deadline)) < 0) {
		free(*buf);
		*buf = NULL;
		return rc;
	}
	*len = n;
	return 0;
}

/* ---- the helper process ---------------------------------------------------------------------- */

/* Compiles one request into an answer. */
static void helper_answer(const msgpack_object *req, msgpack_sbuffer *sb)
{
	struct script_limits lim = SCRIPT_DEFAULT_LIMITS;
	char name[256] = "script.lua", err[1024] = "";
	const char *argv[257];
	int argc = 0;
	int64_t now_ns = 0, v;
	const msgpack_object *src = mp_get(req, "source"), *args = mp_get(req, "args");
	struct plan *p = NULL;
	char *log = NULL;
	msgpack_packer pk;
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);

	mp_str(mp_get(req, "name"), name, sizeof(name));
	mp_int(mp_get(req, "now_ns"), &now_ns);
	if (mp_int(mp_get(req, "mem_bytes"), &v) && v > 0)
		lim.mem_bytes = (size_t)v;
	if (mp_int(mp_get(req, "timeout_ns"), &v) && v > 0)
		lim.timeout_ns = v;
	if (mp_int(mp_get(req, "instructions"), &v) && v > 0)
		lim.max_instructions = (uint64_t)v;
	for (uint32_t i = 0; args && args->type == MSGPACK_OBJECT_ARRAY && i < args->via.array.size && argc < 256; i++) {
		const msgpack_object *a = &args->via.array.ptr[i];
		if (a->type == MSGPACK_OBJECT_STR && (argv[argc] = strndup(a->via.str.ptr, a->via.str.size)))
			argc++;
	}
	argv[argc] = NULL;
	char *text = src && src->type == MSGPACK_OBJECT_STR ? strndup(src->via.str.ptr, src->via.str.size) : NULL;
	int rc = -1;
	if (text) {
		struct script_input in = {name, text, src->via.str.size, argv, argc, now_ns};
		rc = script_compile(&in, &lim, &p, &log, err, sizeof(err));
	} else {
		snprintf(err, sizeof(err), "%s: the request has no script", name);
	}
	msgpack_pack_map(&pk, 3);
	mp_pack_str(&pk, "log");
	mp_pack_str(&pk, log ? log : "");
	if (rc == 0) {
		mp_pack_str(&pk, "plan");
		codec_pack_plan(&pk, p);
	} else {
		mp_pack_str(&pk, "error");
		mp_pack_str(&pk, err);
	}
	mp_pack_str(&pk, "ok");
	msgpack_pack_int(&pk, rc == 0);
	plan_free(p);
	free(log);
	free(text);
	for (int i = 0; i < argc; i++)
		free((char *)argv[i]);
}

int script_helper_main(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the daemon (nor does EOF on fd 3) */
	script_init();
	static const msgpack_sbuffer ready = {0, NULL, 0};
	if (write_frame(HELPER_FD, &ready) < 0) /* loaded: the daemon's deadlines start now */
		return 1;
	for (;;) {
		char *buf = NULL;
		size_t len = 0;
		if (read_frame(HELPER_FD, &buf, &len, 0) < 0)
			return 0; /* the daemon closed the pool */
		msgpack_unpacked u;
		msgpack_sbuffer sb;
		msgpack_unpacked_init(&u);
		msgpack_sbuffer_init(&sb);
		if (mp_unpack(&u, buf, len))
			helper_answer(&u.data, &sb);
		int wrc = sb.size ? write_frame(HELPER_FD, &sb) : -1;
		msgpack_sbuffer_destroy(&sb);
		msgpack_unpacked_destroy(&u);
		free(buf);
		if (wrc < 0)
			return 1;
	}
}

/* ---- the pool (daemon side) ------------------------------------------------------------------ */

struct script_pool *script_pool_new(const char *exe, int max_idle)
{
	struct script_pool *sp = calloc(1, sizeof(*sp));
	if (!sp || (exe && !(sp->exe = strdup(exe))) || !(sp->idle = calloc(max_idle > 0 ? max_idle : 1, sizeof(*sp->idle)))) {
		script_pool_free(sp);
		return NULL;
	}
	sp->max_idle = max_idle > 0 ? max_idle : 1;
	pthread_mutex_init(&sp->lock, NULL);
	return sp;
}

static void helper_stop(struct helper *h, bool kill_it)
{
	if (h->fd >= 0)
		close(h->fd); /* an idle helper sees EOF and exits */
	if (kill_it)
		kill(h->pid, SIGKILL);
	while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
		;
	h->fd = -1;
}

void script_pool_free(struct script_pool *sp)
{
	if (!sp)
		return;
	for (int i = 0; i < sp->nidle; i++)
		helper_stop(&sp->idle[i], false);
	if (sp->idle)
		pthread_mutex_destroy(&sp->lock);
	free(sp->idle);
	free(sp->exe);
	free(sp);
}

static int helper_start(struct script_pool *sp, struct helper *h, char *err, size_t errlen)
{
	int sv[2];
	posix_spawn_file_actions_t fa;
	char *const argv[] = {(char *)"wispd", (char *)"--script-helper", NULL};
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "cannot start a script helper: %s", strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], HELPER_FD); /* dup2 clears close-on-exec */
	int rc = posix_spawn(&h->pid, sp->exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		snprintf(err, errlen, "cannot start a script helper (%s): %s", sp->exe, strerror(rc));
		return -1;
	}
	/* A new helper loads before it answers (seconds, on a loaded host or under a sanitizer):
	 * a request's deadline starts once it said it is ready, an empty frame. */
	char *ready = NULL;
	size_t len = 0;
	h->fd = sv[0];
	int rd = read_frame(h->fd, &ready, &len, mono_now_ns() + HELPER_START_NS);
	if (rd < 0 || len != 0) {
		helper_stop(h, true);
		if (rd == -2)
			snprintf(err, errlen, "a script helper did not start within %d s", (int)(HELPER_START_NS / 1000000000));
		else
			snprintf(err, errlen, "a script helper (%s) died as it started", sp->exe);
		free(ready);
		return -1;
	}
	free(ready);
	return 0;
}

int script_pool_compile(struct script_pool *sp, const struct script_input *in, const struct script_limits *lim,
			struct plan **out, char **log, char *err, size_t errlen)
{
	static const struct script_limits defaults = SCRIPT_DEFAULT_LIMITS;
	struct helper h = {-1, -1};
	msgpack_sbuffer req;
	msgpack_packer pk;
	char *buf = NULL;
	size_t len = 0;
	int rc = -1;
	bool healthy = false;

	*out = NULL;
	if (log)
		*log = NULL;
	if (!lim)
		lim = &defaults;
	if (!sp->exe)
		return script_compile(in, lim, out, log, err, errlen);
	pthread_mutex_lock(&sp->lock);
	if (sp->nidle > 0)
		h = sp->idle[--sp->nidle];
	pthread_mutex_unlock(&sp->lock);
	if (h.fd < 0 && helper_start(sp, &h, err, errlen) < 0)
		return -1;

	msgpack_sbuffer_init(&req);
	msgpack_packer_init(&pk, &req, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 7);
	mp_pack_str(&pk, "name"); mp_pack_str(&pk, in->name ? in->name : "script.lua");
	mp_pack_str(&pk, "source"); msgpack_pack_str(&pk, in->len); msgpack_pack_str_body(&pk, in->source, in->len);
	mp_pack_str(&pk, "args"); msgpack_pack_array(&pk, in->argc);
	for (int i = 0; i < in->argc; i++)
		mp_pack_str(&pk, in->argv[i]);
	mp_pack_str(&pk, "now_ns"); msgpack_pack_int64(&pk, in->now_ns);
	mp_pack_str(&pk, "mem_bytes"); msgpack_pack_uint64(&pk, lim->mem_bytes);
	mp_pack_str(&pk, "timeout_ns"); msgpack_pack_int64(&pk, lim->timeout_ns);
	mp_pack_str(&pk, "instructions"); msgpack_pack_uint64(&pk, lim->max_instructions);
	/* The script's own limit plus a grace second; then the helper is killed. */
	int rd = write_frame(h.fd, &req) < 0 ? -1 : read_frame(h.fd, &buf, &len, mono_now_ns() + lim->timeout_ns + 1000000000LL);
	msgpack_sbuffer_destroy(&req);
	if (rd == -2) {
		snprintf(err, errlen, "%s: script exceeded its time limit (%.1f s) and was stopped", in->name,
			 (double)lim->timeout_ns / 1e9);
		goto out;
	}
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	if (rd < 0 || !mp_unpack(&u, buf, len)) {
		snprintf(err, errlen, "%s: the script's process died or sent a malformed answer", in->name);
		msgpack_unpacked_destroy(&u);
		goto out;
	}
	char msg[1024];
	int64_t ok = 0;
	const msgpack_object *lo = mp_get(&u.data, "log");
	if (log && lo && lo->type == MSGPACK_OBJECT_STR && lo->via.str.size)
		*log = strndup(lo->via.str.ptr, lo->via.str.size);
	healthy = mp_int(mp_get(&u.data, "ok"), &ok);
	if (healthy && ok) {
		if (codec_unpack_plan(mp_get(&u.data, "plan"), out, msg, sizeof(msg)) < 0)
			snprintf(err, errlen, "%s: %s", in->name, msg);
		else
			rc = 0;
	} else if (healthy && mp_str(mp_get(&u.data, "error"), msg, sizeof(msg))) {
		snprintf(err, errlen, "%s", msg);
	} else {
		healthy = false;
		snprintf(err, errlen, "%s: malformed answer from the script's process", in->name);
	}
	msgpack_unpacked_destroy(&u);
out:
	free(buf);
	if (healthy) {
		pthread_mutex_lock(&sp->lock);
		if (sp->nidle < sp->max_idle) {
			sp->idle[sp->nidle++] = h;
			h.fd = -1;
		}
		pthread_mutex_unlock(&sp->lock);
	}
	if (h.fd >= 0)
		helper_stop(&h, !healthy);
	return rc;
}
