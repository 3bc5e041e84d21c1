-- diff.lua - which functions' CPU share changed most between a baseline window and now
--
-- Displays `diff`: function, baseline_percent, current_percent, delta (points; current -
-- baseline), sorted by the size of the change. Shares are of each window's filtered samples;
-- --by self (the default) compares leaf time, --by total inclusive time. Functions seen in only
-- one window count as 0 in the other. --table offcpu_samples compares where threads waited
-- instead: shares of each window's blocked time.
--
-- Args: --baseline-start (-10m)  --baseline-end (-5m)  --start (-5m)  --end (now)
--       --pid N  --comm NAME  --node NAME  --by self|total  --limit (30)
--       --lines: a row per function and source line where DWARF knows it
--       --table stack_samples|offcpu_samples
local args = px.sample_args{
  baseline_start = {default = '-10m', type = 'time', help = 'baseline window start'},
  baseline_end = {default = '-5m', type = 'time', help = 'baseline window end'},
  start = {default = '-5m', type = 'time', help = 'current window start'},
  ['end'] = {type = 'time', help = 'current window end (default: now)'},
  by = {default = 'self', help = 'self or total'},
  limit = {default = 30, help = 'rows to show'},
  lines = {default = false, type = 'bool', help = 'a row per source line (function file:line) where DWARF knows it'},
  table = {default = 'stack_samples', help = 'stack_samples (CPU time) or offcpu_samples (time blocked)'},
}
if args.by ~= 'self' and args.by ~= 'total' then error('--by must be self or total') end
if args.table ~= 'stack_samples' and args.table ~= 'offcpu_samples' then
  error('--table must be stack_samples or offcpu_samples')
end
local weight = args.table == 'offcpu_samples' and 'blocked_ns' or 'count'

-- Per function: its share (in percent) of the window's samples (or time blocked).
local function shares(df)
  local st = df:groupby('stack'):agg{samples = px.sum(weight)}
  local fr = st:frames{name = 'function', leaf = 'leaf', view = args.lines and 'line' or 'function'}
  fr.self = px.select(fr.leaf, fr.samples, 0)
  local f = fr:groupby('function'):agg{self = px.sum('self'), total = px.sum('samples')}
  f = f:merge(st:agg{all = px.sum('samples')})
  f.share = (args.by == 'total' and f.total or f.self) * 100.0 / f.all
  return f
end

local base = shares(px.samples(args, args.baseline_start, args.baseline_end, args.table))
local cur = shares(px.samples(args, nil, nil, args.table))
base.baseline_percent, base.current_percent = base.share, 0.0
cur.baseline_percent, cur.current_percent = 0.0, cur.share
local cols = {'function', 'baseline_percent', 'current_percent'}
local d = px.union(base:select(cols), cur:select(cols)):groupby('function'):agg{
  baseline_percent = px.sum('baseline_percent'), current_percent = px.sum('current_percent')}
d.delta = d.current_percent - d.baseline_percent
d.change = px.select(d.delta:ge(0), d.delta, -d.delta)
d = d:sort{{'change', 'desc'}, 'function'}:head(args.limit)
px.display(d:select{'function', 'baseline_percent', 'current_percent', 'delta'}, 'diff')
