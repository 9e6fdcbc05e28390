-- The rill module: build graphs, describe data, train and evaluate from Lua.
--
--   local rill = require "rill"
--   local cfg  = rill.config{ data = "data/sample.tsv", dim = 16 }
--   local data = rill.data.criteo{ path = cfg.data, valid = 0.1 }
--   local g    = rill.graph(data)
--   local ids  = g:encode_hash{ fields = data.categorical, buckets = 2^20 }
--   ...
--   return rill.train{ graph = g, data = data, epochs = 1, batch = 2048 }
--
-- Under bin/rill, the command line (--set, --data, eval and predict modes) reaches this
-- module through package.loaded["rill.cli"]; from a plain lua5.4 interpreter there is none
-- and rill.train simply trains.

local core = require "rill.core"

local rill = { core = core, version = core.version }

local function cli()
  return package.loaded["rill.cli"] or { mode = "train", set = {} }
end

-- "file:line" of the script code `level` calls above the caller
local function where(level)
  local info = debug.getinfo(level + 1, "Sl")
  if not info then return "?" end
  local src = info.short_src or "?"
  return string.format("%s:%d", src, info.currentline or 0)
end
rill._where = where

local function fail(level, fmt, ...)
  error(where(level + 1) .. ": " .. string.format(fmt, ...), 0)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

---------------------------------------------------------------------------- data

rill.data = {}

-- rill.data.criteo{ path =, valid = 0.1 | valid_path =, split = "tail"|"hash",
--                   shuffle = rows, on_bad_line = "error"|"skip", max_line = bytes }
-- The result lists the columns (labels, numeric, categorical) for encode nodes.
function rill.data.criteo(t)
  if type(t) ~= "table" then fail(2, "rill.data.criteo takes a table, e.g. rill.data.criteo{ path = 'train.tsv' }") end
  if type(t.path) ~= "string" then
    fail(2, "rill.data.criteo: 'path' must be the data file's name, got %s", type(t.path))
  end
  local d = copy(t)
  d.format = "criteo"
  local schema = core.schema("criteo")
  local cols = schema:columns()
  d.schema, d.labels, d.numeric, d.categorical = schema, cols.labels, cols.numeric, cols.categorical
  return d
end

-- the reader settings of a data description, without the column lists and schema
local data_keys = { "path", "format", "valid", "valid_path", "split", "shuffle",
                    "on_bad_line", "max_line", "threaded" }
local function reader_spec(d, level)
  if type(d) ~= "table" or not d.schema then
    fail(level + 1, "'data' must come from rill.data.criteo{...}")
  end
  local s = {}
  for _, k in ipairs(data_keys) do s[k] = d[k] end
  for k in pairs(d) do
    local known = k == "schema" or k == "labels" or k == "numeric" or k == "categorical"
    for _, dk in ipairs(data_keys) do known = known or k == dk end
    if not known then fail(level + 1, "data: unknown setting '%s' (known: %s)", tostring(k), table.concat(data_keys, ", ")) end
  end
  return s
end

---------------------------------------------------------------------------- optimizers

for _, kind in ipairs{ "sgd", "adam", "adamw", "adagrad", "rowwise_adagrad", "lazy_adam" } do
  rill[kind] = function(t)
    local o = { kind = kind }
    for k, v in pairs(t or {}) do o[k] = v end
    return o
  end
end

---------------------------------------------------------------------------- graphs

local Graph = {}
Graph.__index = Graph

-- rill.graph(data): an empty graph over the data's columns
function rill.graph(data)
  if type(data) ~= "table" or not data.schema then
    fail(2, "rill.graph(data): data must come from rill.data.criteo{...}")
  end
  return setmetatable({ core = core.graph(data.schema), data = data }, Graph)
end

local is_node = core.is_node

