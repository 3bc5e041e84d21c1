#!/usr/bin/env bash
# perf_truth.sh - perf as ground truth: the same run of each no-frame-pointer workload (C through
# libc's qsort, C++, Rust) profiled by wispd and by `perf record --call-graph dwarf` at once;
# the self and total shares of their hot functions agree within 2 points, or the statistical
# bound of the two sample counts where that is wider (tests/tools/compare_perf.mjs). Both sample
# at 999 Hz over two copies of the workload, about 16,000 samples each, so the bound is near
# 2 points. Needs perf (linux-perf) and libc6-dbg.
. "$(dirname "$0")/lib.sh"
command -v perf >/dev/null || fail "perf is not installed (deploy/install-deps.sh installs linux-perf)"
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start wispd "$WISPD" standalone --listen "127.0.0.1:$PORT" --node itest --ring-mb 64 --hz 999
wait_agents "$PORT" 1

# compare NAME BINARY FUNCTION...: two copies of BINARY, 7 s of them under both profilers once
# both unwind.
compare() {
	local name=$1 bin=$2
	shift 2
	local j1 j2
	"$bin" 12 >"$TMP/$name.1.pid" &
	j1=$!
	"$bin" 12 >"$TMP/$name.2.pid" &
	j2=$!
	PIDS+=("$j1" "$j2")
	# Both running, their tables loaded: the comparison is of a steady state (native_stacks covers
	# the start). Under ASan, with perf recording DWARF stacks at 999 Hz beside it, a new binary's
	# tables took over 2 s to load: a fixed sleep of 2 s left 6 % of a window's stacks short of main.
	local p1 p2 t0 t1
	until [ -s "$TMP/$name.1.pid" ] && [ -s "$TMP/$name.2.pid" ]; do sleep 0.05; done
	p1=$(cat "$TMP/$name.1.pid")
	p2=$(cat "$TMP/$name.2.pid")
	wait_unwound "$PORT" "$p1" 20
	wait_unwound "$PORT" "$p2" 20
	t0=$(date +%s%N)
	timeout -s INT 7 perf record -q -F 999 --call-graph dwarf,8192 -p "$p1,$p2" -o "$TMP/$name.perf" >/dev/null 2>&1 || true
	t1=$(date +%s%N)
	# The same window from the ring (times in ns since the epoch).
	: >"$TMP/$name.folded"
	for p in "$p1" "$p2"; do
		"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$p" --by none --start "$t0" --end "$t1" >>"$TMP/$name.folded" ||
			fail "$name: flamegraph failed"
	done
	perf script -i "$TMP/$name.perf" -F ip,sym --no-inline >"$TMP/$name.perf.txt" 2>/dev/null || fail "$name: perf script failed"
	node "$SRC_DIR/tests/tools/compare_perf.mjs" "$TMP/$name.folded" "$TMP/$name.perf.txt" "$@" ||
		fail "$name: shares differ from perf's"
	pass "$name: shares agree with perf --call-graph dwarf"
	# The workloads run 12 s of CPU time: on a loaded machine they outlive the window. The next
	# comparison starts on a machine they have left (under ASan, with them still running, the
	# next workload's tables took 2 s to load and its first second broke).
	kill "$j1" "$j2" 2>/dev/null || true
	wait "$j1" "$j2" 2>/dev/null || true
}

compare nofp "$NOFP" main sort_phase mix_phase cmp_ints msort_with_tmp.part.0 qsort_r \
	self:cmp_ints self:msort_with_tmp.part.0 self:mix_leaf
compare cxx "$CXX_WORKLOAD" main "wl::Matrix<double>::multiply(wl::Matrix<double> const&) const" \
	"wl::Matrix<double>::checksum(int) const" "self:wl::Matrix<double>::multiply(wl::Matrix<double> const&) const"
compare rust "$RUST_WORKLOAD" main rust::main rust::hash_phase rust::sum_phase self:rust::mix::checksum \
	self:rust::mix::Accumulator::add
