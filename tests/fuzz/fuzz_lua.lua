-- The Lua half of the lua fuzz target (fuzz_lua.c loads it once): turns the fuzz input into
-- calls of node constructors, g:kind{ inputs..., key = value, ... }, on a fresh graph, each
-- under pcall. Errors are the expected answer to most inputs; the C side fails on crashes,
-- leaks, and on an error that is not a message.
--
-- The input is read a byte at a time (zeros past its end): the data set (criteo, the csv
-- schema of the csv target, libsvm with 3 fields), then up to 8 calls, each a kind and a
-- constructor table of up to 8 entries: positional inputs from the nodes made so far, or
-- named arguments with values of every type the binding takes (numbers at their limits,
-- strings from the engine's vocabulary, lists, nested settings, nodes) and a few it must
-- refuse (a function, a graph, the table itself: a cycle).
local rill = require "rill"
local yaml_path = ...
local verbose = os.getenv("FUZZ_LUA_VERBOSE")

local datas = {
  rill.data.criteo{ path = "/nonexistent/fuzz.tsv" },
  rill.data.csv{ path = "/nonexistent/fuzz.csv", schema = yaml_path },
  rill.data.libsvm{ path = "/nonexistent/fuzz.libsvm", fields = 3 },
}

local kinds = rill.core.kinds()
kinds[#kinds + 1] = "embed" -- Graph:embed (sets, kind = variants) besides the plain kind
kinds[#kinds + 1] = "node"

local keys = { "a", "admit", "alpha", "alpha_to", "b", "bases", "bounds", "buckets",
  "candidates", "cluster_until", "clusters", "decay", "dim", "dims", "dropout", "eps",
  "evict_after", "exponent", "field", "fields", "from", "grad", "hash", "ids", "init",
  "inner", "kind", "l2", "label", "last_activation", "layers", "length", "lr",
  "max_value", "measure", "missing", "name", "negative", "norm", "offset", "optim",
  "output", "passthrough", "pooling", "prefill", "rank", "reassign_every",
  "reassign_window", "scale", "seed", "sequence", "sequence_cat", "sets", "shared",
  "sizes", "split_every", "target", "target_cat", "transform", "warmup", "weight",
  "weight_decay", "weight_to", "with_target", "initial_accumulator", "beta1", "beta2" }

local words = { "sum", "mean", "own", "none", "zero", "sign", "round", "log", "vector",
  "ratio", "linear", "cosine", "dot", "sgd", "adam", "adamw", "adagrad", "rowwise_adagrad",
  "lazy_adam", "batch", "layer", "single", "mlet", "cel", "seq", "relu", "sigmoid", "",
  "features", "f1", "f2", "f3", "C1", "C2", "C26", "I1", "I13", "label", "click", "rating",
  "income", "user", "city", "genres", "age", "vec", "vec[1]", "hist", "hist_t", "tags", "w",
  "emb", "ids", "counts", "dense", "kind_1", "emb.s2", string.rep("x", 300) }
for _, k in ipairs(kinds) do words[#words + 1] = k end

local numbers = { 0, 1, -1, 2, 3, 4, 8, 16, 0.5, -0.5, 1e-9, 1e-300, 255, 256, 4096, 65536,
  1048576, 2^31 - 1, 2^31, 2^32, 2^53, 2^63, -2^63, 1e300, math.huge, -math.huge, 0 / 0,
  math.maxinteger, math.mininteger, 0.1, 100, 1000 }

local function fuzz(bytes)
  local pos = 1
  local function byte()
    local b = bytes:byte(pos) or 0
    pos = pos + 1
    return b
  end
  local function pick(t) return t[byte() % #t + 1] end
  local data = pick(datas)
  local g = rill.graph(data)
  local pool = {}
  local function keep(x)
    if rill.core.is_node(x) then
      pool[#pool + 1] = x
    elseif type(x) == "table" and getmetatable(x) == rill.Sets then
      for _, n in ipairs(x) do pool[#pool + 1] = n end
      pool[#pool + 1] = x
    end
  end
  -- a start most graphs have: hashed ids, their embedding, numbers, a bottom MLP, and on
  -- the csv data a behaviour sequence
  local cat = data.categorical
  keep(select(2, pcall(g.encode_hash, g, { fields = cat, buckets = 1000 })))
  keep(select(2, pcall(g.embed, g, { pool[1], dim = 4 })))
  if #data.numeric > 0 then
    keep(select(2, pcall(g.encode_log, g, { fields = data.numeric })))
    keep(select(2, pcall(g.mlp, g, { pool[#pool], sizes = { 4 } })))
  end
  if data == datas[2] then
    keep(select(2, pcall(g.embed_seq, g, { pool[1], dim = 4, target = "city", sequence = "hist" })))
  end
  local top
  local names = {}
  for _, n in ipairs(data.categorical) do names[#names + 1] = n end
  for _, n in ipairs(data.numeric) do names[#names + 1] = n end
  local function value(depth, key)
    local hint = byte()
    if key and hint < 96 then -- a value of the kind the key usually takes
      if key == "fields" or key == "field" or key == "sequence" or key == "target" or
         key == "a" or key == "b" or key == "label" or key == "weight" or key == "target_cat"
         or key == "sequence_cat" then
        if hint % 2 == 0 then return pick(names) end
        local t = {}
        for i = 1, byte() % 4 + 1 do t[i] = pick(names) end
        return t
      elseif key == "sizes" or key == "dims" or key == "bounds" or key == "layers" then
        local t = {}
        for i = 1, byte() % 4 do t[i] = byte() % 9 end
        return t
      elseif key == "optim" then
        local t = { kind = pick({ "sgd", "adam", "adagrad", "rowwise_adagrad", "lazy_adam" }) }
        for _ = 1, byte() % 3 do t[pick(keys)] = value(depth + 1) end
        return t
      else
        return byte() % 9
      end
    end
    local sel = byte() % 16
    if depth > 3 and sel >= 9 then sel = sel % 9 end
    if sel == 0 then return nil
    elseif sel == 1 then return byte() % 2 == 0
    elseif sel == 2 then return byte() - 128
    elseif sel == 3 then return string.unpack("<i4", string.char(byte(), byte(), byte(), byte()))
    elseif sel == 4 or sel == 5 then return pick(numbers)
    elseif sel == 6 or sel == 7 then return pick(words)
    elseif sel == 8 then
      local n = byte() % 12
      local s = bytes:sub(pos, pos + n - 1)
      pos = pos + n
      return s
    elseif sel == 9 or sel == 10 then
      local t = {}
      for i = 1, byte() % 5 do t[i] = value(depth + 1) end
      return t
    elseif sel == 11 then
      local t = {}
      for _ = 1, byte() % 4 do t[pick(keys)] = value(depth + 1) end
      return t
    elseif sel == 12 then return pool[byte() % (#pool + 1) + 1] -- nil past the end
    elseif sel == 13 then
      local t = {}
      for i = 1, byte() % 4 do t[i] = pick(data.categorical) or "C1" end
      return t
    elseif sel == 14 then return top -- the constructor's own table: a cycle
    else
      local odd = { print, g, g.core, coroutine.create(print), io.stdout, { [1.5] = 1 },
                    { [true] = 1 }, { 1, 2, x = 3 }, setmetatable({}, { __index = error }) }
      return pick(odd)
    end
  end

  for _ = 1, byte() % 8 + 1 do
    if pos > #bytes then break end
    local kind = pick(kinds)
    local t = {}
    top = t
    for _ = 1, byte() % 9 do
      local b = byte()
      if b < 80 then
        local x = pool[b % (#pool + 1) + 1]
        if b % 7 == 0 and #pool > 1 then x = { pool[1], pool[#pool] } end
        t[#t + 1] = x
      else
        local k = pick(keys)
        t[k] = value(0, k)
      end
    end
    local arg = t
    if byte() == 255 then arg = pick({ 42, "x", nil, true }) end
    local ok, r = pcall(g[kind], g, arg)
    if verbose then io.stderr:write(string.format("g:%s -> %s %s\n", kind, ok, tostring(r))) end
    if ok then
      keep(r)
    elseif type(r) ~= "string" then
      error(string.format("g:%s raised a %s, not a message", kind, type(r)))
    end
  end
  return #pool
end

return fuzz
