#!/usr/bin/env bash
# profile.sh - the main job, end to end: wispd standalone samples a workload with a known 3:1
# profile (in CPU time); top_functions reports both shares under the right names within a bound
# derived from the number of samples (4.5 standard deviations of a binomial share: a false alarm
# once in 150,000 runs), the flame graph shows the whole call chain, and every output format is
# well formed. It samples at 499 Hz, so the bound is about 3.6 points.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start wispd "$WISPD" standalone --listen "127.0.0.1:$PORT" --node itest --ring-mb 32 --hz 499
wait_agents "$PORT" 1

"$BURN" 9 >"$TMP/burn.pid" &
PIDS+=($!)
sleep 0.5
PID=$(cat "$TMP/burn.pid")
sleep 7.5

"$WISP" -c "$URL" run top_functions -o json -- --pid "$PID" --start -6s >"$TMP/top.json" || fail "top_functions failed"
# Each phase's share is its total: its own code and the CPU-clock reads (system calls) it makes.
read -r SHARE75 SHARE25 TOTAL_MAIN N <<<"$(json_eval '(()=>{const t=d.tables[0];const c=n=>t.columns.indexOf(n);
  const row=f=>t.rows.find(r=>r[c("function")]===f)||[];
  return [row("spend_three_quarters")[c("total_percent")], row("spend_one_quarter")[c("total_percent")],
          row("main")[c("total_percent")], row("main")[c("total_samples")]].join(" ")})()' <"$TMP/top.json")"
BOUND=$(node -e "console.log((4.5 * 100 * Math.sqrt(0.75 * 0.25 / $N)).toFixed(2))")
echo "shares over $N samples: spend_three_quarters $SHARE75%, spend_one_quarter $SHARE25% (bound +-$BOUND); main total $TOTAL_MAIN%"
[ "$N" -ge 1500 ] || fail "only $N samples of the workload (want >= 1500 at 499 Hz)"
node -e "process.exit(Math.abs($SHARE75-75)<=$BOUND && Math.abs($SHARE25-25)<=$BOUND ? 0 : 1)" ||
	fail "shares off: $SHARE75 / $SHARE25 (want 75 / 25 +-$BOUND over $N samples)"
node -e "process.exit($TOTAL_MAIN >= 95 ? 0 : 1)" || fail "main should hold ~all samples, has $TOTAL_MAIN%"
[ "$(json_eval 'd.tables[0].name' <"$TMP/top.json")" = top_functions ] || fail "table name"
[ "$(json_eval 'd.tables[0].columns.join(",")' <"$TMP/top.json")" = \
  "function,self_samples,self_percent,total_samples,total_percent" ] || fail "columns"
pass "top_functions shares"

"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$PID" --start -6s >"$TMP/flame.folded"
grep -Eq '^burn;.*main;run_phase;spend_three_quarters [0-9]+$' "$TMP/flame.folded" || fail "no full chain in folded output"
grep -Eq '^burn;.*main;run_phase;spend_one_quarter [0-9]+$' "$TMP/flame.folded" || fail "no chain to spend_one_quarter"
pass "flamegraph folded chain main;run_phase;spend_*"

"$WISP" -c "$URL" run top_functions -- --pid "$PID" --start -6s >"$TMP/top.txt"
head -1 "$TMP/top.txt" | contains '^function  *self_samples  *self_percent  *total_samples  *total_percent$' || fail "table header"
"$WISP" -c "$URL" run processes -o csv -- --start -6s >"$TMP/procs.csv"
head -1 "$TMP/procs.csv" | contains '^node,pid,comm,samples,percent,threads' || fail "csv header"
grep -q ",$PID,burn," "$TMP/procs.csv" || fail "burn missing from processes"
pass "table and csv output"

# The README's first view: what is this machine spending CPU on, without filters.
"$WISP" -c "$URL" run top_functions -- --limit 5 | contains spend_three_quarters || fail "unfiltered top_functions"
pass "unfiltered top_functions"
