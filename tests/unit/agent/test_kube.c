/* test_kube.c - Kubernetes names (vizier/agent/kube/): container ids and pod uids from the cgroup
 * paths each runtime and kubelet driver writes (the paths are the shapes seen on real nodes), a
 * PodList as the kubelet and the API server answer it, and the process cache over a /proc the
 * test writes (ids only: the fetch is covered by integration.kube with a real HTTP server). */
#include "fixture.h"

#include "agent/kube/kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define CID "4f2c1b0e9d8a7f6e5d4c3b2a190817263544536271809aabbccddeeff0011223"
#define UID "8d3c9a6e-1f2b-4c5d-9e8f-7a6b5c4d3e2f"
#define UID_ "8d3c9a6e_1f2b_4c5d_9e8f_7a6b5c4d3e2f"

static void expect(const char *text, const char *cid, const char *uid)
{
	struct kube_ids ids;
	bool found = kube_ids_parse(text, &ids);
	assert_int_equal(found, cid[0] || uid[0]);
	assert_string_equal(ids.container_id, cid);
	assert_string_equal(ids.pod_uid, uid);
}

static void cgroup_layouts(void **state)
{
	(void)state;
	/* systemd driver: containerd, CRI-O, docker; burstable, besteffort, guaranteed */
	expect("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	       ".slice/cri-containerd-" CID ".scope\n", CID, UID);
	expect("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/crio-" CID ".scope\n",
	       CID, UID);
	expect("0::/kubepods.slice/kubepods-pod" UID_ ".slice/docker-" CID ".scope\n", CID, UID);
	/* cgroupfs driver */
	expect("0::/kubepods/burstable/pod" UID "/" CID "\n", CID, UID);
	expect("0::/kubepods/pod" UID "/crio-" CID "\n", CID, UID);
	/* a cgroup namespace hides the start; kind nests a node inside a docker container */
	expect("0::/../../kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" CID ".scope\n", CID, UID);
	expect("0::/system.slice/docker-1111111111111111111111111111111111111111111111111111111111111111.scope/"
	       "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	       "kubelet-kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" CID ".scope\n", CID, UID);
	/* in the pod, in no container: CRI-O's monitor; the pod's own slice */
	expect("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/crio-conmon-" CID
	       ".scope\n", "", UID);
	expect("0::/kubepods/besteffort/pod" UID "\n", "", UID);
	/* containers outside Kubernetes */
	expect("0::/system.slice/docker-" CID ".scope\n", CID, "");
	expect("0::/docker/" CID "\n", CID, "");
	expect("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" CID ".scope\n", CID, "");
	/* cgroup v1 only: the v2 line is the root, a v1 line says where it is */
	expect("12:pids:/kubepods/burstable/pod" UID "/" CID "\n1:name=systemd:/kubepods/burstable/pod" UID "/" CID
	       "\n0::/\n", CID, UID);
	/* hybrid: the v2 line wins over the v1 lines */
	expect("4:memory:/docker/" CID "\n0::/kubepods/pod" UID "/" CID "\n", CID, UID);
	/* nothing */
	expect("0::/init.scope\n", "", "");
	expect("0::/system.slice/ssh.service\n1:name=systemd:/system.slice/ssh.service\n", "", "");
	expect("", "", "");
	expect("garbage without colons\n::\n0:\n", "", "");
	/* near misses: a short id, capital hex, a uid of the wrong length */
	expect("0::/docker/" "4f2c1b0e9d8a\n", "", "");
	expect("0::/docker/4F2C1B0E9D8A7F6E5D4C3B2A190817263544536271809AABBCCDDEEFF0011223\n", "", "");
	expect("0::/kubepods/pod8d3c9a6e-1f2b-4c5d-9e8f-7a6b5c4d3e2\n", "", "");
}

static const char podlist[] =
	"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":["
	"{\"metadata\":{\"name\":\"web-7d9f\",\"namespace\":\"shop\",\"uid\":\"" UID "\"},"
	" \"spec\":{\"containers\":[{\"name\":\"nginx\"}]},"
	" \"status\":{\"phase\":\"Running\",\"containerStatuses\":["
	"   {\"name\":\"nginx\",\"containerID\":\"containerd://" CID "\"},"
	"   {\"name\":\"waiting\"}],"
	"  \"initContainerStatuses\":[{\"name\":\"init\",\"containerID\":\"cri-o://abc\"}]}},"
	"{\"metadata\":{\"name\":\"db-0\",\"namespace\":\"shop\",\"uid\":\"00000000-0000-0000-0000-000000000001\"},"
	" \"status\":{}},"
	"{\"metadata\":{\"name\":\"no-uid\"}}"
	"]}";

static void podlist_parse(void **state)
{
	(void)state;
	char err[256];
	struct kube_podlist *pl = kube_podlist_parse(podlist, sizeof(podlist) - 1, err, sizeof(err));
	assert_non_null(pl);
	assert_int_equal(pl->npods, 2);
	const struct kube_pod *p = kube_podlist_find(pl, UID);
	assert_non_null(p);
	assert_string_equal(p->name, "web-7d9f");
	assert_string_equal(p->namespace, "shop");
	assert_string_equal(kube_pod_container(p, CID), "nginx");
	assert_string_equal(kube_pod_container(p, "abc"), "init");
	assert_null(kube_pod_container(p, "waiting"));
	assert_string_equal(kube_podlist_find(pl, "00000000-0000-0000-0000-000000000001")->name, "db-0");
	assert_null(kube_podlist_find(pl, "ffffffff-0000-0000-0000-000000000001"));
	kube_podlist_free(pl);

	static const char *const bad[] = {"", "[]", "{\"kind\":\"Pod\",\"items\":[]}", "{\"kind\":\"PodList\"}",
					  "{\"kind\":\"PodList\",\"items\":[", "{\"kind\":\"PodList\",\"items\":{}}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(kube_podlist_parse(bad[i], strlen(bad[i]), err, sizeof(err)));
		assert_true(err[0] != '\0');
	}
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The cache over a /proc of the test's: ids from the file, read again when the cgroup id moves,
 * names "" for a process outside containers and for one that is gone. */
static void process_cache(void **state)
{
	(void)state;
	char dir[] = "/tmp/wisp-kube-XXXXXX", path[256], err[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/100", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/100/cgroup", dir);
	write_file(path, "0::/kubepods/burstable/pod" UID "/" CID "\n");
	snprintf(path, sizeof(path), "%s/200", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/200/cgroup", dir);
	write_file(path, "0::/system.slice/cron.service\n");

	struct kube_config cfg = {.proc_dir = dir};
	struct kube *k = kube_new(&cfg, err, sizeof(err));
	assert_non_null(k);
	struct kube_names n;
	kube_names(k, 100, 7, &n);
	assert_string_equal(n.container, "4f2c1b0e9d8a"); /* no pod list: the short id and the uid */
	assert_string_equal(n.pod, UID);
	assert_string_equal(n.namespace, "");
	kube_names(k, 200, 8, &n);
	assert_string_equal(n.pod, "");
	assert_string_equal(n.container, "");
	kube_names(k, 300, 9, &n); /* no such process */
	assert_string_equal(n.pod, "");

	/* The same cgroup id: cached (the file is not read again). A new id: read again. */
	snprintf(path, sizeof(path), "%s/100/cgroup", dir);
	write_file(path, "0::/docker/" CID "\n");
	kube_names(k, 100, 7, &n);
	assert_string_equal(n.pod, UID);
	kube_names(k, 100, 10, &n);
	assert_string_equal(n.pod, "");
	assert_string_equal(n.container, "4f2c1b0e9d8a");

	/* Many processes: the table grows and expiry keeps what was seen. */
	for (int pid = 1000; pid < 3000; pid++)
		kube_names(k, pid, 1, &n);
	kube_expire(k, 3600);
	struct kube_stats st;
	kube_get_stats(k, &st);
	assert_int_equal(st.processes, 2000 + 3);
	kube_names(k, 100, 10, &n);
	assert_string_equal(n.container, "4f2c1b0e9d8a");
	kube_free(k);

	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cgroup_layouts),
		cmocka_unit_test(podlist_parse),
		cmocka_unit_test(process_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
