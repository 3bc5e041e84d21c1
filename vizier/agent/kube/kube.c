/* kube.c - the process cache and the pod list's fetch thread (see kube.h).
 *
 * The cache maps a pid to what its cgroup says (ids) and the names they resolved to against the
 * pod list of generation `gen`. A sample costs one probe of the cache; the names are resolved
 * again only when the list changed since, the cgroup file is read again only when the sample's
 * cgroup id differs from the one seen (a process moved; the pid was reused). On a v1-only host
 * every cgroup id is the root's, so a reused pid keeps its predecessor's names until it has been
 * idle for kube_expire's limit.
 *
 * Ownership: the kube owns the cache's names (malloc'd per process) and the current pod list;
 * the fetch thread builds a new list and swaps it in under `lock`, freeing the old one there
 * (the drain thread reads the list only under `lock`). */
#include "kube.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (64u << 20)  /* a larger pod list is refused */
#define FETCH_TIMEOUT_S 10
#define MAX_ASKS 3            /* fetches one unnamed process may ask for */

struct proc {
	int64_t pid;              /* 0: empty slot */
	int64_t cgroup;           /* the cgroup id its ids were read under */
	time_t seen;
	uint32_t gen;             /* 1 + the pod list generation its names come from; 0: not named yet */
	bool named;               /* the list named its pod and container (or it is in no pod) */
	uint8_t asks;             /* fetches it asked for while unnamed */
	struct kube_ids ids;
	char *container, *pod, *namespace; /* owned; NULL: "" */
};

struct kube {
	char *url, *token_file, *ca_file, *proc_dir;

	pthread_mutex_t lock;     /* guards pods, want, stop, stats */
	pthread_cond_t wake;
	struct kube_podlist *pods;
	atomic_uint gen;          /* bumped at every new list; 0 before the first */
	bool want, stop;
	pthread_t thread;
	bool thread_started;
	struct kube_stats stats;  /* fetches, fetch_failures, pods */

	/* drain thread only */
	struct proc *procs;       /* open addressing by pid, cap a power of two, at most half full */
	size_t cap, nprocs;
	atomic_uint_fast64_t cached, unnamed; /* kube_stats' processes and unnamed, as of the last expire */
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- fetching -------------------------------------------------------------------------------- */

struct body {
	char *data;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct body *b = ud;
	size_t add = size * n;
	if (b->len + add > MAX_BODY)
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	char *d = realloc(b->data, b->len + add + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, p, add);
	b->data = d;
	b->len += add;
	d[b->len] = '\0';
	return add;
}

/* The token file's first line, or NULL with a message. */
static char *read_token(const char *path, char *err, size_t errlen)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read the token file %s: %s", path, strerror(errno));
		return NULL;
	}
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

/* One fetch of the pod list: a new list, or NULL with a message. */
static struct kube_podlist *fetch(struct kube *k, char *err, size_t errlen)
{
	struct body b = {0};
	struct curl_slist *hdrs = NULL;
	struct kube_podlist *pl = NULL;
	char *token = NULL, cerr[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (k->token_file) {
		if (!(token = read_token(k->token_file, err, errlen)))
			goto out;
		size_t l = strlen(token) + 32;
		char *hdr = malloc(l);
		if (hdr) {
			snprintf(hdr, l, "Authorization: Bearer %s", token);
			struct curl_slist *n = curl_slist_append(hdrs, hdr);
			hdrs = n ? n : hdrs;
			free(hdr);
		}
	}
	curl_easy_setopt(h, CURLOPT_URL, k->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)FETCH_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (k->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, k->ca_file);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", k->url, cerr[0] ? cerr : curl_easy_strerror(rc));
	} else if (status != 200) {
		snprintf(err, errlen, "%s: HTTP %ld%s", k->url, status,
			 status == 401 || status == 403 ? " (does the token grant list on pods?)" : "");
	} else {
		char perr[256];
		if (!(pl = kube_podlist_parse(b.data ? b.data : "", b.len, perr, sizeof(perr))))
			snprintf(err, errlen, "%s: %s", k->url, perr);
	}
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(token);
	free(b.data);
	return pl;
}

