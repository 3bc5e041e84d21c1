#!/usr/bin/env bash
# tests/run.sh - the whole test suite, from a fresh clone: installs what is needed, builds Wisp
# twice (normal, and with AddressSanitizer + UndefinedBehaviorSanitizer) and runs every ctest
# suite in both: unit (cmocka), bpf (real eBPF, needs root) and integration (real daemons on
# loopback). Also runs the ring's concurrency test under ThreadSanitizer.
#
#   sudo tests/run.sh            # everything (what .ci/run runs)
#   tests/run.sh --quick         # normal build only
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

if [ "$(id -u)" != 0 ]; then
	echo "tests/run.sh: run as root (the eBPF tests load programs into the kernel)" >&2
	exit 2
fi
bash deploy/install-deps.sh

jobs=$(nproc)
total=0
count_tests() { # adds the number of tests ctest ran in $1 to $total
	local n
	n=$(sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$1" | tail -1)
	total=$((total + ${n:-0}))
}
run_suite() { # run_suite BUILD_DIR CMAKE_ARGS...
	local dir=$1; shift
	echo "== building $dir ($*)"
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
	cmake --build "$dir" -j"$jobs"
	echo "== testing $dir"
	(cd "$dir" && ctest --output-on-failure --timeout 300) | tee "$dir/ctest.out"
	count_tests "$dir/ctest.out"
}

run_suite build
if [ "$quick" = 0 ]; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_suite build-asan -DWISP_SANITIZE=ON
	echo "== ThreadSanitizer: ring writer vs scanners"
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWISP_TSAN=ON >/dev/null
	cmake --build build-tsan -j"$jobs" --target test_ring
	(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R '^unit\.ring$') | tee build-tsan/ctest.out
	count_tests build-tsan/ctest.out
fi
echo "tests/run.sh: all suites passed"
echo "$total passed, 0 failed"
