/* kube.h - Kubernetes names for the processes the agent samples: the `container`, `pod` and
 * `namespace` columns of stack_samples.
 *
 * Two steps, each optional to the next:
 *   1. ids from the process's cgroup path (cgroup.c): /proc/PID/cgroup names the container id and
 *      the pod uid under every common layout (the kubelet's systemd and cgroupfs drivers;
 *      containerd, CRI-O, docker, podman), read once per process and again when its cgroup id
 *      changes. Local and cheap; always on.
 *   2. names from a pod list (podlist.c): the kubelet's /pods or the API server's
 *      /api/v1/pods?fieldSelector=spec.nodeName=NODE, both a PodList, fetched with libcurl on a
 *      thread of its own (kube.c) with a bearer token read from a file at each fetch (service
 *      account tokens rotate). Fetched when a process names a pod or container the list lacks
 *      (at most every KUBE_FETCH_MIN_S) and every KUBE_REFRESH_S; a sample never waits for it.
 *
 * What a sample gets: container = the container's name, pod = the pod's name, namespace = its
 * namespace. Before (or without) the pod list: container = the first 12 hex digits of the
 * container id, pod = the pod's uid, namespace = "". Outside Kubernetes and containers: all "".
 *
 * Threads: kube_names and kube_expire belong to one thread (the collector's drain thread); the
 * fetch thread only replaces the pod list, under the lock. */
#ifndef WISP_KUBE_H
#define WISP_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KUBE_FETCH_MIN_S 2  /* at least this long between two fetches asked for by samples */
#define KUBE_REFRESH_S 60   /* a fetch at least this often while a pod list is configured */

/* Where pod names come from. All strings are copied by kube_new. */
struct kube_config {
	const char *pods_url;   /* a PodList URL; NULL: ids only, no names */
	const char *token_file; /* sent as "Authorization: Bearer ..."; NULL: no token */
	const char *ca_file;    /* verifies the server; NULL: the system's CAs */
	const char *proc_dir;   /* where /proc is (NULL: "/proc") */
};

/* The names for one sample: borrowed from the kube, valid until its next kube_names call. Never
 * NULL; "" where unknown. */
struct kube_names {
	const char *container, *pod, *namespace;
};

struct kube_stats {
	uint64_t fetches, fetch_failures; /* pod list fetches, and those that failed */
	uint64_t pods;                    /* pods in the current list */
	uint64_t processes;               /* processes cached (as of the last kube_expire) */
	uint64_t unnamed;                 /* of those, in a pod or container the list did not name */
};

struct kube;

/* Starts the fetch thread when cfg->pods_url is set. NULL with a message in err. */
struct kube *kube_new(const struct kube_config *cfg, char *err, size_t errlen);
void kube_free(struct kube *k);

/* The names of process pid whose sample carries cgroup id `cgroup`. */
void kube_names(struct kube *k, int64_t pid, int64_t cgroup, struct kube_names *out);
/* Forgets processes not sampled for max_idle_s seconds. */
void kube_expire(struct kube *k, int max_idle_s);
void kube_get_stats(struct kube *k, struct kube_stats *out);

/* ---- the parts, for kube.c and the unit tests ---------------------------------------------- */

/* What a cgroup path says (cgroup.c). Empty strings where it says nothing. */
struct kube_ids {
	char container_id[65]; /* lowercase hex, as the runtime reports it after "containerd://" */
	char pod_uid[37];      /* with dashes, as metadata.uid spells it */
};

/* Fills out from the text of /proc/PID/cgroup (every line "ID:CONTROLLERS:PATH"). The cgroup v2
 * line ("0::") is read first; cgroup v1 lines when it says nothing (a v1-only host). Returns
 * whether a container id or pod uid was found. */
bool kube_ids_parse(const char *text, struct kube_ids *out);

/* A pod list (podlist.c): pods sorted by uid. */
struct kube_container {
	char *id;   /* without its "runtime://" prefix */
	char *name;
};
struct kube_pod {
	char *uid, *name, *namespace;
	struct kube_container *containers; /* regular, init and ephemeral containers */
	size_t ncontainers;
};
struct kube_podlist {
	struct kube_pod *pods;
	size_t npods;
};

/* Parses a PodList (JSON) of len bytes. NULL with a message in err when it is not one. */
struct kube_podlist *kube_podlist_parse(const char *json, size_t len, char *err, size_t errlen);
void kube_podlist_free(struct kube_podlist *pl);
const struct kube_pod *kube_podlist_find(const struct kube_podlist *pl, const char *uid);
/* The name of the pod's container with this id, or NULL. */
const char *kube_pod_container(const struct kube_pod *p, const char *container_id);

#endif
