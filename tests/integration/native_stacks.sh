#!/usr/bin/env bash
# native_stacks.sh - stacks of a program built the way distributions build (tests/workloads/nofp.c:
# gcc -O2, no frame pointers, its hot path inside libc's qsort calling back into the program):
# wispd walks them with the .eh_frame tables, so at least 99 % of the program's samples reach
# main (a frame-pointer walk: about 0.1 %), and the shares of its two phases (3/4 and 1/4 of its
# CPU time) come out within 4.5 standard deviations of a binomial share over the samples taken.
# The program starts after the agent, so its tables are built while it runs.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start wispd "$WISPD" standalone --listen "127.0.0.1:$PORT" --node itest --ring-mb 32 --hz 499
wait_agents "$PORT" 1

"$NOFP" 8 >"$TMP/nofp.pid" &
PIDS+=($!)
sleep 0.5
PID=$(cat "$TMP/nofp.pid")
sleep 6.5

"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$PID" --start -6s >"$TMP/flame.folded" || fail "flamegraph failed"
read -r N MAIN SORT MIX TRUNC <<<"$(awk '{n = $NF; s += n; stack = " " $1 " "; gsub(";", " ", stack)}
  stack ~ / main / {m += n} stack ~ / main sort_phase / {a += n} stack ~ / main mix_phase / {b += n}
  stack ~ /\[truncated/ {t += n}
  END {print s + 0, m + 0, a + 0, b + 0, t + 0}' "$TMP/flame.folded")"
echo "samples $N: reach main $MAIN, main;sort_phase $SORT, main;mix_phase $MIX, truncated $TRUNC"
[ "$N" -ge 1500 ] || fail "only $N samples of the workload (want >= 1500 at 499 Hz)"
node -e "process.exit($MAIN * 100 >= 99 * $N ? 0 : 1)" || fail "only $MAIN of $N samples reach main (want >= 99 %)"
pass "99 % of the samples of a no-frame-pointer program reach main"

grep -Eq '^nofp;.*main;sort_phase;qsort[_a-z]*;.*cmp_ints [0-9]+$' "$TMP/flame.folded" ||
	fail "no chain main;sort_phase;qsort...;cmp_ints through libc"
BOUND=$(node -e "console.log((4.5 * 100 * Math.sqrt(0.75 * 0.25 / $N)).toFixed(2))")
read -r PSORT PMIX <<<"$(node -e "console.log(($SORT * 100 / $N).toFixed(2), ($MIX * 100 / $N).toFixed(2))")"
echo "shares: sort_phase $PSORT %, mix_phase $PMIX % (want 75 / 25 +-$BOUND)"
node -e "process.exit(Math.abs($PSORT - 75) <= $BOUND && Math.abs($PMIX - 25) <= $BOUND ? 0 : 1)" ||
	fail "phase shares off: $PSORT / $PMIX"
pass "callers' totals through libc are right"
