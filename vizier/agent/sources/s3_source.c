/* s3_source.c - exported snapshots from S3 as a source (see s3_source.h). */
#include "s3_source.h"
#include "export/s3.h"
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

struct manifests {
	char **keys;
	size_t n, cap;
};

static int collect_manifest(const char *key, uint64_t size, void *arg)
{
	struct manifests *m = arg;
	size_t l = strlen(key);
	(void)size;
	if (l < 14 || strcmp(key + l - 14, ".manifest.json"))
		return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		char **k = realloc(m->keys, cap * sizeof(*k));
		if (!k)
			return 1;
		m->keys = k;
		m->cap = cap;
	}
	return (m->keys[m->n] = strdup(key)) ? (m->n++, 0) : 1;
}

/* The string value of "name" in a flat JSON object we wrote (no escapes in our values). */
static int json_str(const char *json, const char *name, char *out, size_t cap)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":\"", name);
	const char *p = strstr(json, pat), *e = p ? strchr(p + strlen(pat), '"') : NULL;
	if (!e || (size_t)(e - p - strlen(pat)) >= cap)
		return -1;
	snprintf(out, cap, "%.*s", (int)(e - p - strlen(pat)), p + strlen(pat));
	return 0;
}

static int json_u64(const char *json, const char *name, uint64_t *out)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", name);
	const char *p = strstr(json, pat);
	if (!p)
		return -1;
	*out = strtoull(p + strlen(pat), NULL, 10);
	return 0;
}

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

/* Loads the object a manifest names, checked against it. 1 loaded, 0 skipped (said on stderr),
 * -1 when the store cannot be reached (err). */
static int load_one(const struct s3_config *c, const struct s3_url *u, const char *mkey, const char *dir, size_t budget,
		    struct ring *ring, char *err, size_t errlen)
{
	void *mbuf = NULL, *obj = NULL;
	size_t mlen = 0, olen = 0;
	char object[2048], sha[80], have[65], path[4200], why[1024];
	uint64_t bytes = 0;
	int rc = 0;
	int g = s3_get(c, u->bucket, mkey, &mbuf, &mlen, err, errlen);
	if (g < 0)
		return -1;
	if (g > 0 || json_str(mbuf, "object", object, sizeof(object)) < 0 || json_str(mbuf, "sha256", sha, sizeof(sha)) < 0 ||
	    strlen(sha) != 64 || json_u64(mbuf, "bytes", &bytes) < 0 || bytes == 0 || bytes > SNAPSHOT_MAX_BYTES) {
		fprintf(stderr, "wispd: s3: skipping %s: not a manifest Wisp wrote\n", mkey);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.wispsnap", dir, sha);
	if (!(obj = cache_read(path, bytes, sha))) {
		g = s3_get(c, u->bucket, object, &obj, &olen, err, errlen);
		if (g < 0) {
			rc = -1;
			goto out;
		}
		if (g > 0) {
			fprintf(stderr, "wispd: s3: skipping %s: its manifest names it but the store does not have it\n", object);
			goto out;
		}
		s3_sha256_hex(obj, olen, have);
		if (olen != bytes || strcmp(have, sha)) {
			fprintf(stderr, "wispd: s3: skipping %s: it is %zu bytes with sha256 %.12s..., its manifest says %" PRIu64
					" bytes, %.12s... (truncated or altered in the store)\n", object, olen, have, bytes, sha);
			goto out;
		}
		cache_write(dir, path, obj, olen, budget);
	}
	if (ring_load_snapshot(ring, obj, bytes, why, sizeof(why)) < 0) {
		fprintf(stderr, "wispd: s3: skipping %s: %s\n", object, why);
		goto out;
	}
	rc = 1;
out:
	free(mbuf);
	free(obj);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int s3_source_load(const char *url, const struct s3_source_options *o, struct ring *ring, char *err, size_t errlen)
{
	struct s3_config c;
	struct s3_url u;
	struct manifests m = {0};
	char prefix[1200], dir[4096];
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
	snprintf(prefix, sizeof(prefix), "%s%s%s/", u.prefix, u.prefix[0] ? "/" : "", o->node);
	if (s3_list(&c, u.bucket, prefix, collect_manifest, &m, err, errlen) < 0)
		goto out;
	if (!m.n) {
		snprintf(err, errlen, "s3 source: nothing exported for node %s under s3://%s/%s", o->node, u.bucket, prefix);
		goto out;
	}
	/* Names are START-END in UTC: oldest first, so the ring keeps the newest. */
	qsort(m.keys, m.n, sizeof(*m.keys), by_name);
	for (size_t i = 0; i < m.n; i++) {
		int r = load_one(&c, &u, m.keys[i], dir, budget, ring, err, errlen);
		if (r < 0)
			goto out;
		loaded += r;
	}
	if (!loaded)
		snprintf(err, errlen, "s3 source: none of the %zu exports of node %s checked out (see above)", m.n, o->node);
	else
		fprintf(stderr, "wispd: s3: loaded %d of %zu exports of node %s from s3://%s/%s\n", loaded, m.n, o->node,
			u.bucket, prefix);
	rc = loaded ? 0 : -1;
out:
	for (size_t i = 0; i < m.n; i++)
		free(m.keys[i]);
	free(m.keys);
	return rc;
}
