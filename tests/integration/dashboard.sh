#!/usr/bin/env bash
# dashboard.sh - the coordinator's web dashboard in a real browser (Debian's chromium driven by
# playwright-core, tests/dashboard.js), against a real standalone wispd with eBPF (root):
# - served by the coordinator alone (no request leaves it), no console or page errors;
# - the script picker and its argument form (help texts from px.args), the agents panel;
# - a live table: a workload started after subscribing shows within 2 s; sorting by a clicked
#   column holds across ticks;
# - a live flame graph: search, a zoom that holds across ticks, tooltips with total and self;
# - the samples-per-node chart: dragging selects a window and draws its flame graph;
# - a differential flame graph: a process that joins burn on its CPU (nofp) is red, burn's halved share blue.
# - HTTP it does not serve: 404, a 100 KB path (dropped by lws), a 50 MB POST: wispd lives on.
# Screenshots go to $BUILD_DIR/tests/dashboard/.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "needs root (eBPF)"
[ -x /usr/bin/chromium ] || fail "needs Debian's chromium: run deploy/install-deps.sh"
PORT=$(free_port)
start sa "$WISPD" standalone --listen "127.0.0.1:$PORT" --node solo --ring-mb 64
wait_agents "$PORT" 1
SHOTS="$BUILD_DIR/tests/dashboard"
mkdir -p "$SHOTS"
# HTTP that is not the dashboard's: refused or answered, and nothing else changes.
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/nope") || true
[ "$code" = 404 ] || fail "GET /nope answered $code, not 404"
curl -s -o /dev/null "http://127.0.0.1:$PORT/$(head -c 100000 /dev/zero | tr '\0' a)" || true # lws drops it
head -c 50000000 /dev/zero | curl -s -o /dev/null -X POST --data-binary @- "http://127.0.0.1:$PORT/" || true
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/app.js") || true
[ "$code" = 200 ] || fail "after a 100 KB path and a 50 MB POST, GET /app.js answered $code"
alive "$LAST_PID" || fail "wispd died of a 100 KB path or a 50 MB POST"
NODE_PATH="$SRC_DIR/tests/node_modules" node "$SRC_DIR/tests/integration/dashboard.js" \
	"http://127.0.0.1:$PORT/" "$BURN" "$NOFP" "$SHOTS" || fail "the dashboard (screenshots in $SHOTS)"
alive "$LAST_PID" || fail "wispd died"
