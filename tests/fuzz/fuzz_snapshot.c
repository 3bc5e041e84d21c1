/* fuzz_snapshot.c - fuzzing the snapshot loader.
 *
 * Input: one mode byte, then data. Mode even: data is a whole snapshot file. Mode odd: data is the
 * decompressed body (msgpack); the harness compresses it and writes a valid header and CRC, so
 * mutations reach the parser and the batch checks instead of stopping at the checksum. Every
 * input that loads is then scanned, so decoded batches are exercised too.
 *
 * Built as every harness is (fuzz.h). */
#include "fuzz.h"
#include "ring/ring.h"
#include "ring/snapshot.h"
#include "ring/synthetic.h"

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
	struct ring_config cfg = {16u << 20, "fuzz", 0, RING_STACK_SAMPLES};
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

/* A seed: the mode byte, then the n bytes at p. */
static int write_mode_seed(const char *dir, const char *name, uint8_t mode, const void *p, size_t n)
{
	uint8_t *buf = malloc(n + 1);
	int rc = -1;
	if (buf) {
		buf[0] = mode;
		memcpy(buf + 1, p, n);
		rc = fuzz_write_seed(dir, name, buf, n + 1);
	}
	free(buf);
	return rc;
}

/* Seeds: a small synthetic ring's snapshot, whole (mode 0) and its body (mode 1). */
int fuzz_make_seeds(const char *dir)
{
	struct synth_config sc = {2, 20, 30, 4, 8, 7, 1.0, 0, 0};
	struct ring_config cfg = {16u << 20, "seed", 0, RING_STACK_SAMPLES};
	struct ring *r = ring_new(&cfg);
	struct synth *s = r ? synth_new(&sc, r) : NULL;
	char err[256];
	void *buf = NULL, *body = NULL;
	size_t len;
	int rc = -1;
	if (s && synth_fill(s, 1800000000, 150) == 0 && ring_snapshot(r, INT64_MIN, INT64_MAX, &buf, &len, err, sizeof(err)) == 0) {
		unsigned long long blen = ZSTD_getFrameContentSize((uint8_t *)buf + 16, len - 16);
		if (blen != ZSTD_CONTENTSIZE_ERROR && blen != ZSTD_CONTENTSIZE_UNKNOWN && (body = malloc(blen)) &&
		    !ZSTD_isError(ZSTD_decompress(body, blen, (uint8_t *)buf + 16, len - 16)))
			rc = write_mode_seed(dir, "seed-file", 0, buf, len) | write_mode_seed(dir, "seed-body", 1, body, blen);
	}
	free(body);
	free(buf);
	synth_free(s);
	ring_free(r);
	return rc;
}
