#!/usr/bin/env bash
# multi_agent.sh - a standalone daemon plus a second agent with another node name: `wisp agents`
# lists both and a query returns rows merged from both nodes.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start coord "$WISPD" standalone --listen "127.0.0.1:$PORT" --node alpha --ring-mb 16
wait_agents "$PORT" 1
start agent "$WISPD" agent --coordinator "$URL" --node beta --ring-mb 16
wait_agents "$PORT" 2
"$WISP" -c "$URL" agents -o json >"$TMP/agents.json"
[ "$(json_eval 'd.tables[0].rows.map(r=>r[0]).sort().join(",")' <"$TMP/agents.json")" = "alpha,beta" ] || fail "agents"
"$WISP" -c "$URL" agents | contains '^beta  *remote' || fail "agents table"
pass "agents lists alpha and beta"

"$BURN" 4 >/dev/null &
PIDS+=($!)
sleep 3
"$WISP" -c "$URL" run processes -o json -- --start -1m --limit 1000 >"$TMP/procs.json" 2>"$TMP/procs.err"
NODES=$(json_eval '[...new Set(d.tables[0].rows.map(r=>r[0]))].sort().join(",")' <"$TMP/procs.json")
[ "$NODES" = "alpha,beta" ] || fail "rows from nodes '$NODES', want alpha,beta"
# Both agents sampled burn (they watch the same machine): each node has a row for it.
[ "$(json_eval 'new Set(d.tables[0].rows.filter(r=>r[2]==="burn").map(r=>r[0])).size' <"$TMP/procs.json")" = 2 ] ||
	fail "burn not seen by both nodes ($(cat "$TMP/procs.err")): $(json_eval 'JSON.stringify(d.tables[0].rows.filter(r=>r[2]==="burn"))' <"$TMP/procs.json")"
pass "query merged rows from both nodes"

# --node narrows to one agent; duplicates of a node name are refused.
"$WISP" -c "$URL" run processes -o json -- --start -1m --node beta |
	json_eval 'd.tables[0].rows.every(r=>r[0]==="beta") && d.tables[0].rows.length>0' | contains true || fail "--node"
start dup "$WISPD" agent --coordinator "$URL" --node beta --ring-mb 4
wait_log dup "already registered" || fail "duplicate node name not refused"
[ "$("$WISP" -c "$URL" agents -o json | json_eval 'd.tables[0].rows.length')" = 2 ] || fail "duplicate joined"
pass "--node filter; duplicate node refused"
