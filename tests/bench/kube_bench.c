/* kube_bench.c - what Kubernetes names (vizier/agent/kube/) cost the agent, as `name value unit`
 * lines:
 *   kube_names_ns_per_sample      one sample's names when its process is cached (every sample
 *                                 but a process's first): 200 processes, round robin
 *   kube_new_process_us           a process's first sample: /proc/PID/cgroup read and parsed
 *                                 (this machine's real processes)
 *   kube_podlist_parse_ms         one fetch's parse of a 110-pod list (the kubelet's default
 *                                 maximum per node), pods of about 1.7 KB each, as the API
 *                                 server writes them less managedFields; kube_podlist_bytes
 *   kube_podlist_find_ns          a pod looked up by uid in that list
 * Baseline in the same run: `baseline_strcmp_ns`, one strcmp of two 36-byte uids, so a reader
 * of a noisy machine can scale the figures.
 *   kube_bench */
#include "agent/kube/kube.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "kube_bench: cannot write %s\n", path);
		exit(1);
	}
}

static void uid_of(int i, char *out, size_t len)
{
	snprintf(out, len, "%08x-1b2c-4d5e-8f90-%012x", 0x5eed0000u + (unsigned)i, 0xabc000u + (unsigned)i);
}

/* A PodList of n pods of about 1.7 KB each: metadata, labels, a spec and two container statuses. */
static char *podlist_json(int n, size_t *len)
{
	size_t cap = (size_t)n * 4096 + 256, off = 0;
	char *s = malloc(cap), uid[40];
	if (!s)
		exit(1);
	off += (size_t)snprintf(s + off, cap - off, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[");
	for (int i = 0; i < n; i++) {
		uid_of(i, uid, sizeof(uid));
		off += (size_t)snprintf(s + off, cap - off,
			"%s{\"metadata\":{\"name\":\"web-%d-7d9f8c6b5d-x%04d\",\"namespace\":\"ns-%d\",\"uid\":\"%s\","
			"\"resourceVersion\":\"%d\",\"creationTimestamp\":\"2026-12-01T10:00:00Z\","
			"\"labels\":{\"app\":\"web-%d\",\"pod-template-hash\":\"7d9f8c6b5d\",\"tier\":\"frontend\"},"
			"\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-%d-7d9f8c6b5d\","
			"\"uid\":\"%s\",\"controller\":true,\"blockOwnerDeletion\":true}]},"
			"\"spec\":{\"nodeName\":\"node-1\",\"serviceAccountName\":\"default\",\"containers\":["
			"{\"name\":\"app\",\"image\":\"registry.example/web:1.%d\",\"ports\":[{\"containerPort\":8080}],"
			"\"env\":[{\"name\":\"MODE\",\"value\":\"production\"},{\"name\":\"LOG\",\"value\":\"info\"}],"
			"\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"256Mi\"},\"limits\":{\"memory\":\"512Mi\"}},"
			"\"volumeMounts\":[{\"name\":\"kube-api-access\",\"mountPath\":\"/var/run/secrets/kubernetes.io/serviceaccount\","
			"\"readOnly\":true}]},{\"name\":\"envoy\",\"image\":\"registry.example/envoy:1.29\"}],"
			"\"volumes\":[{\"name\":\"kube-api-access\",\"projected\":{\"sources\":[{\"serviceAccountToken\":"
			"{\"expirationSeconds\":3607,\"path\":\"token\"}}]}}]},"
			"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.%d.%d\",\"qosClass\":\"Burstable\","
			"\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":\"ContainersReady\",\"status\":\"True\"}],"
			"\"containerStatuses\":[{\"name\":\"app\",\"ready\":true,\"restartCount\":0,"
			"\"image\":\"registry.example/web:1.%d\",\"containerID\":\"containerd://%064x\","
			"\"state\":{\"running\":{\"startedAt\":\"2026-12-01T10:00:05Z\"}}},"
			"{\"name\":\"envoy\",\"ready\":true,\"restartCount\":0,\"image\":\"registry.example/envoy:1.29\","
			"\"containerID\":\"containerd://%064x\",\"state\":{\"running\":{\"startedAt\":\"2026-12-01T10:00:05Z\"}}}]}}",
			i ? "," : "", i, i, i % 7, uid, 1000 + i, i, i, uid, i, i / 250, i % 250, i, 2 * i + 1, 2 * i + 2);
		if (off >= cap)
			exit(1);
	}
	off += (size_t)snprintf(s + off, cap - off, "]}");
	*len = off;
	return s;
}

int main(void)
{
	char dir[] = "/tmp/wisp-kube-bench-XXXXXX", path[256], err[256], uid[40];
	struct kube_names kn;
	if (!mkdtemp(dir))
		return 1;

	/* Cached processes: 200 in pods, in a test /proc. */
	enum { NPROCS = 200, HITS = 20000000 };
	for (int i = 0; i < NPROCS; i++) {
		uid_of(i, uid, sizeof(uid));
		snprintf(path, sizeof(path), "%s/%d", dir, 1000 + i);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/%d/cgroup", dir, 1000 + i);
		char text[256];
		snprintf(text, sizeof(text), "0::/kubepods/burstable/pod%s/%064x\n", uid, i + 1);
		write_file(path, text);
	}
	struct kube_config cfg = {.proc_dir = dir};
	struct kube *k = kube_new(&cfg, err, sizeof(err));
	if (!k) {
		fprintf(stderr, "kube_bench: %s\n", err);
		return 1;
	}
	for (int i = 0; i < NPROCS; i++)
		kube_names(k, 1000 + i, 7, &kn);
	double t0 = now_s();
	size_t check = 0;
	for (int i = 0; i < HITS; i++) {
		kube_names(k, 1000 + i % NPROCS, 7, &kn);
		check += (size_t)kn.pod[0];
	}
	printf("kube_names_ns_per_sample %.1f ns\n", (now_s() - t0) * 1e9 / HITS);
	kube_free(k);

	/* First samples of this machine's real processes. */
	struct kube_config real = {0};
	k = kube_new(&real, err, sizeof(err));
	DIR *proc = opendir("/proc");
	struct dirent *de;
	int n = 0;
	t0 = now_s();
	while (k && proc && (de = readdir(proc)) != NULL) {
		long pid = strtol(de->d_name, NULL, 10);
		if (pid > 0) {
			kube_names(k, pid, 7, &kn);
			n++;
		}
	}
	if (n)
		printf("kube_new_process_us %.2f us (%d processes)\n", (now_s() - t0) * 1e6 / n, n);
	if (proc)
		closedir(proc);
	kube_free(k);

	/* The pod list: one fetch's parse, and lookups. */
	size_t len;
	char *json = podlist_json(110, &len);
	enum { PARSES = 200, FINDS = 5000000 };
	struct kube_podlist *pl = NULL;
	t0 = now_s();
	for (int i = 0; i < PARSES; i++) {
		kube_podlist_free(pl);
		if (!(pl = kube_podlist_parse(json, len, err, sizeof(err)))) {
			fprintf(stderr, "kube_bench: %s\n", err);
			return 1;
		}
	}
	printf("kube_podlist_parse_ms %.3f ms (110 pods)\n", (now_s() - t0) * 1e3 / PARSES);
	printf("kube_podlist_bytes %zu bytes\n", len);
	char uids[110][40];
	for (int i = 0; i < 110; i++)
		uid_of(i, uids[i], sizeof(uids[i]));
	t0 = now_s();
	for (int i = 0; i < FINDS; i++)
		check += kube_podlist_find(pl, uids[i % 110]) != NULL;
	printf("kube_podlist_find_ns %.1f ns\n", (now_s() - t0) * 1e9 / FINDS);
	t0 = now_s();
	for (int i = 0; i < FINDS; i++)
		check += strcmp(uids[i % 110], uids[(i + 1) % 110]) < 0;
	printf("baseline_strcmp_ns %.1f ns\n", (now_s() - t0) * 1e9 / FINDS);
	kube_podlist_free(pl);
	free(json);

	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return check == 0; /* keeps the loops from being optimised away */
}
