#!/usr/bin/env bash
# export_ten.sh - issue 12's long check, not in .ci/run (ten minutes): continuous export at
# --export-every 30s for five minutes, wispd stopped and started again, five more minutes,
# against a real S3-protocol server (s3rver). Every interval must be in the store exactly once:
# no gap, no overlap, no key uploaded twice. Prints the intervals' sample counts.
#   BUILD_DIR=build tests/soak/export_ten.sh   (MINUTES=10 by default, half before the restart)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SRC_DIR=${SRC_DIR:-$(cd "$here/../.." && pwd)}
export BUILD_DIR=${BUILD_DIR:-$SRC_DIR/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$SRC_DIR/$BUILD_DIR ;; esac
. "$SRC_DIR/tests/integration/lib.sh"
half=$(( ${MINUTES:-10} * 30 ))
start_store
PORT=$(free_port)
run() {
	start "wispd$1" "$WISPD" standalone --listen "127.0.0.1:$PORT" --node ten --ring-mb 32 \
		--source "synthetic:cpus=2,hz=99,stacks=500,procs=20,threads=50,seed=9" --export s3://wisp/ten --export-every 30s
	W=$LAST_PID
}
run 1
sleep "$half"
kill "$W"; wait "$W" 2>/dev/null || true
sleep 2
run 2
sleep "$half"
kill "$W"; wait "$W" 2>/dev/null || true
node -e '
const fs = require("fs"), path = require("path"), files = [];
(function walk(d) { for (const f of fs.readdirSync(d)) { const p = path.join(d, f);
  if (fs.statSync(p).isDirectory()) walk(p); else if (p.endsWith(".manifest.json._S3rver_object")) files.push(p); } })(process.argv[1]);
const ms = files.map(f => JSON.parse(fs.readFileSync(f))).sort((a, b) => a.start_ns - b.start_ns);
const logged = process.argv.slice(2).map(f => fs.readFileSync(f, "utf8")).join("").match(/export: uploaded \S+/g) || [];
const twice = logged.filter((k, i) => logged.indexOf(k) !== i);
let gaps = 0; for (let i = 1; i < ms.length; i++) if (ms[i].start_ns !== ms[i - 1].end_ns) gaps++;
console.log(`export_ten_intervals ${ms.length} intervals`);
console.log(`export_ten_uploads ${logged.length} uploads`);
console.log(`export_ten_twice ${twice.length} intervals`);
console.log(`export_ten_gaps ${gaps} gaps`);
console.log("# samples per interval: " + ms.map(m => m.samples).join(" "));
process.exit(twice.length || gaps || logged.length !== ms.length ? 1 : 0);
' "$TMP/store" "$TMP/wispd1.log" "$TMP/wispd2.log" || fail "continuous export was not exactly once"
pass "ten minutes of continuous export across a restart: every interval exactly once"