static void *fetch_thread(void *arg)
{
	struct kube *k = arg;
	char err[512], last_err[512] = "";
	time_t next_allowed = 0, next_refresh = 0;
	int backoff = KUBE_FETCH_MIN_S;
	bool said_ok = false;

	pthread_mutex_lock(&k->lock);
	while (!k->stop) {
		time_t now = time(NULL);
		if (!((k->want && now >= next_allowed) || now >= next_refresh)) {
			struct timespec until = {(k->want && next_allowed < next_refresh ? next_allowed : next_refresh), 0};
			pthread_cond_timedwait(&k->wake, &k->lock, &until);
			continue;
		}
		k->want = false;
		pthread_mutex_unlock(&k->lock);
		struct kube_podlist *pl = fetch(k, err, sizeof(err));
		pthread_mutex_lock(&k->lock);
		k->stats.fetches++;
		now = time(NULL);
		if (pl) {
			struct kube_podlist *old = k->pods;
			k->pods = pl;
			k->stats.pods = pl->npods;
			atomic_fetch_add_explicit(&k->gen, 1, memory_order_release);
			kube_podlist_free(old);
			backoff = KUBE_FETCH_MIN_S;
			next_allowed = now + KUBE_FETCH_MIN_S;
			next_refresh = now + KUBE_REFRESH_S;
			if (!said_ok || last_err[0])
				fprintf(stderr, "wispd: kubernetes: %zu pods from %s\n", pl->npods, k->url);
			said_ok = true;
			last_err[0] = '\0';
		} else {
			k->stats.fetch_failures++;
			if (strcmp(err, last_err))
				fprintf(stderr, "wispd: kubernetes: cannot list pods: %s (retrying; samples keep "
						"container ids and pod uids)\n", err);
			snprintf(last_err, sizeof(last_err), "%s", err);
			next_allowed = now + backoff;
			next_refresh = next_allowed;
			backoff = backoff * 2 > KUBE_REFRESH_S ? KUBE_REFRESH_S : backoff * 2;
		}
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

/* ---- the process cache ----------------------------------------------------------------------- */

static void proc_clear(struct proc *p)
{
	free(p->container);
	free(p->pod);
	free(p->namespace);
	memset(p, 0, sizeof(*p));
}

static size_t slot_of(const struct kube *k, int64_t pid)
{
	return (size_t)((uint64_t)pid * 0x9e3779b97f4a7c15ULL >> 32) & (k->cap - 1);
}

/* The slot for pid: its entry, or the empty slot where it goes. */
static struct proc *probe(struct kube *k, int64_t pid)
{
	size_t i = slot_of(k, pid);
	while (k->procs[i].pid && k->procs[i].pid != pid)
		i = (i + 1) & (k->cap - 1);
	return &k->procs[i];
}

/* Rebuilds the table with capacity cap, keeping entries seen at or after `keep_since` (moved,
 * not copied: their names go with them). -1 on OOM (table unchanged). */
static int rebuild(struct kube *k, size_t cap, time_t keep_since)
{
	struct proc *old = k->procs;
	size_t oldcap = k->cap;
	uint64_t unnamed = 0;
	struct proc *n = calloc(cap, sizeof(*n));
	if (!n)
		return -1;
	k->procs = n;
	k->cap = cap;
	k->nprocs = 0;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].pid)
			continue;
		if (old[i].seen < keep_since) {
			proc_clear(&old[i]);
			continue;
		}
		unnamed += old[i].gen && !old[i].named;
		*probe(k, old[i].pid) = old[i];
		k->nprocs++;
	}
	free(old);
	atomic_store(&k->cached, k->nprocs);
	atomic_store(&k->unnamed, unnamed);
	return 0;
}

