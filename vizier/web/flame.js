// flame.js - flame graphs from folded stacks ("a;b;c" and a count), drawn by d3-flame-graph:
// FlameView keeps its zoom and search across live updates (a tick replaces the data, and the
// frame the user zoomed into is found again by its path), and diffTree builds the tree of a
// differential flame graph, whose colours diffColor gives: red where a frame's share of samples
// grew from the baseline, blue where it shrank.

// rows: [[folded, value, baseline?]]. Each node's value is its total (itself and below).
// `kids` indexes children by name while building (and for finding a frame again later).
export function foldedTree(rows) {
  const root = { name: 'all', value: 0, base: 0, children: [], kids: new Map() };
  for (const [folded, value, base = 0] of rows) {
    let node = root;
    root.value += value;
    root.base += base;
    for (const name of folded.split(';')) {
      let next = node.kids.get(name);
      if (!next) {
        next = { name, value: 0, base: 0, children: [], kids: new Map() };
        node.kids.set(name, next);
        node.children.push(next);
      }
      next.value += value;
      next.base += base;
      node = next;
    }
  }
  return root;
}

// Drops the frames narrower than 1/PRUNE of the whole (about a pixel on a wide screen:
// d3-flame-graph would not draw them, but would still lay them out every tick). Their samples
// stay in their parents' totals, which then show them as self time.
const PRUNE = 1000;
export function prune(root) {
  const min = Math.max(root.value, root.base) / PRUNE;
  (function walk(n) {
    n.children = n.children.filter((k) => Math.max(k.value, k.base) >= min);
    n.kids = new Map(n.children.map((k) => [k.name, k]));
    n.children.forEach(walk);
  })(root);
  return root;
}

// A differential tree: value = current samples, base = the baseline's (already scaled to the
// current total by the script), delta = value - base.
export function diffTree(rows) {
  const root = foldedTree(rows);
  (function walk(n) {
    n.delta = n.value - n.base;
    n.children.forEach(walk);
  })(root);
  return root;
}

const grey = 'rgb(222,222,222)';
// Shade by how much of the frame changed: |delta| / the larger of its two sizes.
export function diffColor(d) {
  const { value, base, delta } = d.data;
  const f = Math.min(1, Math.abs(delta) / Math.max(value, base, 1));
  if (f < 0.02) return grey;
  const c = Math.round(222 * (1 - f));
  return delta > 0 ? `rgb(230,${c},${c})` : `rgb(${c},${c},230)`;
}

const pct = (a, b) => (b ? ((100 * a) / b).toFixed(2) : '0.00');
const esc = (s) => String(s).replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]);

// A search term is a regular expression, case-insensitive; one that does not compile is a
// plain substring.
function matcher(term) {
  if (!term) return () => false;
  try {
    const re = new RegExp(term, 'i');
    return (name) => re.test(name);
  } catch {
    const t = term.toLowerCase();
    return (name) => name.toLowerCase().includes(t);
  }
}

function pathOf(d) {
  const names = [];
  for (let n = d; n.parent; n = n.parent) names.unshift(n.data.name);
  return names;
}

export class FlameView {
  // el: the element to draw in; opts.diff: a differential flame graph; opts.onSearch(text).
  constructor(el, opts = {}) {
    this.el = el;
    this.opts = opts;
    this.zoom = null; // path of names from the root, or null
    this.term = '';
    this.match = matcher('');
    this.chart = null;
    this.root = null;
  }

  make() {
    const tip = flamegraph.tooltip.defaultFlamegraphTooltip().html((d) => this.tooltip(d));
    this.tip = tip;
    const c = flamegraph.default()
      .width(Math.max(300, this.el.clientWidth))
      .cellHeight(18)
      .minFrameSize(4) // narrower cannot be hovered; drawing them cost a third of each tick
      .transitionDuration(0)
      .sort(true)
      .inverted(true)
      .resetHeightOnZoom(true)
      .tooltip(tip)
      .onClick((d) => { this.zoom = d && d.parent ? pathOf(d) : null; })
      .setSearchHandler((results, sum, total) => this.opts.onSearch &&
        this.opts.onSearch(this.term ? `${results.length} frames, ${pct(sum, total)} % of samples` : ''));
    c.setSearchMatch((d) => this.match(d.data.name));
    if (this.opts.diff) c.setColorMapper((d) => diffColor(d));
    this.chart = c;
  }

  tooltip(d) {
    const total = d.value, self = total - (d.children || []).reduce((s, k) => s + k.value, 0);
    const all = this.root ? this.root.value : total;
    const u = this.unit, n = (v) => (Number.isInteger(v) ? `${v}` : v.toFixed(1));
    let html = `<b>${esc(d.data.name)}</b><br>total ${n(total)} ${u} (${pct(total, all)} %)` +
      `<br>self ${n(self)} ${u} (${pct(self, all)} %)`;
    if (this.opts.diff) {
      const b = d.data.base, allb = this.root ? this.root.base : b;
      html += `<br>baseline ${b.toFixed(0)} (${pct(b, allb)} %), change ${d.data.delta >= 0 ? '+' : ''}` +
        `${d.data.delta.toFixed(0)} samples`;
    }
    return html;
  }

  // Draws tree (from foldedTree or diffTree), keeping the zoom and the search; unit names what
  // its values count (samples, or an off-CPU flame graph's blocked_ms).
  show(tree, unit = 'samples') {
    this.root = tree;
    this.unit = unit;
    if (!this.chart) {
      this.make();
      d3.select(this.el).datum(tree).call(this.chart);
    } else {
      this.chart.update(tree);
    }
    if (this.zoom) {
      let n = d3.select(this.el).datum();
      for (const name of this.zoom) {
        n = (n.children || []).find((k) => k.data.name === name);
        if (!n) break;
      }
      if (n) this.chart.zoomTo(n);
      else this.zoom = null;
    }
    if (this.term) this.chart.search(this.term);
  }

  search(term) {
    this.term = term;
    this.match = matcher(term);
    if (!this.chart) return;
    if (term) this.chart.search(term);
    else {
      this.chart.clear();
      this.opts.onSearch && this.opts.onSearch('');
    }
  }

  // Forgets the graph (a new query starts): its drawing, zoom, and tooltip element.
  reset() {
    if (this.tip) this.tip.destroy();
    this.el.replaceChildren();
    this.chart = this.root = this.zoom = this.tip = null;
  }

  resetZoom() {
    this.zoom = null;
    if (this.chart) this.chart.resetZoom();
  }

  resize() {
    if (!this.chart) return;
    this.chart.width(Math.max(300, this.el.clientWidth));
    this.chart.update();
  }
}
