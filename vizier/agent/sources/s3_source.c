/* s3_source.c - exported snapshots from S3 as a source (see s3_source.h). */
#include "s3_source.h"
#include "export/export.h"
#include "ring/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CACHE_DIR "/var/cache/wisp"
#define DEFAULT_CACHE_BYTES (1ull << 30)

/* Keeps the cache directory within budget: drops the least recently modified files. */
static void cache_trim(const char *dir, size_t budget)
{
	for (;;) {
		DIR *d = opendir(dir);
		struct dirent *de;
		uint64_t total = 0;
		time_t oldest = 0;
		char victim[4400] = "", path[4400];
		while (d && (de = readdir(d))) {
			struct stat st;
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%.4096s/%.255s", dir, de->d_name);
			if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			total += (uint64_t)st.st_size;
			if (!victim[0] || st.st_mtime < oldest) {
				oldest = st.st_mtime;
				memcpy(victim, path, sizeof(victim));
			}
		}
		if (d)
			closedir(d);
		if (total <= budget || !victim[0] || unlink(victim) < 0)
			return;
	}
}

/* The object from the cache when its sha256 matches, else NULL (caller frees). */
static void *cache_read(const char *path, size_t want, const char *sha)
{
	FILE *f = fopen(path, "rb");
	void *buf = f && want ? malloc(want) : NULL;
	size_t got = buf ? fread(buf, 1, want, f) : 0;
	char have[65];
	if (f)
		fclose(f);
	if (buf && got == want) {
		s3_sha256_hex(buf, want, have);
		if (!strcmp(have, sha))
			return buf;
	}
	free(buf);
	return NULL;
}

static void cache_write(const char *dir, const char *path, const void *buf, size_t len, size_t budget)
{
	char tmp[4300];
	snprintf(tmp, sizeof(tmp), "%.4200s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	bool ok = f && fwrite(buf, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, path) < 0)
		unlink(tmp);
	cache_trim(dir, budget);
}

/* Loads the object a manifest names, checked against it and clipped to its range. 1 loaded, 0
 * skipped (said on stderr), -1 when the store cannot be reached (err). */
static int load_one(const struct s3_config *c, const struct s3_url *u, const char *mkey, const char *dir, size_t budget,
		    struct ring *ring, char *err, size_t errlen)
{
	void *mbuf = NULL, *obj = NULL;
	size_t mlen = 0, olen = 0;
	char have[65], path[4200], why[1024];
	struct export_manifest m;
	int rc = 0;
	int g = s3_get(c, u->bucket, mkey, &mbuf, &mlen, err, errlen);
	if (g < 0)
		return -1;
	if (g > 0 || export_manifest_parse(mbuf, mlen, &m) < 0) {
		fprintf(stderr, "wispd: s3: skipping %s: not a manifest Wisp wrote\n", mkey);
		goto out;
	}
	if (strcmp(m.format, "wispsnap")) /* a pprof export: for other tools, not a source */
		goto out;
	snprintf(path, sizeof(path), "%s/%s.wispsnap", dir, m.sha256);
	if (!(obj = cache_read(path, m.bytes, m.sha256))) {
		g = s3_get(c, u->bucket, m.object, &obj, &olen, err, errlen);
		if (g < 0) {
			rc = -1;
			goto out;
		}
		if (g > 0) {
			fprintf(stderr, "wispd: s3: skipping %s: its manifest names it but the store does not have it\n", m.object);
			goto out;
		}
		s3_sha256_hex(obj, olen, have);
		if (olen != m.bytes || strcmp(have, m.sha256)) {
			fprintf(stderr, "wispd: s3: skipping %s: it is %zu bytes with sha256 %.12s..., its manifest says %" PRIu64
					" bytes, %.12s... (truncated or altered in the store)\n", m.object, olen, have, m.bytes, m.sha256);
			goto out;
		}
		cache_write(dir, path, obj, olen, budget);
	}
	if (ring_load_snapshot_range(ring, obj, m.bytes, m.start_ns, m.end_ns, why, sizeof(why)) < 0) {
		fprintf(stderr, "wispd: s3: skipping %s: %s\n", m.object, why);
		goto out;
	}
	rc = 1;
out:
	free(mbuf);
	free(obj);
	return rc;
}

int s3_source_load(const char *url, const struct s3_source_options *o, struct ring *ring, char *err, size_t errlen)
{
	struct s3_config c;
	struct s3_url u;
	char **keys = NULL, dir[4096];
	size_t n = 0;
	int rc = -1, loaded = 0;
	const char *cd = o->cache_dir && *o->cache_dir ? o->cache_dir : getenv("WISP_CACHE_DIR");
	snprintf(dir, sizeof(dir), "%s", cd && *cd ? cd : DEFAULT_CACHE_DIR);
	size_t budget = o->cache_bytes ? o->cache_bytes : DEFAULT_CACHE_BYTES;
	if (s3_url_parse(url, &u, err, errlen) < 0 || s3_config_load(&c, err, errlen) < 0)
		return -1;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "s3 source: cannot make the cache directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (export_list(&c, &u, o->node, &keys, &n, err, errlen) < 0)
		goto out;
	if (!n) {
		snprintf(err, errlen, "s3 source: nothing exported for node %s under %s", o->node, url);
		goto out;
	}
	/* Oldest first (keys sort by time), so the ring keeps the newest. */
	for (size_t i = 0; i < n; i++) {
		int r = load_one(&c, &u, keys[i], dir, budget, ring, err, errlen);
		if (r < 0)
			goto out;
		loaded += r;
	}
	if (!loaded)
		snprintf(err, errlen, "s3 source: none of the %zu exports of node %s is a snapshot that checks out (see above)",
			 n, o->node);
	else
		fprintf(stderr, "wispd: s3: loaded %d of %zu exports of node %s from %s\n", loaded, n, o->node, url);
	rc = loaded ? 0 : -1;
out:
	export_keys_free(keys, n);
	return rc;
}
