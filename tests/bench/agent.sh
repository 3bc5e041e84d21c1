#!/usr/bin/env bash
# tests/bench/agent.sh - what the agent costs while it unwinds stacks without frame pointers, as
# `name value unit` lines. Needs root, perf (linux-perf) and a built tree:
#   BUILD_DIR=build tests/bench/agent.sh        (about 2 minutes; CHURN_SECONDS=600 adds the churn run)
#   agent_cpu_percent_busy      wispd's CPU time plus its BPF programs' run time (the sampler and
#                               the off-CPU switch program), over the host's CPU time, while every
#                               CPU runs the nofp workload (gcc -O2, no frame pointers, through
#                               libc), at 99 Hz
#   agent_bpf_ns_per_sample     the BPF program's run time per run (kernel.bpf_stats_enabled); beside
#                               it, in the same run, a second agent walking frame pointers only
#                               (--unwind-mb 0): the machine is noisy, the difference is not
#   agent_user_ns_per_sample    wispd's CPU time (schedstat) per sample appended: drain, symbolize,
#                               append, the loader
#   agent_frames_named_percent  of the addresses the drain looked up meanwhile, those it named (the
#                               rest its frame memo remembered); agent_stacks_interned_percent: the
#                               same for stacks interned in the ring
#   agent_frames_per_sample     frames per sample of that load (what the walk did), and by frame
#                               pointers
#   perf_dwarf_cpu_percent      `perf record -F 99 -a --call-graph dwarf` on the same load: the perf
#                               process's CPU time over the host's (its in-kernel cost per sample,
#                               8 KiB of stack copied, is charged to the sampled tasks, not counted)
#   perf_fp_cpu_percent         the same for `perf record -F 99 -a -g`
#   agent_rss_mb                wispd's memory besides its ring (proportional set size: the BPF
#                               ring buffer, mapped twice, counts once), with 200 processes over 50
#                               distinct binaries alive and sampled (goal <= 64). It includes the
#                               BPF maps wispd maps: the unwind rows (--unwind-mb) and the ring
#                               buffer (--ringbuf-kb)
#   agent_unwind_mb             kernel memory of the unwind tables then (the rows, wispd maps,
#                               are in the RSS above; the rest is not)
#   agent_unwind_rows_percent   the share of the rows --unwind-mb allows that those tables use
#   python_ns_per_sample        the BPF program's extra run time per sample for the Python walk of
#                               two busy interpreters 30 frames deep (pyburn.py deep), against a
#                               second agent with --python off in the same run (goal <= 1,000)
#   agent_cpu_percent_python    wispd's threads plus its BPF program over the host's CPU time,
#                               with those two Python processes at 99 Hz (goal <= 0.2)
#   offcpu_overhead_percent_pinned  the slowdown of a context-switch storm (two processes
#                               ping-ponging a byte over pipes, pinned to one CPU: its maximum
#                               switch rate) under an agent capturing off-CPU periods at the
#                               default rate, against the storm alone, same run (goal <= 2);
#                               _unpinned: the same pair free to wake each other across CPUs;
#                               _pinned_hook_on: pinned, the switch hook attached throughout
#                               (--offcpu-storm 0) instead of a window of each cycle in storms
#   offcpu_hook_percent_pinned  how much of its life the hook was attached, under the pinned storm
#   offcpu_ns_per_event         the off-CPU program's run time per context switch (most are not
#                               taken: sampled at --offcpu-rate a second per CPU)
#   agent_cpu_percent_offcpu_storm  wispd and its BPF programs during that storm
#   unwind_table_build_ms_per_mb  (and the rest of tests/tools unwind_bench's lines)
#   kube_names_ns_per_sample, kube_podlist_parse_ms  (and the rest of kube_bench's lines:
#                               what Kubernetes names cost per sample and per pod list fetch)
# With CHURN_SECONDS=N: the machine rebuilds this project with make -j2 in a loop for N seconds:
#   agent_cpu_percent_churn, agent_rss_mb_churn, ring_bytes_per_sample_churn
set -euo pipefail
: "${BUILD_DIR:=build}" "${BUSY_SECONDS:=20}" "${CHURN_SECONDS:=0}"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WISPD=$BUILD_DIR/vizier/wispd WISP=$BUILD_DIR/cli/wisp PROBE=$BUILD_DIR/tests/wsprobe NOFP=$BUILD_DIR/tests/nofp
TMP=$(mktemp -d /tmp/wisp-agent-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; sysctl -qw kernel.bpf_stats_enabled=0; }
trap cleanup EXIT
ncpu=$(nproc)

