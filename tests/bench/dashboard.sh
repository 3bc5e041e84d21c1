#!/usr/bin/env bash
# tests/bench/dashboard.sh - what the dashboard costs the browser, and how fast a burst reaches its
# screen, as `name value unit` lines (Debian's chromium through playwright-core):
#   dashboard_flame_draw_ms_p50, _max   a live flame graph of the reference synthetic load (two
#                                       agents, 5,000 stacks each, 30 s window): the page's own
#                                       time to decode, build and draw each tick (its "drawn in"),
#                                       over 20 ticks
#   dashboard_flame_frames              frames drawn (after pruning those under 1/1000, and under 4 px)
#   dashboard_latency_p50_ms, _max_ms   real eBPF (root): a workload (a copy of tests/burn under a
#                                       new name each time) started while the live flame graph
#                                       watches, to the first screen that shows it (TRIALS runs,
#                                       default 10, at random phases of the tick)
# Builds nothing: BUILD_DIR=build tests/bench/dashboard.sh   (about 2 minutes)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SRC_DIR=${SRC_DIR:-$(cd "$here/../.." && pwd)}
export BUILD_DIR=${BUILD_DIR:-$SRC_DIR/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$SRC_DIR/$BUILD_DIR ;; esac
. "$SRC_DIR/tests/soak/fleet.sh"
: "${TRIALS:=10}"
export NODE_PATH="$SRC_DIR/tests/node_modules"

# measure URL MODE [BURN TRIALS]: the page on URL with a live flamegraph; MODE draw or latency.
measure() {
	node - "$@" <<'JS'
const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const [url, mode, burn, trials] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const q = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(url);
  await page.waitForSelector('#args[data-script="top_functions.lua"]');
  await page.selectOption('#script', 'flamegraph');
  await page.waitForSelector('#args[data-script="flamegraph.lua"]');
  await page.click('#start');
  await page.waitForFunction(() => /drawn in/.test(document.querySelector('#tickinfo').textContent));
  if (mode === 'draw') {
    const ms = [];
    let last = '';
    while (ms.length < 20) {
      const t = await page.textContent('#tickinfo');
      if (t !== last && /drawn in (\d+) ms/.test(t)) ms.push(Number(/drawn in (\d+) ms/.exec(t)[1]));
      last = t;
      await sleep(100);
    }
    const frames = await page.evaluate(() => document.querySelectorAll('#flame g').length);
    console.log(`dashboard_flame_draw_ms_p50 ${q(ms, 0.5)} ms`);
    console.log(`dashboard_flame_draw_ms_max ${Math.max(...ms)} ms`);
    console.log(`dashboard_flame_frames ${frames} frames`);
  } else {
    const lat = [];
    for (let i = 0; i < Number(trials); i++) {
      await sleep(1000 + Math.random() * 1000); // a random phase of the tick
      const name = `burst${i}`; // a comm of its own: a root frame no earlier tick had
      const t0 = Date.now();
      const p = spawn(`${burn}/${name}`, ['1'], { stdio: 'ignore' });
      const exited = new Promise((r) => p.on('exit', r));
      await page.waitForFunction((n) => window.wisp.flame.root && window.wisp.flame.root.kids.has(n), name,
        { timeout: 10000, polling: 10 });
      lat.push(Date.now() - t0);
      await exited;
    }
    console.log(`dashboard_latency_p50_ms ${q(lat, 0.5)} ms`);
    console.log(`dashboard_latency_max_ms ${Math.max(...lat)} ms (${lat.length} runs)`);
  }
  await browser.close();
})().catch((e) => { console.error(e.message); process.exit(1); });
JS
}

PORT=$(free_port)
start_coordinator "$PORT"
start_agents "$PORT" 2 64 "cpus=16,hz=99,stacks=5000,procs=200,threads=1000,backfill=2m,speed=600"
wait_listed "$PORT" 2 30
sleep 2
measure "http://127.0.0.1:$PORT/" draw
kill "${AGENT_PIDS[@]}" "$COORD_PID"

if [ "$(id -u)" = 0 ]; then
	BPORT=$(free_port)
	start solo "$WISPD" standalone --listen "127.0.0.1:$BPORT" --node solo --ring-mb 32
	wait_listed "$BPORT" 1 30
	for i in $(seq 0 $((TRIALS - 1))); do cp "$BURN" "$TMP/burst$i"; done
	measure "http://127.0.0.1:$BPORT/" latency "$TMP" "$TRIALS"
fi
