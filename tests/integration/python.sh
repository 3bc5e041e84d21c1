#!/usr/bin/env bash
# python.sh - Python frames of programs run by Debian's /usr/bin/python3 (3.11, no frame
# pointers, non-PIE), with no change to them (tests/workloads/pyburn.py):
#   - the walker's 3.11 offsets (vizier/agent/python/pyversion.c) equal offsetof() compiled
#     against Debian's own internal headers (python3.11-dev), when they are installed;
#   - a program spending 3/4 and 1/4 of its CPU in two Python functions: >= 95 % of its samples
#     carry Python frames, top_functions' total shares are within 3 points of the split, --lines
#     names file:line, the flame graph reads <module>;main;handler;hot_compute, and with
#     --lang python it reads that alone;
#   - json.loads: the C extension's frames sit above the Python frame that called it;
#   - two threads: each shows its own Python stack.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3.11
[ -x "$PY" ] || fail "no $PY (deploy/install-deps.sh installs python3.11)"
WL=$SRC_DIR/tests/workloads/pyburn.py

HDR=/usr/include/python3.11/internal/pycore_frame.h
if [ -f "$HDR" ]; then
	cat >"$TMP/off.c" <<'C'
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_runtime.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_frame.h>
#include <stdio.h>
#include <stddef.h>
int main(void)
{
	printf("interp_head %zu\ninterp_threads %zu\nts_next %zu\nts_native_tid %zu\nts_frame %zu\n",
	       offsetof(_PyRuntimeState, interpreters.head), offsetof(PyInterpreterState, threads.head),
	       offsetof(PyThreadState, next), offsetof(PyThreadState, native_thread_id), offsetof(PyThreadState, cframe));
	printf("cframe_frame %zu\nf_code %zu\nf_previous %zu\nf_instr %zu\nf_entry %zu\n",
	       offsetof(_PyCFrame, current_frame), offsetof(_PyInterpreterFrame, f_code),
	       offsetof(_PyInterpreterFrame, previous), offsetof(_PyInterpreterFrame, prev_instr),
	       offsetof(_PyInterpreterFrame, is_entry));
	return 0;
}
C
	cc -I/usr/include/python3.11 "$TMP/off.c" -o "$TMP/off" || fail "cannot compile against the 3.11 headers"
	"$TMP/off" >"$TMP/off.want"
	# The table as the agent has it: ".name = N" pairs of layout_311.
	sed -n '/^static const struct wisp_py_proc layout_311/,/^};/p' "$SRC_DIR/vizier/agent/python/pyversion.c" |
		grep -o '\.[a-z_]* = [0-9]*' | sed 's/^\.//; s/ = / /' | sort >"$TMP/off.have"
	sort "$TMP/off.want" | join - "$TMP/off.have" | awk '$2 != $3 {bad = 1; print "offset", $1, "headers", $2, "table", $3} END {exit bad}' ||
		fail "the 3.11 table disagrees with the headers"
	[ "$(join <(sort "$TMP/off.want") "$TMP/off.have" | wc -l)" -eq 10 ] || fail "the 3.11 table lacks offsets"
	pass "3.11 offsets equal Debian's headers"
else
	echo "skip: no python3.11-dev headers; offsets not cross-checked"
fi

PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start wispd "$WISPD" standalone --listen "127.0.0.1:$PORT" --node pytest --ring-mb 32 --hz 499
wait_agents "$PORT" 1

# run MODE SECONDS: starts the workload (after the agent), waits for it, sets PYPID.
run() {
	"$PY" "$WL" "$2" "$1" >"$TMP/$1.pid" &
	PIDS+=($!)
	sleep "$2"
	sleep 0.5
	PYPID=$(cat "$TMP/$1.pid")
}

run split 7
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

run threads 5
"$WISP" -c "$URL" run flamegraph -o folded -- --pid "$PYPID" --start -5s >"$TMP/threads.folded" || fail "flamegraph failed"
read -r A B MIX <<<"$(awk '{c = $NF} /;thread_alpha;hot_compute/ {a += c} /;thread_beta;cold_compute/ {b += c}
	/thread_alpha;cold_compute|thread_beta;hot_compute/ {m += c} END {print a + 0, b + 0, m + 0}' "$TMP/threads.folded")"
echo "threads: alpha $A, beta $B, crossed $MIX"
[ "$A" -ge 300 ] && [ "$B" -ge 300 ] && [ "$MIX" -eq 0 ] || fail "threads: alpha $A beta $B crossed $MIX"
pass "threads: each thread has its own Python stack"
