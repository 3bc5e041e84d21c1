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

# Answers larger together than the coordinator's receive budget: agents wait their turn, none is
# cut off (until 2026-12-06 the agent whose answer would pass the budget was disconnected, and a
# 100-agent fleet lost a third of its queries). Six agents' raw samples (about 100,000 rows each:
# time, thread and folded stack; 300 KB compressed) through a 1 MiB budget, four at once.
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start small "$WISPD" coordinator --listen "127.0.0.1:$PORT" --node small --receive-mb 1
for i in 1 2 3 4 5 6; do
	start "s$i" "$WISPD" agent --coordinator "$URL" --node "s$i" --ring-mb 4 \
		--source "synthetic:cpus=2,hz=99,stacks=1000,procs=50,threads=200,backfill=10m,speed=1000,seed=$i"
done
wait_agents "$PORT" 6
sleep 2
cat >"$TMP/raw.lua" <<'EOF'
local df = px.DataFrame{table = 'stack_samples', start_time = '-10m'}
df.folded = px.folded(df.stack, 'line')
px.display(df:select{'time_', 'tid', 'folded'}:head(1000000), 'raw')
EOF
for k in 1 2 3 4; do
	"$WISP" -c "$URL" run "$TMP/raw.lua" -o csv --stats --max-rows 10000000 >"$TMP/raw$k.csv" 2>"$TMP/raw$k.err" &
	PIDS+=($!)
done
for p in "${PIDS[@]: -4}"; do
	wait "$p" || fail "raw samples through a 1 MiB budget: $(cat "$TMP"/raw?.err)"
done
for k in 1 2 3 4; do
	grep -q '^stats: 6/6 agents answered' "$TMP/raw$k.err" && [ "$(grep -vc '^stats:' "$TMP/raw$k.err")" = 0 ] ||
		fail "raw samples $k: $(head -c 600 "$TMP/raw$k.err")"
	[ "$(wc -l <"$TMP/raw$k.csv")" -gt 300000 ] || fail "raw samples $k: $(wc -l <"$TMP/raw$k.csv") rows"
done
bytes=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^wisp_websocket_received_bytes_total/ {print $2}')
waits=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^wisp_websocket_receive_waits_total/ {print $2}')
[ "${waits:-0}" -gt 0 ] || fail "no connection waited for the budget (received $bytes bytes): the test proves nothing"
lines=$(wc -l <"$TMP/raw1.csv")
# Answers that large come compressed (tables_zstd): every sample is in the merge all the same.
now=$(date +%s)
T0=$(( (now - 540) * 1000000000 )) T1=$(( (now - 60) * 1000000000 ))
folded=$("$WISP" -c "$URL" run flamegraph -o folded --max-rows 10000000 -- --start "$T0" --end "$T1" --limit 10000000 | awk '{s += $NF} END {print s}')
counted=$("$WISP" -c "$URL" run processes -o json -- --start "$T0" --end "$T1" --limit 1000000 |
	json_eval 'd.tables[0].rows.reduce((s, r) => s + r[d.tables[0].columns.indexOf("samples")], 0)')
[ "$folded" = "$counted" ] && [ "$folded" -gt 100000 ] || fail "flame graph of compressed answers: $folded samples, processes: $counted"
pass "four queries of raw samples from 6 agents through a 1 MiB receive budget: $lines rows each, $bytes bytes received, $waits waits, no agent cut off; $folded samples in compressed answers, as processes counts"
