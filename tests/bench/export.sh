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
#   export_mb_per_s                   `wisp export s3://...` of the hour to a local S3 server (npm
#                                     s3rver on loopback): snapshot bytes over wall time (median of 5)
#   export_cpu_s_per_ring_hour        CPU seconds the export costs the daemon and the CLI per hour
#                                     of ring exported (median of 5; the store's own CPU not counted)
#   s3_replay_top_functions_1h_ms_cold  wispd --source s3:// of that hour started with an empty
#                                     cache: from its start to top_functions -- --start -1h answered
#   s3_replay_top_functions_1h_ms_warm  the same again, the object now in the local cache
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
LAST_DAEMON=$LAST_PID
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

# Export to a local S3-protocol server.
S3PORT=$(free_port)
mkdir -p "$OUT/store"
start s3rver node "$SRC_DIR/tests/node_modules/s3rver/bin/s3rver.js" -d "$OUT/store" -a 127.0.0.1 -p "$S3PORT" --silent --configure-bucket bench
sleep 1.5
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_ENDPOINT_URL=http://127.0.0.1:$S3PORT
daemon_cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
hz=$(getconf CLK_TCK)
for i in 1 2 3 4 5; do
	c0=$(daemon_cpu "$LAST_DAEMON")
	t0=$(date +%s%N)
	/usr/bin/time -f "%U %S" -o "$OUT/time" "$WISP" -c "$URL" export "s3://bench/run$i" --start -1h >"$OUT/export.out"
	t1=$(date +%s%N)
	c1=$(daemon_cpu "$LAST_DAEMON")
	bytes=$(awk -F'\t' '{s += $2 + 0} END {print s}' "$OUT/export.out")
	awk -v b="$bytes" -v ns=$((t1 - t0)) -v u="$(cat "$OUT/time")" -v d=$((c1 - c0)) -v hz="$hz" \
		'BEGIN {split(u, t, " "); printf "%.3f %.4f\n", b / 1048576 / (ns / 1e9), t[1] + t[2] + d / hz}'
done | sort -n >"$OUT/runs"
awk '{v[NR] = $1} END {printf "export_mb_per_s %.1f MB/s\n", v[3]}' "$OUT/runs"
sort -k2 -n "$OUT/runs" | awk '{v[NR] = $2} END {printf "export_cpu_s_per_ring_hour %.3f s\n", v[3]}'

# Served back from the store.
for mode in cold warm; do
	[ "$mode" = warm ] || rm -rf "$OUT/cache"
	RPORT=$(free_port)
	t0=$(date +%s%N)
	start "replay_$mode" "$WISPD" standalone --listen "127.0.0.1:$RPORT" --node n1 --source s3://bench/run1 \
		--cache-dir "$OUT/cache"
	until "$WISP" -c "ws://127.0.0.1:$RPORT" run top_functions -- --start -2h >/dev/null 2>&1; do sleep 0.02; done
	awk -v ns=$(( $(date +%s%N) - t0 )) -v m="$mode" 'BEGIN {printf "s3_replay_top_functions_1h_ms_%s %.0f ms\n", m, ns / 1e6}'
	kill "$LAST_PID"
	wait "$LAST_PID" 2>/dev/null || true
done
rm -rf "$OUT"
