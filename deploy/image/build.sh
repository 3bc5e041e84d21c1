#!/usr/bin/env bash
# build.sh - builds the Wisp image (deploy/image/Dockerfile) with buildah on a machine that
# reaches Debian's packages but no container registry: the Debian 12 base is made once with
# debootstrap and kept as the image localhost/wisp-debian12-base; the tree built in BUILD_DIR is
# installed into the build context (DESTDIR) and copied in.
# Usage: deploy/image/build.sh [BUILD_DIR] [IMAGE]   (root; defaults: build, localhost/wisp:latest)
# Needs buildah, podman and debootstrap (deploy/install-deps.sh installs them).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=$(cd "${1:-$src/build}" && pwd)
image=${2:-localhost/wisp:latest}
base=localhost/wisp-debian12-base
work=${WISP_IMAGE_WORK:-/var/tmp/wisp-image}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ -x "$build_dir/vizier/wispd" ] || { echo "build.sh: no wispd in $build_dir: build the tree first" >&2; exit 2; }
for tool in buildah podman debootstrap; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing: run deploy/install-deps.sh" >&2; exit 2; }
done

if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  echo "build.sh: making the Debian 12 base with debootstrap ($mirror)"
  rm -rf "$work/root"
  mkdir -p "$work"
  debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/root" -c . | podman import - "$base" >/dev/null
  rm -rf "$work/root"
fi

rm -rf "$work/context"
mkdir -p "$work/context"
DESTDIR="$work/context/stage" cmake --install "$build_dir" >/dev/null
cp "$src/deploy/image/Dockerfile" "$work/context/"
# chroot isolation: no OCI runtime needed for the RUN step (this kind of host has hybrid cgroups)
buildah bud --isolation chroot --network host --build-arg BASE="$base" -t "$image" "$work/context"
echo "build.sh: built $image"
