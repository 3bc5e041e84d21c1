// app.js - the dashboard: wires the page (index.html) to the coordinator. The script picker and
// its argument form, a live subscription whose ticks feed the flame graph or tables, the
// samples-per-node chart (a live node_cpu of its own), the window comparison (diff_flamegraph
// over two windows) and the agents list, polled every 2 s (which also keeps the connection
// from being closed as idle).

import { Wire, decodeTable, num } from './wire.js';
import { FlameView, foldedTree, diffTree, prune } from './flame.js';
import { TableView, CpuChart, parseArgHelp, argForm, agentsTable } from './views.js';

const $ = (id) => document.getElementById(id);
const CHART_BIN_S = 5;
const CHART = { name: 'node_cpu.lua', window_ms: 15 * 60000, every_ms: 2000, args: ['--bin', `${CHART_BIN_S}s`] };

const state = {
  scripts: [],      // [{name, summary}] from /scripts/index.json
  name: '',         // the picked script's file name ("top_functions.lua")
  form: null,       // argForm of the picked script
  sub: 0,           // the live subscription's id, 0 when none
  tables: new Map(),// table name -> TableView
  baseline: null,   // [t0, t1] seconds, or null
};

// A coordinator started with --token-file needs a token: open the page as /#access_token=TOKEN.
// It is kept for this tab (sessionStorage) and taken off the address bar; the websocket carries it
// as its access_token parameter (browsers cannot set an Authorization header on a websocket).
const token = new URLSearchParams(location.hash.slice(1)).get('access_token') || sessionStorage.getItem('wisp.token');
if (token) {
  sessionStorage.setItem('wisp.token', token);
  if (location.hash.includes('access_token')) history.replaceState(null, '', location.pathname + location.search);
}
let everConnected = false;
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/` +
  (token ? `?access_token=${encodeURIComponent(token)}` : '');
const wire = new Wire(wsUrl, (s) => {
  everConnected ||= s === 'connected';
  $('conn').textContent = s === 'disconnected' && !everConnected
    ? `disconnected (if the coordinator needs a token, open ${location.pathname}#access_token=TOKEN)` : s;
  $('conn').className = `state ${s}`;
});
const flame = new FlameView($('flame'), { onSearch: (t) => { $('searchinfo').textContent = t; } });
const selFlame = new FlameView($('selflame'));
const diffFlame = new FlameView($('diffflame'), { diff: true });
const chart = new CpuChart($('cpu'), onSelect);

function status(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : 'help';
}

function durationMs(s, what) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s.trim());
  if (!m) throw new Error(`${what}: '${s}' is not a duration (500ms, 1s, 30s, 5m, 1h)`);
  return Math.round(parseFloat(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]]);
}

const clock = (ns) => new Date(Number(BigInt(ns) / 1000000n)).toTimeString().slice(0, 8);
const isoSec = (sec) => new Date(Math.round(sec) * 1000).toISOString().replace('.000Z', 'Z');

// ---- scripts and their arguments -------------------------------------------------------------

async function loadScripts() {
  state.scripts = await (await fetch('/scripts/index.json')).json();
  const sel = $('script');
  for (const s of state.scripts) sel.add(new Option(s.name, s.name));
  sel.add(new Option('(ad-hoc script)', ''));
  sel.value = state.scripts.some((s) => s.name === 'top_functions') ? 'top_functions' : sel.options[0].value;
  sel.onchange = () => pickScript(sel.value);
  await pickScript(sel.value);
}

async function describe(source) {
  try {
    await wire.request({ type: 'run', name: state.name, script: source, args: ['--help'] });
    return []; // the script reads no px.args: it ran
  } catch (e) {
    const args = parseArgHelp(e.message);
    if (!args.length && !/script arguments/.test(e.message)) throw e;
    return args;
  }
}

