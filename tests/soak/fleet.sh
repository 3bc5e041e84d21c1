# fleet.sh - a coordinator and many agents on loopback, for the soak test and the coordinator
# benchmark. Source it after setting BUILD_DIR and SRC_DIR; it sources tests/integration/lib.sh
# (daemons, cleanup on exit, sanitizer checks).
. "$SRC_DIR/tests/integration/lib.sh"

# start_coordinator PORT: a coordinator on 127.0.0.1:PORT; sets COORD_PID.
start_coordinator() {
	start coordinator "$WISPD" coordinator --listen "127.0.0.1:$1" --node coord
	COORD_PID=$LAST_PID
}

# start_agents PORT N RING_MB SPEC: agents a1..aN (seeds 1..N) of the synthetic SPEC, each with
# a ring of RING_MB; sets AGENT_PIDS.
start_agents() {
	local port=$1 n=$2 mb=$3 spec=$4 i
	AGENT_PIDS=()
	for i in $(seq "$n"); do
		start "a$i" "$WISPD" agent --coordinator "ws://127.0.0.1:$port" --node "a$i" --ring-mb "$mb" \
			--source "synthetic:$spec,seed=$i"
		AGENT_PIDS+=("$LAST_PID")
	done
}

# agents_listed PORT: how many agents the coordinator on PORT lists (0 when it does not answer).
agents_listed() {
	"$WISP" -c "ws://127.0.0.1:$1" agents -o json 2>/dev/null | json_eval 'd.tables[0].rows.length' 2>/dev/null || echo 0
}

# wait_listed PORT N SECONDS: until N agents are listed; fails after SECONDS.
wait_listed() {
	local end=$(( $(date +%s) + $3 ))
	while [ "$(agents_listed "$1")" != "$2" ]; do
		[ "$(date +%s)" -lt "$end" ] || fail "coordinator on port $1 did not list $2 agents in $3 s (saw $(agents_listed "$1"))"
		sleep 0.2
	done
}

# wait_for SECONDS WHY COMMAND...: runs COMMAND every half second until it succeeds; fails with
# WHY after SECONDS.
wait_for() {
	local end=$(( $(date +%s) + $1 )) why=$2
	shift 2
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || fail "$why"
		sleep 0.5
	done
}

# rings_are PORT N TEST: do N agents answer ring_stats, with the JavaScript TEST true of each
# row r?
rings_are() {
	"$WISP" -c "ws://127.0.0.1:$1" run ring_stats -o json 2>/dev/null |
		json_eval "d.tables[0].rows.length == $2 && d.tables[0].rows.every(r => $3) ? 'yes' : 'no'" 2>/dev/null |
		grep -q yes
}

# current PORT N: does node_cpu over the last minute name N nodes (their back-fill has reached
# the present)?
current() {
	"$WISP" -c "ws://127.0.0.1:$1" run node_cpu -o json -- --start -1m 2>/dev/null |
		json_eval "new Set(d.tables[0].rows.map(r => r[1])).size == $2 ? 'yes' : 'no'" 2>/dev/null | grep -q yes
}

# wait_held PORT N HOURS SECONDS: until every one of N agents' rings holds HOURS of data.
wait_held() { wait_for "$4" "the agents' rings did not reach $3 h in $4 s" rings_are "$1" "$2" "r[2] >= $3"; }

# wait_ready PORT N SECONDS: until every one of N agents' rings is full (has evicted samples) and
# current.
ready() { rings_are "$1" "$2" "r[8] > 0" && current "$1" "$2"; }
wait_ready() { wait_for "$3" "the agents' rings were not full and current after $3 s" ready "$1" "$2"; }

# rss_kb PID: resident memory of PID in KiB.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
