#!/usr/bin/env bash
# native_stacks.sh - stacks of programs built the way distributions build them, without frame
# pointers (tests/workloads/): C (gcc -O2) whose hot path runs inside libc's qsort and calls
# back, C++ (g++ -O2, templates in a namespace) and Rust (Debian's rustc). wispd walks them with
# the .eh_frame tables: for each, at least 99 % of its samples reach main (a frame-pointer walk
# of the C program: about 0.1 %), names come out demangled (and libc's internals named from
# libc6-dbg), and its two phases (3/4 and 1/4 of its CPU time) come out within 4.5 standard
# deviations of a binomial share over the samples taken. The programs start after the agent, so
# their tables are built while they run. Then a -g binary's inline frames and lines; last, node
# --perf-basic-prof: JIT frames named.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start wispd "$WISPD" standalone --listen "127.0.0.1:$PORT" --node itest --ring-mb 32 --hz 499
wait_agents "$PORT" 1

# check NAME BINARY ROOT PHASE75 PHASE25 FRAME...: runs BINARY for 7 s; PHASE75 and PHASE25 are
# the (prefixes of the) frames right under ROOT of its two phases; each FRAME must appear.
check() {
	local name=$1 bin=$2 root=$3 p75=$4 p25=$5
	shift 5
	"$bin" 7 >"$TMP/$name.pid" &
	PIDS+=($!)
	sleep 0.5
	local pid
	pid=$(cat "$TMP/$name.pid")
	sleep 6
	"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$pid" --start -5s >"$TMP/$name.folded" ||
		fail "$name: flamegraph failed"
	local n main a b trunc
	read -r n main a b trunc <<<"$(awk -v root="$root" -v p75="$p75" -v p25="$p25" '
	  { c = $NF; st = substr($0, 1, length($0) - length($NF) - 1); k = split(st, f, ";"); s += c
	    m = 0; for (i = 1; i <= k; i++) if (f[i] == "main") { m = i; break }
	    if (m) mains += c
	    for (i = m; m && i < k; i++) if (f[i] == root) {
	      if (index(f[i + 1], p75) == 1) x += c; if (index(f[i + 1], p25) == 1) y += c; break }
	    if (st ~ /\[truncated/) t += c }
	  END { print s + 0, mains + 0, x + 0, y + 0, t + 0 }' "$TMP/$name.folded")"
	echo "$name: $n samples, $main reach main, $p75 $a, $p25 $b, truncated $trunc"
	[ "$n" -ge 1000 ] || fail "$name: only $n samples (want >= 1000 at 499 Hz)"
	node -e "process.exit($main * 100 >= 99 * $n ? 0 : 1)" || fail "$name: only $main of $n samples reach main (want >= 99 %)"
	local frame
	for frame in "$@"; do
		grep -qF ";$frame;" "$TMP/$name.folded" || grep -qF ";$frame " "$TMP/$name.folded" ||
			fail "$name: no frame '$frame' in $(head -c 600 "$TMP/$name.folded")"
	done
	local bound p_a p_b
	bound=$(node -e "console.log((4.5 * 100 * Math.sqrt(0.75 * 0.25 / $n)).toFixed(2))")
	read -r p_a p_b <<<"$(node -e "console.log(($a * 100 / $n).toFixed(2), ($b * 100 / $n).toFixed(2))")"
	echo "$name: shares $p_a % / $p_b % (want 75 / 25 +-$bound)"
	node -e "process.exit(Math.abs($p_a - 75) <= $bound && Math.abs($p_b - 25) <= $bound ? 0 : 1)" ||
		fail "$name: phase shares off: $p_a / $p_b"
	pass "$name: 99 % of samples reach main, named, callers' totals right"
}

check nofp "$NOFP" main sort_phase mix_phase qsort_r msort_with_tmp.part.0 cmp_ints __libc_start_call_main
check cxx "$CXX_WORKLOAD" main "multiply_phase(" "checksum_phase(" \
	"wl::Matrix<double>::multiply(wl::Matrix<double> const&) const" "wl::Matrix<double>::checksum(int) const"
check rust "$RUST_WORKLOAD" rust::main rust::hash_phase rust::sum_phase rust::mix::checksum rust::mix::Accumulator::add
grep -q '17h[0-9a-f]\{16\}E' "$TMP/rust.folded" && fail "rust: a legacy hash was left in a name"
grep -q '_ZN\|_ZNK\|_RNv' "$TMP/cxx.folded" "$TMP/rust.folded" && fail "a mangled name was left"
pass "no mangled names"

# Inline frames and lines from DWARF (gcc -O2 -g): scramble, always inlined into inline_phase, is
# a frame of its own at a line of its loop, under inline_phase at the line of the call.
"$BUILD_DIR/tests/inlined" 6 >"$TMP/inlined.pid" &
PIDS+=($!)
sleep 0.5
IPID=$(cat "$TMP/inlined.pid")
sleep 5
src=$SRC_DIR/tests/workloads/inlined.c
LOOP=$(grep -n 'LINE:scramble' "$src" | cut -d: -f1)
CALL=$(grep -n 'LINE:call' "$src" | cut -d: -f1)
"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$IPID" --by none --start -4s >"$TMP/inl.folded" || fail "inlined: flamegraph failed"
"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$IPID" --by none --start -4s --lines >"$TMP/inl-lines.folded" ||
	fail "inlined: flamegraph --lines failed"
read -r IN IFN <<<"$(awk '{c = $NF; n += c} /;main;inline_phase;scramble [0-9]+$/ {h += c} END {print n + 0, h + 0}' "$TMP/inl.folded")"
read -r LN LHIT <<<"$(awk -v call="$CALL" -v loop="$LOOP" '{c = $NF; n += c}
	$0 ~ ";inline_phase inlined\\.c:" call ";scramble inlined\\.c:(" loop "|" loop - 1 ") [0-9]+$" {h += c}
	END {print n + 0, h + 0}' "$TMP/inl-lines.folded")"
echo "inlined: $IFN of $IN samples in main;inline_phase;scramble; with --lines $LHIT of $LN at inlined.c:$CALL;inlined.c:$LOOP"
[ "$IN" -ge 500 ] || fail "inlined: only $IN samples"
node -e "process.exit($IFN * 100 >= 95 * $IN && $LHIT * 100 >= 95 * $LN ? 0 : 1)" ||
	fail "inlined: inline frames or lines missing: $(sort -t' ' -k2 -nr "$TMP/inl-lines.folded" | head -3)"
top=$("$WISP" -c "$URL" run top_functions -o csv -- --pid "$IPID" --start -4s --lines --limit 1 | sed -n 2p)
# The loop's body and its `for` line share the loop's instructions about evenly (as above):
# either may be the top line.
case "$top" in "scramble inlined.c:$LOOP,"* | "scramble inlined.c:$((LOOP - 1)),"*) ;;
*) fail "inlined: top_functions --lines: '$top'" ;; esac
pass "inline frames are frames of their own, with file:line (top line: $top)"

