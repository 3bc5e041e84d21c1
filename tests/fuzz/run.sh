#!/usr/bin/env bash
# tests/fuzz/run.sh - runs the libFuzzer harnesses (tests/fuzz/fuzz_*.c; see fuzz.h), each for
# RUNS executions (default 10,000,000) or SECONDS seconds, starting from its corpus, then merges
# what found new coverage back into tests/fuzz/corpus/NAME (which ctest replays as
# unit.fuzz_NAME). Builds $BUILD_DIR (default build-fuzz: clang, -DWISP_FUZZ=ON) first.
#   tests/fuzz/run.sh                      every harness: snapshot wire handler args cfi lines
#   RUNS=100000 tests/fuzz/run.sh wire     one harness, fewer executions
#   SECONDS_EACH=600 tests/fuzz/run.sh     by time instead
# Prints one line per harness: NAME executions N crashes C seconds S corpus FILES; a crash
# leaves its input as NAME-crash-* in $OUT (default /tmp/wisp-fuzz-out), with the log, and the
# script fails: `build/tests/fuzz_NAME_replay FILE` reproduces it (with full stacks, and the
# stderr the handler harness closes here). ASan runs with short allocation stacks and an 8 MiB
# quarantine (about 1.3 times the executions per second; override with ASAN_OPTIONS).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${BUILD_DIR:=build-fuzz}" "${RUNS:=10000000}" "${SECONDS_EACH:=}" "${OUT:=/tmp/wisp-fuzz-out}"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(snapshot wire handler args cfi lines)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
	CC=clang cmake -S . -B "$BUILD_DIR" -DWISP_FUZZ=ON >/dev/null
fi
cmake --build "$BUILD_DIR" -j"$(nproc)" --target fuzzers >/dev/null
mkdir -p "$OUT"

declare -A max_len=([snapshot]=65536 [wire]=65536 [handler]=65536 [args]=1024)
declare -A extra=([handler]=-close_fd_mask=2) # the coordinator's log lines, thousands a second
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0:quarantine_size_mb=8}
failed=0
for name in "${names[@]}"; do
	corpus=tests/fuzz/corpus/$name
	work=$(mktemp -d /tmp/wisp-fuzz-$name.XXXXXX)
	cp "$corpus"/* "$work"/
	limit=(-runs="$RUNS")
	[ -z "$SECONDS_EACH" ] || limit=(-max_total_time="$SECONDS_EACH")
	start=$(date +%s)
	rc=0
	"$BUILD_DIR/tests/fuzz_$name" "${limit[@]}" -max_len="${max_len[$name]:-65536}" -rss_limit_mb=4096 \
		-timeout=30 -print_final_stats=1 -artifact_prefix="$OUT/$name-" ${extra[$name]:-} "$work" >"$OUT/$name.log" 2>&1 || rc=$?
	secs=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$name.log" | tail -1)
	crashes=$(find "$OUT" -maxdepth 1 -name "$name-crash-*" -newer "$work" | wc -l)
	"$BUILD_DIR/tests/fuzz_$name" -merge=1 -max_len="${max_len[$name]:-65536}" "$corpus" "$work" >>"$OUT/$name.log" 2>&1
	rm -rf "$work"
	echo "$name executions ${execs:-0} crashes $crashes seconds $secs corpus $(ls "$corpus" | wc -l) exit $rc"
	[ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] || failed=1
done
exit $failed
