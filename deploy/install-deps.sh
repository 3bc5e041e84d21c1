#!/usr/bin/env bash
# Installs every Debian and npm package that building, running and testing Wisp need.
# Idempotent: packages already present are skipped, so running it twice costs seconds.
# Usage: deploy/install-deps.sh [--runtime-only]   (root; Debian 12)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

build_pkgs=(build-essential cmake pkg-config clang llvm libclang-rt-14-dev bpftool libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev libssl-dev
            libbpf-dev libelf-dev libdw-dev libiberty-dev liblzma-dev zlib1g-dev liblua5.4-dev libwebsockets-dev
            libmsgpack-dev libzstd-dev libjansson-dev libcmocka-dev nodejs)
test_pkgs=(chromium procps iproute2 ca-certificates libc6-dbg rustc linux-perf golang-go s3cmd python3.11 python3.11-dev
           openssl curl prometheus podman buildah runc debootstrap yamllint)
runtime_pkgs=(libbpf1 libelf1 libdw1 liblzma5 liblua5.4-0 libwebsockets17 libmsgpackc2 libzstd1 libprotobuf-c1 zlib1g libcurl4 libssl3 libjansson4)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--runtime-only" ]; then want=("${runtime_pkgs[@]}"); else want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js's own package may carry npm (NodeSource builds conflict with Debian's npm package).
if [ "${1:-}" != "--runtime-only" ] && ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages (kept in DIR/node_modules, never committed): the browser libraries the dashboard
# bundles when building (vizier/web), and what the tests and benchmarks use (tests).
if [ "${1:-}" != "--runtime-only" ]; then
  for dir in vizier/web tests; do
    if [ ! -d "$here/$dir/node_modules" ] || [ "$here/$dir/package.json" -nt "$here/$dir/node_modules" ]; then
      echo "install-deps: npm packages for $dir"
      (cd "$here/$dir" && npm install --no-audit --no-fund --loglevel=error && touch node_modules)
    fi
  done
fi
echo "install-deps: ok"
