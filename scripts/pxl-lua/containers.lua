-- containers.lua - CPU samples per cgroup (container / pod): which workloads are busy
--
-- Displays `containers`: node, cgroup (cgroup v2 id; 1 is the root), samples, percent,
-- processes (distinct pids), top_comm (the process name with most samples in the cgroup).
--
-- Args: --start (-5m)  --end (now)  --node NAME  --cgroup ID  --limit (50)
local args = px.args{
  start = {default = '-5m', type = 'time', help = 'window start'},
  ['end'] = {type = 'time', help = 'window end (default: now)'},
  node = {type = 'string', help = 'only this node'},
  cgroup = {type = 'int', help = 'only this cgroup id'},
  limit = {default = 50, help = 'rows to show'},
}
local df = px.DataFrame{table = 'stack_samples', start_time = args.start, end_time = args['end']}
if args.node then df = df:filter(df.node:eq(args.node)) end
if args.cgroup then df = df:filter(df.cgroup:eq(args.cgroup)) end

local by_proc = df:groupby{'node', 'cgroup', 'pid', 'comm'}:agg{samples = px.sum('count')}
local c = by_proc:groupby{'node', 'cgroup'}:agg{samples = px.sum('samples')}
local procs = by_proc:groupby{'node', 'cgroup', 'pid'}:agg{n = px.count()}
                     :groupby{'node', 'cgroup'}:agg{processes = px.count()}
local top = by_proc:sort{{'samples', 'desc'}, 'comm'}:groupby{'node', 'cgroup'}:agg{top_comm = px.any('comm')}
c = c:merge(procs, {on = {'node', 'cgroup'}}):merge(top, {on = {'node', 'cgroup'}})
c = c:merge(c:agg{all_samples = px.sum('samples')})
c.percent = c.samples * 100.0 / c.all_samples
c = c:select{'node', 'cgroup', 'samples', 'percent', 'processes', 'top_comm'}
px.display(c:sort{{'samples', 'desc'}, 'node', 'cgroup'}:head(args.limit), 'containers')
