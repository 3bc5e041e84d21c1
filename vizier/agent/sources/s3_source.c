/* s3_source.c - exported snapshots from S3 as a source (see s3_source.h). */
#include "s3_source.h"
#include "export/export.h"
#include "core/clock.h"
#include "ring/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

struct entry {
	char *key;                /* the manifest's */
	int64_t t0, t1;           /* from its name: whole seconds, [t0, t1 + 1 s) covering its range */
	bool loaded;
};

struct s3_source {
	struct s3_config c;
	struct s3_url u;
	char node[64];
	char dir[4096];           /* the cache */
	size_t budget;
	const struct ring_set *rings; /* borrowed */
	pthread_mutex_t lock;     /* guards what follows; held across loads (one query loads at a time) */
	struct entry *e;
	size_t n;
	int64_t listed_ns;        /* monotonic time of the last listing */
	int64_t relist_ns;        /* how old a listing may get */
};

/* A manifest key's range from its name: .../START-END.manifest.json (export_key_base). */
static bool key_range(const char *key, int64_t *t0, int64_t *t1)
{
	const char *base = strrchr(key, '/');
	struct tm a = {0}, b = {0};
	base = base ? base + 1 : key;
	const char *dash = strchr(base, '-');
	if (!dash || !strptime(base, "%Y%m%dT%H%M%SZ", &a) || !strptime(dash + 1, "%Y%m%dT%H%M%SZ", &b))
		return false;
	*t0 = (int64_t)timegm(&a) * 1000000000LL;
	*t1 = ((int64_t)timegm(&b) + 1) * 1000000000LL;
	return true;
}

/* Reads the listing again, keeping what is loaded. 0, or -1 with a message. */
static int relist(struct s3_source *s, char *err, size_t errlen)
{
	char **keys = NULL;
	size_t n = 0;
	if (export_list(&s->c, &s->u, s->node, &keys, &n, err, errlen) < 0)
		return -1;
	struct entry *e = calloc(n ? n : 1, sizeof(*e));
	size_t w = 0;
	for (size_t i = 0; e && i < n; i++) {
		if (!key_range(keys[i], &e[w].t0, &e[w].t1))
			continue;
		for (size_t k = 0; k < s->n; k++)
			if (!strcmp(s->e[k].key, keys[i]))
				e[w].loaded = s->e[k].loaded;
		e[w].key = keys[i];
		keys[i] = NULL;
		w++;
	}
	export_keys_free(keys, n);
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < s->n; k++)
		free(s->e[k].key);
	free(s->e);
	s->e = e;
	s->n = w;
	s->listed_ns = mono_now_ns();
	return 0;
}

/* Loads the object a manifest names, checked against it and clipped to its range. 0, or -1 with
 * a message naming it. */
static int load_one(struct s3_source *s, const char *mkey, char *err, size_t errlen)
{
	void *mbuf = NULL, *obj = NULL;
	size_t mlen = 0, olen = 0;
	char have[65], path[4200], why[1024];
	struct export_manifest m;
	int rc = -1;
	int g = s3_get(&s->c, s->u.bucket, mkey, &mbuf, &mlen, err, errlen);
	if (g != 0) {
		if (g > 0)
			snprintf(err, errlen, "s3 source: %s is listed but cannot be read", mkey);
		goto out;
	}
	if (export_manifest_parse(mbuf, mlen, &m) < 0) {
		snprintf(err, errlen, "s3 source: %s is not a manifest Wisp wrote", mkey);
		goto out;
	}
	if (strcmp(m.format, "wispsnap")) { /* a pprof export: for other tools, nothing to load */
		rc = 0;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.wispsnap", s->dir, m.sha256);
	if (!(obj = cache_read(path, m.bytes, m.sha256))) {
		if ((g = s3_get(&s->c, s->u.bucket, m.object, &obj, &olen, err, errlen)) != 0) {
			if (g > 0)
				snprintf(err, errlen, "s3 source: %s: its manifest names it but the store does not have it", m.object);
			goto out;
		}
		s3_sha256_hex(obj, olen, have);
		if (olen != m.bytes || strcmp(have, m.sha256)) {
			snprintf(err, errlen, "s3 source: %s is %zu bytes with sha256 %.12s..., its manifest says %" PRIu64
					      " bytes, %.12s... (truncated or altered in the store)", m.object, olen, have, m.bytes,
				 m.sha256);
			goto out;
		}
		cache_write(s->dir, path, obj, olen, s->budget);
	}
	if (ring_set_load_snapshot_range(s->rings, obj, m.bytes, m.start_ns, m.end_ns, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "s3 source: %s: %s", m.object, why);
		goto out;
	}
	rc = 0;
out:
	free(mbuf);
	free(obj);
	return rc;
}

struct s3_source *s3_source_open(const char *url, const struct s3_source_options *o, const struct ring_set *rings,
				 char *err, size_t errlen)
{
	struct s3_source *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	const char *cd = o->cache_dir && *o->cache_dir ? o->cache_dir : getenv("WISP_CACHE_DIR");
	snprintf(s->dir, sizeof(s->dir), "%s", cd && *cd ? cd : DEFAULT_CACHE_DIR);
	snprintf(s->node, sizeof(s->node), "%s", o->node);
	s->budget = o->cache_bytes ? o->cache_bytes : DEFAULT_CACHE_BYTES;
	s->rings = rings;
	const char *rl = getenv("WISP_S3_RELIST_S");
	s->relist_ns = (rl && atoi(rl) > 0 ? atoi(rl) : S3_SOURCE_RELIST_S) * 1000000000LL;
	pthread_mutex_init(&s->lock, NULL);
	if (s3_url_parse(url, &s->u, err, errlen) < 0 || s3_config_load(&s->c, err, errlen) < 0)
		goto fail;
	if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "s3 source: cannot make the cache directory %s: %s", s->dir, strerror(errno));
		goto fail;
	}
	if (relist(s, err, errlen) < 0)
		goto fail;
	if (!s->n) {
		snprintf(err, errlen, "s3 source: nothing exported for node %s under %s", o->node, url);
		goto fail;
	}
	fprintf(stderr, "wispd: s3: %zu exports of node %s under %s, loaded as queries reach them\n", s->n, o->node, url);
	return s;
fail:
	s3_source_close(s);
	return NULL;
}

void s3_source_close(struct s3_source *s)
{
	if (!s)
		return;
	for (size_t k = 0; k < s->n; k++)
		free(s->e[k].key);
	free(s->e);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int s3_source_prepare(struct s3_source *s, int64_t t0, int64_t t1, char *err, size_t errlen)
{
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	if (mono_now_ns() - s->listed_ns > s->relist_ns)
		rc = relist(s, err, errlen);
	/* Oldest first, so a ring too small for the range keeps its newest part. */
	for (size_t i = 0; rc == 0 && i < s->n; i++) {
		struct entry *e = &s->e[i];
		if (e->loaded || e->t1 <= t0 || e->t0 >= t1)
			continue;
		if ((rc = load_one(s, e->key, err, errlen)) == 0)
			e->loaded = true;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}
