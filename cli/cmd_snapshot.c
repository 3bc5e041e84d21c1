/* cmd_snapshot.c - `wisp snapshot [--start T] [--end T] [--dir DIR]`: every agent's ring over the
 * range, one self-contained file per node, DIR/NODE-YYYYmmddTHHMMSSZ.wispsnap (replayable with
 * `wispd agent --source replay:FILE`). DIR is made, with its parents, when it does not exist. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* mkdir -p dir. 0, or -1 with errno. */
static int make_dirs(const char *dir)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s", dir);
	if (n <= 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -1;
		if (!(*p = c))
			return 0;
	}
}

static int save_snapshots(const struct cli *o, const struct proto_msg *m)
{
	struct proto_answer a;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int rc = 0;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	proto_read_answer(m, &a);
	cli_print_warnings(a.warnings);
	if (a.files && a.files->via.array.size && make_dirs(o->dir) < 0) {
		fprintf(stderr, "wisp: cannot make %s: %s\n", o->dir, strerror(errno));
		return 1;
	}
	for (uint32_t i = 0; a.files && i < a.files->via.array.size; i++) {
		char node[128], path[4096];
		const void *data;
		size_t len;
		if (!proto_read_snapshot_file(&a.files->via.array.ptr[i], node, sizeof(node), &data, &len))
			continue;
		for (char *p = node; *p; p++)
			if (*p == '/' || *p == '.')
				*p = '_';
		snprintf(path, sizeof(path), "%s/%s-%s.wispsnap", o->dir, node, stamp);
		FILE *out = fopen(path, "wb");
		bool ok = out && fwrite(data, 1, len, out) == len;
		if (out && fclose(out) != 0)
			ok = false;
		if (!ok) {
			fprintf(stderr, "wisp: cannot write %s: %s\n", path, strerror(errno));
			rc = 1;
			continue;
		}
		printf("%s\t%zu bytes\n", path, len);
	}
	return rc;
}

int cmd_snapshot(const struct cli *o)
{
	double timeout_s = o->timeout_s < SNAPSHOT_TIMEOUT_MS / 1000.0 ? SNAPSHOT_TIMEOUT_MS / 1000.0 : o->timeout_s;
	struct snapshot_request r = {.id = 1, .start = o->start, .end = o->end, .timeout_ms = (int64_t)(timeout_s * 1000)};
	struct proto_buf req;
	proto_buf_init(&req);
	proto_pack_snapshot_request(&req.pk, &r);
	int rc = cli_exchange(o, &req, timeout_s + 5, PT_SNAPSHOTS, save_snapshots);
	proto_buf_destroy(&req);
	return rc;
}
