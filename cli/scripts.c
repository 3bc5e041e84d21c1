/* scripts.c - the scripts `wisp run` finds: a file, or a bundled script by name in
 * $WISP_SCRIPTS_PATH, the build's scripts directory (WISP_SCRIPTS_DIR) and the installed ones;
 * and `wisp scripts`, which lists them with the first comment line of each. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef WISP_SCRIPTS_DIR
#define WISP_SCRIPTS_DIR "/usr/local/share/wisp/scripts"
#endif

/* Where scripts are looked for, in order: $WISP_SCRIPTS_PATH, the build's scripts directory, the
 * installed ones (an image or package has only these). */
static void search_dirs(char *dirs, size_t len)
{
	const char *env = getenv("WISP_SCRIPTS_PATH");
	snprintf(dirs, len, "%s%s%s:/usr/local/share/wisp/scripts:/usr/share/wisp/scripts", env ? env : "",
		 env ? ":" : "", WISP_SCRIPTS_DIR);
}

int script_find(const char *arg, char *path, size_t len)
{
	struct stat st;
	if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) {
		snprintf(path, len, "%s", arg);
		return 0;
	}
	if (strchr(arg, '/'))
		return -1;
	char dirs[4096];
	search_dirs(dirs, sizeof(dirs));
	bool has_ext = strlen(arg) > 4 && !strcmp(arg + strlen(arg) - 4, ".lua");
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(path, len, "%s/%s%s", d, arg, has_ext ? "" : ".lua");
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			return 0;
	}
	return -1;
}

char *script_read(const char *path, size_t *len)
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

char *script_load(const char *arg, size_t *len, char *name, size_t namelen)
{
	char path[4096];
	if (script_find(arg, path, sizeof(path)) < 0) {
		fprintf(stderr, "wisp: no script '%s' (not a file, not a bundled script; see `wisp scripts`)\n", arg);
		return NULL;
	}
	char *src = script_read(path, len);
	if (!src) {
		fprintf(stderr, "wisp: cannot read %s: %s\n", path, strerror(errno ? errno : EFBIG));
		return NULL;
	}
	const char *base = strrchr(path, '/');
	snprintf(name, namelen, "%s", base ? base + 1 : path);
	return src;
}

int cmd_scripts(void)
{
	char dirs[4096], seen[256][64];
	int nseen = 0;
	search_dirs(dirs, sizeof(dirs));
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		DIR *dir = opendir(d);
		struct dirent *e;
		if (!dir)
			continue;
		while ((e = readdir(dir)) != NULL) {
			size_t l = strlen(e->d_name);
			if (l <= 4 || l - 4 >= sizeof(seen[0]) || strcmp(e->d_name + l - 4, ".lua"))
				continue;
			bool dup = false; /* a name found first in an earlier directory is the one run finds */
			for (int i = 0; i < nseen && !dup; i++)
				dup = strlen(seen[i]) == l - 4 && !strncmp(seen[i], e->d_name, l - 4);
			if (dup)
				continue;
			if (nseen < 256)
				snprintf(seen[nseen++], sizeof(seen[0]), "%.*s", (int)(l - 4), e->d_name);
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
