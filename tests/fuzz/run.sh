#!/usr/bin/env bash
# tests/fuzz/run.sh - fuzz the snapshot loader with libFuzzer for SECONDS (default 180), then merge
# new coverage into tests/fuzz/corpus/snapshot (which ctest replays as unit.fuzz_corpus).
#   BUILD_DIR=build tests/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${BUILD_DIR:=build}"
secs=${1:-180}
cmake --build "$BUILD_DIR" --target fuzzers
work=$(mktemp -d /tmp/wisp-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/snapshot/* "$work/"
"$BUILD_DIR/tests/fuzz_snapshot" -max_total_time="$secs" -rss_limit_mb=4096 -max_len=65536 "$work"
"$BUILD_DIR/tests/fuzz_snapshot" -merge=1 tests/fuzz/corpus/snapshot "$work"
