/* exporter.c - continuous export of the agent's ring (see exporter.h). */
#include "exporter.h"
#include "core/clock.h"
#include "export/export.h"
#include "ring/ring.h"
#include "ring/snapshot.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct exporter {
	struct s3_config s3;
	struct s3_url url;
	char node[64];
	const struct ring_set *rings; /* borrowed: outlive the exporter */
	int64_t every_ns;
	pthread_t thread;
	pthread_mutex_t lock;     /* guards what follows */
	pthread_cond_t wake;
	bool stop;
	bool cursor_read;         /* the store's newest manifest has been looked at */
	int64_t cursor_ns;        /* 0 until known */
	uint64_t intervals, failures;
};

static int64_t floor_to(int64_t t, int64_t every)
{
	return t / every * every - (t % every < 0 ? every : 0);
}

/* Uploads [t0, t1). 0, or -1 with the reason logged. */
static int export_interval(struct exporter *x, int64_t t0, int64_t t1)
{
	char err[1024];
	void *buf = NULL;
	size_t len = 0;
	struct export_manifest m;
	int rc = ring_set_snapshot(x->rings, t0, t1, &buf, &len, err, sizeof(err));
	if (rc == 0)
		rc = export_put(&x->s3, &x->url, x->node, t0, t1, buf, len, &m, err, sizeof(err));
	free(buf);
	if (rc < 0)
		fprintf(stderr, "wispd: export: interval %" PRId64 "-%" PRId64 " not uploaded (retrying in %d s): %s\n", t0, t1,
			EXPORT_RETRY_S, err);
	else
		fprintf(stderr, "wispd: export: uploaded s3://%s/%s (%" PRIu64 " samples)\n", x->url.bucket, m.object,
			m.samples);
	return rc;
}

/* The cursor from the store: the end of this node's newest manifest (keys sort by time), left
 * 0 when there is none. 0, or -1 (logged) when the store cannot be read. */
static int read_cursor(struct exporter *x, int64_t *cursor)
{
	char **keys = NULL, err[1024] = "";
	size_t n = 0;
	int rc = export_list(&x->s3, &x->url, x->node, &keys, &n, err, sizeof(err));
	*cursor = 0;
	if (rc == 0 && n) {
		void *json = NULL;
		size_t len = 0;
		struct export_manifest m;
		int g = s3_get(&x->s3, x->url.bucket, keys[n - 1], &json, &len, err, sizeof(err));
		if (g == 0 && export_manifest_parse(json, len, &m) == 0) {
			*cursor = m.end_ns;
			fprintf(stderr, "wispd: export: resuming after %s\n", keys[n - 1]);
		} else {
			if (g >= 0)
				snprintf(err, sizeof(err), "the newest manifest %s is not one Wisp wrote", keys[n - 1]);
			rc = -1;
		}
		free(json);
	}
	if (rc < 0)
		fprintf(stderr, "wispd: export: cannot read where export stands (retrying in %d s): %s\n", EXPORT_RETRY_S, err);
	export_keys_free(keys, n);
	return rc;
}

static void *run(void *arg)
{
	struct exporter *x = arg;
	int64_t retry_at = 0;
	pthread_mutex_lock(&x->lock);
	while (!x->stop) {
		if (!x->cursor_read && mono_now_ns() >= retry_at) {
			int64_t cursor;
			pthread_mutex_unlock(&x->lock);
			int rc = read_cursor(x, &cursor);
			pthread_mutex_lock(&x->lock);
			if (rc == 0) {
				x->cursor_ns = cursor;
				x->cursor_read = true;
			} else {
				x->failures++;
				retry_at = mono_now_ns() + EXPORT_RETRY_S * 1000000000LL;
			}
		}
		int64_t now = wall_now_ns();
		if (x->cursor_read && !x->cursor_ns) { /* nothing exported yet: from the oldest sample, or now */
			int64_t oldest = now;
			for (int i = 0; i < x->rings->n; i++) {
				struct ring_stats st;
				ring_get_stats(x->rings->rings[i], &st);
				if (st.oldest_ns && st.oldest_ns < oldest)
					oldest = st.oldest_ns;
			}
			x->cursor_ns = floor_to(oldest, x->every_ns);
		}
		int64_t t0 = x->cursor_ns, t1 = t0 + x->every_ns;
		if (x->cursor_read && mono_now_ns() >= retry_at && t1 + EXPORT_GRACE_S * 1000000000LL <= now) {
			pthread_mutex_unlock(&x->lock);
			int rc = export_interval(x, t0, t1);
			pthread_mutex_lock(&x->lock);
			if (rc == 0) {
				x->cursor_ns = t1;
				x->intervals++;
				continue; /* the next one may be closed too: catch up */
			}
			x->failures++;
			retry_at = mono_now_ns() + EXPORT_RETRY_S * 1000000000LL;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&x->wake, &x->lock, &ts);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

struct exporter *exporter_start(const char *url, int64_t every_ns, const char *node, const struct ring_set *rings,
				char *err, size_t errlen)
{
	struct exporter *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (every_ns < 1000000000LL) {
		snprintf(err, errlen, "--export-every must be at least 1s");
		goto fail;
	}
	if (s3_url_parse(url, &x->url, err, errlen) < 0 || s3_config_load(&x->s3, err, errlen) < 0)
		goto fail;
	snprintf(x->node, sizeof(x->node), "%s", node);
	x->rings = rings;
	x->every_ns = every_ns;
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->wake, NULL);
	if (pthread_create(&x->thread, NULL, run, x) != 0) {
		snprintf(err, errlen, "cannot start the export thread");
		pthread_mutex_destroy(&x->lock);
		pthread_cond_destroy(&x->wake);
		goto fail;
	}
	return x;
fail:
	free(x);
	return NULL;
}

void exporter_stop(struct exporter *x)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	x->stop = true;
	pthread_cond_signal(&x->wake);
	pthread_mutex_unlock(&x->lock);
	pthread_join(x->thread, NULL);
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->wake);
	free(x);
}

void exporter_get_stats(struct exporter *x, struct exporter_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	*out = (struct exporter_stats){x->cursor_ns, x->every_ns, x->intervals, x->failures};
	pthread_mutex_unlock(&x->lock);
}
