/* fuzz_main.c - the replay driver of every fuzz harness (see fuzz.h): runs each file of the
 * directories (or the files) it is given through LLVMFuzzerTestOneInput, so a corpus is a
 * regression test in every build, sanitizers or not. `--make-seeds DIR` writes the harness's
 * seeds instead. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One input file through the harness. 0, or -1 when it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long sz = -1;
	int rc = -1;
	if (f && fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc(sz ? (size_t)sz : 1)) && fread(buf, 1, (size_t)sz, f) == (size_t)sz) {
		LLVMFuzzerTestOneInput(buf, (size_t)sz);
		rc = 0;
	}
	free(buf);
	if (f)
		fclose(f);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--make-seeds"))
		return fuzz_make_seeds(argv[2]) < 0 ? 1 : 0;
	size_t n = 0, unreadable = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && !S_ISDIR(st.st_mode)) {
			replay_file(argv[i]) < 0 ? unreadable++ : n++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d) {
			fprintf(stderr, "%s: cannot open\n", argv[i]);
			return 1;
		}
		struct dirent *e;
		char path[4096];
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			replay_file(path) < 0 ? unreadable++ : n++;
		}
		closedir(d);
	}
	printf("replayed %zu inputs (%zu unreadable)\n", n, unreadable);
	return n && !unreadable ? 0 : 1;
}
