#!/usr/bin/env bash
# python.sh - Python frames of programs run by Debian's /usr/bin/python3 (3.11, no frame
# pointers, non-PIE), with no change to them (tests/workloads/pyburn.py):
#   - the walker's 3.11 offsets (vizier/agent/python/pyversion.c) equal offsetof() compiled
#     against Debian's own internal headers (python3.11-dev), when they are installed;
#   - a program spending 3/4 and 1/4 of its CPU in two Python functions: >= 95 % of its samples
#     carry Python frames, top_functions' total shares are within 3 points of the split, --lines
#     names file:line, the flame graph reads <module>;main;handler;hot_compute, and with
#     --lang python it reads that alone;
#   - one started before the agent is walked as well;
#   - json.loads: the C extension's frames sit above the Python frame that called it;
#   - two threads: each shows its own Python stack;
#   - a snapshot of them, replayed by a second agent, names the same frames and lines;
#   - where this machine has them, 3.11 built as libpython3.11.so, 3.12 and 3.13: their tables
#     equal their headers, and the split reads <module>;main;handler;... as under Debian's.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3.11
[ -x "$PY" ] || fail "no $PY (deploy/install-deps.sh installs python3.11)"
WL=$SRC_DIR/tests/workloads/pyburn.py

# check_offsets INCLUDE_DIR MINOR WHO: the layout_3MINOR table of pyversion.c equals offsetof()
# compiled against that version's internal headers.
check_offsets() {
	local inc=$1 minor=$2 who=$3 want=10
	[ "$minor" = 13 ] && want=9 # 3.13 has no _PyCFrame
	cat >"$TMP/off.c" <<'C'
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_runtime.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_frame.h>
#include <stdio.h>
#include <stddef.h>
#define P(name, off) printf("%s %zu\n", name, (size_t)(off))
int main(void)
{
	P("interp_head", offsetof(_PyRuntimeState, interpreters.head));
	P("interp_threads", offsetof(PyInterpreterState, threads.head));
	P("ts_next", offsetof(PyThreadState, next));
	P("ts_native_tid", offsetof(PyThreadState, native_thread_id));
	P("f_previous", offsetof(_PyInterpreterFrame, previous));
#if PY_MINOR_VERSION <= 12
	P("ts_frame", offsetof(PyThreadState, cframe));
	P("cframe_frame", offsetof(_PyCFrame, current_frame));
	P("f_code", offsetof(_PyInterpreterFrame, f_code));
	P("f_instr", offsetof(_PyInterpreterFrame, prev_instr));
#else
	P("ts_frame", offsetof(PyThreadState, current_frame));
	P("f_code", offsetof(_PyInterpreterFrame, f_executable));
	P("f_instr", offsetof(_PyInterpreterFrame, instr_ptr));
#endif
#if PY_MINOR_VERSION == 11
	P("f_entry", offsetof(_PyInterpreterFrame, is_entry));
#else
	P("f_owner", offsetof(_PyInterpreterFrame, owner));
#endif
	return 0;
}
C
	cc -I"$inc" "$TMP/off.c" -o "$TMP/off" || fail "cannot compile against the 3.$minor headers in $inc"
	"$TMP/off" | sort >"$TMP/off.want"
	# The table as the agent has it: ".name = N" pairs of layout_3MINOR.
	sed -n "/^static const struct wisp_py_proc layout_3$minor /,/^};/p" "$SRC_DIR/vizier/agent/python/pyversion.c" |
		grep -o '\.[a-z_]* = [0-9]\+' | sed 's/^\.//; s/ = / /' | sort >"$TMP/off.have"
	join "$TMP/off.want" "$TMP/off.have" | awk '$2 != $3 {bad = 1; print "offset", $1, "headers", $2, "table", $3} END {exit bad}' ||
		fail "the 3.$minor table disagrees with $who's headers"
	[ "$(join "$TMP/off.want" "$TMP/off.have" | wc -l)" -eq "$want" ] || fail "the 3.$minor table lacks offsets"
	pass "3.$minor offsets equal $who's headers"
}
if [ -f /usr/include/python3.11/internal/pycore_frame.h ]; then
	check_offsets /usr/include/python3.11 11 Debian
else
	echo "skip: no python3.11-dev headers; offsets not cross-checked"
fi

