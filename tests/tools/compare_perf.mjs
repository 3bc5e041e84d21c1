// compare_perf.mjs - compares the self and total shares of functions in a Wisp flame graph
// (`wisp run flamegraph -o folded -- --by none`) with those of `perf script -F ip,sym --no-inline`
// of the same run. Prints one line per function; exits 1 when a share differs by more than
// max(2 points, 4.5 standard deviations of the difference of two binomial shares).
//   node compare_perf.mjs WISP.folded PERF.txt FUNCTION...
// FUNCTION: compared for total share; "self:NAME" for self share (the deepest user frame).
// Names are compared without parameter lists, symbol versions, leading underscores or perf's "__GI_" (libc's internal aliases:
// perf's __GI___qsort_r is the qsort_r Wisp shows). A function perf never saw fails. Kernel frames (Wisp: "_[k]"; perf: addresses
// at or above 0xffff800000000000) are skipped for self shares: a user function's self share
// includes the kernel work it caused, as Wisp's top_functions counts it.
import { readFileSync } from 'node:fs';

const [wispFile, perfFile, ...funcs] = process.argv.slice(2);

// perf shows C++ names without their parameters (wl::Matrix<double>::multiply) and versioned
// symbols with their version (@@GLIBC_2.34); Wisp shows parameters, clones and no versions.
const norm = (name) => name.replace(/^__GI_/, '').replace(/^_+/, '').replace(/@.*$/, '')
  .replace(/^(.*?[^\s(])\((?!anonymous).*$/, '$1');

function wispStacks(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (sp < 0) continue;
    const frames = line.slice(0, sp).split(';').filter((f) => !f.endsWith('_[k]')).map(norm);
    out.push({ frames, n: Number(line.slice(sp + 1)) }); // root first
  }
  return out;
}

function perfStacks(text) {
  const out = [];
  let cur = null;
  for (const line of text.split('\n')) {
    if (!line.trim()) { if (cur) out.push(cur); cur = null; continue; }
    const m = line.trim().match(/^([0-9a-f]+)\s+(.*)$/);
    if (!/^\s/.test(line) || !m) continue; // a header line (with -F comm, pid...)
    if (!cur) cur = { frames: [], n: 1 };
    if (BigInt('0x' + m[1]) >= 0xffff800000000000n) continue; // kernel
    cur.frames.unshift(norm(m[2])); // perf prints leaf first
  }
  if (cur) out.push(cur);
  return out;
}

function shares(stacks, name, self) {
  let hit = 0, all = 0;
  for (const s of stacks) {
    all += s.n;
    const yes = self ? s.frames[s.frames.length - 1] === name : s.frames.includes(name);
    if (yes) hit += s.n;
  }
  return { p: hit / all, all };
}

const w = wispStacks(readFileSync(wispFile, 'utf8'));
const p = perfStacks(readFileSync(perfFile, 'utf8'));
let bad = 0;
for (const f of funcs) {
  const self = f.startsWith('self:');
  const name = norm(self ? f.slice(5) : f);
  const a = shares(w, name, self), b = shares(p, name, self);
  const q = (a.p * a.all + b.p * b.all) / (a.all + b.all);
  const sd = Math.sqrt(q * (1 - q) * (1 / a.all + 1 / b.all));
  const bound = Math.max(0.02, 4.5 * sd);
  const ok = Math.abs(a.p - b.p) <= bound && b.p > 0;
  if (!ok) bad++;
  console.log(`${ok ? 'ok  ' : 'OFF '} ${self ? 'self ' : 'total'} ${name}: wisp ${(a.p * 100).toFixed(2)} % of ${a.all},` +
    ` perf ${(b.p * 100).toFixed(2)} % of ${b.all} (bound ${(bound * 100).toFixed(2)} points)`);
}
process.exit(bad ? 1 : 0);
