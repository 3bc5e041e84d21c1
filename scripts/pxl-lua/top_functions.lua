-- top_functions.lua - which functions the CPUs spend time in: self (leaf) and total (inclusive)
--
-- Displays `top_functions`: function, self_samples, self_percent, total_samples, total_percent,
-- sorted by self_samples. Percents are of the samples that passed the filters. A function that
-- appears several times in one stack (recursion) counts once toward that stack's total.
--
-- With --lines, a row per function and source line ("function file:line") where DWARF knows it.
-- Inlined functions are functions of their own either way.
--
-- Args: --start (-5m)  --end (now)  --pid N  --comm NAME  --node NAME  --limit (50)  --lines
local args = px.sample_args{
  lines = {default = false, type = 'bool', help = 'a frame per source line (function file:line) where DWARF knows it'},
}

local df = px.samples(args)

-- Count each distinct stack once, then spread the counts over its functions.
local stacks = df:groupby('stack'):agg{samples = px.sum('count')}
local total = stacks:agg{all_samples = px.sum('samples')}

local frames = stacks:frames{name = 'function', leaf = 'leaf', view = args.lines and 'line' or 'function'}
frames.self = px.select(frames.leaf, frames.samples, 0)
local fns = frames:groupby('function'):agg{self_samples = px.sum('self'), total_samples = px.sum('samples')}

fns = fns:merge(total)
fns.self_percent = fns.self_samples * 100.0 / fns.all_samples
fns.total_percent = fns.total_samples * 100.0 / fns.all_samples
fns = fns:select{'function', 'self_samples', 'self_percent', 'total_samples', 'total_percent'}
fns = fns:sort{{'self_samples', 'desc'}, {'total_samples', 'desc'}, 'function'}:head(args.limit)

px.display(fns, 'top_functions')