async function pickScript(name) {
  stop();
  const info = state.scripts.find((s) => s.name === name);
  state.name = `${name || 'adhoc'}.lua`;
  $('summary').textContent = info ? info.summary : 'A script of your own: edit it below, then watch it live.';
  const src = name ? await (await fetch(`/scripts/${name}.lua`)).text() :
    "-- Any Lua the scripts use (see docs/SCRIPTS.md)\nlocal df = px.DataFrame{table = 'stack_samples'}\n" +
    "local t = df:groupby('comm'):agg{samples = px.sum('count')}\npx.display(t:sort{{'samples', 'desc'}}:head(20), 'by_comm')\n";
  if (state.name !== `${name || 'adhoc'}.lua`) return; // another pick came meanwhile
  $('source').value = src;
  if (!name) $('source').hidden = false;
  await refreshForm();
}

// Builds the form for the script in the editor. A later pick wins over an earlier one still
// being described; the form says whose it is (data-script).
async function refreshForm() {
  const name = state.name, source = $('source').value;
  let args = [], err = '';
  try {
    args = await describe(source);
  } catch (e) {
    err = e.message;
  }
  if (name !== state.name || source !== $('source').value) return;
  state.form = argForm($('args'), args, new Set(['start', 'end']));
  $('args').dataset.script = name;
  status(err, Boolean(err));
}

// ---- live ------------------------------------------------------------------------------------

function stop() {
  if (state.sub) wire.unsubscribe(state.sub);
  state.sub = 0;
  $('stop').disabled = true;
}

function start() {
  stop();
  let req;
  try {
    req = {
      name: state.name, script: $('source').value, args: state.form ? state.form.values() : [],
      every_ms: durationMs($('every').value, 'every'), window_ms: durationMs($('window').value, 'window'),
      max_rows: 10000,
    };
  } catch (e) {
    status(e.message, true);
    return;
  }
  state.tables.clear();
  $('tables').replaceChildren();
  flame.reset();
  status(`watching ${state.name}: every ${$('every').value}, window ${$('window').value}`);
  state.sub = wire.subscribe(req, onTick, (msg) => {
    status(msg, true);
    stop();
  });
  $('stop').disabled = false;
}

// A table is drawn as a flame graph when it is folded stacks: a string `stack` and a number (a
// count of samples, or offcpu_flamegraph's blocked_ms).
function flameColumns(t) {
  const s = t.columns.findIndex((c) => c.name === 'stack' && (c.type === 'string' || c.type === 'stack'));
  const v = t.columns.findIndex((c) => (c.type === 'int' || c.type === 'float') && c.name !== 'pid');
  return s >= 0 && v >= 0 ? [s, v] : null;
}

function onTick(m) {
  const st = m.stats || {};
  $('tickinfo').textContent = `tick ${num(m.tick)} · ${clock(m.window_start)}–${clock(m.time)} · ` +
    `${num(st.answered ?? 0)}/${num(st.agents ?? 0)} agents · ${num(m.watchers)} watching` +
    (num(m.skipped) ? ` · ${num(m.skipped)} skipped` : '');
  $('warnings').replaceChildren(...(m.warnings || []).map((w) => {
    const li = document.createElement('li');
    li.textContent = w;
    return li;
  }));
  if ($('pause').checked) return;
  const began = performance.now();
  const tables = (m.tables || []).map(decodeTable);
  let drewFlame = false;
  for (const t of tables) {
    const fc = !drewFlame && flameColumns(t);
    if (fc) {
      drewFlame = true;
      $('flametools').hidden = false;
      const unit = t.columns[fc[1]].name;
      flame.show(prune(foldedTree(t.rows.map((r) => [r[fc[0]], r[fc[1]]]))), unit === 'count' ? 'samples' : unit);
      continue;
    }
    let view = state.tables.get(t.name);
    if (!view) {
      const el = document.createElement('div');
      $('tables').appendChild(el);
      view = new TableView(el);
      state.tables.set(t.name, view);
    }
    view.show(t);
  }
  if (!drewFlame) $('flametools').hidden = true;
  $('tickinfo').textContent += ` · drawn in ${Math.round(performance.now() - began)} ms`;
}

// ---- windows: the chart's selection, a flame graph of it, and the comparison ---------------

