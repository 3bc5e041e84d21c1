#!/usr/bin/env bash
# tests/bench/engine.sh - the query engine's figures, as `name value unit` lines:
#   engine_small_query_ms        end-to-end `wisp run top_functions` against wispd standalone with
#                                a tiny ring (median of 21): CLI start, connect, script in its
#                                own process, plan, scan, merge, render
#   engine_small_query_baseline_ms  `wisp agents` on the same daemon: CLI start + one round trip
#   engine_top_functions_1h_ms   end-to-end top_functions (self and total) over 1 h of the
#                                reference synthetic load on one agent (median of 11)
#   engine_fanout_8_agents_ms    the same over 8 such agents (seeds 1..8), merged by the
#                                coordinator (median of 7)
#   engine_top_functions_1h_inproc_ms  the same hour in-process (engine_bench.c)
#   engine_vs_duckdb_speedup     DuckDB's time / Wisp's in-process time for top functions (self
#                                and total) over the same hour (DuckDB 1 thread, data in memory)
# Builds nothing: BUILD_DIR=build tests/bench/engine.sh   (root not needed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD_DIR:=build}"
WISPD=$BUILD_DIR/vizier/wispd WISP=$BUILD_DIR/cli/wisp PROBE=$BUILD_DIR/tests/wsprobe
export WISP_SCRIPTS_PATH="$here/../../scripts/pxl-lua"
tmp=$(mktemp -d /tmp/wisp-engine-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

median_ms() { # median_ms N CMD...: median wall time of N runs, ms
	local n=$1 i a t=(); shift
	for i in $(seq "$n"); do
		a=$(date +%s%N)
		"$@" >/dev/null
		t+=($(( ($(date +%s%N) - a) / 1000 )))
	done
	printf '%s\n' "${t[@]}" | sort -n | awk '{v[NR]=$1} END{printf "%.2f", v[int((NR+1)/2)]/1000}'
}
held_ok() { # held_ok URL N: every agent's ring holds >= 0.99 h
	"$WISP" -c "$1" run ring_stats -o json 2>/dev/null | node 2>/dev/null -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{const t=JSON.parse(s).tables[0];process.exit(t.rows.length==$2&&t.rows.every(r=>r[2]>=0.99)?0:1)})"
}

# 1. A tiny standalone daemon.
port=$("$PROBE" free-port)
"$WISPD" standalone --listen "127.0.0.1:$port" --node tiny --ring-mb 8 \
	--source synthetic:cpus=1,hz=10,stacks=20,procs=2,threads=2,backfill=1m,speed=1000 >"$tmp/tiny.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do "$WISP" -c "ws://127.0.0.1:$port" agents >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.5
echo "engine_small_query_baseline_ms $(median_ms 21 "$WISP" -c "ws://127.0.0.1:$port" agents) ms"
echo "engine_small_query_ms $(median_ms 21 "$WISP" -c "ws://127.0.0.1:$port" run top_functions) ms"

# 2. One agent, then eight, each with an hour of the reference load.
port=$("$PROBE" free-port)
url=ws://127.0.0.1:$port
"$WISPD" coordinator --listen "127.0.0.1:$port" --node coord >"$tmp/coord.log" 2>&1 &
pids+=($!)
sleep 0.3
spec=cpus=16,hz=99,stacks=5000,procs=200,threads=1000,backfill=1h,speed=100000
"$WISPD" agent --coordinator "$url" --node a1 --ring-mb 64 --source "synthetic:$spec,seed=1" >"$tmp/a1.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do held_ok "$url" 1 && break; sleep 0.2; done
echo "engine_top_functions_1h_ms $(median_ms 11 "$WISP" -c "$url" run top_functions -- --start -1h) ms"
for i in 2 3 4 5 6 7 8; do
	"$WISPD" agent --coordinator "$url" --node a$i --ring-mb 64 --source "synthetic:$spec,seed=$i" >"$tmp/a$i.log" 2>&1 &
	pids+=($!)
done
for _ in $(seq 600); do held_ok "$url" 8 && break; sleep 0.2; done
sleep 2 # let the agents' ingest threads settle
echo "engine_fanout_8_agents_ms $(median_ms 7 "$WISP" -c "$url" run top_functions -- --start -1h) ms"

# 3. In-process, and DuckDB on the same hour (daemons stopped first: they generate in real time).
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
"$BUILD_DIR/tests/engine_bench" --export "$tmp" | tee "$tmp/inproc.txt"
node "$here/duckdb_top_functions.mjs" "$tmp" | tee "$tmp/duck.txt"
w=$(awk '$1 == "engine_top_functions_1h_inproc_ms" {print $2}' "$tmp/inproc.txt")
d=$(awk '$1 == "duckdb_top_functions_ms" {print $2}' "$tmp/duck.txt")
awk -v d="$d" -v w="$w" 'BEGIN{printf "engine_vs_duckdb_speedup %.1f x\n", d / w}'
