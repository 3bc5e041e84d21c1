/* export.c - exports in the store: keys, manifests, upload and listing (see export.h). */
#include "export.h"
#include "core/clock.h"
#include "ring/ring.h"
#include "ring/snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void stamp(int64_t ns, char *out, size_t cap)
{
	time_t s = (time_t)(ns / 1000000000LL);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, cap, "%Y%m%dT%H%M%SZ", &tm);
}

void export_key_base(const struct s3_url *u, const char *node, int64_t t0, int64_t t1, char *out, size_t cap)
{
	char a[32], b[32];
	stamp(t0, a, sizeof(a));
	stamp(t1, b, sizeof(b));
	snprintf(out, cap, "%s%s%s/%s-%s", u->prefix, u->prefix[0] ? "/" : "", node, a, b);
}

/* What a snapshot holds over [t0, t1): its CPU samples' stats (st, with the oldest and newest of
 * either table) and its off-CPU periods, read back by loading it into scratch rings: this is also
 * the check that it is whole before it is stored. */
static int snapshot_stats(const void *data, size_t len, int64_t t0, int64_t t1, struct ring_stats *st,
			  uint64_t *offcpu_samples, char *err, size_t errlen)
{
	struct ring_config cfg = {.budget_bytes = len * 16 + (64u << 20), .node = "export"}, ocfg = cfg;
	ocfg.table = RING_OFFCPU_SAMPLES;
	struct ring_set set = {{ring_new(&cfg), ring_new(&ocfg)}, 2};
	struct ring_stats os;
	int rc = -1;
	if (!set.rings[0] || !set.rings[1])
		snprintf(err, errlen, "out of memory");
	else
		rc = ring_set_load_snapshot_range(&set, data, len, t0, t1, err, errlen);
	if (rc == 0) {
		ring_get_stats(set.rings[0], st);
		ring_get_stats(set.rings[1], &os);
		*offcpu_samples = os.samples;
		if (os.oldest_ns && (!st->oldest_ns || os.oldest_ns < st->oldest_ns))
			st->oldest_ns = os.oldest_ns;
		if (os.newest_ns > st->newest_ns)
			st->newest_ns = os.newest_ns;
	}
	ring_free(set.rings[0]);
	ring_free(set.rings[1]);
	return rc;
}

/* Uploads data and then its manifest (m's fields set but the object's name and checksum). */
static int put_with_manifest(const struct s3_config *c, const struct s3_url *u, const char *suffix,
			     const char *content_type, const void *data, size_t len, struct export_manifest *m, char *err,
			     size_t errlen)
{
	char base[2048], key[2100], *json = NULL;
	export_key_base(u, m->node, m->start_ns, m->end_ns, base, sizeof(base));
	snprintf(m->object, sizeof(m->object), "%.2000s.%s", base, suffix);
	s3_sha256_hex(data, len, m->sha256);
	m->bytes = len;
	m->exported_ns = wall_now_ns();
	if (s3_put(c, u->bucket, m->object, data, len, content_type, err, errlen) < 0)
		return -1;
	int n = asprintf(&json,
			 "{\"node\":\"%s\",\"format\":\"%s\",\"object\":\"%s\",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64
			 ",\"bytes\":%" PRIu64 ",\"sha256\":\"%s\",\"samples\":%" PRIu64 ",\"oldest_ns\":%" PRId64
			 ",\"newest_ns\":%" PRId64 ",\"exported_ns\":%" PRId64 ",\"offcpu_samples\":%" PRIu64 "}\n",
			 m->node, m->format, m->object, m->start_ns, m->end_ns, m->bytes, m->sha256, m->samples, m->oldest_ns,
			 m->newest_ns, m->exported_ns, m->offcpu_samples);
	snprintf(key, sizeof(key), "%s.manifest.json", base);
	int rc = n < 0 ? -1 : s3_put(c, u->bucket, key, json, (size_t)n, "application/json", err, errlen);
	if (n < 0)
		snprintf(err, errlen, "out of memory");
	free(json);
	return rc;
}

static void manifest_init(struct export_manifest *m, const char *node, const char *format, int64_t t0, int64_t t1)
{
	*m = (struct export_manifest){.start_ns = t0, .end_ns = t1};
	snprintf(m->node, sizeof(m->node), "%s", node);
	snprintf(m->format, sizeof(m->format), "%s", format);
}

