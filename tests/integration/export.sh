#!/usr/bin/env bash
# export.sh - `wisp export s3://...` against a real S3-protocol server (npm s3rver), the objects
# listed and fetched with Debian's s3cmd, as an operator would check them. Three agents (one
# large enough that its snapshot goes up in parts) export a fixed 40-minute range: each node gets
# its snapshot and a manifest whose sha256, size and sample count match the object; served
# again by agents reading the store (--source s3://), every time-ranged bundled script gives
# byte for byte what it gave live over that range; --interval names aligned intervals; --format
# pprof exports go tool pprof reads. Then the faults: wrong credentials and a missing bucket fail fast with
# the store's words; a store that is down fails after retries, with the agents' rings untouched;
# a store down when the upload starts and back a second later still gets the export, and so does
# one killed in the middle of a multipart upload, or answering 500 to a part; an object
# truncated in the store, or a manifest that disagrees with its object, is named by the query
# that reaches it, which fails rather than answer without it. The s3 source fetches lazily: only
# the exports a query's range overlaps, and finds exports written after it started.
. "$(dirname "$0")/../soak/fleet.sh"
command -v s3cmd >/dev/null || fail "s3cmd is missing: run deploy/install-deps.sh"
start_store
cat >"$TMP/s3cfg" <<CFG
[default]
access_key = S3RVER
secret_key = S3RVER
host_base = 127.0.0.1:$S3PORT
host_bucket = 127.0.0.1:$S3PORT
use_https = False
signature_v2 = False
CFG
S3CMD=(s3cmd -c "$TMP/s3cfg" --no-progress)

PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
start_coordinator "$PORT"
sleep 0.3
base=hz=99,backfill=1h,speed=100000
start a1 "$WISPD" agent --coordinator "$URL" --node a1 --ring-mb 32 --source "synthetic:cpus=4,stacks=5000,procs=200,threads=1000,$base,seed=1"
start a2 "$WISPD" agent --coordinator "$URL" --node a2 --ring-mb 32 --source "synthetic:cpus=2,stacks=2000,procs=50,threads=200,$base,seed=2"
start a3 "$WISPD" agent --coordinator "$URL" --node a3 --ring-mb 128 --source "synthetic:cpus=24,stacks=20000,procs=400,threads=2000,$base,seed=3"
wait_listed "$PORT" 3 30
wait_held "$PORT" 3 0.99 180

NOW=$(date +%s%N)
T1=$((NOW - 120000000000))
T0=$((T1 - 2400000000000))
"$WISP" -c "$URL" export s3://wisp/prof/v1 --start "$T0" --end "$T1" >"$TMP/export.out" 2>"$TMP/export.err" ||
	fail "export failed: $(cat "$TMP/export.err")"
cat "$TMP/export.out"
"${S3CMD[@]}" ls -r s3://wisp/prof/v1/ >"$TMP/ls.txt" || fail "s3cmd ls failed"
[ "$(grep -c '\.wispsnap$' "$TMP/ls.txt")" = 3 ] && [ "$(grep -c '\.manifest\.json$' "$TMP/ls.txt")" = 3 ] ||
	fail "the store does not hold 3 snapshots and 3 manifests: $(cat "$TMP/ls.txt")"
