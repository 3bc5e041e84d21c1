-- wallclock.lua - where one process's threads spend their wall-clock time: on the CPU and off it,
-- together, per thread and per function
--
-- Displays `wallclock_threads`: tid, comm, on_cpu_ms, off_cpu_ms, total_ms, on_cpu_percent (of
-- the thread's total), heaviest first; and `wallclock`: function, on_cpu_ms, off_cpu_ms,
-- total_ms, total_percent (of all the threads' time together; a function counts the time of
-- every stack it is on). On-CPU time is samples / --hz (the agents' sampling rate); off-CPU time
-- is the blocked time of the recorded periods (an estimate where the agent sampled a busy CPU's
-- switches: --offcpu-rate). Needs wispd's off-CPU capture (--offcpu on, the default).
--
-- Args: --pid N (required)  --tid N  --start (-5m)  --end (now)  --hz (99)  --node NAME
--       --limit (50)  --lines  --lang KINDS
local args = px.sample_args{
  pid = {type = 'int', help = 'the process (required)'},
  tid = {type = 'int', help = 'only this thread'},
  hz = {default = 99, help = 'samples per second per CPU on the agents (wispd --hz)'},
  lines = {default = false, type = 'bool', help = 'a row per source line (function file:line) where DWARF knows it'},
}
if not args.pid then error('wallclock needs --pid N: the process whose time to show') end
if args.hz <= 0 then error('--hz must be above 0') end

-- (tid, comm, stack) with on- and off-CPU ns, from one table.
local function times(table, on_cpu)
  local df = px.samples(args, nil, nil, table)
  if args.tid then df = df:filter(df.tid:eq(args.tid)) end
  local t = df:groupby{'tid', 'comm', 'stack'}:agg{n = px.sum(on_cpu and 'count' or 'blocked_ns')}
  if on_cpu then
    t.on_ns, t.off_ns = px.float(t.n) * (1e9 / args.hz), 0.0
  else
    t.on_ns, t.off_ns = 0.0, px.float(t.n)
  end
  return t:select{'tid', 'comm', 'stack', 'on_ns', 'off_ns'}
end
local all = px.union(times('stack_samples', true), times('offcpu_samples', false))

local threads = all:groupby{'tid', 'comm'}:agg{on = px.sum('on_ns'), off = px.sum('off_ns')}
threads.on_cpu_ms, threads.off_cpu_ms = threads.on / 1e6, threads.off / 1e6
threads.total_ms = threads.on_cpu_ms + threads.off_cpu_ms
threads.on_cpu_percent = threads.on * 100.0 / (threads.on + threads.off)
px.display(threads:select{'tid', 'comm', 'on_cpu_ms', 'off_cpu_ms', 'total_ms', 'on_cpu_percent'}
           :sort{{'total_ms', 'desc'}, 'tid'}, 'wallclock_threads')

local frames = all:frames{name = 'function', view = args.lines and 'line' or 'function'}
local fns = frames:groupby('function'):agg{on = px.sum('on_ns'), off = px.sum('off_ns')}
fns = fns:merge(all:agg{whole = px.sum('on_ns'), whole_off = px.sum('off_ns')})
fns.on_cpu_ms, fns.off_cpu_ms = fns.on / 1e6, fns.off / 1e6
fns.total_ms = fns.on_cpu_ms + fns.off_cpu_ms
fns.total_percent = (fns.on + fns.off) * 100.0 / (fns.whole + fns.whole_off)
fns = fns:select{'function', 'on_cpu_ms', 'off_cpu_ms', 'total_ms', 'total_percent'}
px.display(fns:sort{{'total_ms', 'desc'}, 'function'}:head(args.limit), 'wallclock')
