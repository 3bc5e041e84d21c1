-- offcpu.lua - where threads wait off the CPU, and for how long: functions by blocked time
--
-- Displays `offcpu`: function, total_ms (time blocked with it anywhere on the stack: the kernel's
-- wait, e.g. do_nanosleep or pipe_read, and the code that waited), total_percent, periods; and
-- `offcpu_states`: state, blocked_ms, percent, periods. Percents are of the blocked time that
-- passed the filters. Times are estimates where the agent sampled a busy CPU (--offcpu-rate).
--
-- Args: --start (-5m)  --end (now)  --pid N  --comm NAME  --node NAME  --state NAME  --limit (50)
--       --lines
local args = px.offcpu_args{
  lines = {default = false, type = 'bool', help = 'a frame per source line (function file:line) where DWARF knows it'},
}

local df = px.samples(args, nil, nil, 'offcpu_samples')

local states = df:groupby('state'):agg{blocked = px.sum('blocked_ns'), periods = px.sum('count')}
local total = states:agg{all = px.sum('blocked')}
states = states:merge(total)
states.blocked_ms = states.blocked / 1000000.0
states.percent = states.blocked * 100.0 / states.all
px.display(states:select{'state', 'blocked_ms', 'percent', 'periods'}:sort{{'blocked_ms', 'desc'}, 'state'},
           'offcpu_states')

local stacks = df:groupby('stack'):agg{blocked = px.sum('blocked_ns'), periods = px.sum('count')}
local frames = stacks:frames{name = 'function', view = args.lines and 'line' or 'function'}
local fns = frames:groupby('function'):agg{blocked = px.sum('blocked'), periods = px.sum('periods')}
fns = fns:merge(total)
fns.total_ms = fns.blocked / 1000000.0
fns.total_percent = fns.blocked * 100.0 / fns.all
fns = fns:select{'function', 'total_ms', 'total_percent', 'periods'}
px.display(fns:sort{{'total_ms', 'desc'}, 'function'}:head(args.limit), 'offcpu')