# Other interpreters, where this machine has them (pyenv's shared-library builds, or
# WISP_TEST_PYTHONS="PATH ..."): 3.11 as libpython3.11.so, 3.12, 3.13. None comes from
# deploy/install-deps.sh (Debian 12 has 3.11 alone), so without them these checks are skipped.
EXTRA=()
for py in ${WISP_TEST_PYTHONS:-} /root/.pyenv/versions/3.1[123].*/bin/python3.1[123]; do
	[ -x "$py" ] && EXTRA+=("$py")
done
for py in "${EXTRA[@]}"; do
	minor=$("$py" -c 'import sys; print(sys.version_info[1])')
	inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
	[ "$minor" != 11 ] && [ -f "$inc/internal/pycore_frame.h" ] && check_offsets "$inc" "$minor" "$py"
done

# An interpreter started before the agent: it is found on its first sample.
"$PY" "$WL" 14 split >"$TMP/early.pid" &
PIDS+=($!)
sleep 1
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start wispd "$WISPD" standalone --listen "127.0.0.1:$PORT" --node pytest --ring-mb 32 --hz 499
wait_agents "$PORT" 1

# chain PID SECONDS WHO: >= 1000 of pid's samples over the last SECONDS, >= 95 % of them reading
# <module>;main;handler;..._compute; sets CN (samples) and CCH (with the chain).
chain() {
	"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$1" --start "-$2s" >"$TMP/chain.folded" || fail "flamegraph failed ($3)"
	read -r CN CCH <<<"$(awk '{c = $NF; n += c} /;<module>;main;handler;(hot|cold)_compute/ {ch += c} END {print n + 0, ch + 0}' "$TMP/chain.folded")"
	node -e "process.exit($CN >= 1000 && $CCH * 100 >= 95 * $CN ? 0 : 1)" ||
		fail "$3: $CCH of $CN samples read <module>;main;handler;...: $(head -c 400 "$TMP/chain.folded")"
}

# run MODE SECONDS: starts the workload (after the agent), waits for it, sets PYPID.
run() {
	"$PY" "$WL" "$2" "$1" >"$TMP/$1.pid" &
	PIDS+=($!)
	sleep "$2"
	sleep 0.5
	PYPID=$(cat "$TMP/$1.pid")
}

run split 7
SPLIT=$PYPID
"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$PYPID" --start -8s >"$TMP/split.folded" || fail "flamegraph failed"
read -r N WITH CHAIN <<<"$(awk '{c = $NF; n += c}
	/;(hot|cold)_compute(;| [0-9]+$)/ {p += c}
	/;<module>;main;handler;(hot|cold)_compute/ {ch += c}
	END {print n + 0, p + 0, ch + 0}' "$TMP/split.folded")"
echo "split: $N samples, $WITH with Python frames, $CHAIN with the whole chain"
[ "$N" -ge 2000 ] || fail "only $N samples (want >= 2000 at 499 Hz for 7 s)"
node -e "process.exit($WITH * 100 >= 95 * $N ? 0 : 1)" ||
	fail "only $WITH of $N samples carry Python frames (want >= 95 %); the heaviest without:
$(grep -vE ';(hot|cold)_compute(;| [0-9]+$)' "$TMP/split.folded" | sort -k2 -n -r -t' ' | head -8)"
node -e "process.exit($CHAIN * 100 >= 95 * $N ? 0 : 1)" || fail "only $CHAIN of $N samples read <module>;main;handler;..."
pass "split: >= 95 % of samples carry Python frames, from module level down"

chain "$(cat "$TMP/early.pid")" 5 "started before the agent"
pass "an interpreter started before the agent: $CCH of $CN samples read <module>;main;handler;..."

"$WISP" -c "$URL" run top_functions -o json -- --pid "$PYPID" --start -8s >"$TMP/top.json" || fail "top_functions failed"
read -r HOT COLD <<<"$(json_eval "(()=>{const t=d.tables[0],f=t.columns.indexOf('function'),p=t.columns.indexOf('total_percent');
	const g=n=>{const r=t.rows.find(r=>r[f]===n);return r?r[p]:-1};return g('hot_compute')+' '+g('cold_compute')})()" <"$TMP/top.json")"
echo "top_functions: hot_compute $HOT %, cold_compute $COLD % (want 75 / 25 +-3)"
node -e "process.exit(Math.abs($HOT - 75) <= 3 && Math.abs($COLD - 25) <= 3 ? 0 : 1)" || fail "shares off: $HOT / $COLD"
pass "top_functions: both functions, shares within 3 points"

