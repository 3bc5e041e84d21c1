#!/usr/bin/env bash
# rogue_agents.sh - an agent that lies cannot crash, stall or silently skew the coordinator: its
# answer is dropped with a warning naming it, and the honest agents' data is the result. Also: an
# agent killed mid-query is named within the deadline, and a second agent cannot take a node name
# that is held, while the agent holding it gets it back when it reconnects.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
SRC=synthetic:cpus=2,hz=20,stacks=200,procs=10,threads=20,backfill=30m,speed=100000
start coord "$WISPD" coordinator --listen "127.0.0.1:$PORT" --node coord
start honest "$WISPD" agent --coordinator "$URL" --node honest --source "$SRC,seed=1"
wait_agents "$PORT" 1
# A window of back-filled history, so every query sees the same rows.
now=$(date +%s)
T0=$(( (now - 1200) * 1000000000 )) T1=$(( (now - 600) * 1000000000 ))
samples() { json_eval 'd.tables[0].rows.reduce((s, r) => s + r[d.tables[0].columns.indexOf("samples")], 0)'; }
sleep 1
expected=$("$WISP" -c "$URL" run processes -o json -- --start "$T0" --end "$T1" | samples)
[ "$expected" -gt 0 ] || fail "no samples from the honest agent"
pass "honest agent alone: $expected samples"

check() { # check MODE WARNING-REGEX [WISP-OPTIONS...]
	local mode=$1 want=$2; shift 2
	start "rogue-$mode" "$ROGUE" "$URL" rogue "$mode" "$SRC,seed=2"
	local rpid=$LAST_PID out rc=0
	wait_agents "$PORT" 2
	out=$("$WISP" -c "$URL" run processes -o json "$@" -- --start "$T0" --end "$T1" 2>"$TMP/$mode.err") || rc=$?
	[ "$rc" = 0 ] || fail "$mode: query failed (rc $rc): $(cat "$TMP/$mode.err")"
	grep -Eq "warning: agent rogue: $want" "$TMP/$mode.err" || fail "$mode: no warning naming the agent: $(cat "$TMP/$mode.err")"
	got=$(echo "$out" | samples)
	[ "$got" = "$expected" ] || fail "$mode: $got samples, expected the honest agent's $expected"
	alive "$(cat "$TMP/coord.pid" 2>/dev/null || echo 0)" 2>/dev/null || true
	kill "$rpid"; wait "$rpid" 2>/dev/null || true
	wait_agents "$PORT" 1
	pass "$mode: dropped with '$(grep -Eo "agent rogue: .*" "$TMP/$mode.err" | head -1 | cut -c1-100)'"
}
check wrongtype 'table 0 column 0 is float'
check absurd 'answer dropped: a partial sum of sample counts'
check negative 'answer dropped: a partial sum of sample counts'
check malformed 'sent a malformed message'
check unlabelled 'boom$'
check bad-zstd 'malformed compressed tables'
check bad-zstd 'compressed tables of 8388608 bytes \(at most [0-9]+ MiB here\)' --max-memory 4
check huge 'its answer .* does not fit in the query.s memory limit' --max-memory 32

# Killed mid-query: the answer names it, within the deadline.
start silent "$ROGUE" "$URL" rogue silent "$SRC,seed=2"
SPID=$LAST_PID
wait_agents "$PORT" 2
( sleep 0.7; kill -9 "$SPID" ) &
t0=$(date +%s%N)
"$WISP" -c "$URL" run processes -o json --timeout 3 -- --start "$T0" --end "$T1" >"$TMP/killed.json" 2>"$TMP/killed.err" ||
	fail "killed agent: query failed: $(cat "$TMP/killed.err")"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "warning: agent rogue: disconnected during the query" "$TMP/killed.err" || fail "killed agent not named: $(cat "$TMP/killed.err")"
[ "$ms" -lt 3000 ] || fail "killed agent: answer after $ms ms, the deadline is 3000"
[ "$(samples <"$TMP/killed.json")" = "$expected" ] || fail "killed agent: wrong samples"
pass "agent killed mid-query: named in $ms ms"
wait_agents "$PORT" 1

# Name squatting: a second process cannot register as "honest"; the holder's answers say so.
start squat "$ROGUE" "$URL" honest honest "$SRC,seed=3" impostor
sleep 1
grep -q "refused a second agent named honest" "$TMP/coord.log" || fail "the squatter was not refused"
"$WISP" -c "$URL" run processes -o json -- --start "$T0" --end "$T1" 2>"$TMP/squat.err" | samples >"$TMP/squat.n"
[ "$(cat "$TMP/squat.n")" = "$expected" ] || fail "squatting: wrong samples"
grep -q "warning: agent honest: another agent .* claims the node name 'honest'" "$TMP/squat.err" ||
	fail "squatting: no warning: $(cat "$TMP/squat.err")"
pass "a squatter is refused and the holder's answers carry a warning"
alive "$(pgrep -f "wispd coordinator --listen 127.0.0.1:$PORT" | head -1)" || fail "coordinator died"

# The same agent process reconnecting (its old connection not yet seen dead) takes its name back.
start twin1 "$ROGUE" "$URL" twin honest "$SRC,seed=4" instance-A
T1PID=$LAST_PID
wait_agents "$PORT" 2
start twin2 "$ROGUE" "$URL" twin honest "$SRC,seed=4" instance-A
for _ in $(seq 50); do alive "$T1PID" || break; sleep 0.1; done
alive "$T1PID" && fail "the old connection of a reconnected agent was not dropped"
grep -q "agent twin reconnected from" "$TMP/coord.log" || fail "no takeover in the coordinator's log"
wait_agents "$PORT" 2
pass "an agent that reconnects under its instance id takes its node name back"
