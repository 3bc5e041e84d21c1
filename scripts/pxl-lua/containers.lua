-- containers.lua - CPU samples per cgroup (container / pod): which workloads are busy
--
-- Displays `containers`: node, cgroup (cgroup v2 id; 1 is the root), namespace, pod, container
-- (Kubernetes names, "" outside pods; a container outside Kubernetes shows its short id),
-- samples, percent, processes (distinct pids), top_comm (the process name with most samples in
-- the cgroup).
--
-- Args: --start (-5m)  --end (now)  --node NAME  --cgroup ID  --namespace NS  --pod NAME
--       --container NAME  --pid N  --comm NAME  --limit (50)
local args = px.sample_args{cgroup = {type = 'int', help = 'only this cgroup id'}}
local df = px.samples(args)
if args.cgroup then df = df:filter(df.cgroup:eq(args.cgroup)) end

local key = {'node', 'cgroup', 'namespace', 'pod', 'container'}
local function with(c)
  local t = {table.unpack(key)}
  t[#t + 1] = c
  return t
end
local by_proc = df:groupby(with('pid')):agg{samples = px.sum('count')}
local c = by_proc:groupby(key):agg{samples = px.sum('samples'), processes = px.count()}
local comms = df:groupby(with('comm')):agg{samples = px.sum('count')}
local top = comms:sort{{'samples', 'desc'}, 'comm'}:groupby(key):agg{top_comm = px.any('comm')}
c = c:merge(top, {on = key})
c = c:merge(c:agg{all_samples = px.sum('samples')})
c.percent = c.samples * 100.0 / c.all_samples
c = c:select{'node', 'cgroup', 'namespace', 'pod', 'container', 'samples', 'percent', 'processes', 'top_comm'}
px.display(c:sort{{'samples', 'desc'}, 'node', 'cgroup'}:head(args.limit), 'containers')
