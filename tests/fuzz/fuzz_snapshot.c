/* fuzz_snapshot.c - fuzzing the snapshot loader.
 *
 * Input: one mode byte, then data. Mode even: data is a whole snapshot file. Mode odd: data is the
 * decompressed body (msgpack); the harness compresses it and writes a valid header and CRC, so
 * mutations reach the parser and the batch checks instead of stopping at the checksum. Every
 * input that loads is then scanned, so decoded batches are exercised too.
 *
 * Built three ways (tests/CMakeLists.txt):
 *   fuzz_snapshot       clang -fsanitize=fuzzer,address: `fuzz_snapshot tests/fuzz/corpus/snapshot`
 *   fuzz_snapshot_replay  the corpus as a regression test (ctest unit.fuzz_corpus): main() below
 *   fuzz_snapshot_replay --make-seeds DIR   writes seed inputs made from a small synthetic ring */
#include "ring/ring.h"
#include "ring/snapshot.h"
#include "ring/synthetic.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

static int count_rows(void *arg, const struct table *t)
{
	*(size_t *)arg += t->nrows;
	return 0;
}

static void load_and_scan(const uint8_t *buf, size_t len)
{
	struct ring_config cfg = {16u << 20, "fuzz", 0};
	struct ring *r = ring_new(&cfg);
	char err[512];
	if (r && ring_load_snapshot(r, buf, len, err, sizeof(err)) == 0) {
		size_t rows = 0;
		ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, 0, count_rows, &rows);
		ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, 1, count_rows, &rows);
		ring_scan(r, "stack_samples", INT64_MIN, INT64_MAX, 1 | (1 << (8 + 7)), count_rows, &rows);
		void *again;
		size_t alen;
		if (ring_snapshot(r, INT64_MIN, INT64_MAX, &again, &alen, err, sizeof(err)) == 0)
			free(again);
	}
	ring_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		load_and_scan(data + 1, size - 1);
		return 0;
	}
	size_t bound = ZSTD_compressBound(size - 1);
	uint8_t *file = malloc(16 + bound);
	if (!file)
		return 0;
	size_t zl = ZSTD_compress(file + 16, bound, data + 1, size - 1, 1);
	if (!ZSTD_isError(zl)) {
		uint32_t version = 1, crc = (uint32_t)crc32(0, file + 16, (uInt)zl);
		memcpy(file, "WISPSNAP", 8);
		memcpy(file + 8, &version, 4);
		memcpy(file + 12, &crc, 4);
		load_and_scan(file, 16 + zl);
	}
	free(file);
	return 0;
}

#ifdef FUZZ_REPLAY_MAIN
static int write_file(const char *dir, const char *name, uint8_t mode, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	fputc(mode, f);
	fwrite(p, 1, n, f);
	return fclose(f);
}

static int make_seeds(const char *dir)
{
	struct synth_config sc = {2, 20, 30, 4, 8, 7, 1.0, 0, 0};
	struct ring_config cfg = {16u << 20, "seed", 0};
	struct ring *r = ring_new(&cfg);
	struct synth *s = synth_new(&sc, r);
	char err[256];
	void *buf;
	size_t len;
	if (!s || synth_fill(s, 1800000000, 150) < 0 || ring_snapshot(r, INT64_MIN, INT64_MAX, &buf, &len, err, sizeof(err)) < 0)
		return 1;
	unsigned long long blen = ZSTD_getFrameContentSize((uint8_t *)buf + 16, len - 16);
	void *body = malloc(blen);
	ZSTD_decompress(body, blen, (uint8_t *)buf + 16, len - 16);
	int rc = write_file(dir, "seed-file", 0, buf, len) | write_file(dir, "seed-body", 1, body, blen);
	free(body);
	free(buf);
	synth_free(s);
	ring_free(r);
	return rc ? 1 : 0;
}

/* Replays every file of the given directories (or files) through the harness. */
int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--make-seeds"))
		return make_seeds(argv[2]);
	size_t n = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		char path[4096];
		while (d && (e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			FILE *f = fopen(path, "rb");
			if (!f)
				continue;
			fseek(f, 0, SEEK_END);
			long sz = ftell(f);
			fseek(f, 0, SEEK_SET);
			uint8_t *buf = malloc(sz > 0 ? sz : 1);
			size_t got = fread(buf, 1, sz > 0 ? sz : 0, f);
			fclose(f);
			LLVMFuzzerTestOneInput(buf, got);
			free(buf);
			n++;
		}
		if (d)
			closedir(d);
	}
	printf("replayed %zu inputs\n", n);
	printf("%zu passed, 0 failed\n", n);
	return n ? 0 : 1;
}
#endif
