#!/usr/bin/env bash
# process_lifecycle.sh - the unwind tables follow processes as they live: a library dlopen'ed
# after start unwinds to main once loaded; a binary replaced on disk (renamed over) while it runs
# still unwinds and is named (the tables come from the mapped file, /proc/PID/map_files); 2,000
# short-lived processes (execs of one binary) are named, the agent's memory and its unwind
# tables stay within bounds, and the process tables of exited processes are dropped.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
# Under ASan, freed memory waits in a quarantine of 256 MiB before it is reused, so the agent's
# resident size grows with whatever it frees until the quarantine is full: the growth measured
# below was how full it was when the count began (130 to 225 MiB once building unwind tables
# stopped filling it first, 2026-12-08). A small quarantine makes the figure what the agent keeps.
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=16"
start wispd "$WISPD" standalone --listen "127.0.0.1:$PORT" --node itest --ring-mb 32 --hz 499
WPID=$LAST_PID
wait_agents "$PORT" 1
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
status() { "$WISP" -c "$URL" agents -o json | json_eval "d.tables[0].rows[0][d.tables[0].columns.indexOf('$1')]"; }

# share_reaching FOLDED FRAME: percent of samples whose stack has FRAME under main.
share_reaching() {
	awk -v want="$2" '{c = $NF; n += c; st = substr($0, 1, length($0) - length($NF) - 1); k = split(st, f, ";")
	  m = 0; for (i = 1; i <= k; i++) { if (f[i] == "main") m = 1; if (m && f[i] == want) { h += c; break } } }
	  END { printf "%d %d\n", n, h }' "$1"
}

# 1. dlopen after start.
"$BUILD_DIR/tests/dlopen_main" "$BUILD_DIR/tests/libhot.so" 5 >"$TMP/dl.pid" &
PIDS+=($!)
sleep 0.3
DPID=$(cat "$TMP/dl.pid")
sleep 5.5 # 1 s asleep, then the library
"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$DPID" --by none --start -4s >"$TMP/dl.folded" || fail "flamegraph failed"
read -r N H <<<"$(share_reaching "$TMP/dl.folded" lib_leaf)"
echo "dlopen: $N samples, $H reach main;...;lib_leaf"
[ "$N" -ge 1000 ] || fail "dlopen: only $N samples"
node -e "process.exit($H * 100 >= 99 * $N ? 0 : 1)" || fail "dlopen: $H of $N reach main through lib_leaf: $(sort -t' ' -k2 -nr "$TMP/dl.folded" | head -3)"
grep -q ';run_lib;lib_outer;lib_leaf' "$TMP/dl.folded" || fail "dlopen: no chain run_lib;lib_outer;lib_leaf"
pass "a library dlopen'ed after start unwinds to main"

# 2. The binary replaced on disk while it runs.
cp "$NOFP" "$TMP/victim"
"$TMP/victim" 9 >"$TMP/victim.pid" &
PIDS+=($!)
sleep 0.5
VPID=$(cat "$TMP/victim.pid")
cp "$BURN" "$TMP/victim.new" && mv -f "$TMP/victim.new" "$TMP/victim" # a new inode at the old path
# Then three seconds from when it unwinds (a loaded host, as under ASan, took 2 s to load its table).
wait_unwound "$PORT" "$VPID" 20
sleep 3
"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$VPID" --by none --start -3s >"$TMP/victim.folded"
read -r N H <<<"$(share_reaching "$TMP/victim.folded" sort_phase)"
read -r _ H2 <<<"$(share_reaching "$TMP/victim.folded" mix_phase)"
echo "replaced: $N samples, $H + $H2 reach main;sort_phase|mix_phase"
[ "$N" -ge 500 ] || fail "replaced: only $N samples"
node -e "process.exit(($H + $H2) * 100 >= 99 * $N ? 0 : 1)" || fail "replaced binary: $H + $H2 of $N unwind to main"
pass "a binary replaced on disk while it runs still unwinds and is named"
kill "$VPID" 2>/dev/null || true # it may outlive the window; the next part counts the agent's memory

# 3. 2,000 short-lived processes. The first ones open libc's debug file for lines (about
# 20 MiB, let go 5 s after the last new address): growth is measured from after them, so it
# is what 2,000 processes leave behind and not whether that handle happened to be open.
for i in $(seq 100); do "$NOFP" 0.004 >/dev/null; done
rss0=$(rss_kb "$WPID")
for i in $(seq 2000); do "$NOFP" 0.004 >/dev/null; done
rss1=$(rss_kb "$WPID")
sleep 6 # the loader's sweep (every 5 s) forgets what exited
"$WISP" -c "$URL" run top_functions -o json -- --comm nofp --start -5m --limit 200 >"$TMP/short.json"
NAMED=$(json_eval 'd.tables[0].rows.filter(r => ["cmp_ints","mix_leaf","msort_with_tmp.part.0"].includes(r[0])).length' <"$TMP/short.json")
[ "$NAMED" -ge 2 ] || fail "short-lived processes: their functions are not named: $(head -c 400 "$TMP/short.json")"
UNW=$(status unwind_mb)
echo "after 2,000 processes: unwind tables $UNW MiB; wispd resident $((rss0 / 1024)) -> $((rss1 / 1024)) MiB"
[ $((rss1 - rss0)) -le $((32 * 1024)) ] || fail "wispd grew by $(( (rss1 - rss0) / 1024 )) MiB over 2,000 processes"
node -e "process.exit($UNW <= 20 ? 0 : 1)" || fail "unwind tables grew to $UNW MiB (budget 16 + rules and pages)"
pass "2,000 short-lived processes named, agent memory and unwind tables within bounds"
