-- processes.lua - CPU samples per process: who is busy
--
-- Displays `processes`: node, pid, comm, samples, percent (of all samples that passed the
-- filters), threads (distinct thread ids seen), sorted by samples. `comm` is the name most of the
-- process's samples carried in the window (threads may be named differently; exec renames).
--
-- Args: --start (-5m)  --end (now)  --pid N  --comm NAME  --node NAME  --limit (50)
local args = px.sample_args()

local df = px.samples(args)

-- The name: px.any keeps the first value in input order, so sort by samples first.
local by_name = df:groupby{'node', 'pid', 'comm'}:agg{samples = px.sum('count')}
local names = by_name:sort{{'samples', 'desc'}, 'comm'}:groupby{'node', 'pid'}:agg{comm = px.any('comm')}

local threads = df:groupby{'node', 'pid', 'tid'}:agg{samples = px.sum('count')}
local procs = threads:groupby{'node', 'pid'}:agg{samples = px.sum('samples'), threads = px.count()}
procs = procs:merge(names, {on = {'node', 'pid'}})
local total = procs:agg{all_samples = px.sum('samples')}
procs = procs:merge(total)
procs.percent = procs.samples * 100.0 / procs.all_samples
procs = procs:select{'node', 'pid', 'comm', 'samples', 'percent', 'threads'}
px.display(procs:sort{{'samples', 'desc'}, 'node', 'pid'}:head(args.limit), 'processes')
