#!/usr/bin/env bash
# tests/bench/foundation.sh - figures of the foundation path, as `name value unit` lines:
#   engine_small_query_ms      end-to-end `wisp run top_functions` against a standalone daemon
#                              (median of 20; script startup, plan, scan, merge, output)
#   engine_small_query_baseline_ms  `wisp agents` on the same daemon: connect + round trip, the
#                              floor the query time is compared with in the same run
#   agent_cpu_percent          wispd CPU time / wall time while sampling an idle-ish machine
#                              plus one busy process, 99 Hz on every CPU
#   agent_samples_per_s        samples appended per second during that time
#   ring_bytes_per_sample      ring bytes / samples held (today's uncompressed layout)
# Needs root and a built tree: BUILD_DIR=build tests/bench/foundation.sh
set -euo pipefail
: "${BUILD_DIR:=build}"
WISPD=$BUILD_DIR/vizier/wispd WISP=$BUILD_DIR/cli/wisp PROBE=$BUILD_DIR/tests/wsprobe BURN=$BUILD_DIR/tests/burn
PORT=$("$PROBE" free-port)
URL=ws://127.0.0.1:$PORT
"$WISPD" standalone --listen "127.0.0.1:$PORT" --node bench --ring-mb 64 >/tmp/wisp-bench.log 2>&1 &
DPID=$!
trap 'kill $DPID 2>/dev/null; wait $DPID 2>/dev/null || true' EXIT
for _ in $(seq 50); do "$WISP" -c "$URL" agents >/dev/null 2>&1 && break; sleep 0.1; done

ticks() { awk '{print $14 + $15}' "/proc/$DPID/stat"; }
hz=$(getconf CLK_TCK)
"$BURN" 10 >/dev/null &
BPID=$!
t0=$(ticks); s0=$(date +%s%N)
wait $BPID
t1=$(ticks); s1=$(date +%s%N)
echo "agent_cpu_percent $(awk -v a="$t0" -v b="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" \
	'BEGIN{printf "%.2f", (b-a)/hz / ((s1-s0)/1e9) * 100}') %"

stats=$("$WISP" -c "$URL" agents -o json)
samples=$(echo "$stats" | node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{const t=JSON.parse(s).tables[0];console.log(t.rows[0][t.columns.indexOf('samples')])})")
mb=$(echo "$stats" | node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{const t=JSON.parse(s).tables[0];console.log(t.rows[0][t.columns.indexOf('ring_mb')])})")
echo "agent_samples_per_s $(awk -v n="$samples" -v s0="$s0" -v s1="$s1" 'BEGIN{printf "%.0f", n/((s1-s0)/1e9)}') samples/s"
echo "ring_bytes_per_sample $(awk -v m="$mb" -v n="$samples" 'BEGIN{printf "%.1f", m*1048576/n}') bytes"

median_ms() { # median_ms CMD...: median wall time of 20 runs, ms
	local i t=()
	for i in $(seq 20); do
		local a=$(date +%s%N)
		"$@" >/dev/null
		t+=($(( ($(date +%s%N) - a) / 1000 )))
	done
	printf '%s\n' "${t[@]}" | sort -n | awk '{v[NR]=$1} END{printf "%.2f", v[int((NR+1)/2)]/1000}'
}
echo "engine_small_query_baseline_ms $(median_ms "$WISP" -c "$URL" agents) ms"
echo "engine_small_query_ms $(median_ms "$WISP" -c "$URL" run top_functions -- --start -1m) ms"
