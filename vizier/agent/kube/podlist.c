/* podlist.c - a PodList, as the kubelet's /pods and the API server's /api/v1/pods answer it,
 * reduced to what names a sample: uid -> name, namespace, and container id -> container name
 * (see kube.h). Parsed with jansson; everything else in the list is ignored. */
#include "kube.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_at(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static void pod_clear(struct kube_pod *p)
{
	for (size_t i = 0; i < p->ncontainers; i++) {
		free(p->containers[i].id);
		free(p->containers[i].name);
	}
	free(p->containers);
	free(p->uid);
	free(p->name);
	free(p->namespace);
}

void kube_podlist_free(struct kube_podlist *pl)
{
	if (!pl)
		return;
	for (size_t i = 0; i < pl->npods; i++)
		pod_clear(&pl->pods[i]);
	free(pl->pods);
	free(pl);
}

/* Adds the containers of one status array (containerStatuses, initContainerStatuses...) that
 * have an id. 0, or -1 on OOM. */
static int add_containers(struct kube_pod *p, json_t *statuses)
{
	size_t i;
	json_t *st;
	json_array_foreach(statuses, i, st) {
		const char *id = str_at(st, "containerID"), *sep = strstr(id, "://");
		if (sep)
			id = sep + 3;
		if (!*id)
			continue; /* not started yet */
		struct kube_container *c = realloc(p->containers, (p->ncontainers + 1) * sizeof(*c));
		if (!c)
			return -1;
		p->containers = c;
		c = &c[p->ncontainers];
		c->id = strdup(id);
		c->name = strdup(str_at(st, "name"));
		p->ncontainers++;
		if (!c->id || !c->name)
			return -1;
	}
	return 0;
}

static int by_uid(const void *a, const void *b)
{
	return strcmp(((const struct kube_pod *)a)->uid, ((const struct kube_pod *)b)->uid);
}

struct kube_podlist *kube_podlist_parse(const char *json, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	struct kube_podlist *pl = calloc(1, sizeof(*pl));
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je), *items = json_object_get(root, "items");
	size_t i;
	json_t *item;

	if (!pl) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!root) {
		snprintf(err, errlen, "not JSON: %s (line %d)", je.text, je.line);
		goto fail;
	}
	if (strcmp(str_at(root, "kind"), "PodList") || !json_is_array(items)) {
		char head[61];
		size_t n = len < sizeof(head) - 1 ? len : sizeof(head) - 1;
		for (size_t j = 0; j < n; j++) /* the answer's start, printable, for the log */
			head[j] = json[j] >= 0x20 && json[j] < 0x7f ? json[j] : '.';
		head[n] = '\0';
		snprintf(err, errlen, "not a PodList (kind \"%s\"; the answer starts: %s)", str_at(root, "kind"), head);
		goto fail;
	}
	if (!(pl->pods = calloc(json_array_size(items) + 1, sizeof(*pl->pods)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_array_foreach(items, i, item) {
		json_t *md = json_object_get(item, "metadata"), *status = json_object_get(item, "status");
		if (!*str_at(md, "uid"))
			continue;
		struct kube_pod *p = &pl->pods[pl->npods++];
		p->uid = strdup(str_at(md, "uid"));
		p->name = strdup(str_at(md, "name"));
		p->namespace = strdup(str_at(md, "namespace"));
		if (!p->uid || !p->name || !p->namespace ||
		    add_containers(p, json_object_get(status, "containerStatuses")) < 0 ||
		    add_containers(p, json_object_get(status, "initContainerStatuses")) < 0 ||
		    add_containers(p, json_object_get(status, "ephemeralContainerStatuses")) < 0) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	qsort(pl->pods, pl->npods, sizeof(*pl->pods), by_uid);
	json_decref(root);
	return pl;
fail:
	json_decref(root);
	kube_podlist_free(pl);
	return NULL;
}

const struct kube_pod *kube_podlist_find(const struct kube_podlist *pl, const char *uid)
{
	struct kube_pod key = {.uid = (char *)uid};
	return pl ? bsearch(&key, pl->pods, pl->npods, sizeof(*pl->pods), by_uid) : NULL;
}

const char *kube_pod_container(const struct kube_pod *p, const char *container_id)
{
	for (size_t i = 0; p && i < p->ncontainers; i++)
		if (!strcmp(p->containers[i].id, container_id))
			return p->containers[i].name;
	return NULL;
}
