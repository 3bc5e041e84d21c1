#!/usr/bin/env bash
# image.sh - deployment: the image (deploy/image/) builds here without a registry (a debootstrap
# Debian 12 base, buildah) and every mode runs from it: wispd and wisp --version, the installed
# scripts, a standalone in the container answering the host's CLI, an agent in the container
# registering with a coordinator on the host. The manifests pass yamllint and the systemd units
# systemd-analyze verify.
. "$(dirname "$0")/lib.sh"
for tool in buildah podman debootstrap yamllint systemd-analyze; do
	command -v "$tool" >/dev/null || fail "$tool is missing: run deploy/install-deps.sh"
done
IMAGE=localhost/wisp:test-$$
# This kind of host has hybrid cgroups and no CAP_SYS_RESOURCE: runc (crun refuses hybrid
# cgroups), cgroupfs, and limits within the host's.
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
RUN=("${PODMAN[@]}" run --rm --ulimit nofile=10000:10000 --ulimit nproc=10000:10000)
cleanup_image() { "${PODMAN[@]}" rm -f "wisp-it-$$" >/dev/null 2>&1 || true; podman rmi -f "$IMAGE" >/dev/null 2>&1 || true; }
trap 'cleanup_image; cleanup' EXIT

WISP_IMAGE_WORK=$TMP/image "$SRC_DIR/deploy/image/build.sh" "$BUILD_DIR" "$IMAGE" >"$TMP/build.log" 2>&1 ||
	fail "image build: $(tail -20 "$TMP/build.log")"
"${RUN[@]}" "$IMAGE" wispd --version | contains -E '^wispd [0-9.]+ ' || fail "wispd --version in the image"
"${RUN[@]}" "$IMAGE" wisp --version | contains -E '^wisp [0-9.]+ ' || fail "wisp --version in the image"
"${RUN[@]}" "$IMAGE" wisp scripts | contains '^top_functions ' || fail "the image's wisp finds no installed scripts"
pass "the image builds from a debootstrap Debian 12 with buildah; wispd, wisp and the scripts run in it"

# A standalone in the container (host network: loopback is the host's), queried from the host.
PORT=$(free_port)
"${PODMAN[@]}" run -d --name "wisp-it-$$" --network host --ulimit nofile=10000:10000 --ulimit nproc=10000:10000 \
	"$IMAGE" wispd standalone --listen "127.0.0.1:$PORT" --node incontainer --ring-mb 16 --source synthetic:cpus=2 \
	>/dev/null || fail "podman run standalone"
wait_agents "$PORT" 1
"$WISP" -c "ws://127.0.0.1:$PORT" agents | contains '^incontainer  *local' || fail "the container's standalone"
# An agent from the image registering with it: agent and coordinator modes both run from the image.
"${RUN[@]}" -d --network host "$IMAGE" wispd agent --coordinator "ws://127.0.0.1:$PORT" --node agent2 --ring-mb 8 \
	--source synthetic:cpus=2 >"$TMP/agent.id" || fail "podman run agent"
wait_agents "$PORT" 2
"${PODMAN[@]}" rm -f "$(cat "$TMP/agent.id")" >/dev/null
pass "standalone and agent run from the image and answer the host's wisp"

yamllint -c "$SRC_DIR/deploy/k8s/.yamllint" "$SRC_DIR"/deploy/k8s/*.yaml >"$TMP/yamllint.out" 2>&1 ||
	fail "yamllint: $(cat "$TMP/yamllint.out")"
grep -q 'privileged: false' "$SRC_DIR/deploy/k8s/wisp.yaml" || fail "the agent's DaemonSet should not be privileged"
# systemd-analyze verify checks that the binaries exist: the units pointed at this build.
mkdir -p "$TMP/units"
for f in "$SRC_DIR"/deploy/systemd/*; do
	sed "s|/usr/local/sbin/wispd|$BUILD_DIR/vizier/wispd|; s|/usr/local/bin/wisp |$BUILD_DIR/cli/wisp |" "$f" >"$TMP/units/${f##*/}"
done
systemd-analyze verify "$TMP"/units/* >"$TMP/verify.out" 2>&1 || fail "systemd-analyze verify: $(cat "$TMP/verify.out")"
[ ! -s "$TMP/verify.out" ] || fail "systemd-analyze verify: $(cat "$TMP/verify.out")"
pass "the manifests pass yamllint; the hardened systemd units pass systemd-analyze verify"