/* Reads /proc/PID/cgroup into p->ids (none when the process is gone or has no such file). */
static void read_ids(struct kube *k, struct proc *p)
{
	char path[128], buf[8192];
	snprintf(path, sizeof(path), "%s/%lld/cgroup", k->proc_dir, (long long)p->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	kube_ids_parse(buf, &p->ids);
}

static void set_name(char **slot, const char *v)
{
	free(*slot);
	*slot = v && *v ? strdup(v) : NULL;
}

/* Names p from the current list (or from its ids alone); asks for a fetch when the list does
 * not know its pod or container. */
static void resolve(struct kube *k, struct proc *p, unsigned gen)
{
	char short_id[13];
	memcpy(short_id, p->ids.container_id, 12); /* docker's short id; "" when none */
	short_id[12] = '\0';
	const char *container = short_id, *pod = p->ids.pod_uid, *ns = "";
	bool named = !p->ids.pod_uid[0];

	pthread_mutex_lock(&k->lock);
	const struct kube_pod *kp = p->ids.pod_uid[0] ? kube_podlist_find(k->pods, p->ids.pod_uid) : NULL;
	if (kp) {
		const char *cn = p->ids.container_id[0] ? kube_pod_container(kp, p->ids.container_id) : "";
		pod = kp->name, ns = kp->namespace;
		container = cn ? cn : short_id;
		named = cn != NULL;
	}
	set_name(&p->container, container);
	set_name(&p->pod, pod);
	set_name(&p->namespace, ns);
	if (!named && k->url && p->asks < MAX_ASKS) {
		p->asks++;
		k->want = true;
		pthread_cond_signal(&k->wake);
	}
	pthread_mutex_unlock(&k->lock);
	p->named = named;
	p->gen = gen + 1;
}

void kube_names(struct kube *k, int64_t pid, int64_t cgroup, struct kube_names *out)
{
	*out = (struct kube_names){"", "", ""};
	if (!k || pid <= 0)
		return;
	if ((k->nprocs + 1) * 2 > k->cap && rebuild(k, k->cap * 2, 0) < 0)
		return;
	struct proc *p = probe(k, pid);
	if (!p->pid || p->cgroup != cgroup) {
		if (!p->pid)
			k->nprocs++;
		proc_clear(p);
		p->pid = pid;
		p->cgroup = cgroup;
		read_ids(k, p);
	}
	p->seen = time(NULL);
	unsigned gen = atomic_load_explicit(&k->gen, memory_order_acquire);
	if ((p->ids.container_id[0] || p->ids.pod_uid[0]) && p->gen != gen + 1)
		resolve(k, p, gen);
	out->container = p->container ? p->container : "";
	out->pod = p->pod ? p->pod : "";
	out->namespace = p->namespace ? p->namespace : "";
}

void kube_expire(struct kube *k, int max_idle_s)
{
	if (k)
		rebuild(k, k->cap, time(NULL) - max_idle_s);
}

void kube_get_stats(struct kube *k, struct kube_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	*out = k->stats;
	pthread_mutex_unlock(&k->lock);
	out->processes = atomic_load(&k->cached);
	out->unnamed = atomic_load(&k->unnamed);
}

/* ---- lifetime -------------------------------------------------------------------------------- */

struct kube *kube_new(const struct kube_config *cfg, char *err, size_t errlen)
{
	struct kube *k = calloc(1, sizeof(*k));
	if (!k)
		goto oom;
	pthread_mutex_init(&k->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_REALTIME);
	pthread_cond_init(&k->wake, &ca);
	pthread_condattr_destroy(&ca);
	k->cap = 256;
	k->url = dup_or_null(cfg->pods_url);
	k->token_file = dup_or_null(cfg->token_file);
	k->ca_file = dup_or_null(cfg->ca_file);
	k->proc_dir = strdup(cfg->proc_dir ? cfg->proc_dir : "/proc");
	k->procs = calloc(k->cap, sizeof(*k->procs));
	if (!k->procs || !k->proc_dir || (cfg->pods_url && !k->url) || (cfg->token_file && !k->token_file) ||
	    (cfg->ca_file && !k->ca_file))
		goto oom;
	if (k->url) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		if ((errno = pthread_create(&k->thread, NULL, fetch_thread, k))) {
			snprintf(err, errlen, "kubernetes: cannot start the pod list thread: %s", strerror(errno));
			kube_free(k);
			return NULL;
		}
		k->thread_started = true;
	}
	return k;
oom:
	snprintf(err, errlen, "kubernetes: out of memory");
	kube_free(k);
	return NULL;
}

void kube_free(struct kube *k)
{
	if (!k)
		return;
	if (k->thread_started) {
		pthread_mutex_lock(&k->lock);
		k->stop = true;
		pthread_cond_signal(&k->wake);
		pthread_mutex_unlock(&k->lock);
		pthread_join(k->thread, NULL);
	}
	for (size_t i = 0; k->procs && i < k->cap; i++)
		if (k->procs[i].pid)
			proc_clear(&k->procs[i]);
	free(k->procs);
	kube_podlist_free(k->pods);
	free(k->url);
	free(k->token_file);
	free(k->ca_file);
	free(k->proc_dir);
	pthread_cond_destroy(&k->wake);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
