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

-- this file and main.lua, whose lines mean nothing to the author of a script
local own_dir = debug.getinfo(1, "S").source:match("^@(.*/)") or ""
local function own_source(source)
  return source == "=[C]" or source:sub(1, #own_dir + 1) == "@" .. own_dir
end

-- "file:line" of the script code that called the function `level` levels up (where(2) in a
-- function of this module: the line that called that function). A pipeline ends with
-- `return rill.train{...}`, a tail call, which leaves no frame of the script on the stack:
-- then the line comes from bin/rill, which follows the script's lines (cli().line), or
-- from the nearest caller that is neither C nor this module.
local function where(level)
  local callee = debug.getinfo(level, "t")
  local c = cli()
  if callee and callee.istailcall and c.script and c.line then
    return string.format("%s:%d", c.script, c.line)
  end
  for l = level + 1, level + 20 do
    local info = debug.getinfo(l, "Sl")
    if not info then break end
    if not own_source(info.source) and (info.currentline or -1) > 0 then
      return string.format("%s:%d", info.short_src, info.currentline)
    end
  end
  return c.script or "?"
end
rill._where = where

local function fail(level, fmt, ...)
  error(where(level + 1) .. ": " .. string.format(fmt, ...), 0)
end

-- Calls a function of the C core. Its errors come from luaL_error, which puts the position
-- of the Lua caller in front: a line of this file, useless to the script's author, so it
-- goes. The core's messages already name the node or setting and the script line; `at`
-- (a "file:line", may be nil) goes in front of those that do not.
local own_prefix = "^" .. debug.getinfo(1, "S").short_src:gsub("%p", "%%%0") .. ":%d+: "
local function core_call(at, f, ...)
  local r = table.pack(pcall(f, ...))
  if r[1] then return table.unpack(r, 2, r.n) end
  local msg = r[2]
  if type(msg) == "string" then
    msg = msg:gsub(own_prefix, "")
    if at and not msg:find(at, 1, true) then msg = at .. ": " .. msg end
  end
  error(msg, 0)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

---------------------------------------------------------------------------- data

rill.data = {}

-- the reader settings of a data description, without the column lists and schema
local data_keys = { "path", "format", "valid", "valid_path", "split", "shuffle",
                    "on_bad_line", "max_bad", "max_line", "threaded", "cache" }

-- rill.data.criteo{ path =, valid = 0.1 | valid_path =, split = "tail"|"hash",
--                   shuffle = rows, on_bad_line = "error"|"skip", max_bad = 0.1 (with skip: the
--                   largest share of bad lines a pass may skip), max_line = bytes,
--                   cache = true (the default: the binary columnar cache of the parsed rows in
--                   $RILL_CACHE_DIR or ~/.cache/rill) | false | "DIR" (README: "Data cache") }
-- The result lists the columns (labels, numeric, categorical) for encode nodes.
function rill.data.criteo(t)
  if type(t) ~= "table" then fail(2, "rill.data.criteo takes a table, e.g. rill.data.criteo{ path = 'train.tsv' }") end
  if type(t.path) ~= "string" then
    fail(2, "rill.data.criteo: 'path' must be the data file's name, got %s", type(t.path))
  end
  for k in pairs(t) do
    local known = false
    for _, dk in ipairs(data_keys) do known = known or k == dk end
    if not known or k == "format" then
      fail(2, "rill.data.criteo: unknown setting '%s' (known: path, valid, valid_path, split, "
              .. "shuffle, on_bad_line, max_bad, max_line, threaded, cache)", tostring(k))
    end
  end
  local d = copy(t)
  d.format = "criteo"
  local schema = core.schema("criteo")
  local cols = schema:columns()
  d.schema, d.labels, d.numeric, d.categorical = schema, cols.labels, cols.numeric, cols.categorical
  return d
end

-- A data description over a schema: the reader settings of t, checked, and the columns.
local function described(what, t, schema, format, level)
  if type(t) ~= "table" then fail(level + 1, "rill.data.%s takes a table, e.g. rill.data.%s{ path = 'train.csv' }", what, what) end
  if type(t.path) ~= "string" then
    fail(level + 1, "rill.data.%s: 'path' must be the data file's name, got %s", what, type(t.path))
  end
  for k in pairs(t) do
    local known = k == "schema" and what == "csv"
    for _, dk in ipairs(data_keys) do known = known or (k == dk and k ~= "format") end
    if not known then
      fail(level + 1, "rill.data.%s: unknown setting '%s' (known: path, %svalid, valid_path, split, "
              .. "shuffle, on_bad_line, max_bad, max_line, threaded, cache)", what, tostring(k), what == "csv" and "schema, " or "")
    end
  end
  -- the header is checked now, before a graph is built over the columns (a schema of 20,000
  -- columns once built 20,000 tables before the reader found the file had one)
  for _, path in ipairs{ t.path, t.valid_path } do
    local ok, msg = pcall(schema.check_header, schema, path)
    if not ok then fail(level + 1, "%s", tostring(msg):gsub("^[^:]*rill%.c:%d+: ", "")) end
  end
  local d = copy(t)
  d.format = format
  local cols = schema:columns()
  d.schema, d.labels, d.numeric, d.categorical = schema, cols.labels, cols.numeric, cols.categorical
  return d
end

-- rill.data.avazu{ path =, ... }: the Avazu CSV layout (id skipped, click the label, the other
-- 22 columns categorical); the same settings as rill.data.criteo.
function rill.data.avazu(t)
  return described("avazu", t, core.schema("avazu"), "csv", 2)
end

-- rill.data.libsvm{ path =, fields = N, ffm = false, ... }: libsvm/libfm lines ("label
-- feature:1 ...") or libffm ("label field:feature:1 ..."). fields = 0 (default; not for ffm):
-- every feature into one multi-valued field "features"; N: fields f1..fN, libsvm's i-th
-- feature of a line into fi (one-hot data listed in field order), libffm's field f into f(f+1).
function rill.data.libsvm(t)
  if type(t) ~= "table" then fail(2, "rill.data.libsvm takes a table, e.g. rill.data.libsvm{ path = 'train.libfm', fields = 10 }") end
  local fields, ffm = t.fields or 0, t.ffm or false
  if math.type(fields) ~= "integer" or fields < 0 or fields > 4096 then
    fail(2, "rill.data.libsvm: 'fields' must be a whole number from 0 to 4096, got %s", tostring(fields))
  end
  if type(ffm) ~= "boolean" then fail(2, "rill.data.libsvm: 'ffm' must be true or false, got %s", tostring(ffm)) end
  if ffm and fields == 0 then fail(2, "rill.data.libsvm: libffm data (ffm = true) needs 'fields', the number of fields") end
  local u = copy(t)
  u.fields, u.ffm = nil, nil
  local d = described("libsvm", u, core.schema{ libsvm = fields, ffm = ffm }, "libsvm", 2)
  return d
end

-- rill.data.csv{ path =, schema = "schema.yaml", ... }: a CSV or TSV file laid out by a YAML
-- schema (README: "Dataset schemas"); the same settings as rill.data.criteo.
function rill.data.csv(t)
  if type(t) == "table" and type(t.schema) ~= "string" then
    fail(2, "rill.data.csv: 'schema' must be the YAML schema file's name, got %s", type(t.schema))
  end
  local ok, schema = pcall(core.schema, { yaml = type(t) == "table" and t.schema or nil })
  if not ok then fail(2, "%s", tostring(schema):gsub("^[^:]*rill%.c:%d+: ", "")) end
  local d = described("csv", t, schema, "csv", 2)
  d.schema_file = t.schema
  return d
end

local function reader_spec(d, level)
  if type(d) ~= "table" or not d.schema then
    fail(level + 1, "'data' must come from rill.data.criteo{...}, rill.data.avazu{...} or rill.data.csv{...}")
  end
  local s = {}
  for _, k in ipairs(data_keys) do s[k] = d[k] end
  -- cache = true | false | "DIR", passed on as "auto", "off" or the directory
  if s.cache == true then s.cache = "auto" elseif s.cache == false then s.cache = "off"
  elseif s.cache ~= nil and (type(s.cache) ~= "string" or s.cache == "") then
    fail(level + 1, "data: 'cache' must be true, false or a directory's name, got %s", tostring(s.cache))
  end
  for k in pairs(d) do
    local known = k == "schema" or k == "labels" or k == "numeric" or k == "categorical" or k == "schema_file"
    for _, dk in ipairs(data_keys) do known = known or k == dk end
    if not known then fail(level + 1, "data: unknown setting '%s' (known: %s)", tostring(k), table.concat(data_keys, ", ")) end
  end
  return s
end

-- rill.data.read(data, { batch = 2048 }): reads every batch of data's training part once on
-- this thread (the loader thread off) and returns { rows, batches, bad_lines, open_seconds,
-- seconds, cpu_seconds, rows_per_s, cached }: what the loader costs one core, from the text
-- or from the data cache (rill bench dlrm reports both).
function rill.data.read(d, t)
  local s = reader_spec(d, 2)
  local batch = t and t.batch or 2048
  if math.type(batch) ~= "integer" then fail(2, "rill.data.read: 'batch' must be a whole number, got %s", tostring(batch)) end
  local r = core.read_all(d.schema, s, batch)
  r.rows_per_s = r.seconds > 0 and r.rows / r.seconds or 0
  return r
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

-- rill.graph(data [, { collapsed = true }]): an empty graph over the data's columns.
-- collapsed builds the inference form (factorised MLET embeddings as single tables), to
-- fine-tune from an export with rill.train{ init_from = EXPORT_DIR }.
function rill.graph(data, opts)
  if type(data) ~= "table" or not data.schema then
    fail(2, "rill.graph(data): data must come from rill.data.criteo{...}, rill.data.csv{...}, rill.data.avazu{...} or rill.data.libsvm{...}")
  end
  -- predicting from an export, or fine-tuning from one, builds the inference form of the
  -- graph: factorised embeddings (MLET) become single tables
  local c = cli()
  local collapsed = (c.export or (opts and opts.collapsed)) and true or false
  return setmetatable({ core = core.graph(data.schema, collapsed), data = data }, Graph)
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
    elseif type(v) == "table" and getmetatable(v) == rill.Sets then
      fail(level + 1, "g:%s%s: input %d holds %d embedding sets (g:embed{ sets = ... }): an "
                      .. "interaction (interact_dot, interact_fm, interact_cross) takes them, "
                      .. "one per set, and averages", kind, name and (" '" .. name .. "'") or "", i, #v)
    elseif type(v) == "table" then
      -- an empty list would add no input at all: a list built by a loop that found nothing,
      -- which the node would otherwise be built without
      if v[1] == nil then
        fail(level + 1, "g:%s%s: input %d is %s, expected a node or a list of nodes", kind,
             name and (" '" .. name .. "'") or "", i,
             next(v) == nil and "an empty list" or "a table without a list of nodes")
      end
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

local kinds = core.kinds()
for _, kind in ipairs(kinds) do
  Graph[kind] = function(self, t)
    local inputs, args, name = split_args(kind, t, 2)
    return (core_call(nil, self.core.add, self.core, kind, name, where(2), inputs, args))
  end
end

-- g:embed{ ..., kind = "mlet" } is g:embed_mlet{ ... }: one argument turns a model's
-- embeddings into another variant ("single", the default, is g:embed)
local function embed_variant(self, t)
  local kind = t.kind
  if kind ~= "single" and not (type(kind) == "string" and rawget(Graph, "embed_" .. kind)) then
    local names = { "single" }
    for _, k in ipairs(kinds) do
      if k:sub(1, 6) == "embed_" then names[#names + 1] = k:sub(7) end
    end
    fail(1, "g:embed: unknown kind '%s' (kinds: %s)", tostring(kind), table.concat(names, ", "))
  end
  local u = {}
  for k, v in pairs(t) do if k ~= "kind" then u[k] = v end end
  local node_kind = kind == "single" and "embed" or "embed_" .. kind
  -- where() skips this file's frames: the lowest levels find the script's line
  local inputs, args, name = split_args(node_kind, u, 1)
  return (core_call(nil, self.core.add, self.core, node_kind, name, where(2), inputs, args))
end

-- Multi-embedding (Guo et al., "On the Embedding Collapse when Scaling up Recommendation
-- Models", ICML 2024): g:embed{ ..., sets = M } makes M independent embedding nodes ("emb",
-- "emb.s2", ...) and returns them as one Sets value. An interaction given a Sets runs once per
-- set with its own parameters; a parameter-free one (interact_dot, interact_fm) is followed
-- by a ReLU, the non-linearity without which the sets would add up to one wider embedding; the
-- M results are averaged (add with scale 1/M). interact_concat of a Sets gives a Sets, so a
-- concatenation feeding a cross network stays per set. Everything else takes one node.
local Sets = {}
Sets.__index = Sets
rill.Sets = Sets

local function is_sets(x) return getmetatable(x) == Sets end

local function embed_one(self, t)
  if t.kind ~= nil then return embed_variant(self, t) end
  local inputs, args, name = split_args("embed", t, 1)
  return (core_call(nil, self.core.add, self.core, "embed", name, where(2), inputs, args))
end

function Graph:embed(t)
  if type(t) == "table" and t.sets ~= nil then
    local m = t.sets
    if math.type(m) ~= "integer" or m < 1 or m > 64 then
      fail(2, "g:embed: 'sets' must be a whole number from 1 to 64, got %s", tostring(m))
    end
    local base = t.name or "emb"
    local sets = setmetatable({ name = base }, Sets)
    for k = 1, m do
      local u = {}
      for key, v in pairs(t) do if key ~= "sets" then u[key] = v end end
      u.name = k == 1 and base or string.format("%s.s%d", base, k)
      u.seed = nil
      sets[k] = embed_one(self, u)
    end
    if m == 1 then return sets[1] end
    return sets
  end
  if type(t) == "table" then return embed_one(self, t) end
  local inputs, args, name = split_args("embed", t, 2)
  return (core_call(nil, self.core.add, self.core, "embed", name, where(2), inputs, args))
end

local per_set = { interact_dot = "relu", interact_fm = "relu", interact_cross = false,
                  interact_concat = "sets" }
for kind, after in pairs(per_set) do
  local plain = Graph[kind]
  Graph[kind] = function(self, t)
    local sets
    if type(t) == "table" then
      for i = 1, #t do
        if is_sets(t[i]) then
          if sets and #sets ~= #t[i] then fail(2, "g:%s: inputs with %d and %d embedding sets", kind, #sets, #t[i]) end
          sets = t[i]
        end
      end
    end
    if not sets then return plain(self, t) end
    local base = t.name or kind
    local outs = {}
    for k = 1, #sets do
      local u = {}
      for key, v in pairs(t) do u[key] = v end
      for i = 1, #t do if is_sets(t[i]) then u[i] = t[i][k] end end
      u.name = k == 1 and base or string.format("%s.s%d", base, k)
      local node = plain(self, u)
      if after == "relu" then
        node = self.core:add("relu", u.name .. ".relu", where(2), { node }, {})
      end
      outs[k] = node
    end
    if after == "sets" then return setmetatable(outs, Sets) end
    return (core_call(nil, self.core.add, self.core, "add", base .. ".mean", where(2), outs,
                      { scale = 1 / #sets }))
  end
end

function Graph:node(name) return self.core:node(name) end
function Graph:nodes() return self.core:nodes() end
function Graph:param_count() return self.core:param_count() end
function Graph:save(path) return core_call(where(2), core.save_params, self.core, path) end
function Graph:load(path) return core_call(where(2), core.load_params, self.core, path) end

-- Levenshtein distance, for "did you mean"
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- g:mlpp{...}: a misspelt kind is an error where it is written, not "attempt to call a nil
-- value" (instances hold only core and data, so every other name comes through here)
setmetatable(Graph, { __index = function(_, key)
  if type(key) ~= "string" then return nil end
  local best, bd = nil, 3
  for _, k in ipairs(kinds) do
    local d = distance(key, k)
    if d < bd then best, bd = k, d end
  end
  local is_kind, methods = {}, {}
  for _, k in ipairs(kinds) do is_kind[k] = true end
  for k, v in pairs(Graph) do
    if type(v) == "function" and not is_kind[k] and not k:match("^_") then methods[#methods + 1] = k end
  end
  table.sort(methods)
  fail(2, "g:%s: unknown node kind '%s'%s (kinds: %s; graph methods: %s)", key, key,
       best and string.format("; did you mean '%s'?", best) or "", table.concat(kinds, ", "),
       table.concat(methods, ", "))
end })

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
      local what = (t and last and type(t[last]) == "table") and "is a group of settings"
                   or "no such setting"
      error(string.format("--set %s: %s in %s (settings: %s)", key, what, where(3),
                          table.concat(known, ", ")), 0)
    end
    local old = t[last]
    if type(old) == "number" then
      local v = tonumber(text)
      if not v then
        error(string.format("--set %s=%s: expected a number (the default in %s is %s)", key,
                            text, where(3), tostring(old)), 0)
      end
      t[last] = v
    elseif type(old) == "boolean" then
      if text ~= "true" and text ~= "false" then
        error(string.format("--set %s=%s: expected true or false (the default in %s is %s)",
                            key, text, where(3), tostring(old)), 0)
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

-- every write checked: an error names the file and the OS error ("cannot write
-- runs/x/summary.lua: No space left on device (the disk is full)")
local write_file = core.write_file

-- a copy people read (RUN/pipeline.lua, RUN/meta.lua): written when it is not there as it is
local function write_copy(path, text)
  if read_file(path) ~= text then write_file(path, text) end
end

-- What a run directory may hold (a failed start leaves some of these without store.mdb).
local run_files = { ["store.mdb"] = true, ["store.mdb-lock"] = true, ["store.mdb.tmp"] = true,
                    lock = true, best = true, ["metrics.jsonl"] = true, ["timing.jsonl"] = true,
                    ["meta.lua"] = true, ["pipeline.lua"] = true, ["summary.lua"] = true,
                    ["eval.lua"] = true, analysis = true, ["run.id"] = true, ["run.id.tmp"] = true }

-- rill train writes over RUN's files: refuse a directory that holds other files than a
-- run's (a mistyped --run naming a data or source directory) unless --force. An earlier run
-- (store.mdb) is trained anew as before, and an empty directory is fine.
local function check_run_dir(run)
  if core.file_type(run) == "file" then
    error(string.format("%s is a file, not a run directory: choose another --run DIR", run), 0)
  end
  local names = core.dir_entries(run)
  if not names then return end
  local other = {}
  for _, n in ipairs(names) do
    if n == "store.mdb" then return end
    if not run_files[n] then other[#other + 1] = n end
  end
  if #other == 0 then return end
  table.sort(other)
  local shown = table.concat(other, ", ", 1, math.min(#other, 5)) .. (#other > 5 and ", ..." or "")
  error(string.format("%s exists and is not a Rill run directory (no store.mdb; it holds %s): "
                      .. "training would write over files there; choose another --run DIR, or "
                      .. "pass --force to train there anyway", run, shown), 0)
end

local function quote(s) return string.format("%q", s) end

-- a Lua literal of plain data (numbers, strings, booleans, tables of them), for result files
local function serialize(v)
  local tv = type(v)
  if tv == "number" then
    if v ~= v then return "0/0" end
    if v == math.huge then return "math.huge" end
    if v == -math.huge then return "-math.huge" end
    return math.type(v) == "integer" and tostring(v) or string.format("%.17g", v)
  elseif tv == "string" then return quote(v)
  elseif tv == "boolean" then return tostring(v)
  elseif tv == "table" then
    local parts = {}
    for i = 1, #v do parts[#parts + 1] = serialize(v[i]) end
    for k, x in pairs(v) do
      if not (math.type(k) == "integer" and k >= 1 and k <= #v) and type(x) ~= "function" and type(x) ~= "userdata" then
        parts[#parts + 1] = "[" .. serialize(k) .. "] = " .. serialize(x)
      end
    end
    return "{ " .. table.concat(parts, ", ") .. " }"
  end
  return "nil"
end
rill.serialize = serialize

-- how the run was made (the script, its --data and --set), as a Lua chunk: kept in the
-- run's store and in run/meta.lua, so resume, eval and predict rebuild the same graph
local function meta_text(c)
  local lines = { "return {", "  script = " .. quote(c.script or "?") .. "," }
  if c.data then lines[#lines + 1] = "  data = " .. quote(c.data) .. "," end
  lines[#lines + 1] = "  set = {"
  for _, kv in ipairs(c.set or {}) do
    lines[#lines + 1] = "    { " .. quote(kv[1]) .. ", " .. quote(kv[2]) .. " },"
  end
  lines[#lines + 1] = "  },"
  if c.precision then lines[#lines + 1] = "  precision = " .. quote(c.precision) .. "," end
  lines[#lines + 1] = "  version = " .. quote(core.version) .. ","
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n") .. "\n"
end

local function fmt_metrics(r)
  local parts = {}
  for _, t in ipairs(r.tasks or {}) do
    local gauc = t.gauc and string.format("  gauc %.5f (%d groups)", t.gauc, t.groups) or ""
    -- (runs checkpointed by builds before mean_pred have none)
    local mean = t.mean_pred and t.mean_pred == t.mean_pred and
                 string.format(", mean prediction %.1f%%", 100 * t.mean_pred) or ""
    parts[#parts + 1] = string.format("%s: auc %.5f%s  logloss %.5f  (%d rows, %.1f%% positive%s)",
                                      t.task, t.auc, gauc, t.logloss, t.rows, 100 * t.pos_rate, mean)
  end
  return table.concat(parts, "\n")
end
rill.format_metrics = fmt_metrics

-- rill.train's settings for the core: t's, less graph and data, with the run directory and
-- what bin/rill's options (c) override
local function train_options(t, c)
  local opts = copy(t)
  opts.graph, opts.data = nil, nil
  local run = c.run or t.run or ("runs/" .. script_name())
  if c.run == false or t.run == false then run = nil end -- no run directory: RAM only
  opts.run = run
  if c.threads then opts.threads = c.threads end
  if c.checkpoint_every then opts.checkpoint_every = c.checkpoint_every end
  if c.cache then opts.cache = c.cache end
  if c.checkpoint_sync then opts.checkpoint_background = false end
  if c.precision then opts.precision = c.precision end
  return opts, run
end

-- rill eval / rill predict: the run's (or an export's) parameters over the validation data
-- or c.eval_data; the metrics printed, and with --result saved
local function evaluate(t, spec, run, opts, c, w)
  local freq = nil
  if c.frequency then freq = { field = c.frequency, bounds = c.bounds, from = c.count_in } end
  local r = core_call(nil, core.evaluate, t.graph.core, spec,
                      { run = not c.export and run or nil, export = c.export,
                        path = c.eval_data, batch = t.batch, threads = opts.threads,
                        precision = opts.precision,
                        frequency = freq,
                        predict = c.mode == "predict" and (c.out or "-") or nil }, w)
  if not c.quiet then
    -- eval's result is its output; predict's output is the probabilities, maybe on stdout
    local out = c.mode == "eval" and io.stdout or io.stderr
    out:write(string.format("%s on %s:\n%s\n", run, c.eval_data or (spec.path .. " (its validation part)"),
                            fmt_metrics(r)))
    if r.frequency then
      out:write(string.format("by how often training saw the example's %s%s:\n", r.frequency.field,
                              c.count_in == "data" and " (counted in the training data)" or ""))
      for _, b in ipairs(r.frequency) do
        out:write(string.format("  seen %s times: auc %.5f  logloss %.5f  (%d rows)\n",
                                b.hi and string.format("%d-%d", b.lo, b.hi - 1) or string.format(">=%d", b.lo),
                                b.auc, b.logloss, b.rows))
      end
    end
  end
  if c.result then write_file(c.result, "return " .. serialize(r) .. "\n") end
  return r
end

-- run/summary.lua, what a sweep tables: parameter counts, the inference tables' size, time
local function write_summary(run, graph, r)
  local params, inference = graph.core:param_count(), 0
  for _, tb in ipairs(graph.core:table_stats()) do
    params = params + tb.touched * tb.dim
    inference = inference + tb.touched * tb.export_dim * 4
  end
  write_file(run .. "/summary.lua", "return " .. serialize{
    steps = r.steps, examples = r.examples, seconds = r.seconds - (r.eval_seconds or 0),
    examples_per_s = r.examples_per_s, params = params, inference_bytes = inference,
    valid = r.valid and { auc = r.valid.auc, logloss = r.valid.logloss } or nil } .. "\n")
end

-- trains, or under rill resume continues, and writes the run's readable files
local function train(t, spec, run, opts, c, w)
  local pipeline = c.script and read_file(c.script)
  if c.mode == "resume" then
    opts.resume = true
    pipeline = c.pipeline -- the text kept in the store, not a file
  else
    opts.meta = { pipeline = pipeline, settings = meta_text(c) }
    if run and not c.force then check_run_dir(run) end
  end
  if c.profile then -- rill bench: count the GEMMs of training and time its nodes
    core.gemm_record(true)
    t.graph.core:profile(true)
  end
  local r = core_call(w, core.train, t.graph.core, spec, opts, w)
  if run then write_summary(run, t.graph, r) end
  -- copies for people to read; the store holds the same, which resume, eval and predict use
  if pipeline and run and c.mode ~= "resume" then
    write_file(run .. "/pipeline.lua", pipeline)
    write_file(run .. "/meta.lua", meta_text(c))
  elseif pipeline and run and c.settings then
    write_copy(run .. "/pipeline.lua", pipeline)
    write_copy(run .. "/meta.lua", c.settings)
  end
  if c.profile then
    core.gemm_record(false)
    r.tables = t.graph.core:table_stats()
    r.profile = t.graph.core:profile(false)
    r.graph = t.graph
  end
  if not c.quiet then
    if r.valid then
      io.stderr:write(string.format("validation after %d steps (%.0f examples/s):\n%s\n", r.steps,
                                    r.examples_per_s, fmt_metrics(r.valid)))
    end
    io.stderr:write(run and string.format("%s run saved in %s\n", r.interrupted and "interrupted:" or "done:", run) or "done (no run directory: nothing saved)\n")
  end
  return r
end

-- rill.train{ graph =, data =, epochs = 1, batch = 2048, optim = rill.adam{ lr = 1e-3 },
--             warmup =, decay = "none"|"linear"|"cosine"|"exp", decay_start =, decay_steps =,
--             min_lr_scale =, clip_norm =, eval_every =, early_stop = patience, min_delta =,
--             precision = "fp32" | "bf16" (the dense GEMMs of mlp, tower, cross and gate in
--             bfloat16 with f32 accumulation, f32 weights and optimizer state; where the CPU
--             has AMX-BF16 or AVX512-BF16, else an error),
--             diverge = 100 (a step loss this many times the lowest smoothed loss stops training;
--             0: never, though a non-finite loss always does),
--             seed = 1, threads = 0 (all cores), run = "runs/<script>", progress = true }
--             checkpoint_every = 1000 (steps), checkpoint_background = true (written by a
--             thread of its own while training goes on), generations = true (a prefilled
--             table's checkpoints append their rows; false: rewritten in place, README "Store"),
--             fold_at_end = false (the last checkpoint folds them into the table), cache = "2GiB" (RAM for embedding
--             rows; default no limit), prefetch = "auto" (read coming batches' rows from the
--             store ahead while rows come from the disk; true, false: always, never), init_from = EXPORT_DIR (start from an export's parameters) }
-- Trains, or under `rill resume` continues the run from its last checkpoint, or under
-- `rill eval` / `rill predict` reads the run's parameters and evaluates.
function rill.train(t)
  local w = where(2)
  cli().trained = true -- bin/rill: the script did call rill.train
  if type(t) ~= "table" then fail(2, "rill.train takes a table of settings") end
  if getmetatable(t.graph) ~= Graph then fail(2, "rill.train: 'graph' must be a graph from rill.graph(data)") end
  local spec = reader_spec(t.data, 2)
  local c = cli()
  local opts, run = train_options(t, c)
  if c.mode == "analyze" then
    return require("rill.analyze")[c.analysis](t.graph, run, c, spec, t.data)
  elseif c.mode == "export" then
    core_call(nil, core.export, t.graph.core, { run = run, out = c.out, pipeline = c.pipeline,
                                                settings = c.settings })
    return nil
  elseif c.mode == "eval" or c.mode == "predict" then
    local r = evaluate(t, spec, run, opts, c, w)
    return r
  elseif c.mode == "build" then
    return nil
  end
  local r = train(t, spec, run, opts, c, w)
  return r
end

-- rill.evaluate{ graph =, data =, path = file (default the data's validation part),
--                predict = file | "-" } with the graph's current parameters
function rill.evaluate(t)
  local w = where(2)
  if type(t) ~= "table" or getmetatable(t.graph) ~= Graph then
    fail(2, "rill.evaluate{ graph =, data =, path = }: 'graph' must be a graph")
  end
  return core_call(w, core.evaluate, t.graph.core, reader_spec(t.data, 2),
                   { path = t.path, predict = t.predict, batch = t.batch, threads = t.threads,
                     precision = t.precision }, w)
end

-- rill.gen_criteo{ rows =, seed = 1, out =, max_cardinality =, interaction = }
function rill.gen_criteo(t)
  return core_call(where(2), core.gen_criteo, t)
end

return rill
