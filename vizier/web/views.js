// views.js - the dashboard's widgets other than flame graphs: sortable tables (the sort survives
// live updates), the samples-per-node chart (uPlot; dragging selects a window), and the form
// for a script's arguments, built from the script's own description (`--help`, px.args).

import { num } from './wire.js';

const NUMERIC = new Set(['int', 'float', 'time']);

function cell(v, type) {
  if (v === null || v === undefined) return '';
  if (type === 'time') return new Date(Number(BigInt(v) / 1000000n)).toISOString().replace('T', ' ').replace('Z', '');
  if (type === 'float') return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
  return String(v);
}

function compare(a, b) {
  if (typeof a === 'bigint' || typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

// A table as the script sorted it, until a header is clicked: then by that column (click again
// to reverse). At most `max` rows are drawn.
export class TableView {
  constructor(el, max = 1000) {
    this.el = el;
    this.max = max;
    this.sort = null; // {col: name, desc: bool}
    this.table = null;
  }

  show(t) {
    this.table = t;
    const cols = t.columns;
    let rows = t.rows;
    const j = this.sort ? cols.findIndex((c) => c.name === this.sort.col) : -1;
    if (j >= 0) {
      rows = rows.slice().sort((a, b) => compare(a[j], b[j]) * (this.sort.desc ? -1 : 1));
    }
    const table = document.createElement('table');
    table.className = 'grid';
    table.dataset.name = t.name;
    const head = table.createTHead().insertRow();
    cols.forEach((c, k) => {
      const th = document.createElement('th');
      th.textContent = c.name;
      if (k === j) th.className = this.sort.desc ? 'sorted' : 'sorted asc';
      th.onclick = () => {
        const desc = this.sort && this.sort.col === c.name ? !this.sort.desc : NUMERIC.has(c.type);
        this.sort = { col: c.name, desc };
        this.show(this.table);
      };
      head.appendChild(th);
    });
    const body = table.createTBody();
    for (const r of rows.slice(0, this.max)) {
      const tr = body.insertRow();
      cols.forEach((c, k) => {
        const td = tr.insertCell();
        td.textContent = cell(r[k], c.type);
        if (NUMERIC.has(c.type) && c.type !== 'time') td.className = 'num';
        else if (c.type === 'stack' || String(r[k]).length > 80) {
          td.className = 'wide';
          td.title = r[k];
        }
      });
    }
    const wrap = document.createElement('div');
    wrap.className = 'tablewrap';
    const title = document.createElement('div');
    title.className = 'help';
    title.textContent = `${t.name}: ${t.rows.length} rows` + (t.rows.length > this.max ? ` (first ${this.max} shown)` : '');
    wrap.append(title, table);
    this.el.replaceChildren(wrap);
  }
}

const PALETTE = ['#1565c0', '#ef6c00', '#2e7d32', '#6a1b9a', '#c62828', '#00838f', '#9e9d24', '#4e342e'];

// node_cpu's table (time_, node, samples, cpus_busy) as one line per node over time.
// onSelect(t0, t1) gets a dragged window in seconds since the epoch.
export class CpuChart {
  constructor(el, onSelect) {
    this.el = el;
    this.onSelect = onSelect;
    this.plot = null;
    this.nodes = [];
  }

  make(nodes) {
    if (this.plot) this.plot.destroy();
    this.nodes = nodes;
    const opts = {
      width: Math.max(300, this.el.clientWidth),
      height: 200,
      cursor: { drag: { x: true, y: false, setScale: false } },
      select: { show: true },
      // One point (a chart's first bin) has no span, and uPlot gives it 1,000 days (its one-day
      // default, in milliseconds, read as seconds): show a minute around it.
      scales: { x: { time: true, range: (u, min, max) => {
        const x = u.data[0];
        return x.length === 1 ? [x[0] - 30, x[0] + 30] : [min, max];
      } } },
      axes: [{}, { label: 'CPUs busy', size: 50 }],
      series: [{}, ...nodes.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 1.5,
        value: (u, v) => (v == null ? '-' : v.toFixed(2)) }))],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 2) return;
          this.onSelect(u.posToVal(u.select.left, 'x'), u.posToVal(u.select.left + u.select.width, 'x'));
        }],
      },
    };
    this.plot = new uPlot(opts, [[], ...nodes.map(() => [])], this.el);
  }

  // t: node_cpu's table; bins that end after `end` (ns) are not whole yet and are left out.
  show(t, end, binNs) {
    const ti = t.columns.findIndex((c) => c.name === 'time_');
    const ni = t.columns.findIndex((c) => c.name === 'node');
    const vi = t.columns.findIndex((c) => c.name === 'cpus_busy');
    if (ti < 0 || ni < 0 || vi < 0) return;
    const last = BigInt(end) - BigInt(binNs);
    t = { ...t, rows: t.rows.filter((r) => BigInt(r[ti]) <= last) };
    const nodes = [...new Set(t.rows.map((r) => r[ni]))].sort();
    const sec = t.rows.map((r) => Number(BigInt(r[ti]) / 1000000n) / 1000); // uPlot's x: seconds
    const times = [...new Set(sec)].sort((a, b) => a - b);
    const at = new Map(times.map((x, i) => [x, i]));
    const ys = nodes.map(() => new Array(times.length).fill(null));
    t.rows.forEach((r, i) => { ys[nodes.indexOf(r[ni])][at.get(sec[i])] = r[vi]; });
    if (!this.plot || nodes.join() !== this.nodes.join()) this.make(nodes);
    this.plot.setData([times, ...ys]);
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: Math.max(300, this.el.clientWidth), height: 200 });
  }
}

