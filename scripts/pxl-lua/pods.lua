-- pods.lua - CPU samples per Kubernetes pod: which pods and namespaces are busy
--
-- Displays `pods`: node, namespace, pod, samples, percent (of all samples that passed the
-- filters, pods or not), containers (distinct container names), processes (distinct pids),
-- top_container and top_comm (the container and the process name with most samples in the pod).
-- Samples outside pods are left out (`containers` shows every cgroup). A pod the agent could not
-- look up shows its uid as its name and an empty namespace.
--
-- Args: --start (-5m)  --end (now)  --node NAME  --namespace NS  --pod NAME  --container NAME
--       --pid N  --comm NAME  --limit (50)
local args = px.sample_args()
local df = px.samples(args)

local total = df:agg{all_samples = px.sum('count')}
df = df:filter(df.pod:ne(''))
local key = {'node', 'namespace', 'pod'}
local function with(...) -- key .. extra columns
  local t = {table.unpack(key)}
  for _, c in ipairs{...} do t[#t + 1] = c end
  return t
end

local by_proc = df:groupby(with('container', 'pid', 'comm')):agg{samples = px.sum('count')}
local p = by_proc:groupby(key):agg{samples = px.sum('samples')}
local containers = by_proc:groupby(with('container')):agg{samples = px.sum('samples')}
local ncont = containers:groupby(key):agg{containers = px.count()}
local topc = containers:sort{{'samples', 'desc'}, 'container'}:groupby(key):agg{top_container = px.any('container')}
local procs = by_proc:groupby(with('pid')):agg{n = px.count()}:groupby(key):agg{processes = px.count()}
local comms = by_proc:groupby(with('comm')):agg{samples = px.sum('samples')}
local topp = comms:sort{{'samples', 'desc'}, 'comm'}:groupby(key):agg{top_comm = px.any('comm')}
p = p:merge(ncont, {on = key}):merge(procs, {on = key}):merge(topc, {on = key}):merge(topp, {on = key})
p = p:merge(total)
p.percent = p.samples * 100.0 / p.all_samples
p = p:select{'node', 'namespace', 'pod', 'samples', 'percent', 'containers', 'processes', 'top_container',
             'top_comm'}
px.display(p:sort{{'samples', 'desc'}, 'namespace', 'pod'}:head(args.limit), 'pods')
