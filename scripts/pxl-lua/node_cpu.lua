-- node_cpu.lua - samples per node per time bin: how busy each node was over time
--
-- Displays `node_cpu`: time_ (bin start), node, samples, cpus_busy (samples / (bin seconds x
-- sampling rate): about how many CPUs were busy on average), sorted by time then node.
--
-- Args: --start (-5m)  --end (now)  --bin (10s)  --hz (99: the agents' sampling rate)  --node NAME
local args = px.args{
  start = {default = '-5m', type = 'time', help = 'window start'},
  ['end'] = {type = 'time', help = 'window end (default: now)'},
  bin = {default = '10s', type = 'duration', help = 'bin width'},
  hz = {default = 99, help = 'samples per second per CPU on the agents'},
  node = {type = 'string', help = 'only this node'},
}
local df = px.DataFrame{table = 'stack_samples', start_time = args.start, end_time = args['end']}
if args.node then df = df:filter(df.node:eq(args.node)) end
df.time_ = px.bin(df.time_, args.bin)
local t = df:groupby{'time_', 'node'}:agg{samples = px.sum('count')}
t.cpus_busy = px.float(t.samples) / (px.duration(args.bin) / 1e9 * args.hz)
px.display(t:sort{'time_', 'node'}, 'node_cpu')
