-- prelude.lua - the `px` module scripts see: DataFrames, expressions, script arguments.
--
-- Compiled into the binary and run once per query before the user's script. It only builds a
-- plan: every DataFrame method calls into C (`C`, the plan builders of query/lua/px.c), which
-- validates columns and types at once, so a mistake is reported at the script line that made it.
-- No function here ever sees a row of data.
local C, getinfo, argv, script_chunk = ...

local px = {}
local Expr = {}
Expr.__index = Expr
local DF = {}
local GroupBy = {}
GroupBy.__index = GroupBy

-- Errors point at the user's script: the first stack level whose chunk is the script.
local function fail(msg)
  for level = 2, 50 do
    local info = getinfo(level, 'Sl')
    if not info then break end
    if info.source == script_chunk then
      error(info.short_src .. ':' .. info.currentline .. ': ' .. msg, 0)
    end
  end
  error(msg, 0)
end

local function script_line()
  for level = 2, 50 do
    local info = getinfo(level, 'Sl')
    if not info then break end
    if info.source == script_chunk then return info.currentline end
  end
  return 0
end

-- One value out of a C call that returns value | nil, message.
local function check(ok, err)
  if ok == nil then fail(err) end
  return ok
end

-- Expressions -------------------------------------------------------------------------------

local function is_expr(v) return getmetatable(v) == Expr end

local function lit(v)
  if is_expr(v) then return v end
  local t = type(v)
  if t == 'number' or t == 'string' or t == 'boolean' then
    return setmetatable({k = 'lit', v = v}, Expr)
  end
  fail('cannot use a ' .. t .. ' in an expression')
end

local function call(fn, ...)
  local args = table.pack(...)
  local out = {}
  for i = 1, args.n do out[i] = lit(args[i]) end
  return setmetatable({k = 'call', fn = fn, args = out}, Expr)
end

local function col(name) return setmetatable({k = 'col', name = name}, Expr) end

Expr.__add = function(a, b) return call('add', a, b) end
Expr.__sub = function(a, b) return call('sub', a, b) end
Expr.__mul = function(a, b) return call('mul', a, b) end
Expr.__div = function(a, b) return call('div', a, b) end
Expr.__mod = function(a, b) return call('mod', a, b) end
Expr.__unm = function(a) return call('neg', a) end
Expr.__concat = function(a, b) return call('concat', a, b) end
Expr.__eq = function() fail('== cannot compare columns in Lua; use px.eq(a, b) or a:eq(b)') end
Expr.__lt = function() fail('< cannot compare columns in Lua; use px.lt(a, b) or a:lt(b)') end
Expr.__le = function() fail('<= cannot compare columns in Lua; use px.le(a, b) or a:le(b)') end
Expr.__tostring = function(e)
  if e.k == 'col' then return e.name end
  if e.k == 'lit' then return type(e.v) == 'string' and string.format('%q', e.v) or tostring(e.v) end
  local parts = {}
  for i, a in ipairs(e.args) do parts[i] = tostring(a) end
  return e.fn .. '(' .. table.concat(parts, ', ') .. ')'
end

