/* isolate.c - script_compile_isolated: runs script_compile in a forked child process, so nothing
 * a script does can hang or crash the daemon. Lua's instruction hook cannot interrupt C code
 * (a catastrophic string.find pattern runs for hours inside one call); a child can simply be
 * killed at the deadline. The child sends back the plan (or the error) as msgpack through a
 * pipe; the parent decodes it with the validating plan decoder.
 *
 * The daemon is multi-threaded: the child runs only this thread's code and touches nothing that
 * other threads lock (no stdio, no sockets, no ring); glibc keeps malloc usable after fork. */
#include "script.h"
#include "../engine/codec.h"
#include "../engine/plan.h"
#include "../engine/qctx.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_REPLY (64u << 20)

static void child_main(int fd, const struct script_input *in, const struct script_limits *lim)
{
	struct plan *p = NULL;
	char *log = NULL, err[1024] = "";
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc = script_compile(in, lim, &p, &log, err, sizeof(err));
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	mp_pack_str(&pk, "log");
	mp_pack_str(&pk, log ? log : "");
	if (rc == 0) {
		mp_pack_str(&pk, "plan");
		codec_pack_plan(&pk, p);
		mp_pack_str(&pk, "ok");
		msgpack_pack_true(&pk);
	} else {
		mp_pack_str(&pk, "error");
		mp_pack_str(&pk, err);
		mp_pack_str(&pk, "ok");
		msgpack_pack_false(&pk);
	}
	for (size_t off = 0; off < sb.size;) {
		ssize_t n = write(fd, sb.data + off, sb.size - off);
		if (n <= 0 && errno != EINTR)
			break;
		off += n > 0 ? (size_t)n : 0;
	}
	_exit(0); /* no atexit handlers, no sanitizer leak reports: the parent owns the process */
}

int script_compile_isolated(const struct script_input *in, const struct script_limits *lim, struct plan **out,
			    char **log, char *err, size_t errlen)
{
	static const struct script_limits defaults = SCRIPT_DEFAULT_LIMITS;
	int fds[2];
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = -1;
	*out = NULL;
	if (log)
		*log = NULL;
	if (!lim)
		lim = &defaults;
	script_init();
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot start the script: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start the script: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(fds[1], in, lim);
	}
	close(fds[1]);
	/* Read until EOF or the deadline (the script's own limit plus a grace second). */
	int64_t deadline = mono_now_ns() + lim->timeout_ns + 1000000000LL;
	bool killed = false;
	for (;;) {
		int64_t left_ms = (deadline - mono_now_ns()) / 1000000;
		if (left_ms <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		struct pollfd pfd = {fds[0], POLLIN, 0};
		int pr = poll(&pfd, 1, (int)(left_ms > 1000 ? 1000 : left_ms));
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		if (len + 65536 > cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *n = ncap <= MAX_REPLY + 65536 ? realloc(buf, ncap) : NULL;
			if (!n) {
				kill(pid, SIGKILL);
				break;
			}
			buf = n;
			cap = ncap;
		}
		ssize_t n = read(fds[0], buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (killed) {
		snprintf(err, errlen, "%s: script exceeded its time limit (%.1f s) and was stopped", in->name,
			 (double)lim->timeout_ns / 1e9);
		goto out;
	}
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	if (!mp_unpack(&u, buf ? buf : "", len)) {
		if (WIFSIGNALED(status))
			snprintf(err, errlen, "%s: the script's process died (signal %d)", in->name, WTERMSIG(status));
		else
			snprintf(err, errlen, "%s: the script's process ended without an answer", in->name);
		msgpack_unpacked_destroy(&u);
		goto out;
	}
	char msg[1024];
	const msgpack_object *lo = mp_get(&u.data, "log");
	if (log && lo && lo->type == MSGPACK_OBJECT_STR && lo->via.str.size)
		*log = strndup(lo->via.str.ptr, lo->via.str.size);
	if (mp_get(&u.data, "ok") && mp_get(&u.data, "ok")->type == MSGPACK_OBJECT_BOOLEAN &&
	    mp_get(&u.data, "ok")->via.boolean) {
		if (codec_unpack_plan(mp_get(&u.data, "plan"), out, msg, sizeof(msg)) < 0)
			snprintf(err, errlen, "%s: %s", in->name, msg);
		else
			rc = 0;
	} else if (mp_str(mp_get(&u.data, "error"), msg, sizeof(msg))) {
		snprintf(err, errlen, "%s", msg);
	} else {
		snprintf(err, errlen, "%s: malformed answer from the script's process", in->name);
	}
	msgpack_unpacked_destroy(&u);
out:
	free(buf);
	return rc;
}
