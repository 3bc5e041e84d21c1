-- threads.lua - CPU samples per thread: which threads of which processes are busy
--
-- Displays `threads`: node, pid, tid, comm, samples, percent (of the filtered samples), cpus
-- (distinct CPUs the thread was sampled on), sorted by samples.
--
-- Args: --start (-5m)  --end (now)  --pid N  --comm NAME  --node NAME  --limit (50)
local args = px.sample_args()
local df = px.samples(args)

local per_cpu = df:groupby{'node', 'pid', 'tid', 'comm', 'cpu'}:agg{samples = px.sum('count')}
local t = per_cpu:groupby{'node', 'pid', 'tid', 'comm'}:agg{samples = px.sum('samples'), cpus = px.count()}
t = t:merge(t:agg{all_samples = px.sum('samples')})
t.percent = t.samples * 100.0 / t.all_samples
t = t:select{'node', 'pid', 'tid', 'comm', 'samples', 'percent', 'cpus'}
px.display(t:sort{{'samples', 'desc'}, 'node', 'tid'}:head(args.limit), 'threads')
