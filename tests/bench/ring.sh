#!/usr/bin/env bash
# tests/bench/ring.sh - the ring's figures on the reference synthetic load, as `name value unit`
# lines (see tests/bench/ring_bench.c), plus the DuckDB comparison:
#   ring_vs_duckdb_speedup  DuckDB's time / Wisp's time for sum(count) by stack over the same rows
#                           (2 hours of the reference load: the ring's 1-second rows exported to
#                           CSV and loaded into DuckDB in memory, 1 thread; both medians, same run)
# Builds nothing: BUILD_DIR=build tests/bench/ring.sh   (needs `npm install` in tests/, done by
# deploy/install-deps.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD_DIR:=build}"
bench="$BUILD_DIR/tests/ring_bench"
[ -x "$bench" ] || { echo "ring.sh: $bench not built (cmake --build $BUILD_DIR)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/wisp-ring-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$bench"                                      # 28 h into 256 MiB: the headline figures
"$bench" --hours 2 --export "$tmp/rows.csv" >"$tmp/wisp2h.txt"
wisp_ms=$(awk '$1 == "ring_scan_ms" {print $2}' "$tmp/wisp2h.txt")
node "$here/duckdb_groupby.mjs" "$tmp/rows.csv" >"$tmp/duck.txt"
duck_ms=$(awk '$1 == "duckdb_groupby_ms" {print $2}' "$tmp/duck.txt")
rows=$(awk '$1 == "duckdb_rows" {print $2}' "$tmp/duck.txt")
echo "ring_compare_rows $rows rows"
echo "ring_compare_wisp_ms $wisp_ms ms"
echo "ring_compare_duckdb_ms $duck_ms ms"
awk -v d="$duck_ms" -v w="$wisp_ms" 'BEGIN{printf "ring_vs_duckdb_speedup %.1f x\n", d / w}'
