#!/usr/bin/env bash
# tests/bench/export.sh - what exporting costs, as `name value unit` lines. One standalone wispd
# holding an hour of the reference load (synthetic: 4 CPUs at 99 Hz, 5,000 stacks, 200
# processes), queried by the real CLI over loopback:
#   export_profile_rows               rows of `profile -- --start -1h` (distinct stacks per process)
#   export_csv_1h_ms                  `wisp run profile -o csv` over the hour (the baseline: the
#                                     same query and transfer, written as text; median of 5)
#   export_pprof_1h_ms                the same written as gzipped pprof (median of 5)
#   export_pprof_encode_ms            what pprof adds over csv (the two medians' difference)
#   export_pprof_kib                  the profile's size; export_pprof_bytes_per_row the same per row
#   export_pprof_vs_folded_size       the profile's size over the gzipped folded stacks' (flamegraph
#                                     --by none -o folded | gzip), which carry no lines or labels
# Builds nothing: BUILD_DIR=build tests/bench/export.sh   (about 1 minute)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SRC_DIR=${SRC_DIR:-$(cd "$here/../.." && pwd)}
export BUILD_DIR=${BUILD_DIR:-$SRC_DIR/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$SRC_DIR/$BUILD_DIR ;; esac
. "$SRC_DIR/tests/soak/fleet.sh"
spec=cpus=4,hz=99,stacks=5000,procs=200,threads=1000,backfill=1h,speed=100000

PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start standalone "$WISPD" standalone --listen "127.0.0.1:$PORT" --node n1 --ring-mb 64 --source "synthetic:$spec,seed=1"
wait_listed "$PORT" 1 30
wait_held "$PORT" 1 0.99 120
OUT=$(mktemp -d /tmp/wisp-export-bench.XXXXXX)

# run_ms FORMAT: median wall time of 5 runs of profile over the hour in FORMAT.
run_ms() {
	local i t0
	for i in 1 2 3 4 5; do
		t0=$(date +%s%N)
		"$WISP" -c "$URL" run profile -o "$1" --max-rows 1000000 -- --start -1h --limit 1000000 >"$OUT/profile.$1"
		echo $(( ($(date +%s%N) - t0) / 1000 ))
	done | sort -n | awk '{v[NR]=$1} END{printf "%.1f", v[3] / 1000}'
}
csv=$(run_ms csv)
pprof=$(run_ms pprof)
rows=$(( $(wc -l <"$OUT/profile.csv") - 1 ))
bytes=$(stat -c %s "$OUT/profile.pprof")
"$WISP" -c "$URL" run flamegraph -o folded --max-rows 1000000 -- --start -1h --by none --limit 1000000 | gzip -6 >"$OUT/folded.gz"
folded=$(stat -c %s "$OUT/folded.gz")
echo "export_profile_rows $rows rows"
echo "export_csv_1h_ms $csv ms"
echo "export_pprof_1h_ms $pprof ms"
awk -v a="$pprof" -v b="$csv" 'BEGIN{printf "export_pprof_encode_ms %.1f ms\n", a - b}'
awk -v b="$bytes" 'BEGIN{printf "export_pprof_kib %.1f KiB\n", b / 1024}'
awk -v b="$bytes" -v r="$rows" 'BEGIN{printf "export_pprof_bytes_per_row %.1f bytes\n", b / r}'
awk -v b="$bytes" -v f="$folded" 'BEGIN{printf "export_pprof_vs_folded_size %.2f x\n", b / f}'
rm -rf "$OUT"
