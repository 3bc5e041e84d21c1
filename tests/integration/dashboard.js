// dashboard.js - drives the coordinator's dashboard in a real browser (Debian's chromium through
// playwright-core), against a real standalone wispd with eBPF. Called by dashboard.sh:
//   node dashboard.js URL BURN NOFP SHOTS_DIR
// Prints "ok: ..." lines; exits non-zero with "FAIL: ..." on the first check that does not hold.
const { chromium } = require('playwright-core');
const { spawn } = require('child_process');

const [url, burnExe, nofpExe, shots] = process.argv.slice(2);
const problems = []; // console errors, page errors, requests that left the machine
const children = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fail = (msg) => { throw new Error(msg); };
const ok = (msg) => console.log(`ok: ${msg}`);
const iso = (ms) => new Date(Math.round(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

// Runs exe for `seconds`, on CPU 0 alone (taskset), so that two workloads share one CPU evenly
// whatever else the host runs.
function workload(exe, seconds) {
  const p = spawn('taskset', ['-c', '0', exe, String(seconds)], { stdio: 'ignore' });
  children.push(p);
  return p;
}

// [[name, fill]] of every frame drawn in the flame graph inside `sel`.
const frames = (page, sel) => page.evaluate((sel) => {
  const out = [];
  d3.selectAll(`${sel} g`).each(function (d) {
    const rect = this.querySelector('rect');
    if (d && d.data && rect) out.push([d.data.name, rect.getAttribute('fill'), Number(rect.getAttribute('width'))]);
  });
  return out;
}, sel);

const rgb = (s) => (/rgb\((\d+)\s*,\s*(\d+)\s*,\s*(\d+)\)/.exec(s) || []).slice(1).map(Number);

async function main() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const origin = new URL(url);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.host !== origin.host) problems.push(`a request off the coordinator: ${r.url()}`);
  });
  try {
    // ---- loads, offline, and connects ----------------------------------------------------------
    await page.goto(url);
    await page.waitForSelector('#conn.connected', { timeout: 5000 });
    await page.waitForSelector('#agents td', { timeout: 5000 });
    const agents = await page.textContent('#agents');
    if (!/solo/.test(agents) || !/up/.test(agents)) fail(`the agents panel shows ${agents}`);
    await page.waitForFunction(() => document.querySelectorAll('#script option').length > 5);
    await page.waitForSelector('#args[data-script="top_functions.lua"] input[name="limit"]', { timeout: 5000 });
    const help = await page.textContent('#args');
    if (!/only this process/.test(help)) fail(`top_functions' form lacks its help texts: ${help}`);
    ok(`the dashboard loaded from the coordinator alone and connected; agents: ${agents.replace(/\s+/g, ' ').trim()}`);

    // ---- the live flame graph: a workload started after the page loaded shows within 2 s; search,
    // a zoom that holds across ticks, tooltips
    await page.selectOption('#script', 'flamegraph');
    await page.waitForSelector('#args[data-script="flamegraph.lua"] input[name="by"]', { timeout: 5000 });
    await page.click('#start');
    await page.waitForFunction(() => document.querySelectorAll('#flame g').length > 5, null, { timeout: 5000 });
    await sleep(1500);
    const t0 = Date.now();
    workload(burnExe, 60);
    await page.waitForFunction(() => window.wisp.flame.root && window.wisp.flame.root.kids.has('burn') &&
      [...document.querySelectorAll('#flame g')].some((e) => d3.select(e).datum().data.name === 'spend_three_quarters'),
    null, { timeout: 5000, polling: 20 }).catch(() => fail('burn never showed in the live flame graph within 5 s'));
    const latency = Date.now() - t0;
    if (latency > 2000) {
      console.log(await page.evaluate(() => JSON.stringify({ ticks: document.querySelector('#tickinfo').textContent,
        kids: [...window.wisp.flame.root.kids.keys()], burn: window.wisp.flame.root.kids.get('burn')?.value })));
      fail(`burn showed in the live flame graph ${latency} ms after it started (bound 2000)`);
    }
    ok(`live flame graph: a workload started after the page loaded showed ${latency} ms later`);
    await page.fill('#search', 'spend_');
    await page.waitForFunction(() => /frames, [\d.]+ % of samples/.test(document.querySelector('#searchinfo').textContent));
    const found = await page.textContent('#searchinfo');
    // zoom into burn's root frame, wait two ticks: still zoomed (its frame spans the width)
    const at = await page.evaluate(() => {
      const g = [...document.querySelectorAll('#flame g')].find((e) => d3.select(e).datum().data.name === 'burn');
      const r = g.querySelector('rect').getBoundingClientRect();
      return { x: r.x + Math.min(r.width / 2, 10), y: r.y + r.height / 2 };
    });
    await page.mouse.click(at.x, at.y);
    const tick1 = await page.textContent('#tickinfo');
    await page.waitForFunction((t) => document.querySelector('#tickinfo').textContent !== t, tick1, { timeout: 3000 });
    await sleep(1100);
    const zoomed = (await frames(page, '#flame')).find(([n]) => n === 'burn');
    const width = await page.evaluate(() => Number(document.querySelector('#flame svg').getAttribute('width')));
    if (!zoomed || zoomed[2] < width * 0.95) fail(`after two ticks the zoom on burn was lost (${zoomed && zoomed[2]} of ${width} px)`);
    await page.check('#pause'); // hold the picture still while the mouse is on it
    const box = await page.evaluate(() => {
      const g = [...document.querySelectorAll('#flame g')].filter((e) => d3.select(e).datum().data.name === 'spend_three_quarters')
        .sort((a, b) => d3.select(b).datum().value - d3.select(a).datum().value)[0];
      const r = g.querySelector('rect').getBoundingClientRect();
      return { x: r.x + Math.min(r.width / 2, 20), y: r.y + r.height / 2 };
    });
    await page.mouse.move(box.x, box.y);
    await page.waitForSelector('.d3-flame-graph-tip', { state: 'visible', timeout: 3000 });
    const tip = await page.textContent('.d3-flame-graph-tip');
    if (!/total \d+ samples \([\d.]+ %\)/.test(tip) || !/self \d+ samples/.test(tip)) fail(`the tooltip reads ${tip}`);
    await page.screenshot({ path: `${shots}/live-flamegraph.png`, fullPage: true });
    await page.uncheck('#pause');
    ok(`live flame graph: search "spend_" found ${found}; a zoom into burn held across ticks; tooltip "${tip}"`);

    // ---- a live table: top_functions with an argument set, sortable --------------------------------
    await page.selectOption('#script', 'top_functions');
    await page.waitForSelector('#args[data-script="top_functions.lua"]', { timeout: 5000 });
    await page.fill('#args input[name="limit"]', '15');
    await page.click('#start');
    await page.waitForFunction(() => /spend_three_quarters/.test(document.querySelector('#tables').textContent),
      null, { timeout: 5000 }).catch(() => fail('burn never showed in the live top_functions table'));
    const rows = await page.$$eval('#tables table[data-name="top_functions"] tbody tr', (r) => r.length);
    if (rows > 15) fail(`--limit 15 drew ${rows} rows`);
    // sortable: by function name, and the order survives the next ticks
    await page.click('#tables th:has-text("function")');
    const tick0 = await page.textContent('#tickinfo');
    await page.waitForFunction((t) => document.querySelector('#tickinfo').textContent !== t, tick0, { timeout: 3000 });
    const names = await page.$$eval('#tables table[data-name="top_functions"] tbody tr td:first-child', (c) => c.map((x) => x.textContent));
    const sorted = names.slice().sort((a, b) => a.localeCompare(b));
    if (names.join('\n') !== sorted.join('\n')) fail(`after a click on "function" and a tick the rows are not sorted: ${names}`);
    await page.screenshot({ path: `${shots}/live-table.png`, fullPage: true });
    ok(`live top_functions (--limit 15: ${rows} rows) sorts by a clicked column, and keeps that order across ticks `);
    await page.click('#stop');

    // ---- where threads wait: offcpu_flamegraph (blocked_ms, a float) is drawn as a flame graph -----
    await page.selectOption('#script', 'offcpu_flamegraph');
    await page.waitForSelector('#args[data-script="offcpu_flamegraph.lua"] input[name="state"]', { timeout: 5000 });
    await page.click('#start');
    await page.waitForFunction(() => window.wisp.flame.unit === 'blocked_ms' && document.querySelectorAll('#flame g').length > 3 &&
      [...document.querySelectorAll('#flame g')].some((e) => /_\[k\]$/.test(d3.select(e).datum().data.name)),
    null, { timeout: 8000 }).catch(() => fail('offcpu_flamegraph was not drawn as a flame graph of kernel waits'));
    await page.screenshot({ path: `${shots}/live-offcpu.png`, fullPage: true });
    ok('live offcpu_flamegraph: a flame graph of where threads wait, in blocked_ms');
    await page.click('#stop');

    // ---- the chart: samples per node, drag to select a window --------------------------------------
    await page.waitForFunction(() => window.wisp.chart.plot && window.wisp.chart.plot.data[0].length > 2, null, { timeout: 10000 });
    const plot = await page.$('#cpu .u-over');
    const pb = await plot.boundingBox();
    await page.mouse.move(pb.x + pb.width * 0.5, pb.y + pb.height / 2);
    await page.mouse.down();
    await page.mouse.move(pb.x + pb.width * 0.9, pb.y + pb.height / 2, { steps: 8 });
    await page.mouse.up();
    await page.waitForFunction(() => document.querySelector('#cur0').value && document.querySelector('#selflame g'), null, { timeout: 10000 });
    const sel = [await page.inputValue('#cur0'), await page.inputValue('#cur1')];
    if (!(Date.parse(sel[0]) < Date.parse(sel[1]))) fail(`the dragged window is ${sel}`);
    ok(`dragging on the samples-per-node chart selected ${sel[0]} to ${sel[1]} and drew its flame graph`);

    // One point (what a new agent's chart first holds) spans a minute, not uPlot's 1,000 days. The
    // chart's own live feed may land between the show and the read: then it is tried again.
    let span = null;
    for (let i = 0; i < 5 && span === null; i++) {
      span = await page.evaluate(async () => {
        const c = window.wisp.chart, now = BigInt(Date.now()) * 1000000n;
        const cols = ['time_', 'node', 'samples', 'cpus_busy'].map((name) => ({ name }));
        c.show({ columns: cols, rows: [[String(now - 5000000000n), c.nodes[0] || 'solo', 10, 0.5]] }, String(now), '1000000000');
        await new Promise((r) => setTimeout(r, 50));
        return c.plot.data[0].length === 1 ? c.plot.scales.x.max - c.plot.scales.x.min : null;
      });
    }
    if (span === null || !(span > 0 && span <= 120)) fail(`a chart of one point spans ${span} s`);
    ok(`a chart of one point spans ${span} s`);

    // ---- a regression in red: nofp joins burn on its CPU; the baseline is burn alone ---------------
    // burn has run alone since t0 (it runs 60 s); nofp runs 4 s from n0. Both are on CPU 0, so
    // nofp takes half of burn's time whatever the other CPU runs. The baseline is 4 quiet seconds:
    // while the page drew the selection above, the browser and (under ASan) wispd took so much of
    // the host that burn's share of it was smaller than with nofp beside it.
    await sleep(4000);
    const n0 = Date.now();
    workload(nofpExe, 4);
    const base = [Math.max(t0 + 1000, n0 - 4000), n0 - 300];
    const cur = [n0 + 800, n0 + 3800];
    await sleep(Math.max(0, cur[1] + 1500 - Date.now()));
    await page.fill('#base0', iso(base[0]));
    await page.fill('#base1', iso(base[1]));
    await page.fill('#cur0', iso(cur[0]));
    await page.fill('#cur1', iso(cur[1]));
    await page.click('#diff');
    await page.waitForFunction(() => document.querySelectorAll('#diffflame g').length > 5, null, { timeout: 10000 })
      .catch(async () => fail(`no diff flame graph: ${await page.textContent('#diffinfo')}`));
    const df = await frames(page, '#diffflame');
    const cmp = df.find(([n]) => n === 'cmp_ints'), spend = df.find(([n]) => n === 'spend_three_quarters');
    if (!cmp) fail(`the diff flame graph has no cmp_ints (nofp's hot function): ${df.map((f) => f[0]).slice(0, 30)}`);
    const [r, g, b] = rgb(cmp[1]);
    if (!(r >= 200 && g <= 80 && b <= 80)) fail(`cmp_ints, new in the current window, is ${cmp[1]}, not red`);
    if (!spend) fail('the diff flame graph has no spend_three_quarters');
    const [r2, , b2] = rgb(spend[1]);
    if (!(b2 >= 200 && r2 <= 178)) fail(`spend_three_quarters, half its share once nofp shares its CPU, is ${spend[1]}, not a fifth or more smaller (blue)`);
    await page.screenshot({ path: `${shots}/diff-flamegraph.png`, fullPage: true });
    ok(`differential flame graph: cmp_ints (new) is ${cmp[1]}, spend_three_quarters (half its share) is ${spend[1]}`);

    if (problems.length) fail(`the page had problems:\n  ${problems.join('\n  ')}`);
    ok('no console errors, no page errors, no request off the coordinator');
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await page.screenshot({ path: `${shots}/last.png`, fullPage: true }).catch(() => {});
    await browser.close();
  }
}

main().catch((e) => {
  console.log(`FAIL: ${e.message}`);
  if (problems.length) console.log(`page problems:\n  ${problems.join('\n  ')}`);
  process.exit(1);
});
