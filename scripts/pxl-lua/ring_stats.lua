-- ring_stats.lua - how much each agent's ring holds: bytes, samples, time span, compression
--
-- Displays `ring_stats`: node, table, held_hours, samples, mb, budget_mb, bytes_per_sample,
-- compression, evicted_samples, stacks, threads.
local df = px.DataFrame{table = 'ring_stats'}
df.held_hours = px.float(df.newest - df.oldest) / 3.6e12
df.mb = px.float(df.bytes) / 1048576.0
df.budget_mb = px.float(df.budget) / 1048576.0
df.bytes_per_sample = px.select(df.samples:gt(0), px.float(df.bytes) / px.float(df.samples), 0.0)
df = df:select{'node', 'table', 'held_hours', 'samples', 'mb', 'budget_mb', 'bytes_per_sample', 'compression',
               'evicted_samples', 'stacks', 'threads'}
px.display(df:sort('node'), 'ring_stats')