status() { "$WISP" -c "$URL" agents -o json | node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{
  const t=JSON.parse(s).tables[0]; console.log(t.rows[0][t.columns.indexOf('$1')])})"; }
busy() { # busy SECONDS: one nofp per CPU
	local i
	for i in $(seq "$ncpu"); do "$NOFP" "$1" >/dev/null & BUSY+=($!); done
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a / b * 100}'; }
memos() { # frames looked up, named; stacks looked up, interned; memo bytes
	curl -s "http://${URL#ws://}/metrics" | awk '{split($1, k, "{"); v[k[1]] = $2}
	  END {print v["wisp_frames_looked_up_total"], v["wisp_frames_named_total"], v["wisp_stacks_looked_up_total"],
	       v["wisp_stacks_interned_total"], v["wisp_symbol_memo_bytes"]}'; }

# --- the agent on a busy host: two agents at once, unwinding (B) and frame pointers only (A,
# --unwind-mb 0), so the noisy VM's drift hits both alike ---
sysctl -qw kernel.bpf_stats_enabled=1
prog_ids() { # prog_ids [NAME]: the ids of the loaded BPF programs called NAME (wisp_sample_cpu)
	bpftool prog show -j | node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{
	  console.log(JSON.parse(s).filter(p=>p.name==='${1:-wisp_sample_cpu}').map(p=>p.id).join(' '))})"; }
# Readings inside a measured window use bash builtins only: a process started there (cat, awk,
# bpftool, date) is one more the agent names, which is not what the window measures.
now() { printf -v "$1" '%s' "$(( ${EPOCHREALTIME/./} * 1000 ))"; } # now VAR: wall clock, ns
# cpu VAR PID: every thread's run time, ns. (/proc/PID/schedstat alone is the main thread's, which
# idles: the drain and loader threads do the work. Until 2026-12-02 this read only that.)
cpu() {
	local f t s=0
	for f in /proc/"$2"/task/*/schedstat; do read -r t _ <"$f" && s=$((s + t)); done
	printf -v "$1" '%s' "$s"
}
# bpf VAR_NS VAR_RUNS PID PROG_ID: the run time and runs of a BPF program PID holds (its fdinfo;
# kernel.bpf_stats_enabled)
bpf() {
	local f k v id ns=0 runs=0
	for f in /proc/"$3"/fdinfo/*; do
		id=
		while read -r k v; do
			case $k in prog_id:) id=$v ;; run_time_ns:) ns=$v ;; run_cnt:) runs=$v ;; esac
		done 2>/dev/null <"$f"
		[ "$id" = "$4" ] && break
		ns=0 runs=0
	done
	printf -v "$1" '%s' "$ns"
	printf -v "$2" '%s' "$runs"
}
# start_agent NODE [FLAGS...]: wispd standalone on a free port, answering; sets DPID, URL, PROG
# (its sampling BPF program's id) and SWITCH_PROG (its off-CPU program's, when attached).
start_agent() {
	local node=$1 before id sbefore
	shift
	before=" $(prog_ids) " sbefore=" $(prog_ids wisp_on_switch) " SWITCH_PROG=
	URL=ws://127.0.0.1:$("$PROBE" free-port)
	"$WISPD" standalone --listen "${URL#ws://}" --node "$node" --ring-mb 64 "$@" >"$TMP/$node.log" 2>&1 &
	DPID=$!
	PIDS+=($DPID)
	for _ in $(seq 50); do "$WISP" -c "$URL" agents >/dev/null 2>&1 && break; sleep 0.1; done
	for id in $(prog_ids); do [[ $before == *" $id "* ]] || PROG=$id; done
	for id in $(prog_ids wisp_on_switch); do [[ $sbefore == *" $id "* ]] || SWITCH_PROG=$id; done
}
start_agent fp --unwind-mb 0
APID=$DPID AID=$PROG AURL=$URL
start_agent bench
BID=$PROG
BUSY=()
busy $((BUSY_SECONDS + 6))
status samples >/dev/null; memos >/dev/null # the bench's own programs, sampled and named before the window
sleep 5 # tables built, symbols loaded: steady state
BSW=$SWITCH_PROG
# The window holds no process of the bench (cpu, bpf and now are builtins): the agent names every
# new process (node, wisp, curl, bpftool: a few ms each), which is not what a sample of the busy
# load costs. Until 2026-12-06 it held a dozen, half of agent_user_ns_per_sample. The sample
# count and the memos are read outside it (a second before, at once after) and the samples
# scaled to the window by their rate.
n0=$(status samples); now t0; m0=$(memos)
sleep 1
cpu u0 $DPID; bpf b0 c0 $DPID $BID; bpf f0 g0 $APID $AID; now s0
bpf w0 wc0 $DPID $BSW
sleep "$BUSY_SECONDS"
cpu u1 $DPID; bpf b1 c1 $DPID $BID; bpf f1 g1 $APID $AID; now s1
bpf w1 wc1 $DPID $BSW
n1=$(status samples); now t1; m1=$(memos)
window_samples=$(awk -v n=$((n1 - n0)) -v t=$((t1 - t0)) -v w=$((s1 - s0)) 'BEGIN{printf "%.0f", n * w / t}')
wait "${BUSY[@]}"
host_ns=$(( (s1 - s0) * ncpu ))
echo "agent_cpu_percent_busy $(pct $((u1 - u0 + b1 - b0 + w1 - w0)) $host_ns) % (wispd, its sampling program and its off-CPU program, $(pct $((w1 - w0)) $host_ns) % of it)"
echo "agent_bpf_ns_per_sample $(awk -v a=$((b1 - b0)) -v n=$((c1 - c0)) 'BEGIN{printf "%.0f", n ? a / n : 0}') ns"
echo "agent_bpf_ns_per_sample_fp_only $(awk -v a=$((f1 - f0)) -v n=$((g1 - g0)) 'BEGIN{printf "%.0f", n ? a / n : 0}') ns (the same run, --unwind-mb 0)"
echo "agent_user_ns_per_sample $(awk -v a=$((u1 - u0)) -v n="$window_samples" 'BEGIN{printf "%.0f", n ? a / n : 0}') ns"
read -r fl0 fn0 sl0 si0 _ <<<"$m0"; read -r fl1 fn1 sl1 si1 mb1 <<<"$m1"
echo "agent_frames_named_percent $(pct $((fn1 - fn0)) $((fl1 - fl0))) % (of $((fl1 - fl0)) addresses looked up: the rest were remembered)"
echo "agent_stacks_interned_percent $(pct $((si1 - si0)) $((sl1 - sl0))) % (of $((sl1 - sl0)) stacks; the memos hold $(awk -v b="$mb1" 'BEGIN{printf "%.1f", b / 1048576}') MiB)"
frames() { awk '{c = $NF; n += c; f += c * split(substr($0, 1, length($0) - length($NF) - 1), x, ";")} END{printf "%.1f", n ? f / n : 0}' "$1"; }
"$WISP" -c "$URL" run flamegraph -o folded -- --comm nofp --by none --start "-${BUSY_SECONDS}s" >"$TMP/busy.folded"
"$WISP" -c "$AURL" run flamegraph -o folded -- --comm nofp --by none --start "-${BUSY_SECONDS}s" >"$TMP/fp.folded"
echo "agent_frames_per_sample $(frames "$TMP/busy.folded") frames ($(frames "$TMP/fp.folded") by frame pointers)"
kill $APID; wait $APID 2>/dev/null || true

# --- 200 processes over 50 binaries ---
for i in $(seq 50); do cp "$NOFP" "$TMP/nofp$i"; done
for r in 1 2 3 4; do for i in $(seq 50); do "$TMP/nofp$i" 0.05 60 >/dev/null & PIDS+=($!); done; done
sleep 12 # each has burned 50 ms of CPU (sampled, tables loaded); all 200 are alive
rss_kb=$(awk '/^Pss:/{print $2}' "/proc/$DPID/smaps_rollup")
ring_mb=$(status ring_mb)
echo "agent_rss_mb $(awk -v r="$rss_kb" -v m="$ring_mb" 'BEGIN{printf "%.1f", r / 1024 - m}') MiB"
echo "agent_unwind_mb $(status unwind_mb | awk '{printf "%.1f", $1}') MiB"
echo "agent_unwind_rows_percent $(curl -s "http://${URL#ws://}/metrics" | awk '$1 ~ /^wisp_unwind_rows\{/ {u = $2}
  $1 ~ /^wisp_unwind_rows_capacity/ {c = $2} END {printf "%.1f %% (%d rows of %d)", c ? u / c * 100 : 0, u, c}')"
kill $DPID; wait $DPID 2>/dev/null || true

# --- Python: two busy interpreters 30 frames deep (pyburn.py deep), an agent walking their frames
# beside one that does not (--python off), in the same run ---
PY=/usr/bin/python3.11
if [ -x "$PY" ]; then
	start_agent pyoff --python off
	OFFPID=$DPID OFFID=$PROG
	start_agent pyon
	ONPID=$DPID ONID=$PROG ONURL=$URL
	BUSY=()
	for i in 1 2; do "$PY" "$SRC/tests/workloads/pyburn.py" $((BUSY_SECONDS + 6)) deep >/dev/null & BUSY+=($!); done
	sleep 5
	cpu u0 $ONPID; bpf b0 c0 $ONPID $ONID; bpf f0 g0 $OFFPID $OFFID; now s0
	sleep "$BUSY_SECONDS"
	cpu u1 $ONPID; bpf b1 c1 $ONPID $ONID; bpf f1 g1 $OFFPID $OFFID; now s1
	wait "${BUSY[@]}"
	on=$(awk -v a=$((b1 - b0)) -v n=$((c1 - c0)) 'BEGIN{printf "%.0f", n ? a / n : 0}')
	off=$(awk -v a=$((f1 - f0)) -v n=$((g1 - g0)) 'BEGIN{printf "%.0f", n ? a / n : 0}')
	"$WISP" -c "$ONURL" run flamegraph -o folded -- --comm python3.11 --by none --start "-$((BUSY_SECONDS + 8))s" >"$TMP/py.folded"
	depth=$(awk '{c = $NF; n += c; k = split(substr($0, 1, length($0) - length($NF) - 1), f, ";")
		for (i = 1; i <= k; i++) if (f[i] ~ /^(<module>|main|descend|hot_compute)$/) d += c} END{printf "%.1f", n ? d / n : 0}' "$TMP/py.folded")
	URL=$ONURL
	echo "python_ns_per_sample $(status py_walk_ns) ns (the BPF program's own clock around the Python walk, mean over $(status py_samples) samples; $depth Python frames a sample)"
	echo "python_ns_per_sample_difference $((on - off)) ns (the BPF program's run time per sample, $on ns walking Python frames less $off ns beside it with --python off: noisier)"
	echo "agent_cpu_percent_python $(pct $((u1 - u0 + b1 - b0)) $(( (s1 - s0) * ncpu ))) % (wispd's threads and its BPF program, two busy Python processes at 99 Hz)"
	kill $OFFPID $ONPID; wait $OFFPID $ONPID 2>/dev/null || true
fi
sysctl -qw kernel.bpf_stats_enabled=0

# --- off-CPU: a context-switch storm (tests/workloads/pingpong: two processes passing a byte over
# pipes as fast as they can), alone, then under an agent capturing off-CPU periods at the default
# rate, three times in turn in the same run; medians. Pinned to one CPU the pair switches at its
# maximum rate (each round trip is two switches, no idle CPU to wake): the worst case. Unpinned,
# each wakes the other across CPUs and the rate is that of waking an idle CPU ---
PINGPONG=$BUILD_DIR/tests/pingpong
trips() { $1 "$PINGPONG" "$2" | sed -n 's/^round_trips_per_second //p'; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
hook=()
# pinned_hook_on: pinned, with --offcpu-storm 0 (the switch hook attached throughout, as before
# storm.c): the hook's full cost, for comparison.
for mode in pinned unpinned pinned_hook_on; do
	run="" flags=()
	[ $mode != unpinned ] && run="taskset -c $((ncpu - 1))"
	[ $mode = pinned_hook_on ] && flags=(--offcpu-storm 0)
	alone=() with=()
	for r in 1 2 3; do
		alone+=("$(trips "$run" 3)")
		start_agent "offcpu$r" "${flags[@]}"
		sleep 1
		with+=("$(trips "$run" 3)")
		[ $mode = pinned ] && hook+=("$(status offcpu_hook_pct)")
		kill $DPID; wait $DPID 2>/dev/null || true
	done
	a=$(median "${alone[@]}") w=$(median "${with[@]}")
	echo "pingpong_round_trips_per_second_$mode $a alone, $w with the agent (medians; runs: ${alone[*]} / ${with[*]})"
	echo "offcpu_overhead_percent_$mode $(awk -v a="$a" -v w="$w" 'BEGIN{printf "%.2f", (1 - w / a) * 100}') % (goal <= 2; $(awk -v a="$a" -v w="$w" 'BEGIN{printf "%.0f", (1e9 / w - 1e9 / a) / 2}') ns a switch)"
done
echo "offcpu_hook_percent_pinned $(median "${hook[@]}") % (of the agent's life so far that the switch hook was attached, after the pinned storm; runs: ${hook[*]})"
# The switch program's own run time (kernel.bpf_stats_enabled, which adds its own clock reads to
# every run), and what the agent costs under the pinned storm.
sysctl -qw kernel.bpf_stats_enabled=1
start_agent offcpu_stats
sleep 1
bpf w0 k0 $DPID $SWITCH_PROG; bpf b0 bc0 $DPID $PROG; cpu u0 $DPID; now s0
p0=$(status offcpu_periods)
trips "taskset -c $((ncpu - 1))" 3 >/dev/null
bpf w1 k1 $DPID $SWITCH_PROG; bpf b1 bc1 $DPID $PROG; cpu u1 $DPID; now s1
sleep 0.5
echo "offcpu_ns_per_event $(awk -v a=$((w1 - w0)) -v n=$((k1 - k0)) 'BEGIN{printf "%.0f", n ? a / n : 0}') ns (the switch program's run time per context switch, mean over $((k1 - k0)); most are not taken)"
echo "agent_cpu_percent_offcpu_storm $(pct $((u1 - u0 + b1 - b0 + w1 - w0)) $(( (s1 - s0) * ncpu ))) % (wispd and its BPF programs under the pinned storm; $(( $(status offcpu_periods) - p0 )) periods recorded)"
kill $DPID; wait $DPID 2>/dev/null || true
sysctl -qw kernel.bpf_stats_enabled=0

# --- perf on the same load, in the same run ---
for mode in dwarf fp; do
	BUSY=()
	busy $((BUSY_SECONDS + 3))
	sleep 2
	args=(--call-graph dwarf)
	[ $mode = fp ] && args=(-g)
	perf record -q -F 99 -a "${args[@]}" -o "$TMP/perf.data" >/dev/null 2>&1 &
	PPID_=$!
	sleep 1
	cpu p0 $PPID_; now s0
	sleep "$BUSY_SECONDS"
	cpu p1 $PPID_; now s1
	kill -INT $PPID_; wait $PPID_ 2>/dev/null || true
	wait "${BUSY[@]}"
	echo "perf_${mode}_cpu_percent $(pct $((p1 - p0)) $(( (s1 - s0) * ncpu ))) %"
	rm -f "$TMP/perf.data"
done

"$BUILD_DIR/tests/unwind_bench"
"$BUILD_DIR/tests/kube_bench"

# --- a churning host ---
if [ "$CHURN_SECONDS" -gt 0 ]; then
	start_agent churn
	cmake -S "$SRC" -B "$TMP/churn-build" >/dev/null
	( end=$(( $(date +%s) + CHURN_SECONDS ))
	  while [ "$(date +%s)" -lt "$end" ]; do make -s -C "$TMP/churn-build" clean >/dev/null 2>&1; make -s -j2 -C "$TMP/churn-build" >/dev/null 2>&1 || true; done ) &
	CPID=$!
	cpu t0 $DPID; now s0
	wait $CPID
	cpu t1 $DPID; now s1
	echo "agent_cpu_percent_churn $(pct $((t1 - t0)) $(( (s1 - s0) * ncpu ))) % (wispd only; BPF time not counted)"
	rss_kb=$(awk '/^Pss:/{print $2}' "/proc/$DPID/smaps_rollup")
	ring_mb=$(status ring_mb)
	echo "agent_rss_mb_churn $(awk -v r="$rss_kb" -v m="$ring_mb" 'BEGIN{printf "%.1f", r / 1024 - m}') MiB"
	echo "ring_bytes_per_sample_churn $(awk -v m="$ring_mb" -v n="$(status samples)" 'BEGIN{printf "%.1f", m * 1048576 / n}') bytes"
fi
