#!/usr/bin/env bash
# export_continuous.sh - `wispd --export s3://... --export-every 2s` against a real S3-protocol
# server (npm s3rver): an agent killed (SIGKILL) and started again, then the store stopped for
# 8 s and started again. Every interval is in the store exactly once: the manifests tile time
# with no gap and no overlap, no interval is uploaded twice, the intervals the agent was down for
# are there with 0 samples, those it ran for hold every sample the synthetic source made
# (2 CPUs x 99 Hz x 2 s), `wisp agents` shows export falling behind while the store is down and
# catching up after, and an agent serving the export (--source s3://) counts each sample once.
. "$(dirname "$0")/lib.sh"
start_store 1
PORT=$(free_port)
URL=ws://127.0.0.1:$PORT
agent() {
	start "wispd$1" "$WISPD" standalone --listen "127.0.0.1:$PORT" --node c1 --ring-mb 32 \
		--source "synthetic:cpus=2,hz=99,stacks=500,procs=20,threads=50,seed=7" --export s3://wisp/cont --export-every 2s
	AGENT_PID=$LAST_PID
	wait_agents "$PORT" 1
}
lag() { "$WISP" -c "$URL" agents -o json | json_eval 'd.tables[0].rows[0][d.tables[0].columns.indexOf("export_lag_s")]'; }

agent 1
sleep 9
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
sleep 4 # down: two intervals without an agent
agent 2
for i in $(seq 50); do grep -q "resuming after cont/c1/" "$TMP/wispd2.log" && break; sleep 0.1; done
grep -q "resuming after cont/c1/" "$TMP/wispd2.log" || fail "the restarted agent did not find its cursor: $(cat "$TMP/wispd2.log")"
sleep 7
kill "$S3_PID"
wait "$S3_PID" 2>/dev/null || true
sleep 8
behind=$(lag)
start_store 2
sleep 9
after=$(lag)
node -e "process.exit($behind >= 8 && $after < 6 ? 0 : 1)" || fail "export lag: $behind s with the store down, $after s after"
grep -q "not uploaded (retrying in" "$TMP/wispd2.log" || fail "no failed upload logged while the store was down"
pass "export fell $behind s behind with the store down, caught up to $after s"
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true

# The store's view: every manifest, in time order.
node -e '
const fs = require("fs"), path = require("path");
const files = [];
(function walk(d) { for (const f of fs.readdirSync(d)) { const p = path.join(d, f);
  if (fs.statSync(p).isDirectory()) walk(p); else if (p.endsWith(".manifest.json._S3rver_object")) files.push(p); } })(process.argv[1]);
const ms = files.map(f => JSON.parse(fs.readFileSync(f))).sort((a, b) => a.start_ns - b.start_ns);
const logs = process.argv.slice(2).map(f => fs.readFileSync(f, "utf8")).join("");
const logged = (logs.match(/export: uploaded \S+/g) || []).map(l => l.split(" ")[2]);
const uploads = logged.length, twice = logged.filter((k, i) => logged.indexOf(k) !== i);
let bad = [], empty = 0, full = 0;
for (let i = 0; i < ms.length; i++) {
  const m = ms[i];
  if (m.end_ns - m.start_ns !== 2e9 || m.start_ns % 2e9 !== 0) bad.push(`interval ${i} is not an aligned 2 s`);
  if (i && m.start_ns !== ms[i - 1].end_ns) bad.push(`gap or overlap before interval ${i}`);
  if (m.samples === 0) empty++;
  if (m.samples === 396) full++;
}
/* Each upload is logged after its manifest is stored: a SIGKILL between the two may swallow one
   line, never add one. An interval uploaded twice would be logged twice. */
if (twice.length) bad.push(`uploaded twice: ${twice.join(", ")}`);
if (uploads > ms.length || uploads < ms.length - 1) bad.push(`${uploads} uploads logged for ${ms.length} intervals`);
if (empty < 1) bad.push("no empty interval for the time the agent was down");
if (full < ms.length - empty - 4) bad.push(`only ${full} of ${ms.length - empty} intervals hold all 396 samples`);
console.log(`${ms.length} intervals, ${uploads} uploads, ${full} full, ${empty} empty, samples ${ms.reduce((a, m) => a + m.samples, 0)}`);
fs.writeFileSync(process.argv[1] + "/../total", String(ms.reduce((a, m) => a + m.samples, 0)));
if (bad.length) { console.error(bad.join("\n")); process.exit(1); }
' "$TMP/store" "$TMP/wispd1.log" "$TMP/wispd2.log" || fail "the exported intervals are not exactly once"
pass "every interval exactly once, across a SIGKILL and a store outage"

# Served back: each sample once.
start served "$WISPD" standalone --listen "127.0.0.1:$PORT" --node c1 --source s3://wisp/cont --cache-dir "$TMP/cache"
wait_agents "$PORT" 1
got=$("$WISP" -c "$URL" run processes -o json -- --start 0 --limit 1000 | json_eval 'd.tables[0].rows.reduce((a, r) => a + r[d.tables[0].columns.indexOf("samples")], 0)')
[ "$got" = "$(cat "$TMP/total")" ] || fail "served back: $got samples, the manifests say $(cat "$TMP/total")"
pass "served back with --source s3://: $got samples, as the manifests say"
