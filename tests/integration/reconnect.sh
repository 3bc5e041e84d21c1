#!/usr/bin/env bash
# reconnect.sh - kill the coordinator and start it again: the agent reconnects by itself and
# queries work; a query while the agent is away names it.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start coord1 "$WISPD" coordinator --listen "127.0.0.1:$PORT" --node coord
CPID=$LAST_PID
start agent "$WISPD" agent --coordinator "$URL" --node worker1 --ring-mb 16
APID=$LAST_PID
wait_agents "$PORT" 1
"$WISP" -c "$URL" run processes -- --start -1m >/dev/null || fail "query before restart"
pass "agent registered"

kill "$CPID"; wait "$CPID" 2>/dev/null || true
sleep 1
alive "$APID" || fail "the agent died with its coordinator"
rc=0; "$WISP" -c "$URL" agents 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "coordinator should be down"

start coord2 "$WISPD" coordinator --listen "127.0.0.1:$PORT" --node coord
wait_agents "$PORT" 1
grep -q "lost the coordinator" "$TMP/agent.log" || fail "agent did not notice the restart"
[ "$(grep -c "registered with the coordinator" "$TMP/agent.log")" -ge 2 ] || fail "agent did not re-register"
"$WISP" -c "$URL" run processes -o json -- --start -1m | json_eval 'd.tables[0].rows.length > 0' | contains true ||
	fail "query after restart"
pass "agent reconnected and answers"

# A coordinator with no agents says so.
kill "$APID"; wait "$APID" 2>/dev/null || true
sleep 0.5
rc=0; "$WISP" -c "$URL" run processes 2>"$TMP/none.err" || rc=$?
[ "$rc" = 1 ] && grep -q "no agents are connected" "$TMP/none.err" || fail "no-agent error: $(cat "$TMP/none.err")"
pass "no agents: clear error"
