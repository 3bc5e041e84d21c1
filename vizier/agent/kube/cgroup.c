/* cgroup.c - container ids and pod uids from cgroup paths (see kube.h).
 *
 * The layouts read, innermost component last:
 *   systemd driver   .../kubepods-burstable-pod<UID_WITH_UNDERSCORES>.slice/cri-containerd-<ID>.scope
 *                    (besteffort alike; guaranteed pods sit in kubepods-pod<UID>.slice), with
 *                    crio-<ID>.scope, docker-<ID>.scope
 *   cgroupfs driver  .../kubepods/burstable/pod<UID>/<ID>  (or crio-<ID>)
 *   outside pods     /system.slice/docker-<ID>.scope, /docker/<ID>, .../libpod-<ID>.scope
 *   kind             a node's kubelet-kubepods-...-pod<UID>.slice inside the node's docker-<ID>.scope
 * A cgroup namespace may hide the path's start ("0::/../../kubepods-..."): only components are
 * matched, never a prefix. CRI-O's and podman's monitors (crio-conmon-, libpod-conmon-) are in
 * the pod but in no container. */
#include "kube.h"

#include <ctype.h>
#include <string.h>

#define ID_LEN 64
#define UID_LEN 36

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

static bool has_prefix(const char *s, size_t n, const char *p)
{
	size_t l = strlen(p);
	return n >= l && !memcmp(s, p, l);
}

/* A container id in component c[0..n) into id (ID_LEN + 1 bytes). */
static bool container_of(const char *c, size_t n, char *id)
{
	static const char *const prefixes[] = {"cri-containerd-", "crio-", "docker-", "libpod-", ""};
	if (n > 6 && !memcmp(c + n - 6, ".scope", 6))
		n -= 6;
	if (has_prefix(c, n, "crio-conmon-") || has_prefix(c, n, "libpod-conmon-"))
		return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t l = strlen(prefixes[i]);
		if (has_prefix(c, n, prefixes[i]) && n - l == ID_LEN && all_hex(c + l, ID_LEN)) {
			memcpy(id, c + l, ID_LEN);
			id[ID_LEN] = '\0';
			return true;
		}
	}
	return false;
}

/* A pod uid in component c[0..n) into uid (UID_LEN + 1 bytes), dashes restored. */
static bool pod_of(const char *c, size_t n, char *uid)
{
	const char *u;
	if (has_prefix(c, n, "pod") && n == 3 + UID_LEN) {
		u = c + 3; /* cgroupfs: pod<UID> */
	} else if (n > 6 && !memcmp(c + n - 6, ".slice", 6) && n >= 6 + UID_LEN + 4 &&
		   !memcmp(c + n - 6 - UID_LEN - 4, "-pod", 4) && memmem(c, n, "kubepods", 8)) {
		u = c + n - 6 - UID_LEN; /* systemd: [kubelet-]kubepods[-QOS]-pod<UID>.slice */
	} else {
		return false;
	}
	for (int i = 0; i < UID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char ch = u[i];
		if (dash ? ch != '-' && ch != '_' : !isxdigit((unsigned char)ch))
			return false;
		uid[i] = dash ? '-' : (char)tolower((unsigned char)ch);
	}
	uid[UID_LEN] = '\0';
	return true;
}

/* Reads one cgroup path (path[0..n)), innermost component first. */
static bool parse_path(const char *path, size_t n, struct kube_ids *out)
{
	bool found = false;
	size_t end = n;
	while (end > 0) {
		size_t start = end;
		while (start > 0 && path[start - 1] != '/')
			start--;
		const char *c = path + start;
		size_t len = end - start;
		if (!out->container_id[0] && container_of(c, len, out->container_id))
			found = true;
		else if (!out->pod_uid[0] && pod_of(c, len, out->pod_uid))
			return true;
		end = start > 0 ? start - 1 : 0;
	}
	return found;
}

bool kube_ids_parse(const char *text, struct kube_ids *out)
{
	memset(out, 0, sizeof(*out));
	/* Pass 0: the cgroup v2 line; pass 1: the v1 lines. */
	for (int pass = 0; pass < 2; pass++) {
		for (const char *line = text; line && *line;) {
			const char *nl = strchr(line, '\n');
			size_t len = nl ? (size_t)(nl - line) : strlen(line);
			const char *c1 = memchr(line, ':', len);
			const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
			bool v2 = c1 && c1 - line == 1 && line[0] == '0' && c2 == c1 + 1;
			if (c2 && v2 == (pass == 0) && parse_path(c2 + 1, len - (size_t)(c2 + 1 - line), out))
				return true;
			memset(out, 0, sizeof(*out));
			line = nl ? nl + 1 : NULL;
		}
	}
	return false;
}
