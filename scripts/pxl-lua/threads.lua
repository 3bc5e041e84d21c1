-- threads.lua - CPU samples per thread: which threads of which processes are busy
--
-- Displays `threads`: node, pid, tid, comm, samples, percent (of the filtered samples), cpus
-- (distinct CPUs the thread was sampled on), sorted by samples.
--
-- Args: --start (-5m)  --end (now)  --pid N  --comm NAME  --node NAME  --limit (50)
local args = px.args{
  start = {default = '-5m', type = 'time', help = 'window start'},
  ['end'] = {type = 'time', help = 'window end (default: now)'},
  pid = {type = 'int', help = 'only this process'},
  comm = {type = 'string', help = 'only threads with this name'},
  node = {type = 'string', help = 'only this node'},
  limit = {default = 50, help = 'rows to show'},
}
local df = px.DataFrame{table = 'stack_samples', start_time = args.start, end_time = args['end']}
if args.pid then df = df:filter(df.pid:eq(args.pid)) end
if args.comm then df = df:filter(df.comm:eq(args.comm)) end
if args.node then df = df:filter(df.node:eq(args.node)) end

local per_cpu = df:groupby{'node', 'pid', 'tid', 'comm', 'cpu'}:agg{samples = px.sum('count')}
local t = per_cpu:groupby{'node', 'pid', 'tid', 'comm'}:agg{samples = px.sum('samples'), cpus = px.count()}
t = t:merge(t:agg{all_samples = px.sum('samples')})
t.percent = t.samples * 100.0 / t.all_samples
t = t:select{'node', 'pid', 'tid', 'comm', 'samples', 'percent', 'cpus'}
px.display(t:sort{{'samples', 'desc'}, 'node', 'tid'}:head(args.limit), 'threads')
