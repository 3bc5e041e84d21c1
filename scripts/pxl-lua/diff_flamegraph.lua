-- diff_flamegraph.lua - folded stacks with baseline and current sample counts, for differential
-- flame graphs: `wisp run diff_flamegraph -o folded > diff.folded` prints "stack baseline current"
-- lines, the input of flamegraph.pl's difffolded mode.
--
-- Displays `diff_flamegraph`: stack (comm;root;...;leaf), baseline, current, delta (current -
-- baseline samples), sorted by the size of the change. --normalize scales the baseline to the
-- current window's total first, so windows of different lengths compare. --table
-- offcpu_samples compares where threads waited: baseline and current are then microseconds
-- blocked.
--
-- Args: --baseline-start (-10m)  --baseline-end (-5m)  --start (-5m)  --end (now)
--       --pid N  --comm NAME  --node NAME  --normalize (false)  --limit (10000)  --lines
--       --table stack_samples|offcpu_samples
local args = px.sample_args{
  baseline_start = {default = '-10m', type = 'time', help = 'baseline window start'},
  baseline_end = {default = '-5m', type = 'time', help = 'baseline window end'},
  start = {default = '-5m', type = 'time', help = 'current window start'},
  ['end'] = {type = 'time', help = 'current window end (default: now)'},
  normalize = {default = false, type = 'bool', help = 'scale the baseline to the current total'},
  limit = {default = 10000, help = 'stacks to show'},
  lines = {default = false, type = 'bool', help = 'a frame per source line (function file:line) where DWARF knows it'},
  table = {default = 'stack_samples', help = 'stack_samples (samples) or offcpu_samples (microseconds blocked)'},
}
if args.table ~= 'stack_samples' and args.table ~= 'offcpu_samples' then
  error('--table must be stack_samples or offcpu_samples')
end

local function folded(t0, t1)
  local df = px.samples(args, t0, t1, args.table)
  local st
  if args.table == 'offcpu_samples' then
    st = df:groupby{'comm', 'stack'}:agg{ns = px.sum('blocked_ns')}
    st.samples = px.int(st.ns / 1000)
  else
    st = df:groupby{'comm', 'stack'}:agg{samples = px.sum('count')}
  end
  -- Stacks that differ only where the view does not look fold into one stack (flamegraph.lua).
  st.stack = px.view(st.stack, args.lines and 'line' or 'function')
  return st
end

local base, cur = folded(args.baseline_start, args.baseline_end), folded(args.start, args['end'])
if args.normalize then
  local scale = base:agg{b = px.sum('samples')}:merge(cur:agg{c = px.sum('samples')})
  base = base:merge(scale)
  base.samples = px.int(px.float(base.samples) * px.float(base.c) / px.float(px.select(base.b:gt(0), base.b, 1)) + 0.5)
end
base.baseline, base.current = base.samples, 0
cur.baseline, cur.current = 0, cur.samples
local cols = {'comm', 'stack', 'baseline', 'current'}
local d = px.union(base:select(cols), cur:select(cols)):groupby{'comm', 'stack'}:agg{
  baseline = px.sum('baseline'), current = px.sum('current')}
d.delta = d.current - d.baseline
d.change = px.select(d.delta:ge(0), d.delta, -d.delta)
d = d:sort{{'change', 'desc'}, 'comm', 'stack'}:head(args.limit)
d.folded = px.concat(d.comm, ';', px.folded(d.stack))
d = d:sort{{'change', 'desc'}, 'folded'}
px.display(d:select{'folded', 'baseline', 'current', 'delta'}:rename{folded = 'stack'}, 'diff_flamegraph')
