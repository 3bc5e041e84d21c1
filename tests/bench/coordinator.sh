#!/usr/bin/env bash
# tests/bench/coordinator.sh - the coordinator at scale, as `name value unit` lines. One
# coordinator and 100 real agents (wispd agent, synthetic sources: 4 CPUs at 99 Hz, 5,000
# stacks, an hour back-filled, seeds 1..100) on loopback:
#   coordinator_merge_ms_1_agent       merge time (`wisp run --stats`: last answer in to reply
#                                      packed) of top_functions over 1 h, one agent (median of 7)
#   coordinator_merge_ms_100_agents    the same over 100 agents (goal <= 100 ms)
#   coordinator_merge_ms_per_agent     what each agent beyond the first adds
#   coordinator_answer_kib_per_agent   an agent's answer on the wire
#   coordinator_query_ms_100_agents    the whole query, request to reply (median of 7)
#   coordinator_flamegraph_ms_100_agents   flamegraph over 1 h of 100 agents, request to reply
#                                      (median of 3): every distinct stack of every agent
#   coordinator_flamegraph_merge_ms_100_agents   ... its merge
#   coordinator_flamegraph_kib_per_agent   ... an agent's answer on the wire (compressed)
#   coordinator_rss_mb_100_agents      the coordinator's resident memory after those queries
#   reconnect_100_agents_s             the coordinator restarted on its port: seconds from the new
#                                      process starting until it lists all 100 agents (goal <= 5)
#   soak_*                             tests/soak/soak.sh (SOAK_SECONDS, default 600; 0 skips it)
# Builds nothing: BUILD_DIR=build tests/bench/coordinator.sh   (about 4 minutes, plus the soak)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SRC_DIR=${SRC_DIR:-$(cd "$here/../.." && pwd)}
export BUILD_DIR=${BUILD_DIR:-$SRC_DIR/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$SRC_DIR/$BUILD_DIR ;; esac
. "$SRC_DIR/tests/soak/fleet.sh"
spec=cpus=4,hz=99,stacks=5000,procs=200,threads=1000,backfill=1h,speed=100000

# top_stats: the --stats line of top_functions over the last hour.
top_stats() { "$WISP" -c "ws://127.0.0.1:$PORT" run top_functions --stats -- --start -1h 2>&1 >/dev/null | grep '^stats:'; }
# stat_median FIELD N: median of FIELD ("merge", "total") over N runs of top_stats.
stat_median() {
	local i
	for i in $(seq "$2"); do top_stats | sed -n "s/.* $1 \([0-9.]*\) ms.*/\1/p"; done |
		sort -n | awk '{v[NR]=$1} END{printf "%.2f", v[int((NR+1)/2)]}'
}

PORT=$(free_port)
start_coordinator "$PORT"
sleep 0.3
start_agents "$PORT" 1 24 "$spec"
wait_held "$PORT" 1 0.99 120
m1=$(stat_median merge 7)
echo "coordinator_merge_ms_1_agent $m1 ms"

# 99 more: all back-filling at once takes a minute or two on two cores.
for i in $(seq 2 100); do
	start "a$i" "$WISPD" agent --coordinator "ws://127.0.0.1:$PORT" --node "a$i" --ring-mb 24 \
		--source "synthetic:$spec,seed=$i"
done
wait_listed "$PORT" 100 60
wait_held "$PORT" 100 0.99 600
sleep 2
top_stats | sed 's/^/# /'
kib=$(top_stats | sed -n 's/.* \([0-9.]*\) KiB in.*/\1/p')
m100=$(stat_median merge 7)
q100=$(stat_median total 7)
echo "coordinator_merge_ms_100_agents $m100 ms"
awk -v a="$m1" -v b="$m100" 'BEGIN{printf "coordinator_merge_ms_per_agent %.2f ms\n", (b - a) / 99}'
awk -v k="$kib" 'BEGIN{printf "coordinator_answer_kib_per_agent %.1f KiB\n", k / 100}'
echo "coordinator_query_ms_100_agents $q100 ms"
# A flame graph keeps every distinct stack of every agent until its final cut (about 30,000
# comm;stack pairs each here), within the default 1 GiB and 10 s.
fg_stats() { "$WISP" -c "ws://127.0.0.1:$PORT" run flamegraph --stats -- --start -1h 2>&1 >/dev/null; }
fg_stats | sed 's/^/# /'
fkib=$(fg_stats | sed -n 's/.* \([0-9.]*\) KiB in.*/\1/p')
fg_median() { for _ in 1 2 3; do fg_stats | sed -n "s/.* $1 \([0-9.]*\) ms.*/\1/p"; done | sort -n | sed -n 2p; }
echo "coordinator_flamegraph_ms_100_agents $(fg_median total) ms"
echo "coordinator_flamegraph_merge_ms_100_agents $(fg_median merge) ms"
awk -v k="$fkib" 'BEGIN{printf "coordinator_flamegraph_kib_per_agent %.1f KiB\n", k / 100}'
echo "coordinator_rss_mb_100_agents $(( $(rss_kb "$COORD_PID") / 1024 )) MiB"

# Restart: the agents' backoff is at most 2 s, jittered.
kill "$COORD_PID"
wait "$COORD_PID" 2>/dev/null || true
t0=$(date +%s%N)
start coordinator2 "$WISPD" coordinator --listen "127.0.0.1:$PORT" --node coord
wait_listed "$PORT" 100 30
awk -v ns=$(( $(date +%s%N) - t0 )) 'BEGIN{printf "reconnect_100_agents_s %.2f s\n", ns / 1e9}'

# Daemons stopped before the soak starts its own.
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()
if [ "${SOAK_SECONDS:-600}" != 0 ]; then
	bash "$SRC_DIR/tests/soak/soak.sh" | grep -E '^soak_[a-z_]+ '
fi