mkdir -p "$TMP/got"
"${S3CMD[@]}" get -r s3://wisp/prof/v1/ "$TMP/got/" >/dev/null || fail "s3cmd get failed"
for n in a1 a2 a3; do
	man=$(ls "$TMP"/got/$n/*.manifest.json 2>/dev/null || find "$TMP/got" -path "*$n*" -name '*.manifest.json')
	snap=${man%.manifest.json}.wispsnap
	[ -f "$snap" ] || fail "$n: no snapshot beside $man"
	node -e '
const fs = require("fs"), crypto = require("crypto");
const m = JSON.parse(fs.readFileSync(process.argv[1])), b = fs.readFileSync(process.argv[2]);
const sha = crypto.createHash("sha256").update(b).digest("hex");
const bad = [];
if (m.node !== process.argv[3]) bad.push("node " + m.node);
if (m.sha256 !== sha) bad.push("sha256 " + m.sha256 + " vs " + sha);
if (m.bytes !== b.length) bad.push("bytes " + m.bytes + " vs " + b.length);
if (m.start_ns !== +process.argv[4] || m.end_ns !== +process.argv[5]) bad.push("range");
if (!(m.samples > 0) || m.format !== "wispsnap") bad.push("samples/format");
if (bad.length) { console.error(process.argv[3] + ": " + bad.join(", ")); process.exit(1); }
console.log(`${m.node}: ${b.length} bytes, ${m.samples} samples, sha256 ${sha.slice(0, 12)}...`);
' "$man" "$snap" "$n" "$T0" "$T1" || fail "$n: the manifest does not match its object"
done
BIG=$(stat -c %s "$(find "$TMP/got" -path '*a3*' -name '*.wispsnap')")
[ "$BIG" -gt $((8 << 20)) ] || fail "a3's snapshot is $BIG bytes: too small to go up in parts"
pass "3 nodes exported: snapshots and manifests agree (a3's $BIG bytes in parts)"

# Served again: agents reading the store under a second coordinator answer as the live ones did.
RPORT=$(free_port)
start coordinator2 "$WISPD" coordinator --listen "127.0.0.1:$RPORT" --node coord2
sleep 0.3
for n in a1 a2 a3; do
	start "r$n" "$WISPD" agent --coordinator "ws://127.0.0.1:$RPORT" --node "$n" --ring-mb 128 \
		--source s3://wisp/prof/v1 --cache-dir "$TMP/cache-$n"
done
wait_listed "$RPORT" 3 30
grep -q "1 exports of node a3 under s3://wisp/prof/v1, loaded as queries reach them" "$TMP/ra3.log" ||
	fail "s3 source: $(cat "$TMP/ra3.log")"
[ "$(find "$TMP/cache-a3" -name '*.wispsnap' | wc -l)" = 0 ] || fail "s3 source: a3 fetched before any query"
TM=$((T0 + 1200000000000))
R="--start $T0 --end $T1"
checked=0
while read -r script args; do
	"$WISP" -c "$URL" run "$script" -o csv --max-rows 1000000 -- $args >"$TMP/live.csv" 2>"$TMP/live.err" ||
		fail "$script live: $(cat "$TMP/live.err")"
	"$WISP" -c "ws://127.0.0.1:$RPORT" run "$script" -o csv --max-rows 1000000 -- $args >"$TMP/replay.csv" 2>"$TMP/replay.err" ||
		fail "$script replayed: $(cat "$TMP/replay.err")"
	[ "$(wc -l <"$TMP/live.csv")" -gt 1 ] || fail "$script: no rows live"
	cmp -s "$TMP/live.csv" "$TMP/replay.csv" ||
		fail "$script: the export answers differently: $(diff "$TMP/live.csv" "$TMP/replay.csv" | head -5)"
	checked=$((checked + 1))
done <<SCRIPTS
top_functions $R --limit 100
flamegraph $R --limit 2000
processes $R --limit 500
threads $R --limit 500
containers $R
node_cpu $R --bin 5m
kernel_vs_user $R --limit 500
diff --baseline-start $T0 --baseline-end $TM --start $TM --end $T1 --limit 100
diff_flamegraph --baseline-start $T0 --baseline-end $TM --start $TM --end $T1 --limit 500
profile $R --limit 20000
SCRIPTS
[ "$(find "$TMP/cache-a3" -name '*.wispsnap' | wc -l)" = 1 ] || fail "s3 source: a3's object is not in its cache"
pass "$checked bundled scripts give the same answer over the export as live (ring_stats is not time-ranged)"

# Lazily: a query before the exported range fetches nothing; exports written later are found.
"$WISP" -c "$URL" export s3://wisp/lazy --start "$T0" --end "$TM" >/dev/null || fail "export lazy/ failed"
LPORT=$(free_port)
WISP_S3_RELIST_S=2 start lazy "$WISPD" standalone --listen "127.0.0.1:$LPORT" --node a1 --source s3://wisp/lazy --cache-dir "$TMP/cache-lazy"
wait_agents "$LPORT" 1
"$WISP" -c "ws://127.0.0.1:$LPORT" run processes -- --start "$((T0 - 3600000000000))" --end "$((T0 - 1800000000000))" >/dev/null ||
	fail "a query before the export failed"
[ "$(find "$TMP/cache-lazy" -name '*.wispsnap' | wc -l)" = 0 ] || fail "a query outside every export fetched one"
"$WISP" -c "$URL" export s3://wisp/lazy --start "$TM" --end "$T1" >/dev/null || fail "export lazy/ (second half) failed"
sleep 3 # the listing is read again after WISP_S3_RELIST_S (default 30 s)
"$WISP" -c "ws://127.0.0.1:$LPORT" run top_functions -o csv -- $R --limit 100 --node a1 >"$TMP/lazy.csv"
"$WISP" -c "$URL" run top_functions -o csv -- $R --limit 100 --node a1 >"$TMP/live.csv"
cmp -s "$TMP/lazy.csv" "$TMP/live.csv" || fail "two adjacent exports served lazily differ from live: $(diff "$TMP/lazy.csv" "$TMP/live.csv" | head -3)"
[ "$(find "$TMP/cache-lazy" -name '*.wispsnap' | wc -l)" = 2 ] || fail "the lazy source did not fetch both halves"
pass "lazy: nothing fetched for a range outside the exports; a later export found; two halves answer as live"

# A scheduled job's export: --interval names the last closed interval, the same on a rerun (both
# runs kept clear of a 10-minute boundary, where the interval rightly moves on).
into=$(( ($(date +%s) - 3) % 600 ))
[ "$into" -lt 570 ] || sleep $((600 - into + 2))
"$WISP" -c "$URL" export s3://wisp/hourly --interval 10m >"$TMP/i1.out" || fail "export --interval failed"
"$WISP" -c "$URL" export s3://wisp/hourly --interval 10m >"$TMP/i2.out" || fail "export --interval failed"
keys=$("${S3CMD[@]}" ls -r s3://wisp/hourly/ | grep -c '\.manifest\.json$')
[ "$keys" = 3 ] || fail "two runs of --interval 10m left $keys manifests, not 3"
grep -Eq '/a1/[0-9]{8}T[0-9]{2}[0-5]000Z-[0-9]{8}T[0-9]{2}[0-5]000Z\.wispsnap' "$TMP/i1.out" ||
	fail "--interval 10m did not name an aligned interval: $(cat "$TMP/i1.out")"
pass "export --interval 10m: $(sed -n 's/.*\/a1\/\([^.]*\).*/\1/p' "$TMP/i1.out"), the same keys on a rerun"

# pprof for other tools: go tool pprof reads a node's export, holding every sample of the range.
"$WISP" -c "$URL" export s3://wisp/pprof --start "$T0" --end "$T1" --format pprof >"$TMP/pp.out" ||
	fail "export --format pprof failed"
[ "$(grep -c '\.pb\.gz' "$TMP/pp.out")" = 3 ] || fail "export --format pprof: $(cat "$TMP/pp.out")"
mkdir -p "$TMP/pp"
"${S3CMD[@]}" get -r s3://wisp/pprof/a1/ "$TMP/pp/" >/dev/null
want=$("$WISP" -c "$URL" run processes -o json -- --node a1 --start "$T0" --end "$T1" --limit 100000 |
	json_eval 'd.tables[0].rows.reduce((a, r) => a + r[d.tables[0].columns.indexOf("samples")], 0)')
got=$(HOME=$TMP go tool pprof -top -symbolize=none -sample_index=samples -nodecount=1 "$TMP"/pp/*.pb.gz 2>/dev/null |
	sed -n 's/.* of \([0-9]*\) total.*/\1/p')
[ -n "$got" ] && [ "$got" = "$want" ] || fail "a1's pprof export: go tool pprof counts '$got' samples, the ring $want"
grep -q '"format":"pprof"' "$TMP"/pp/*.manifest.json || fail "the pprof export's manifest does not say pprof"
pass "export --format pprof: go tool pprof reads a1's $got samples"

# Faults. Wrong credentials and a missing bucket: the store's words, no retries.
if AWS_ACCESS_KEY_ID=WRONG "$WISP" -c "$URL" export s3://wisp/bad --start -10m 2>"$TMP/cred.err" >/dev/null; then
	fail "export with wrong credentials succeeded"
fi
grep -q "HTTP 403, InvalidAccessKeyId" "$TMP/cred.err" || fail "wrong credentials: '$(cat "$TMP/cred.err")'"
if "$WISP" -c "$URL" export s3://nosuchbucket/x --start -10m 2>"$TMP/bucket.err" >/dev/null; then
	fail "export to a missing bucket succeeded"
fi
grep -q "HTTP 404, NoSuchBucket" "$TMP/bucket.err" || fail "missing bucket: '$(cat "$TMP/bucket.err")'"
grep -q "after retries" "$TMP/cred.err" "$TMP/bucket.err" && fail "a refusal was retried: $(cat "$TMP/cred.err")"
pass "wrong credentials and a missing bucket: $(head -1 "$TMP/cred.err" | cut -c1-90)..."

# The store down: retries, then a clear error; the rings are untouched.
before=$("$WISP" -c "$URL" run top_functions -o csv -- $R --limit 5)
kill "$S3_PID"
wait "$S3_PID" 2>/dev/null || true
if "$WISP" -c "$URL" export s3://wisp/down --start -10m 2>"$TMP/down.err" >/dev/null; then
	fail "export to a stopped store succeeded"
fi
grep -q "Couldn't connect to server (5 tries)" "$TMP/down.err" || fail "store down: '$(cat "$TMP/down.err")'"
[ "$("$WISP" -c "$URL" run top_functions -o csv -- $R --limit 5)" = "$before" ] || fail "the rings changed after a failed export"
pass "store down: $(head -1 "$TMP/down.err" | sed 's/.*: //')"

# Down when the upload starts, back a second later: the retries carry the export through.
"$WISP" -c "$URL" export s3://wisp/late --start "$T0" --end "$T1" >"$TMP/late.out" 2>"$TMP/late.err" &
EXPORT_PID=$!
sleep 1
start_store 2
wait "$EXPORT_PID" || fail "export across a store restart failed: $(cat "$TMP/late.err")"
[ "$("${S3CMD[@]}" ls -r s3://wisp/late/ | grep -c '\.wispsnap$')" = 3 ] || fail "the late export is incomplete"
pass "store back within the retries: all 3 nodes exported"

# object_whole DIR: the one snapshot in DIR matches the manifest beside it (sha256, size).
object_whole() {
	node -e '
const fs = require("fs"), crypto = require("crypto"), d = process.argv[1];
const man = fs.readdirSync(d).find(f => f.endsWith(".manifest.json")), m = JSON.parse(fs.readFileSync(d + "/" + man));
const b = fs.readFileSync(d + "/" + man.replace(".manifest.json", ".wispsnap"));
process.exit(crypto.createHash("sha256").update(b).digest("hex") === m.sha256 && b.length === m.bytes ? 0 : 1);
' "$1"
}

# Killed in the middle of a multipart upload (a3's, once s3rver has begun it) and started again
# a second later: the part in flight is retried, the upload completes, the object is whole.
"$WISP" -c "$URL" export s3://wisp/mid --start "$T0" --end "$T1" >"$TMP/mid.out" 2>"$TMP/mid.err" &
EXPORT_PID=$!
for i in $(seq 2000); do
	find "$TMP/store" -path '*uploads*' -name key 2>/dev/null | contains . && break
	sleep 0.005
done
kill -9 "$S3_PID"
wait "$S3_PID" 2>/dev/null || true
[ "$i" -lt 2000 ] || fail "a3's multipart upload never began"
sleep 1
start_store 3
wait "$EXPORT_PID" || fail "export across a kill mid-upload failed: $(cat "$TMP/mid.err")"
mkdir -p "$TMP/mid"
"${S3CMD[@]}" get -r s3://wisp/mid/a3/ "$TMP/mid/" >/dev/null
object_whole "$TMP/mid" || fail "a3's object after a kill mid-upload does not match its manifest"
pass "s3rver killed in the middle of a3's multipart upload: completed, the object whole"

# A 500 in the middle of a multipart upload (a3's second part, twice): retried, completed, whole.
FPORT=$(free_port)
start s3fault node "$SRC_DIR/tests/tools/s3fault.js" "$FPORT" "$S3PORT" "partNumber=2&" 2
sleep 0.5
AWS_ENDPOINT_URL=http://127.0.0.1:$FPORT "$WISP" -c "$URL" export s3://wisp/five --start "$T0" --end "$T1" >/dev/null \
	2>"$TMP/five.err" || fail "export through two injected 500s failed: $(cat "$TMP/five.err")"
[ "$(grep -c '^injected' "$TMP/s3fault.log")" = 2 ] || fail "the proxy did not inject two 500s: $(cat "$TMP/s3fault.log")"
mkdir -p "$TMP/five"
"${S3CMD[@]}" get -r s3://wisp/five/a3/ "$TMP/five/" >/dev/null
object_whole "$TMP/five" || fail "a3's object after two 500s mid-upload does not match its manifest"
pass "two 500s on a3's second part: retried, the upload completed, the object whole"

# Damaged in the store: a2's object truncated, a1's manifest naming another checksum.
obj=$(find "$TMP/store/wisp/late/a2" -name '*.wispsnap._S3rver_object')
truncate -s 100000 "$obj"
man=$(find "$TMP/store/wisp/late/a1" -name '*.manifest.json._S3rver_object')
sed -i 's/"sha256":"[0-9a-f]\{8\}/"sha256":"00000000/' "$man"
for n in a1 a2; do
	DPORT=$(free_port)
	start "damaged-$n" "$WISPD" standalone --listen "127.0.0.1:$DPORT" --node "$n" --source s3://wisp/late \
		--cache-dir "$TMP/cache-late-$n"
	wait_agents "$DPORT" 1
	if "$WISP" -c "ws://127.0.0.1:$DPORT" run top_functions -- $R >/dev/null 2>"$TMP/damaged-$n.err"; then
		fail "$n: a query over a damaged export succeeded"
	fi
	grep -q "late/$n/.*truncated or altered in the store" "$TMP/damaged-$n.err" ||
		fail "$n damaged: '$(cat "$TMP/damaged-$n.err")'"
done
pass "damaged exports refused by the query that needs them: $(head -1 "$TMP/damaged-a2.err" | cut -c1-150)..."
