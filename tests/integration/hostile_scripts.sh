#!/usr/bin/env bash
# hostile_scripts.sh - syntax errors, infinite loops, os.execute, memory bombs and bad input get
# clear errors within seconds; the daemon keeps running and keeps sampling, and the script
# helper processes of stopped scripts are killed and reaped.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start wispd "$WISPD" standalone --listen "127.0.0.1:$PORT" --node h --ring-mb 16
DPID=$LAST_PID
wait_agents "$PORT" 1
samples() { "$WISP" -c "$URL" agents -o json | json_eval 'd.tables[0].rows[0][d.tables[0].columns.indexOf("samples")]'; }

check() { # check NAME EXPECTED-STDERR-REGEX SCRIPT-TEXT [SCRIPT ARGS...]
	printf '%s\n' "$3" >"$TMP/$1.lua"
	local t0=$(date +%s%N) rc=0
	"$WISP" -c "$URL" run "$TMP/$1.lua" -- "${@:4}" >"$TMP/$1.out" 2>"$TMP/$1.err" || rc=$?
	local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ "$rc" = 1 ] || fail "$1: exit $rc, want 1"
	grep -Eq "$2" "$TMP/$1.err" || fail "$1: stderr '$(cat "$TMP/$1.err")' does not match /$2/"
	[ "$ms" -lt 6000 ] || fail "$1: took $ms ms"
	alive "$DPID" || fail "$1: the daemon died"
	pass "$1 -> $(cat "$TMP/$1.err") (${ms} ms)"
}
check syntax '^wisp: error: syntax.lua:2: .*near' $'local x = 1\nlocal y = = 2'
check loop 'loop.lua:1: script exceeded its (time|instruction) limit' 'while true do end'
check pcall_loop 'exceeded its' 'while true do pcall(function() while true do end end) end'
check os_execute "os_execute.lua:1: 'os' is not available" 'os.execute("touch /tmp/wisp-pwned")'
check io_open "'io' is not available" 'io.open("/etc/shadow")'
check require "'require' is not available" 'require("socket")'
check memory_bomb 'memory limit' 'local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1e6) .. i end'
check huge_alloc 'huge_alloc.lua:1: (resulting string too large|.*memory)' 'local s = string.rep("x", 8e9)'
check recursion '(stack overflow|memory limit)' 'local function f() return f() + 1 end f()'
# Pattern matching runs inside one C call, out of reach of Lua's instruction hook: the script's
# process is stopped at the deadline instead.
check pattern_bomb 'pattern_bomb.lua: script exceeded its time limit' "local s = string.rep('a', 3000) local r = s:find('.-.-.-.-.-.-b')"
check string_bomb '(memory limit|too large)' "local s = 'x' for i = 1, 64 do s = s .. s end"
check unknown_table "unknown_table.lua:1: unknown table 'nope'" 'px.display(px.DataFrame{table="nope"})'
check unknown_column "unknown_column.lua:2: unknown column 'pidd'" $'local df = px.DataFrame{table="stack_samples"}\npx.display(df:filter(df.pidd:eq(1)))'
check bad_time "bad time '-5y'" 'px.display(px.DataFrame{table="stack_samples", start_time="-5y"})'
check bad_range 'empty time range' 'px.display(px.DataFrame{table="stack_samples", start_time="-1m", end_time="-2m"})'
check bad_arg "unknown script argument '--colour'" 'local a = px.args{limit = 5} px.display(px.DataFrame{table="stack_samples"})' --colour red
[ ! -e /tmp/wisp-pwned ] || fail "os.execute ran"

# Bundled script with a bad argument.
rc=0; "$WISP" -c "$URL" run top_functions -- --pid notanumber 2>"$TMP/arg.err" || rc=$?
[ "$rc" = 1 ] && grep -q "'notanumber' is not a valid int" "$TMP/arg.err" || fail "bad --pid: $(cat "$TMP/arg.err")"
rc=0; "$WISP" -c "$URL" run no_such_script 2>"$TMP/ns.err" || rc=$?
[ "$rc" = 2 ] && grep -q "no script 'no_such_script'" "$TMP/ns.err" || fail "missing script"
pass "bad script arguments"

# An unreachable coordinator is a clear error, not a hang.
rc=0; "$WISP" -c "ws://127.0.0.1:$(free_port)" agents 2>"$TMP/unreach.err" || rc=$?
[ "$rc" = 2 ] && grep -q "cannot connect" "$TMP/unreach.err" || fail "unreachable: rc $rc $(cat "$TMP/unreach.err")"
pass "unreachable coordinator"

# Three pattern bombs at once: other queries are still answered while they run.
BOMBS=()
for i in 1 2 3; do
	"$WISP" -c "$URL" run "$TMP/pattern_bomb.lua" >/dev/null 2>&1 &
	BOMBS+=($!)
done
sleep 0.3
t0=$(date +%s%N)
"$WISP" -c "$URL" run processes -- --start -30s >/dev/null || fail "query during bombs"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 2000 ] || fail "a query waited $ms ms behind pattern bombs"
wait "${BOMBS[@]}" || true
pass "queries answered during three concurrent pattern bombs (${ms} ms)"

# The bombs' script helpers were killed and reaped; the idle pool stays small.
sleep 0.2
helpers=$(ps -o pid=,stat= --ppid "$DPID" | awk '{print $2}')
zombies=$(printf '%s\n' "$helpers" | grep -c '^Z' || true)
n=$(printf '%s\n' "$helpers" | grep -c . || true)
[ "$zombies" = 0 ] || fail "$zombies zombie script helpers"
[ "$n" -le 4 ] || fail "$n script helpers left running"
pass "script helpers: $n idle, no zombies"

# Still sampling after all that.
S1=$(samples); "$BURN" 1.5 >/dev/null; S2=$(samples)
[ "$S2" -gt "$S1" ] || fail "sampling stopped ($S1 -> $S2)"
"$WISP" -c "$URL" run top_functions -- --start -10s --limit 3 >/dev/null || fail "queries stopped working"
pass "daemon alive and sampling ($S1 -> $S2 samples)"