-- positional entries are inputs (a node or a list of nodes); named entries are arguments
local function split_args(kind, t, level)
  if type(t) ~= "table" then
    fail(level + 1, "g:%s takes a table, e.g. g:%s{ input, ... }", kind, kind)
  end
  local inputs, args, name = {}, {}, nil
  for k, v in pairs(t) do
    if math.type(k) == "integer" then
      -- handled below, in order
    elseif k == "name" then
      if type(v) ~= "string" then fail(level + 1, "g:%s: 'name' must be a string", kind) end
      name = v
    else
      args[k] = v
    end
  end
  for i = 1, #t do
    local v = t[i]
    if is_node(v) then
      inputs[#inputs + 1] = v
    elseif type(v) == "table" then
      for j, x in ipairs(v) do
        if not is_node(x) then
          fail(level + 1, "g:%s%s: input %d.%d is a %s, expected a node", kind,
               name and (" '" .. name .. "'") or "", i, j, type(x))
        end
        inputs[#inputs + 1] = x
      end
    else
      fail(level + 1, "g:%s%s: input %d is a %s, expected a node (the result of another g:... call)",
           kind, name and (" '" .. name .. "'") or "", i, type(v))
    end
  end
  return inputs, args, name
end

for _, kind in ipairs(core.kinds()) do
  Graph[kind] = function(self, t)
    local inputs, args, name = split_args(kind, t, 2)
    return self.core:add(kind, name, where(2), inputs, args)
  end
end

function Graph:node(name) return self.core:node(name) end
function Graph:nodes() return self.core:nodes() end
function Graph:param_count() return self.core:param_count() end
function Graph:save(path) return core.save_params(self.core, path) end
function Graph:load(path) return core.load_params(self.core, path) end

-- g:summary(): one line per node, as text
function Graph:summary()
  local lines = {}
  for _, n in ipairs(self.core:nodes()) do
    local s = n:shape()
    if type(s) == "table" then s = "(B, " .. table.concat(s, ", ") .. ")" end
    lines[#lines + 1] = string.format("%-20s %-16s %-14s %s", n:name(), n:kind(), s, n:where())
  end
  return table.concat(lines, "\n")
end

---------------------------------------------------------------------------- settings

-- rill.config(defaults): the script's settings with the command line's --set key=value
-- (dotted keys reach nested tables) and --data PATH (the key 'data') applied. A value is
-- converted to its default's type; a key the defaults do not have is an error, so a
-- misspelt --set never passes unnoticed.
function rill.config(defaults)
  if type(defaults) ~= "table" then fail(2, "rill.config takes a table of default settings") end
  local c = cli()
  local cfg = {}
  local function deep(dst, src)
    for k, v in pairs(src) do
      if type(v) == "table" then dst[k] = {}; deep(dst[k], v) else dst[k] = v end
    end
  end
  deep(cfg, defaults)
  local function keys(t, prefix, out)
    for k, v in pairs(t) do
      if type(v) == "table" then keys(v, prefix .. k .. ".", out) else out[#out + 1] = prefix .. k end
    end
    return out
  end
  local function set(key, text)
    local t, last = cfg, nil
    for part in key:gmatch("[^.]+") do
      if last then
        if type(t[last]) ~= "table" then t = nil; break end
        t = t[last]
      end
      last = part
    end
    if t == nil or last == nil or t[last] == nil or type(t[last]) == "table" then
      local known = keys(defaults, "", {})
      table.sort(known)
      error(string.format("--set %s: no such setting in %s (settings: %s)", key, where(3),
                          table.concat(known, ", ")), 0)
    end
    local old = t[last]
    if type(old) == "number" then
      local v = tonumber(text)
      if not v then error(string.format("--set %s=%s: expected a number", key, text), 0) end
      t[last] = v
    elseif type(old) == "boolean" then
      if text ~= "true" and text ~= "false" then
        error(string.format("--set %s=%s: expected true or false", key, text), 0)
      end
      t[last] = text == "true"
    else
      t[last] = text
    end
  end
  for _, kv in ipairs(c.set or {}) do set(kv[1], kv[2]) end
  if c.data then
    if cfg.data == nil then
      error(string.format("--data: %s has no 'data' setting in its rill.config{...}", where(2)), 0)
    end
    cfg.data = c.data
  end
  return cfg
end

---------------------------------------------------------------------------- runs

local function script_name()
  local c = cli()
  local s = c.script or (arg and arg[0]) or "pipeline"
  return (s:match("([^/]+)%.lua$") or s:match("([^/]+)$") or "pipeline")
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, text)
  local f, msg = io.open(path, "wb")
  if not f then error("cannot write " .. path .. ": " .. tostring(msg), 0) end
  f:write(text)
  f:close()
end

local function quote(s) return string.format("%q", s) end

-- run/meta.lua records how the run was made, so eval and predict rebuild the same graph
local function write_meta(run, c)
  local lines = { "return {", "  script = " .. quote(c.script or "?") .. "," }
  if c.data then lines[#lines + 1] = "  data = " .. quote(c.data) .. "," end
  lines[#lines + 1] = "  set = {"
  for _, kv in ipairs(c.set or {}) do
    lines[#lines + 1] = "    { " .. quote(kv[1]) .. ", " .. quote(kv[2]) .. " },"
  end
  lines[#lines + 1] = "  },"
  lines[#lines + 1] = "  version = " .. quote(core.version) .. ","
  lines[#lines + 1] = "}"
  write_file(run .. "/meta.lua", table.concat(lines, "\n") .. "\n")
end

local function fmt_metrics(r)
  local parts = {}
  for _, t in ipairs(r.tasks or {}) do
    parts[#parts + 1] = string.format("%s: auc %.5f  logloss %.5f  (%d rows, %.1f%% positive)",
                                      t.task, t.auc, t.logloss, t.rows, 100 * t.pos_rate)
  end
  return table.concat(parts, "\n")
end
rill.format_metrics = fmt_metrics

-- rill.train{ graph =, data =, epochs = 1, batch = 2048, optim = rill.adam{ lr = 1e-3 },
--             warmup =, decay = "none"|"linear"|"cosine"|"exp", decay_start =, decay_steps =,
--             min_lr_scale =, clip_norm =, eval_every =, early_stop = patience, min_delta =,
--             seed = 1, threads = 0 (all cores), run = "runs/<script>", progress = true }
-- Trains, or under `rill eval` / `rill predict` loads the run's parameters and evaluates.
function rill.train(t)
  local w = where(2)
  if type(t) ~= "table" then fail(2, "rill.train takes a table of settings") end
  if getmetatable(t.graph) ~= Graph then fail(2, "rill.train: 'graph' must be a graph from rill.graph(data)") end
  local spec = reader_spec(t.data, 2)
  local opts = copy(t)
  opts.graph, opts.data = nil, nil
  local c = cli()
  local run = c.run or t.run or ("runs/" .. script_name())
  opts.run = run
  if c.threads then opts.threads = c.threads end
  local quiet = c.quiet

  if c.mode == "eval" or c.mode == "predict" then
    core.load_params(t.graph.core, run .. "/params.bin")
    local r = core.evaluate(t.graph.core, spec,
                            { path = c.eval_data, batch = t.batch, threads = opts.threads,
                              predict = c.mode == "predict" and (c.out or "-") or nil }, w)
    if not quiet then
      io.stderr:write(string.format("%s on %s:\n%s\n", run, c.eval_data or spec.path, fmt_metrics(r)))
    end
    return r
  elseif c.mode == "build" then
    return nil
  end

  core.mkdir(run)
  if c.script then
    local text = read_file(c.script)
    if text then write_file(run .. "/pipeline.lua", text) end
  end
  write_meta(run, c)
  if c.profile then core.gemm_record(true) end
  local r = core.train(t.graph.core, spec, opts, w)
  if c.profile then
    core.gemm_record(false)
    r.tables = t.graph.core:table_stats()
    r.graph = t.graph
  end
  if not quiet then
    if r.valid then
      io.stderr:write(string.format("validation after %d steps (%.0f examples/s):\n%s\n", r.steps,
                                    r.examples_per_s, fmt_metrics(r.valid)))
    end
    io.stderr:write(string.format("%s run saved in %s\n", r.interrupted and "interrupted:" or "done:", run))
  end
  return r
end

-- rill.evaluate{ graph =, data =, path = file (default the data's validation part),
--                predict = file | "-" } with the graph's current parameters
function rill.evaluate(t)
  local w = where(2)
  if type(t) ~= "table" or getmetatable(t.graph) ~= Graph then
    fail(2, "rill.evaluate{ graph =, data =, path = }: 'graph' must be a graph")
  end
  return core.evaluate(t.graph.core, reader_spec(t.data, 2),
                       { path = t.path, predict = t.predict, batch = t.batch, threads = t.threads }, w)
end

-- rill.gen_criteo{ rows =, seed = 1, out =, max_cardinality =, interaction = }
rill.gen_criteo = core.gen_criteo

return rill
