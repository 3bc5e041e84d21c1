-- profile.lua - the samples as a profile for other tools: `wisp run profile -o pprof > cpu.pb.gz`
-- then `go tool pprof -top cpu.pb.gz`, or load it into Pyroscope, Parca, speedscope or Grafana.
--
-- Displays `profile`: node, pid, comm, stack and samples, one row per distinct stack of each
-- process. With -o pprof each row is a sample (samples/count and cpu/nanoseconds) labelled node,
-- pid and comm, each frame a location with its function, file and line; -o folded prints the
-- stacks as flamegraph does with --by none. --table offcpu_samples makes an off-CPU profile:
-- samples are then the periods off the CPU, with blocked_ns, and -o pprof's values
-- periods/count and off_cpu/nanoseconds (the default type): where the threads waited, and how
-- long.
--
-- Args: --start (-5m)  --end (now)  --pid N  --comm NAME  --node NAME  --limit (100000)
--       --table stack_samples|offcpu_samples  --state NAME (offcpu_samples)
local args = px.offcpu_args{
  limit = {default = 100000, help = 'rows (distinct stacks of a process) to keep, heaviest first'},
  table = {default = 'stack_samples', help = 'stack_samples (CPU) or offcpu_samples (where threads waited)'},
}
if args.table ~= 'stack_samples' and args.table ~= 'offcpu_samples' then
  error('--table must be stack_samples or offcpu_samples')
end
if args.state and args.table ~= 'offcpu_samples' then error('--state needs --table offcpu_samples') end

local df = px.samples(args, nil, nil, args.table)
local rows, cols
if args.table == 'offcpu_samples' then
  rows = df:groupby{'node', 'pid', 'comm', 'stack'}:agg{samples = px.sum('count'), blocked_ns = px.sum('blocked_ns')}
  cols = {'node', 'pid', 'comm', 'stack', 'samples', 'blocked_ns'}
  rows = rows:sort{{'blocked_ns', 'desc'}, 'node', 'pid'}
else
  rows = df:groupby{'node', 'pid', 'comm', 'stack'}:agg{samples = px.sum('count')}
  cols = {'node', 'pid', 'comm', 'stack', 'samples'}
  rows = rows:sort{{'samples', 'desc'}, 'node', 'pid'}
end
px.display(rows:select(cols):head(args.limit), 'profile')
