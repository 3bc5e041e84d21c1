#!/usr/bin/env bash
# tests/repeat.sh - runs a built tree's ctest suites N times in a row and counts what failed, to
# show a suite is not flaky (a test must pass 20 runs in a row).
#   sudo tests/repeat.sh [N] [BUILD_DIR] [-- CTEST ARGS...]    (default 20 runs of build/)
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
dir=${2:-build}
shift $(( $# > 2 ? 2 : $# ))
[ "${1:-}" = "--" ] && shift
[ -f "$dir/CTestTestfile.cmake" ] || { echo "repeat.sh: $dir is not a built tree (tests/run.sh builds it)" >&2; exit 2; }
failed=0
for i in $(seq "$n"); do
	t0=$(date +%s)
	if out=$(cd "$dir" && ctest --timeout 300 "$@" 2>&1); then
		echo "run $i/$n: ok ($(( $(date +%s) - t0 )) s, $(echo "$out" | sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1 tests/p' | tail -1))"
	else
		failed=$((failed + 1))
		names=$(echo "$out" | sed -n 's/^ *[0-9]* - \([^ ]*\) .*/\1/p' | tr '\n' ' ')
		# No test named: ctest itself failed (a tree rebuilt under it, say): its last lines say why.
		echo "run $i/$n: FAILED: ${names:-$(echo "$out" | tail -3 | tr '\n' ' ')}"
	fi
done
echo "repeat.sh: $n runs, $failed failed"
[ "$failed" = 0 ]
