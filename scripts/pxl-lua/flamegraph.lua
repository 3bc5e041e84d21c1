-- flamegraph.lua - folded stacks for a flame graph: `wisp run flamegraph -o folded > out.folded`
--
-- Displays `flamegraph`: stack (comm;root;...;leaf, kernel frames suffixed _[k]) and samples,
-- heaviest first. flamegraph.pl, speedscope and inferno read `-o folded` directly.
--
-- Args: --start (-5m)  --end (now)  --pid N  --comm NAME  --node NAME  --limit (10000)
--       --by (comm | pid | node | none): what to put at the root of each stack
local args = px.sample_args{
  by = {default = 'comm', help = 'root frame: comm, pid, node or none'},
  limit = {default = 10000, help = 'stacks to show'},
}

local df = px.samples(args)

local keys = {'stack'}
if args.by ~= 'none' then
  if args.by ~= 'comm' and args.by ~= 'pid' and args.by ~= 'node' then
    error('--by must be comm, pid, node or none')
  end
  keys = {args.by, 'stack'}
end
local stacks = df:groupby(keys):agg{samples = px.sum('count')}
if args.by == 'none' then
  stacks.folded = px.folded(stacks.stack)
else
  stacks.folded = px.concat(stacks[args.by], ';', px.folded(stacks.stack))
end
stacks = stacks:rename{folded = 'stack', stack = 'raw_stack'}:select{'stack', 'samples'}
px.display(stacks:sort{{'samples', 'desc'}, 'stack'}:head(args.limit), 'flamegraph')