int export_put(const struct s3_config *c, const struct s3_url *u, const char *node, int64_t t0, int64_t t1,
	       const void *data, size_t len, struct export_manifest *m, char *err, size_t errlen)
{
	char why[512];
	struct ring_stats st;
	uint64_t offcpu = 0;
	if (snapshot_stats(data, len, t0, t1, &st, &offcpu, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s's snapshot does not load (%s): not uploaded", node, why);
		return -1;
	}
	manifest_init(m, node, "wispsnap", t0, t1);
	m->samples = st.samples;
	m->offcpu_samples = offcpu;
	m->oldest_ns = st.oldest_ns;
	m->newest_ns = st.newest_ns;
	return put_with_manifest(c, u, "wispsnap", "application/octet-stream", data, len, m, err, errlen);
}

int export_put_object(const struct s3_config *c, const struct s3_url *u, const char *node, int64_t t0, int64_t t1,
		      const char *format, const char *suffix, const char *content_type, const void *data, size_t len,
		      uint64_t samples, struct export_manifest *m, char *err, size_t errlen)
{
	manifest_init(m, node, format, t0, t1);
	m->samples = samples;
	return put_with_manifest(c, u, suffix, content_type, data, len, m, err, errlen);
}

/* The value of "name" in our flat JSON: a string (no escapes in what we write) or an integer. */
static const char *json_field(const char *json, const char *name)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", name);
	const char *p = strstr(json, pat);
	return p ? p + strlen(pat) : NULL;
}

static int json_str(const char *json, const char *name, char *out, size_t cap)
{
	const char *p = json_field(json, name), *e = p && *p == '"' ? strchr(p + 1, '"') : NULL;
	if (!e || (size_t)(e - p - 1) >= cap)
		return -1;
	snprintf(out, cap, "%.*s", (int)(e - p - 1), p + 1);
	return 0;
}

static int json_i64(const char *json, const char *name, int64_t *out)
{
	const char *p = json_field(json, name);
	char *end;
	if (!p)
		return -1;
	*out = strtoll(p, &end, 10);
	return end == p ? -1 : 0;
}

int export_manifest_parse(const char *json, size_t len, struct export_manifest *m)
{
	int64_t bytes, samples;
	memset(m, 0, sizeof(*m));
	if (!json || strlen(json) != len)
		return -1;
	if (json_str(json, "format", m->format, sizeof(m->format)) < 0 ||
	    (strcmp(m->format, "wispsnap") && strcmp(m->format, "pprof")) ||
	    json_str(json, "node", m->node, sizeof(m->node)) < 0 || json_str(json, "object", m->object, sizeof(m->object)) < 0 ||
	    json_str(json, "sha256", m->sha256, sizeof(m->sha256)) < 0 || strlen(m->sha256) != 64 ||
	    json_i64(json, "start_ns", &m->start_ns) < 0 || json_i64(json, "end_ns", &m->end_ns) < 0 ||
	    json_i64(json, "bytes", &bytes) < 0 || json_i64(json, "samples", &samples) < 0 || bytes <= 0 ||
	    bytes > (int64_t)SNAPSHOT_MAX_BYTES || samples < 0 || m->end_ns <= m->start_ns)
		return -1;
	m->bytes = (uint64_t)bytes;
	m->samples = (uint64_t)samples;
	json_i64(json, "oldest_ns", &m->oldest_ns);
	json_i64(json, "newest_ns", &m->newest_ns);
	json_i64(json, "exported_ns", &m->exported_ns);
	int64_t offcpu = 0;
	json_i64(json, "offcpu_samples", &offcpu); /* absent before off-CPU capture */
	m->offcpu_samples = offcpu > 0 ? (uint64_t)offcpu : 0;
	return 0;
}

struct keys {
	char **k;
	size_t n, cap;
};

static int collect(const char *key, uint64_t size, void *arg)
{
	struct keys *ks = arg;
	size_t l = strlen(key);
	(void)size;
	if (l < 14 || strcmp(key + l - 14, ".manifest.json"))
		return 0;
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? 2 * ks->cap : 64;
		char **k = realloc(ks->k, cap * sizeof(*k));
		if (!k)
			return 1;
		ks->k = k;
		ks->cap = cap;
	}
	return (ks->k[ks->n] = strdup(key)) ? (ks->n++, 0) : 1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int export_list(const struct s3_config *c, const struct s3_url *u, const char *node, char ***keys, size_t *n, char *err,
		size_t errlen)
{
	char prefix[1200];
	struct keys ks = {0};
	snprintf(prefix, sizeof(prefix), "%s%s%s/", u->prefix, u->prefix[0] ? "/" : "", node);
	int rc = s3_list(c, u->bucket, prefix, collect, &ks, err, errlen);
	if (rc == 0 && ks.n)
		qsort(ks.k, ks.n, sizeof(*ks.k), by_name); /* (S3 lists in order; a store might not) */
	*keys = ks.k;
	*n = ks.n;
	return rc;
}

void export_keys_free(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}