function onSelect(t0, t1) {
  $('cur0').value = isoSec(t0);
  $('cur1').value = isoSec(t1);
  if (state.baseline) compare();
  else showSelection();
}

async function runScript(name, args) {
  const script = await (await fetch(`/scripts/${name}.lua`)).text();
  const m = await wire.request({ type: 'run', name: `${name}.lua`, script, args, max_rows: 100000, timeout_ms: 30000 });
  return { tables: m.tables.map(decodeTable), warnings: m.warnings || [] };
}

async function showSelection() {
  $('diffinfo').textContent = 'loading the selection...';
  try {
    const r = await runScript('flamegraph', ['--start', $('cur0').value, '--end', $('cur1').value]);
    const t = r.tables[0];
    const tree = prune(foldedTree(t.rows.map((row) => [row[0], row[1]])));
    $('diffflame').hidden = true;
    $('selflame').hidden = false;
    selFlame.show(tree);
    $('diffinfo').textContent = `${$('cur0').value} to ${$('cur1').value}: ${tree.value} samples. ` +
      'Press "Selection as baseline", then select another window to compare.' + r.warnings.map((w) => ` ${w}`).join('');
  } catch (e) {
    $('diffinfo').textContent = e.message;
  }
}

async function compare() {
  $('diffinfo').textContent = 'comparing...';
  try {
    const r = await runScript('diff_flamegraph', ['--baseline-start', $('base0').value, '--baseline-end', $('base1').value,
      '--start', $('cur0').value, '--end', $('cur1').value, '--normalize']);
    const t = r.tables[0];
    const col = (n) => t.columns.findIndex((c) => c.name === n);
    const [si, bi, ci] = [col('stack'), col('baseline'), col('current')];
    const tree = prune(diffTree(t.rows.map((row) => [row[si], row[ci], row[bi]])));
    $('selflame').hidden = true;
    $('diffflame').hidden = false;
    diffFlame.show(tree);
    $('diffinfo').textContent = `baseline ${$('base0').value} to ${$('base1').value} (scaled to the current total), ` +
      `current ${$('cur0').value} to ${$('cur1').value}: ${tree.value} samples.` + r.warnings.map((w) => ` ${w}`).join('');
  } catch (e) {
    $('diffinfo').textContent = e.message;
  }
}

// ---- agents and the chart's own subscription --------------------------------------------------

async function pollAgents() {
  try {
    const m = await wire.request({ type: 'agents' });
    $('coordinator').textContent = `coordinator ${m.coordinator}`;
    agentsTable($('agents'), m);
  } catch {
    /* disconnected: the header says so, and the next poll tries again */
  }
}

async function watchChart() {
  const script = await (await fetch('/scripts/node_cpu.lua')).text();
  wire.subscribe({ ...CHART, script }, (m) => {
    const t = (m.tables || []).map(decodeTable)[0];
    if (t) chart.show(t, m.time, CHART_BIN_S * 1e9);
  }, (msg) => { $('cpu').textContent = msg; });
}

function wireControls() {
  $('start').onclick = start;
  $('stop').onclick = stop;
  $('edit').onclick = () => { $('source').hidden = !$('source').hidden; };
  $('source').onchange = refreshForm;
  $('search').oninput = () => flame.search($('search').value);
  $('reset').onclick = () => flame.resetZoom();
  $('setbase').onclick = () => {
    $('base0').value = $('cur0').value;
    $('base1').value = $('cur1').value;
    state.baseline = [$('base0').value, $('base1').value];
    $('diffinfo').textContent = 'baseline set: now select the window to compare with it.';
  };
  $('diff').onclick = () => {
    state.baseline = [$('base0').value, $('base1').value];
    compare();
  };
  let timer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { flame.resize(); selFlame.resize(); diffFlame.resize(); chart.resize(); }, 150);
  });
}

wireControls();
pollAgents();
setInterval(pollAgents, 2000);
watchChart();
loadScripts().catch((e) => status(e.message, true));
// For tests and the curious: the dashboard's state and views.
window.wisp = { state, wire, flame, diffFlame, chart };
