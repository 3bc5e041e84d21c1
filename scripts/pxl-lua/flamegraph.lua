-- flamegraph.lua - folded stacks for a flame graph: `wisp run flamegraph -o folded > out.folded`
--
-- Displays `flamegraph`: stack (comm;root;...;leaf, kernel frames suffixed _[k]) and samples,
-- heaviest first. flamegraph.pl, speedscope and inferno read `-o folded` directly. A frame is a
-- function; with --lines, "function file:line" where the binary has DWARF (inlined functions
-- are frames of their own either way).
--
-- Args: --start (-5m)  --end (now)  --pid N  --comm NAME  --node NAME  --limit (10000)
--       --by (comm | pid | node | none): what to put at the root of each stack  --lines
local args = px.sample_args{
  by = {default = 'comm', help = 'root frame: comm, pid, node or none'},
  limit = {default = 10000, help = 'stacks to show'},
  lines = {default = false, type = 'bool', help = 'a frame per source line (function file:line) where DWARF knows it'},
}
local view = args.lines and 'line' or 'function'

local df = px.samples(args)

local keys = {'stack'}
if args.by ~= 'none' then
  if args.by ~= 'comm' and args.by ~= 'pid' and args.by ~= 'node' then
    error('--by must be comm, pid, node or none')
  end
  keys = {args.by, 'stack'}
end
-- Stacks that differ only where the view does not look (lines, raw names) fold into one stack;
-- rows stay stack references (on the wire too) until the rows shown are spelled out.
local stacks = df:groupby(keys):agg{samples = px.sum('count')}
stacks.stack = px.view(stacks.stack, view)
stacks = stacks:groupby(keys):agg{samples = px.sum('samples')}
local order = {{'samples', 'desc'}}
for _, k in ipairs(keys) do order[#order + 1] = k end
stacks = stacks:sort(order):head(args.limit)
if args.by == 'none' then
  stacks.folded = px.folded(stacks.stack)
else
  stacks.folded = px.concat(stacks[args.by], ';', px.folded(stacks.stack))
end
stacks = stacks:select{'folded', 'samples'}:rename{folded = 'stack'}
px.display(stacks:sort{{'samples', 'desc'}, 'stack'}, 'flamegraph')