// "script arguments ...:\n  --name TYPE = DEFAULT  HELP" (px.args) -> [{name, type, def, help}].
export function parseArgHelp(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^ {2}--([\w-]+) (\w+)(?: = (.*?))? {2}(.*)$/.exec(line);
    if (m) out.push({ name: m[1], type: m[2], def: m[3] === undefined ? '' : m[3], help: m[4] });
  }
  return out;
}

// The form for a script's arguments; values() gives the script args for the wire (only the ones
// the user set). `skip` names arguments a live query sets itself (its window).
export function argForm(el, args, skip = new Set()) {
  el.replaceChildren();
  const inputs = [];
  for (const a of args) {
    if (skip.has(a.name)) continue;
    const label = document.createElement('label');
    const name = document.createElement('span');
    name.textContent = `--${a.name}`;
    const input = document.createElement('input');
    input.name = a.name;
    if (a.type === 'bool') {
      input.type = 'checkbox';
      input.checked = a.def === 'true';
    } else {
      input.placeholder = a.def;
    }
    const help = document.createElement('small');
    help.textContent = a.help + (a.type !== 'bool' && a.type !== 'string' ? ` (${a.type})` : '');
    label.append(name, input, help);
    el.appendChild(label);
    inputs.push([a, input]);
  }
  return {
    values() {
      const argv = [];
      for (const [a, input] of inputs) {
        if (a.type === 'bool') {
          if (input.checked !== (a.def === 'true')) argv.push(`--${a.name}`, String(input.checked));
        } else if (input.value.trim() !== '') {
          argv.push(`--${a.name}`, input.value.trim());
        }
      }
      return argv;
    },
  };
}

export function agentsTable(el, reply) {
  const t = document.createElement('tbody');
  const head = document.createElement('tr');
  for (const h of ['node', 'kind', 'status', 'samples', 'lost', 'last seen']) {
    const th = document.createElement('th');
    th.textContent = h;
    head.appendChild(th);
  }
  t.appendChild(head);
  for (const a of reply.agents || []) {
    const st = a.status || {};
    const tr = t.insertRow();
    const ok = num(a.last_seen_s) < 5;
    for (const v of [a.node, a.kind, ok ? 'up' : `silent ${num(a.last_seen_s)} s`, num(st.samples ?? 0),
      num(st.lost_samples ?? 0), `${num(a.last_seen_s)} s ago`]) {
      const td = tr.insertCell();
      td.textContent = v;
    }
    tr.className = ok ? 'up' : 'late';
  }
  el.replaceChildren(t);
}
