-- profile.lua - the samples as a profile for other tools: `wisp run profile -o pprof > cpu.pb.gz`
-- then `go tool pprof -top cpu.pb.gz`, or load it into Pyroscope, Parca, speedscope or Grafana.
--
-- Displays `profile`: node, pid, comm, stack and samples, one row per distinct stack of each
-- process. With -o pprof each row is a sample (samples/count and cpu/nanoseconds) labelled node,
-- pid and comm, each frame a location with its function, file and line; -o folded prints the
-- stacks as flamegraph does with --by none.
--
-- Args: --start (-5m)  --end (now)  --pid N  --comm NAME  --node NAME  --limit (100000)
local args = px.sample_args{
  limit = {default = 100000, help = 'rows (distinct stacks of a process) to keep, heaviest first'},
}

local df = px.samples(args)
local rows = df:groupby{'node', 'pid', 'comm', 'stack'}:agg{samples = px.sum('count')}
rows = rows:select{'node', 'pid', 'comm', 'stack', 'samples'}
px.display(rows:sort{{'samples', 'desc'}, 'node', 'pid'}:head(args.limit), 'profile')