"$WISP" -c "$URL" run top_functions -- --pid "$PYPID" --start -8s --lines >"$TMP/lines.txt" || fail "--lines failed"
HOTLINE=$(grep -n 'x = (x \* 31' "$WL" | cut -d: -f1)
grep -q "^hot_compute pyburn.py:$HOTLINE " "$TMP/lines.txt" || fail "--lines: no hot_compute pyburn.py:$HOTLINE in $(head -5 "$TMP/lines.txt")"
pass "--lines: hot_compute at pyburn.py:$HOTLINE"

# --lang python: the Python frames alone, as a Python profiler shows them.
"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$PYPID" --start -8s --lang python >"$TMP/lang.folded" || fail "--lang failed"
read -r LN LCH <<<"$(awk '{c = $NF; n += c} /^python3\.11;<module>;main;handler;(hot|cold)_compute [0-9]+$/ {ch += c}
	END {print n + 0, ch + 0}' "$TMP/lang.folded")"
node -e "process.exit($LCH * 100 >= 95 * $LN ? 0 : 1)" ||
	fail "--lang python: $LCH of $LN samples read exactly python3.11;<module>;main;handler;..._compute: $(head -3 "$TMP/lang.folded")"
pass "--lang python: $LCH of $LN samples read python3.11;<module>;main;handler;..._compute and nothing else"

run cext 5
"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$PYPID" --start -5s >"$TMP/cext.folded" || fail "flamegraph failed"
grep -q ';c_extension_phase;loads;JSONDecoder.decode;JSONDecoder.raw_decode;.*_json\.' "$TMP/cext.folded" ||
	fail "no _json C frames above JSONDecoder.raw_decode: $(head -c 600 "$TMP/cext.folded")"
pass "cext: C extension frames above the Python frame that called them"

# The split again under each other interpreter.
for py in "${EXTRA[@]}"; do
	"$py" "$WL" 4 split >"$TMP/extra.pid" &
	PIDS+=($!)
	sleep 4.5
	chain "$(cat "$TMP/extra.pid")" 6 "$py"
	pass "$py ($(ldd "$py" | grep -o -m1 'libpython[0-9.]*so' | head -1 || echo static)): $CCH of $CN samples read <module>;main;handler;..."
done
[ ${#EXTRA[@]} -gt 0 ] || echo "skip: no other CPython 3.11-3.13 on this machine (WISP_TEST_PYTHONS)"

run threads 5
"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$PYPID" --start -5s >"$TMP/threads.folded" || fail "flamegraph failed"
read -r A B MIX <<<"$(awk '{c = $NF} /;thread_alpha;hot_compute/ {a += c} /;thread_beta;cold_compute/ {b += c}
	/thread_alpha;cold_compute|thread_beta;hot_compute/ {m += c} END {print a + 0, b + 0, m + 0}' "$TMP/threads.folded")"
echo "threads: alpha $A, beta $B, crossed $MIX"
[ "$A" -ge 300 ] && [ "$B" -ge 300 ] && [ "$MIX" -eq 0 ] || fail "threads: alpha $A beta $B crossed $MIX"
pass "threads: each thread has its own Python stack"

# Python frames survive a snapshot and its replay: a second agent serving the snapshot, merged
# beside the live one, names the same Python frames and lines.
mkdir -p "$TMP/snaps"
"$WISP" -c "$URL" snapshot --start -2m --dir "$TMP/snaps" >"$TMP/snap.out" || fail "snapshot"
SNAP=$(cut -f1 "$TMP/snap.out" | head -1)
start replay "$WISPD" agent --coordinator "$URL" --node replayed --ring-mb 64 --source "replay:$SNAP"
wait_agents "$PORT" 2
"$WISP" -c "$URL" run flamegraph -o folded -- --node replayed --pid "$SPLIT" --start -3m --lang python --lines \
	>"$TMP/replayed.folded" || fail "flamegraph of the replay failed"
grep -qE "^python3\.11;<module> pyburn\.py:[0-9]+;main pyburn\.py:[0-9]+;handler pyburn\.py:[0-9]+;hot_compute pyburn\.py:$HOTLINE [0-9]+$" \
	"$TMP/replayed.folded" || fail "the replayed snapshot lost the Python frames: $(head -3 "$TMP/replayed.folded")"
pass "a snapshot's replay names the same Python frames and lines"
