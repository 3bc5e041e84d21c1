#!/usr/bin/env bash
# pprof.sh - `wisp run ... -o pprof` read by Debian's `go tool pprof` (golang-go), as users of
# pprof, Pyroscope and Parca read profiles: for a program that has exited (so both queries see
# the same samples), pprof's flat and cumulative counts of every function equal top_functions'
# self and total samples; its CPU time is the samples times the agent's period; the labels carry
# the pid and comm; mappings name the program (first) and libc with their build ids; a -g program's lines reach pprof's -lines view; flamegraph's folded stacks
# convert too; a table without stacks and a terminal on stdout are refused with a clear error.
. "$(dirname "$0")/lib.sh"
command -v go >/dev/null || fail "go (golang-go) is missing: run deploy/install-deps.sh"
export HOME=$TMP GOCACHE=$TMP/gocache GOFLAGS=-mod=mod # go tool writes nothing else
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
HZ=499
start wispd "$WISPD" standalone --listen "127.0.0.1:$PORT" --node itest --ring-mb 32 --hz $HZ
wait_agents "$PORT" 1

"$NOFP" 3 >"$TMP/nofp.pid"
PID=$(cat "$TMP/nofp.pid")
"$BUILD_DIR/tests/inlined" 3 >"$TMP/inlined.pid"
IPID=$(cat "$TMP/inlined.pid")
sleep 1 # the last samples reach the ring

# pprof_top FILE ARGS...: "flat cum name" lines of go tool pprof -top, in samples.
pprof_top() {
	local f=$1; shift
	go tool pprof -top -symbolize=none -sample_index=samples -nodecount=100000 -nodefraction=0 -edgefraction=0 "$@" "$f" 2>"$TMP/pprof.err" |
		awk 'hdr && NF >= 6 {name = $6; for (i = 7; i <= NF; i++) name = name " " $i; print $1, $4, name} /flat%/ {hdr = 1}'
}

"$WISP" -c "$URL" run profile -o pprof -- --pid "$PID" --start -1m >"$TMP/cpu.pb.gz" || fail "run profile -o pprof failed"
pprof_top "$TMP/cpu.pb.gz" >"$TMP/pprof.top"
[ -s "$TMP/pprof.top" ] || fail "go tool pprof read nothing: $(cat "$TMP/pprof.err")"
"$WISP" -c "$URL" run top_functions -o json -- --pid "$PID" --start -1m --limit 100000 >"$TMP/top.json"
node -e '
const fs = require("fs");
const top = JSON.parse(fs.readFileSync(process.argv[1])).tables[0];
const col = n => top.columns.indexOf(n);
const want = new Map(top.rows.map(r => [r[col("function")], [r[col("self_samples")], r[col("total_samples")]]]));
const got = new Map();
for (const l of fs.readFileSync(process.argv[2], "utf8").trim().split("\n")) {
  const m = /^(\d+) (\d+) (.*)$/.exec(l);
  if (!m) { console.error("unparsed pprof line: " + l); process.exit(1); }
  got.set(m[3], [+m[1], +m[2]]);
}
let bad = 0;
for (const [f, [s, t]] of want) {
  const g = got.get(f) || [0, 0];
  if (g[0] !== s || g[1] !== t) { if (bad++ < 5) console.error(`${f}: top_functions ${s}/${t}, pprof ${g[0]}/${g[1]}`); }
}
for (const f of got.keys()) if (!want.has(f)) { if (bad++ < 5) console.error(`${f}: only in pprof`); }
const sum = [...want.values()].reduce((a, v) => a + v[0], 0);
console.log(`nofp: ${want.size} functions, ${sum} samples, ${bad} differ`);
process.exit(bad || want.size < 5 ? 1 : 0);
' "$TMP/top.json" "$TMP/pprof.top" || fail "pprof -top and top_functions disagree"
pass "go tool pprof -top equals top_functions, function by function (self and total)"