for _, fn in ipairs{'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'contains', 'startswith', 'endswith'} do
  px[fn] = function(a, b) return call(fn, a, b) end
  Expr[fn] = px[fn]
end
-- POSIX extended regular expressions: px.matches(df.comm, '^(nginx|envoy)$') or df.comm:matches(...).
function px.matches(s, regex) return call('matches', s, regex) end
Expr.matches = px.matches
function px.and_(...) return call('and', ...) end
function px.or_(...) return call('or', ...) end
function px.not_(a) return call('not', a) end
function px.in_(a, set)
  if type(set) ~= 'table' then fail('px.in_(expr, {values...}) needs a table of values') end
  return call('in', a, table.unpack(set))
end
Expr.in_ = px.in_
function px.select(cond, a, b) return call('select', cond, a, b) end
function px.concat(...) return call('concat', ...) end
function px.string(a) return call('string', a) end
function px.int(a) return call('int', a) end
function px.float(a) return call('float', a) end
-- Stack functions.
function px.leaf(s, view) if view == nil then return call('leaf', s) end return call('leaf', s, view) end
function px.folded(s, view) if view == nil then return call('folded', s) end return call('folded', s, view) end
function px.view(s, view) if view == nil then return call('view', s) end return call('view', s, view) end
function px.depth(s) return call('depth', s) end
function px.has_function(s, pattern) return call('has_function', s, pattern) end
function px.in_kernel(s) return call('in_kernel', s) end
function px.kernel_depth(s) return call('kernel_depth', s) end
function px.frames(s, kinds) return call('frames', s, kinds) end

-- Time --------------------------------------------------------------------------------------

function px.now() return C.now() end
function px.duration(s)
  if math.type(s) == 'integer' then return s end
  return check(C.parse_duration(s))
end
function px.seconds(n) return math.tointeger(n * 1000000000) or fail('bad number of seconds') end
function px.minutes(n) return px.seconds(n * 60) end
function px.hours(n) return px.seconds(n * 3600) end
function px.bin(t, width) return call('bin', t, px.duration(width)) end
function px.time(v)
  if math.type(v) == 'integer' then return v end
  return check(C.parse_time(v))
end

-- DataFrames --------------------------------------------------------------------------------

local function wrap(id, names, types)
  local schema = {}
  for i, n in ipairs(names) do schema[n] = types[i] end
  C.set_line(id, script_line())
  return setmetatable({_id = id, _names = names, _schema = schema}, DF)
end

-- Builders return id, names, types on success and nil, message on failure.
local function node(id, names, types)
  if id == nil then fail(names) end
  return wrap(id, names, types)
end

local function is_df(v) return getmetatable(v) == DF end
local function need_df(v, what)
  if not is_df(v) then fail(what .. ' needs a DataFrame') end
  return v
end

-- pprof's -focus / -ignore: keep only samples with (without) a frame matching the substring.
function px.focus(df, pattern) return need_df(df, 'px.focus'):filter(px.has_function(df.stack, pattern)) end
function px.ignore(df, pattern) return need_df(df, 'px.ignore'):filter(px.not_(px.has_function(df.stack, pattern))) end

local function names_of(list, what)
  if type(list) == 'string' then return {list} end
  if type(list) ~= 'table' then fail(what .. ' needs a column name or a list of names') end
  local out = {}
  for i, v in ipairs(list) do
    if is_expr(v) and v.k == 'col' then v = v.name end
    if type(v) ~= 'string' then fail(what .. ': column names must be strings') end
    out[i] = v
  end
  return out
end

local function expr_arg(e, what)
  if is_expr(e) or type(e) == 'number' or type(e) == 'string' or type(e) == 'boolean' then
    return lit(e)
  end
  fail(what .. ' needs an expression')
end

function px.DataFrame(spec)
  if type(spec) == 'string' then spec = {table = spec} end
  if type(spec) ~= 'table' then fail('px.DataFrame{table=..., start_time=..., end_time=...}') end
  local table_name = spec.table or spec[1]
  if type(table_name) ~= 'string' then fail('px.DataFrame: table must be a string') end
  local t0 = px.time(spec.start_time or '-5m')
  local t1 = spec.end_time and px.time(spec.end_time) or px.now() + 1
  local df = node(C.source(table_name, t0, t1))
  if spec.select then df = df:select(spec.select) end
  return df
end

DF.__index = function(df, key)
  local m = DF[key]
  if m ~= nil then return m end
  if type(key) ~= 'string' then fail('columns are named by strings') end
  if rawget(df, '_schema')[key] == nil then
    fail("unknown column '" .. key .. "' (columns: " .. table.concat(df._names, ', ') .. ')')
  end
  return col(key)
end

DF.__newindex = function(df, key, value)
  if type(key) ~= 'string' then fail('columns are named by strings') end
  local n = node(C.map(df._id, {key}, {expr_arg(value, 'df.' .. key .. ' =')}))
  rawset(df, '_id', n._id)
  rawset(df, '_names', n._names)
  rawset(df, '_schema', n._schema)
end

DF.__tostring = function(df) return 'DataFrame(' .. table.concat(df._names, ', ') .. ')' end

-- Expression strings -------------------------------------------------------------------------
-- df:filter("comm == 'python3' and pid >= 100") and px.expr(df, text) parse a small expression
-- language into the same expressions the builders make. Names are df's columns; NAME(args)
-- calls the px function of that name; == ~= != < <= > >= and or not in (a, b) + - * / % ..
-- work as in Lua. Strings use '...' or "..." (backslash escapes the quote).

local expr_functions = {
  matches = true, contains = true, startswith = true, endswith = true, select = true,
  concat = true, string = true, int = true, float = true, leaf = true, folded = true, view = true,
  depth = true, has_function = true, in_kernel = true, kernel_depth = true, frames = true, bin = true,
  time = true, duration = true, qbucket = true,
}

local function tokenize(text)
  local toks, i, n = {}, 1, #text
  while i <= n do
    local c = text:sub(i, i)
    if c:match('%s') then
      i = i + 1
    elseif c:match('[%a_]') then
      local w = text:match('^[%w_]+', i)
      toks[#toks + 1] = {k = 'name', v = w, at = i}
      i = i + #w
    elseif c:match('%d') or (c == '.' and text:sub(i + 1, i + 1):match('%d')) then
      local num = text:match('^%d*%.?%d+[eE][%+%-]?%d+', i) or text:match('^%d*%.?%d*', i)
      local v = tonumber(num)
      if not v then return nil, "bad number '" .. num .. "' at " .. i end
      toks[#toks + 1] = {k = 'value', v = math.tointeger(v) or v, at = i}
      i = i + #num
    elseif c == "'" or c == '"' then
      local j, buf = i + 1, {}
      while j <= n and text:sub(j, j) ~= c do
        if text:sub(j, j) == '\\' then j = j + 1 end
        buf[#buf + 1] = text:sub(j, j)
        j = j + 1
      end
      if j > n then return nil, 'unfinished string at ' .. i end
      toks[#toks + 1] = {k = 'value', v = table.concat(buf), at = i}
      i = j + 1
    else
      local op = text:match('^[=~!<>]=', i) or text:match('^%.%.', i) or text:match('^[<>%+%-%*/%%%(%),]', i)
      if not op then return nil, "unexpected '" .. c .. "' at " .. i end
      toks[#toks + 1] = {k = 'op', v = op, at = i}
      i = i + #op
    end
  end
  toks[#toks + 1] = {k = 'end', v = 'the end', at = n + 1}
  return toks
end

local compare_ops = {['=='] = 'eq', ['~='] = 'ne', ['!='] = 'ne', ['<'] = 'lt', ['<='] = 'le', ['>'] = 'gt',
                     ['>='] = 'ge'}

function px.expr(df, text)
  need_df(df, 'px.expr')
  if type(text) ~= 'string' then fail('px.expr(df, text) needs the expression as a string') end
  local toks, err = tokenize(text)
  if not toks then fail('bad expression "' .. text .. '": ' .. err) end
  local pos = 1
  local function peek() return toks[pos] end
  local function bad(why) error({expr_error = why .. ' at ' .. toks[pos].at}, 0) end
  local function accept(k, v)
    local t = toks[pos]
    if t.k == k and (v == nil or t.v == v) then pos = pos + 1 return t end
  end
  local function expect(k, v)
    return accept(k, v) or bad("expected '" .. (v or k) .. "', got '" .. tostring(peek().v) .. "'")
  end
  local parse_or
  local function primary()
    local t = peek()
    if accept('value') then return t.v end -- raw: px.time('-1m') and px.bin(t, '10s') want Lua values
    if accept('op', '(') then
      local e = parse_or()
      expect('op', ')')
      return e
    end
    if accept('name') then
      if t.v == 'true' or t.v == 'false' then return t.v == 'true' end
      if accept('op', '(') then
        if not expr_functions[t.v] then bad("unknown function '" .. t.v .. "'") end
        local args = {}
        if not accept('op', ')') then
          repeat args[#args + 1] = parse_or() until not accept('op', ',')
          expect('op', ')')
        end
        return px[t.v](table.unpack(args))
      end
      if rawget(df, '_schema')[t.v] == nil then
        bad("unknown column '" .. t.v .. "' (columns: " .. table.concat(df._names, ', ') .. ')')
      end
      return col(t.v)
    end
    bad("expected a value, got '" .. tostring(t.v) .. "'")
  end
  local function unary()
    if accept('op', '-') then
      local v = unary()
      return type(v) == 'number' and -v or call('neg', v)
    end
    return primary()
  end
  local function binary(next_level, ops)
    return function()
      local e = next_level()
      while peek().k == 'op' and ops[peek().v] do
        local fn = ops[toks[pos].v]
        pos = pos + 1
        e = call(fn, e, next_level())
      end
      return e
    end
  end
  local mul = binary(unary, {['*'] = 'mul', ['/'] = 'div', ['%'] = 'mod'})
  local add = binary(mul, {['+'] = 'add', ['-'] = 'sub', ['..'] = 'concat'})
  local function comparison()
    local e = add()
    local t = peek()
    if t.k == 'op' and compare_ops[t.v] then
      pos = pos + 1
      return call(compare_ops[t.v], e, add())
    end
    if accept('name', 'in') then
      expect('op', '(')
      local set = {}
      repeat
        local v = expect('value')
        set[#set + 1] = v.v
      until not accept('op', ',')
      expect('op', ')')
      return px.in_(e, set)
    end
    return e
  end
  local function negation()
    if accept('name', 'not') then return call('not', negation()) end
    return comparison()
  end
  local function conjunction()
    local e = negation()
    while accept('name', 'and') do e = call('and', e, negation()) end
    return e
  end
  parse_or = function()
    local e = conjunction()
    while accept('name', 'or') do e = call('or', e, conjunction()) end
    return e
  end
  local ok, e = pcall(function()
    local e = parse_or()
    if peek().k ~= 'end' then bad("unexpected '" .. tostring(peek().v) .. "'") end
    return lit(e)
  end)
  if not ok then
    if type(e) == 'table' and e.expr_error then fail('bad expression "' .. text .. '": ' .. e.expr_error) end
    error(e, 0)
  end
  return e
end

function DF.columns(df) return table.move(df._names, 1, #df._names, 1, {}) end
function DF.filter(df, pred)
  if type(pred) == 'string' then pred = px.expr(df, pred) end
  if type(pred) == 'boolean' then
    fail('filter got a plain Lua boolean: an expression like df.pid == 5 is compared by Lua once, ' ..
         'not per row; write px.eq(df.pid, 5) or df.pid:eq(5)')
  end
  return node(C.filter(df._id, expr_arg(pred, 'filter')))
end
function DF.map(df, cols)
  if type(cols) ~= 'table' then fail('map{name = expr, ...} needs a table') end
  local names, exprs = {}, {}
  for k in pairs(cols) do
    if type(k) ~= 'string' then fail('map: column names must be strings') end
    names[#names + 1] = k
  end
  table.sort(names)
  for i, k in ipairs(names) do exprs[i] = expr_arg(cols[k], 'map') end
  return node(C.map(df._id, names, exprs))
end
function DF.select(df, cols)
  local names = names_of(cols, 'select')
  return node(C.project(df._id, names, names))
end
function DF.drop(df, cols)
  local gone = {}
  for _, n in ipairs(names_of(cols, 'drop')) do
    if df._schema[n] == nil then fail("drop: unknown column '" .. n .. "'") end
    gone[n] = true
  end
  local keep = {}
  for _, n in ipairs(df._names) do if not gone[n] then keep[#keep + 1] = n end end
  return node(C.project(df._id, keep, keep))
end
function DF.rename(df, map)
  if type(map) ~= 'table' then fail('rename{old = "new", ...} needs a table') end
  local from, as = {}, {}
  for i, n in ipairs(df._names) do
    from[i] = n
    as[i] = map[n] or n
    if type(as[i]) ~= 'string' then fail('rename: new names must be strings') end
  end
  for k in pairs(map) do
    if df._schema[k] == nil then fail("rename: unknown column '" .. tostring(k) .. "'") end
  end
  return node(C.project(df._id, from, as))
end
function DF.head(df, n)
  n = n or 5
  if math.type(n) ~= 'integer' then fail('head(n) needs an integer') end
  return node(C.head(df._id, n))
end
function DF.sort(df, keys, order)
  if type(keys) == 'string' then keys = {{keys, order or 'asc'}} end
  if type(keys) ~= 'table' then fail("sort('col', 'desc') or sort{{'a', 'desc'}, 'b'}") end
  local names, desc = {}, {}
  for i, k in ipairs(keys) do
    local name, dir = k, 'asc'
    if type(k) == 'table' then name, dir = k[1], k[2] or 'asc' end
    if dir ~= 'asc' and dir ~= 'desc' then fail("sort order must be 'asc' or 'desc'") end
    names[i], desc[i] = name, dir == 'desc'
  end
  return node(C.sort(df._id, names_of(names, 'sort'), desc))
end
function DF.frames(df, opts)
  opts = opts or {}
  return node(C.frames(df._id, opts.stack or 'stack', opts.name or 'function', opts.leaf or 'leaf', opts.view))
end
function DF.groupby(df, keys)
  return setmetatable({df = df, keys = names_of(keys, 'groupby')}, GroupBy)
end

-- Aggregates: px.count(), px.sum('col'), ... or PxL-style {'col', px.sum}.
-- px.count_distinct('col') is exact: distinct (keys, col) pairs first, then a count per key.
local Agg = {}
for _, fn in ipairs{'count', 'sum', 'min', 'max', 'mean', 'any', 'count_distinct', 'quantiles'} do
  px[fn] = function(column, weight)
    if is_expr(column) and column.k == 'col' then column = column.name end
    if is_expr(weight) and weight.k == 'col' then weight = weight.name end
    return setmetatable({fn = fn, arg = column, weight = weight}, Agg)
  end
end
function px.qbucket(x) return call('qbucket', x) end

local function agg_specs(spec)
  if type(spec) ~= 'table' then fail('agg{out = px.sum("col"), ...} needs a table') end
  local outs = {}
  for k in pairs(spec) do
    if type(k) ~= 'string' then fail('agg: output names must be strings') end
    outs[#outs + 1] = k
  end
  table.sort(outs)
  local specs = {}
  for i, out in ipairs(outs) do
    local a = spec[out]
    if type(a) == 'table' and getmetatable(a) ~= Agg then -- {'col', px.sum} or {'col', 'sum'}
      local fn = a[2]
      if type(fn) == 'function' then fn = fn(a[1]) else fn = px[fn] and px[fn](a[1]) end
      a = fn
    end
    if getmetatable(a) ~= Agg then fail('agg: ' .. out .. ' must be px.count(), px.sum("col"), ...') end
    if a.fn ~= 'count' and type(a.arg) ~= 'string' then fail('px.' .. a.fn .. ' needs a column name') end
    specs[i] = {out, a.fn, a.arg, a.weight}
  end
  return specs
end

-- px.quantiles('col'[, 'weight']): p50, p90, p99 as columns OUT_p50, OUT_p90, OUT_p99. A
-- mergeable sketch: per key, a histogram of log buckets (count of rows, or sum of the weight
-- column) is merged exactly across agents, then read; each quantile is within 1 % (relative)
-- of the exact one.
local function quantiles(df, keys, s)
  if df._schema[s[3]] == nil then fail("quantiles: unknown column '" .. s[3] .. "'") end
  local m = node(C.map(df._id, {'__qb'}, {call('qbucket', col(s[3]))}))
  local pair = table.move(keys, 1, #keys, 1, {})
  pair[#pair + 1] = '__qb'
  local w = s[4] and {{'__qw', 'sum', s[4]}} or {{'__qw', 'count'}}
  local h = node(C.agg(m._id, pair, w))
  return node(C.quantiles(h._id, keys, '__qb', '__qw', s[1]))
end

local function aggregate(df, keys, spec)
  local plain, distinct, quant = {}, {}, {}
  for _, s in ipairs(agg_specs(spec)) do
    if s[2] == 'count_distinct' then distinct[#distinct + 1] = s
    elseif s[2] == 'quantiles' then quant[#quant + 1] = s
    else plain[#plain + 1] = {s[1], s[2], s[3]} end
  end
  local out
  if #plain > 0 or (#keys > 0 and #distinct == 0 and #quant == 0) then out = node(C.agg(df._id, keys, plain)) end
  for _, s in ipairs(quant) do
    local d = quantiles(df, keys, s)
    out = out and out:merge(d, #keys > 0 and {on = keys} or nil) or d
  end
  for _, s in ipairs(distinct) do
    local pair = table.move(keys, 1, #keys, 1, {})
    local seen = false
    for _, k in ipairs(keys) do seen = seen or k == s[3] end
    if not seen then pair[#pair + 1] = s[3] end
    local d = node(C.agg(node(C.agg(df._id, pair, {}))._id, keys, {{s[1], 'count'}}))
    out = out and out:merge(d, #keys > 0 and {on = keys} or nil) or d
  end
  return out
end

function GroupBy.agg(g, spec) return aggregate(g.df, g.keys, spec) end
function DF.agg(df, spec) return aggregate(df, {}, spec) end

-- df:merge(right, {how = 'inner'|'left', on = {...} | left_on = {...}, right_on = {...},
--                   suffix = '_x'})
-- With no keys it is a cross join (handy to attach a one-row total to every row). With `on`
-- the keys have the same names on both sides and appear once in the result.
function DF.merge(df, right, opts)
  need_df(right, 'merge')
  opts = opts or {}
  local on = opts.on and names_of(opts.on, 'merge') or nil
  local lk = on or (opts.left_on and names_of(opts.left_on, 'merge')) or {}
  local rk = on or (opts.right_on and names_of(opts.right_on, 'merge')) or lk
  local suffix = opts.suffix or '_x'
  local out = node(C.join(df._id, right._id, opts.how or 'inner', lk, rk, suffix))
  if on then
    local dup = {}
    for _, k in ipairs(on) do dup[k .. suffix] = true end
    local keep = {}
    for _, n in ipairs(out._names) do if not dup[n] then keep[#keep + 1] = n end end
    out = node(C.project(out._id, keep, keep))
  end
  return out
end
DF.join = DF.merge

function px.union(...)
  local ids = {}
  for i, df in ipairs{...} do ids[i] = need_df(df, 'px.union')._id end
  return node(C.union(ids))
end

function px.display(df, name)
  need_df(df, 'px.display')
  name = name or 'output'
  if type(name) ~= 'string' then fail('px.display: the name must be a string') end
  check(C.display(df._id, name))
end

-- Script arguments --------------------------------------------------------------------------
-- px.args{ start = {default = '-5m', type = 'time', help = '...'}, pid = {type = 'int'} }
-- Values come from `wisp run script.lua -- --start -10m --pid 42`. A bool may stand alone as a
-- flag (`--lines` is `--lines true`). `--help` alone (for a script that takes no --help of its
-- own) fails with the arguments described, one per line, sorted, in a form tools parse (the
-- dashboard builds its forms from it):
--   "  --NAME TYPE = DEFAULT  HELP"   (" = DEFAULT" only where there is one; HELP may be empty)

local converters = {
  string = function(v) return v end,
  int = function(v) return math.tointeger(tonumber(v)) end,
  number = function(v) return tonumber(v) end,
  bool = function(v)
    if v == 'true' or v == '1' or v == 'yes' then return true end
    if v == 'false' or v == '0' or v == 'no' then return false end
  end,
  time = function(v) local ok = C.parse_time(v); return ok and v end,
  duration = function(v) local ok = C.parse_duration(v); return ok and v end,
}

local function arg_type(s)
  local ty = s.type or (math.type(s.default) == 'integer' and 'int') or type(s.default)
  return ty == 'nil' and 'string' or ty
end

local function describe_args(spec)
  local names = {}
  for name in pairs(spec) do names[#names + 1] = name end
  table.sort(names)
  local lines = {'script arguments (--name value):'}
  for _, name in ipairs(names) do
    local s = type(spec[name]) == 'table' and spec[name] or {default = spec[name]}
    local default = s.default ~= nil and (' = ' .. tostring(s.default)) or ''
    lines[#lines + 1] = '  --' .. name:gsub('_', '-') .. ' ' .. arg_type(s) .. default .. '  ' .. (s.help or '')
  end
  return table.concat(lines, '\n')
end

function px.args(spec)
  if type(spec) ~= 'table' then fail('px.args{name = {type = ..., default = ...}} needs a table') end
  if #argv == 1 and argv[1] == '--help' and spec.help == nil then fail(describe_args(spec)) end
  local given = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local k, v = a:match('^%-%-([%w_%-]+)=(.*)$')
    if not k then
      k = a:match('^%-%-([%w_%-]+)$')
      if not k then fail("bad script argument '" .. a .. "' (expected --name value)") end
      v = argv[i + 1]
      local s = spec[(k:gsub('%-', '_'))]
      if type(s) == 'table' and (s.type == 'bool' or (s.type == nil and type(s.default) == 'boolean'))
          and (v == nil or converters.bool(v) == nil) then
        v = 'true' -- a flag: --lines alone means --lines true
      else
        if v == nil then fail('script argument --' .. k .. ' needs a value') end
        i = i + 1
      end
    end
    k = k:gsub('%-', '_')
    if spec[k] == nil then
      local known = {}
      for name in pairs(spec) do known[#known + 1] = '--' .. name end
      table.sort(known)
      fail("unknown script argument '--" .. k .. "' (this script takes: " .. table.concat(known, ', ') .. ')')
    end
    given[k] = v
    i = i + 1
  end
  local out = {}
  for k, s in pairs(spec) do
    if type(s) ~= 'table' then s = {default = s} end
    local ty = arg_type(s)
    local conv = converters[ty]
    if not conv then fail("px.args: unknown type '" .. tostring(ty) .. "' for " .. k) end
    local v = given[k]
    if v ~= nil then
      local c = conv(v)
      if c == nil then fail('script argument --' .. k .. ": '" .. v .. "' is not a valid " .. ty) end
      out[k] = c
    else
      out[k] = s.default
    end
  end
  return out
end

-- The arguments and filters most scripts share ------------------------------------------------
-- px.sample_args{extra specs}: --start (-5m), --end, --pid, --comm, --node, --namespace, --pod,
-- --container, --lang, --limit (50) plus extras.
-- px.samples(args[, t0, t1[, table]]): stack_samples (or `table`, e.g. offcpu_samples) over
-- [start, end) with those filters applied.
-- px.offcpu_args{extra specs}: px.sample_args plus --state (why threads left the CPU).
function px.sample_args(extra)
  local spec = {
    start = {default = '-5m', type = 'time', help = 'window start (-30s, -5m, -2h, or a time)'},
    ['end'] = {type = 'time', help = 'window end (default: now)'},
    pid = {type = 'int', help = 'only this process'},
    comm = {type = 'string', help = 'only threads with this name'},
    node = {type = 'string', help = 'only this node'},
    namespace = {type = 'string', help = 'only pods of this Kubernetes namespace'},
    pod = {type = 'string', help = 'only this pod (its name, or its uid while unnamed)'},
    container = {type = 'string', help = 'only containers of this name'},
    limit = {default = 50, help = 'rows to show'},
    lang = {type = 'string', help = 'only frames of these kinds, and samples with one: python, native, kernel, or a list (python,native)'},
  }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return px.args(spec)
end

function px.offcpu_args(extra)
  local spec = {state = {type = 'string', help = 'only periods off the CPU for this reason: runnable, sleeping, uninterruptible or other'}}
  for k, v in pairs(extra or {}) do spec[k] = v end
  return px.sample_args(spec)
end

function px.samples(args, t0, t1, table)
  local df = px.DataFrame{table = table or 'stack_samples', start_time = t0 or args.start, end_time = t1 or args['end']}
  if args.state then df = df:filter(df.state:eq(args.state)) end
  if args.pid then df = df:filter(df.pid:eq(args.pid)) end
  if args.comm then df = df:filter(df.comm:eq(args.comm)) end
  if args.node then df = df:filter(df.node:eq(args.node)) end
  if args.namespace then df = df:filter(df.namespace:eq(args.namespace)) end
  if args.pod then df = df:filter(df.pod:eq(args.pod)) end
  if args.container then df = df:filter(df.container:eq(args.container)) end
  if args.lang then
    df.stack = px.frames(df.stack, args.lang)
    df = df:filter(px.depth(df.stack):gt(0))
  end
  return df
end

return px
