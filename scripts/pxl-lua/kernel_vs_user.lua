-- kernel_vs_user.lua - how much CPU time is spent in the kernel versus in user code, per process
--
-- Displays `kernel_vs_user`: node, pid, comm, samples, kernel_samples, user_samples,
-- kernel_percent (share of the process's samples whose leaf frame is in the kernel).
--
-- Args: --start (-5m)  --end (now)  --pid N  --comm NAME  --node NAME  --limit (50)
local args = px.sample_args()
local df = px.samples(args)

local s = df:groupby{'node', 'pid', 'comm', 'stack'}:agg{samples = px.sum('count')}
s.kernel = px.select(px.in_kernel(s.stack), s.samples, 0)
local p = s:groupby{'node', 'pid', 'comm'}:agg{samples = px.sum('samples'), kernel_samples = px.sum('kernel')}
p.user_samples = p.samples - p.kernel_samples
p.kernel_percent = p.kernel_samples * 100.0 / p.samples
p = p:select{'node', 'pid', 'comm', 'samples', 'kernel_samples', 'user_samples', 'kernel_percent'}
px.display(p:sort{{'samples', 'desc'}, 'node', 'pid', 'comm'}:head(args.limit), 'kernel_vs_user')
