/* unwind_bench.c - building unwind tables (vizier/agent/unwind/cfi.c) from the executables and
 * libraries of this machine, as `name value unit` lines:
 *   unwind_table_build_ms_per_mb   time per MB of .eh_frame read (rows built, not loaded)
 *   unwind_rows_per_kb             rows per KB of .eh_frame (4 bytes each in the kernel)
 *   unwind_files                   files read
 *   unwind_unsupported_permille    rows whose rule the walker cannot express, per thousand
 *   unwind_bench DIR...   (default /usr/bin /usr/lib/x86_64-linux-gnu; at most 400 files) */
#include "agent/unwind/cfi.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 400

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *defaults[] = {"/usr/bin", "/usr/lib/x86_64-linux-gnu"};
	const char **dirs = argc > 1 ? (const char **)argv + 1 : defaults;
	int ndirs = argc > 1 ? argc - 1 : 2, files = 0;
	double secs = 0;
	size_t bytes = 0, rows = 0, unsupported = 0;
	elf_version(EV_CURRENT);
	for (int d = 0; d < ndirs && files < MAX_FILES; d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *de;
		while (dir && (de = readdir(dir)) != NULL && files < MAX_FILES) {
			char path[4096];
			struct stat st;
			snprintf(path, sizeof(path), "%s/%s", dirs[d], de->d_name);
			if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 4096)
				continue;
			int fd = open(path, O_RDONLY);
			if (fd < 0)
				continue;
			Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
			if (elf && elf_kind(elf) == ELF_K_ELF) {
				struct cfi_table t;
				char err[128];
				double t0 = now_s();
				if (cfi_build(elf, &t, err, sizeof(err)) == 0) {
					secs += now_s() - t0;
					bytes += t.cfi_bytes;
					rows += t.n;
					unsupported += t.unsupported;
					files++;
					cfi_table_free(&t);
				}
			}
			if (elf)
				elf_end(elf);
			close(fd);
		}
		if (dir)
			closedir(dir);
	}
	if (!bytes) {
		fprintf(stderr, "unwind_bench: no file with CFI found\n");
		return 1;
	}
	printf("unwind_table_build_ms_per_mb %.1f ms\n", secs * 1e3 / (bytes / 1048576.0));
	printf("unwind_rows_per_kb %.1f rows\n", rows / (bytes / 1024.0));
	printf("unwind_files %d files\n", files);
	printf("unwind_unsupported_permille %.2f permille\n", rows ? unsupported * 1000.0 / rows : 0);
	return 0;
}
