-- offcpu_flamegraph.lua - where threads wait: folded off-CPU stacks weighted by the time blocked
--
-- Displays `offcpu_flamegraph`: stack (comm;root;...;leaf, kernel frames suffixed _[k]: the leaf
-- is where the thread left the CPU) and blocked_ms, heaviest first. `-o folded` prints
-- "stack BLOCKED_MICROSECONDS" lines for flamegraph.pl, speedscope and inferno. Times are
-- estimates where the agent sampled a busy CPU's switches (--offcpu-rate): each recorded period
-- stands for those it represents.
--
-- Args: --start (-5m)  --end (now)  --pid N  --comm NAME  --node NAME  --state (runnable |
--       sleeping | uninterruptible | other)  --limit (10000)  --by (comm | pid | node | state |
--       none): the root of each stack  --lines
local args = px.offcpu_args{
  by = {default = 'comm', help = 'root frame: comm, pid, node, state or none'},
  limit = {default = 10000, help = 'stacks to show'},
  lines = {default = false, type = 'bool', help = 'a frame per source line (function file:line) where DWARF knows it'},
}
local view = args.lines and 'line' or 'function'

local df = px.samples(args, nil, nil, 'offcpu_samples')

local keys = {'stack'}
if args.by ~= 'none' then
  if args.by ~= 'comm' and args.by ~= 'pid' and args.by ~= 'node' and args.by ~= 'state' then
    error('--by must be comm, pid, node, state or none')
  end
  keys = {args.by, 'stack'}
end
-- Stacks that differ only where the view does not look fold into one stack (flamegraph.lua).
local stacks = df:groupby(keys):agg{blocked = px.sum('blocked_ns')}
stacks.stack = px.view(stacks.stack, view)
stacks = stacks:groupby(keys):agg{blocked = px.sum('blocked')}
local order = {{'blocked', 'desc'}}
for _, k in ipairs(keys) do order[#order + 1] = k end
stacks = stacks:sort(order):head(args.limit)
if args.by == 'none' then
  stacks.folded = px.folded(stacks.stack)
else
  stacks.folded = px.concat(stacks[args.by], ';', px.folded(stacks.stack))
end
stacks.blocked_ms = stacks.blocked / 1000000.0
stacks = stacks:select{'folded', 'blocked_ms'}:rename{folded = 'stack'}
px.display(stacks:sort{{'blocked_ms', 'desc'}, 'stack'}, 'offcpu_flamegraph')