# CPU time: samples x 1e9 / the agent's rate; labels pid and comm.
TOTAL=$(awk '{s += $1} END {print s}' "$TMP/pprof.top")
go tool pprof -top -symbolize=none -unit=ns -nodecount=1 "$TMP/cpu.pb.gz" 2>/dev/null >"$TMP/cpu.top"
grep -q "^Type: cpu" "$TMP/cpu.top" || fail "pprof: the default sample type is not cpu: $(head -5 "$TMP/cpu.top")"
NS=$(sed -n 's/.* of \([0-9]*\)ns total.*/\1/p' "$TMP/cpu.top")
[ "$NS" = "$((TOTAL * (1000000000 / HZ)))" ] || fail "pprof: $NS ns of CPU for $TOTAL samples at $HZ Hz"
go tool pprof -tags -symbolize=none "$TMP/cpu.pb.gz" 2>/dev/null >"$TMP/tags.txt"
grep -q "nofp" "$TMP/tags.txt" && grep -q "$PID" "$TMP/tags.txt" || fail "pprof -tags: no comm/pid labels: $(head -20 "$TMP/tags.txt")"
pass "cpu/nanoseconds = $TOTAL samples x $((1000000000 / HZ)) ns; labels comm and pid"

# Mappings: the program first (pprof's "File:"), with its build id; libc with libc's.
BID=$(readelf -n "$NOFP" | sed -n 's/.*Build ID: *//p')
go tool pprof -raw -symbolize=none "$TMP/cpu.pb.gz" 2>/dev/null | sed -n '/^Mappings/,$p' >"$TMP/maps.txt"
grep -q "^1: .* $NOFP $BID " "$TMP/maps.txt" || fail "pprof mappings: nofp ($BID) is not first: $(cat "$TMP/maps.txt")"
grep -q "libc.so.6 [0-9a-f]\{40\} " "$TMP/maps.txt" || fail "pprof mappings: no libc with a build id: $(cat "$TMP/maps.txt")"
pass "mappings: $(wc -l <"$TMP/maps.txt") lines, nofp first with build id $BID, libc with its own"

# Lines: the -g program's hot line, as pprof -lines shows it.
"$WISP" -c "$URL" run profile -o pprof -- --pid "$IPID" --start -1m >"$TMP/inl.pb.gz"
LOOP=$(grep -n 'LINE:scramble' "$SRC_DIR/tests/workloads/inlined.c" | cut -d: -f1)
pprof_top "$TMP/inl.pb.gz" -lines | head -1 >"$TMP/inl.top"
grep -Eq " scramble .*inlined\.c:($LOOP|$((LOOP - 1)))$" "$TMP/inl.top" || fail "pprof -lines: top is '$(cat "$TMP/inl.top")'"
pass "pprof -lines: $(cat "$TMP/inl.top")"

# Folded stacks (flamegraph) convert too: the same total.
"$WISP" -c "$URL" run flamegraph -o pprof -- --pid "$PID" --start -1m >"$TMP/fg.pb.gz" || fail "flamegraph -o pprof failed"
FG=$(pprof_top "$TMP/fg.pb.gz" | awk '{s += $1} END {print s}')
[ "$FG" = "$TOTAL" ] || fail "flamegraph -o pprof: $FG samples, profile: $TOTAL"
pass "flamegraph -o pprof: the same $FG samples"

# Refusals: a table without stacks; a terminal.
if "$WISP" -c "$URL" run top_functions -o pprof -- --pid "$PID" --start -1m >"$TMP/none.pb.gz" 2>"$TMP/none.err"; then
	fail "top_functions -o pprof succeeded"
fi
grep -q "needs a table with a stack column" "$TMP/none.err" || fail "top_functions -o pprof: '$(cat "$TMP/none.err")'"
[ ! -s "$TMP/none.pb.gz" ] || fail "top_functions -o pprof wrote bytes"
script -qec "$WISP -c $URL run profile -o pprof" /dev/null >"$TMP/tty.out" 2>&1 || true
grep -q "redirect it to a file" "$TMP/tty.out" || fail "-o pprof to a terminal: '$(cat "$TMP/tty.out")'"
pass "refused: a table without stacks, a terminal"