# JIT code named from the perf map node writes (/tmp/perf-PID.map, --perf-basic-prof): hotLoop
# is compiled early, so nearly every sample after the first second is in it, or in outerLoop where
# V8 compiled outerLoop on stack with hotLoop inlined (V8's choice, seen on one run in five; the
# perf map names the outer function only). Either way the leaf is a named jit.js frame.
node --perf-basic-prof "$SRC_DIR/tests/workloads/jit.js" 6 >"$TMP/jit.pid" &
PIDS+=($!)
sleep 0.5
JPID=$(cat "$TMP/jit.pid")
sleep 5
"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$JPID" --by none --start -4s >"$TMP/jit.folded" || fail "node: flamegraph failed"
read -r JN JJS JHOT <<<"$(awk '{c = $NF; n += c}
	/;JS:[*~^]?(hotLoop|outerLoop) [^;]*jit\.js:[0-9]+:[0-9]+ [0-9]+$/ {j += c}
	/;JS:[*~^]?hotLoop [^;]*jit\.js:[0-9]+:[0-9]+ [0-9]+$/ {h += c}
	END {print n + 0, j + 0, h + 0}' "$TMP/jit.folded")"
echo "node: $JN samples, $JJS in jit.js's JIT code (named from the perf map), $JHOT of them in hotLoop"
[ "$JN" -ge 500 ] || fail "node: only $JN samples"
node -e "process.exit($JJS * 100 >= 90 * $JN && $JHOT * 100 >= 50 * $JN ? 0 : 1)" ||
	fail "node: only $JJS of $JN samples name jit.js's functions ($JHOT hotLoop): $(sort -t' ' -k2 -nr "$TMP/jit.folded" | head -3)"
pass "node --perf-basic-prof: JIT frames named"
