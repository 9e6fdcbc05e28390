-- bin/rill's command line. Returns a function that takes the argument list and returns the
-- exit status.

local usage = [[
usage: rill COMMAND ...

  rill train SCRIPT [--data PATH] [--set key=value]... [--run DIR] [--threads N]
                    [--checkpoint-every STEPS] [--checkpoint-sync] [--cache SIZE] [--force]
                    [--precision fp32|bf16]
      run a pipeline script: build its graph and train it; the run directory (default
      runs/<script name>) gets the parameters, metrics.jsonl and what eval needs; a
      directory that exists and holds other files than a run's is refused unless --force
      (an earlier run there is trained anew); checkpoints are written in the background
      while training goes on, or with --checkpoint-sync between steps; --precision bf16
      runs the dense layers' GEMMs in bfloat16 (CPUs with AMX-BF16 or AVX512-BF16; resume,
      eval and predict keep the run's precision)
  rill inspect RUN [--check] [--digest]
      what a run holds: tables (rows, dim, bytes, optimizer), dense parameters, steps;
      --check reads every row back, --digest prints a digest of all parameters
  rill export RUN --out DIR
      the trained model as .npy files and a manifest (see README); rill predict DIR works
      from the export alone
  rill analyze spectrum RUN [--out DIR] [--joint TABLE,TABLE,...] [--min-count N]
      singular values of every embedding table, information abundance; a table, CSV and
      an SVG plot in DIR (default RUN/analysis); a multi-embedding field's sets are also
      read jointly (one row per id, the sets side by side), and --joint names other
      tables to read so; --min-count leaves out rows trained in fewer than N steps
      (rarely trained rows keep their random start, which looks isotropic)
  rill analyze correlation RUN [--out DIR] [--node NAME] [--target-cat item_cat]
                                [--sequence-cat hist_cats]
      the behaviour-target correlation a tim or din node learned: its attention weights on
      the validation data by position before the target and by (behaviour category, target
      category); tables, CSV and SVG (a heat map)
  rill analyze entanglement RUN [--out DIR]
      of a multi-task run: the cosine between the tasks' gradients on each embedding set
      over training (probed every `entanglement` steps), the share of conflicting probes,
      and each task's embedding spectrum (mean information abundance of the sets it
      trains); a table, CSV and SVG in DIR (default RUN/analysis)
  rill analyze gates RUN [--out DIR]
      every gate's mean weight of each of its experts on the validation data (which
      experts and embedding sets each task leans on); a table, CSV and a heat map
  rill resume RUN [--threads N] [--checkpoint-every STEPS] [--checkpoint-sync] [--cache SIZE]
      continue a run from its last checkpoint (after Ctrl-C, a crash or a kill); the
      finished run equals one that was never interrupted (same thread count)
  rill eval RUN [--data PATH] [--frequency FIELD] [--bounds 10,1000] [--count-in table|data]
                [--result FILE]
      AUC and logloss of a run on a data file (default: the run's own validation part);
      --frequency also splits them by how often training saw the example's FIELD ("" for
      the field of the largest table): the use count of its embedding row (table, the
      default), or its occurrences in the run's training data (data: the same buckets for
      every model, hashed or clustered); --result writes them as a Lua table
  rill sweep SWEEP.lua
      train the variants of a pipeline (grid or list, several seeds), skip finished ones,
      write results.md, results.csv and plot.svg
  rill predict RUN --data PATH [--out FILE]
      one probability per line (tab-separated per task) on stdout or in FILE
  rill gen criteo --rows N --out FILE [--seed S] [--max-cardinality M] [--interaction X]
                  [--entity-clusters K]
      synthetic Criteo-format data from a planted model (see README)
  rill gen multitask --rows N --out FILE [--seed S] [--sample K] [--correlation R]
                     [--rates P1,P2] [--repeat-rate R] [--repeat-lift L]
      synthetic two-task CSV (t1, t2, repeats, user, C1..C8, I1..I4) from a planted model
      with task correlation R (default 0.5), first-exposure positive rates P1,P2 (0.10,0.03)
      and repeated exposures (share R, default 0.3) whose positive rate is lifted by
      1 + L*k (L default 0.5, k the repeat count); --repeat-rate 0 gives unbiased data;
      --sample K: other rows from the same model (seed), e.g. a validation file
  rill prep sequences --log FILE --out PREFIX [--items FILE] [--max-length 50] [--negatives 1]
                     [--seed 1] [--valid-fraction F] [--user-col user_id] [--item-col item_id]
                     [--time-col time] [--cat-col i_category]
      behaviour-sequence examples from an interaction log (see README): PREFIX.train.tsv
      and PREFIX.valid.tsv (each user's last interaction, or with --valid-fraction the
      last fraction of all examples by time)
  rill bench dlrm|dcnv2|dcnv2-parallel [--rows N] [--data PATH] [--threads N] [--precision fp32|bf16]
      the throughput benchmark of DLRM or DCNv2, stacked or parallel (make bench):
      examples/s against the measured bound, the loader's speed, and a per-node profile
  rill bench store [--ids N] [--rows N] [--limit SIZE] [--cache SIZE] [--prefetch yes|no|auto]
                   [--layout generations|rows|both] [--dlrm no]
      the store's benchmark (make bench-store): a table of N rows (20,000,000: 5.2 GB)
      trained with no memory limit and with the process held to --limit (1.25GiB) by a
      memory cgroup, its checkpoints as generations and rewriting rows in place (--layout),
      then DLRM with its tables in RAM and in a store
  rill run SCRIPT [ARGS...]
      run any Lua script with the rill module available (arg holds ARGS)
  rill version | rill help
]]

local function die(fmt, ...)
  error(string.format(fmt, ...), 0)
end

-- --key value and --key=value; repeated --set accumulate
local function parse(args, first, allowed)
  local o = { set = {}, rest = {} }
  local i = first
  while i <= #args do
    local a = args[i]
    local key, val = a:match("^%-%-([%w%-]+)=(.*)$")
    if not key then key = a:match("^%-%-([%w%-]+)$") end
    if key then
      if not allowed[key] then die("unknown option --%s (see rill help)", key) end
      if allowed[key] == "flag" then
        if val ~= nil then die("option --%s takes no value", key) end
        val = true
      elseif val == nil then
        i = i + 1
        val = args[i]
        if val == nil then die("option --%s needs a value", key) end
      end
      if key == "set" then
        local k, v = val:match("^([%w_%.]+)=(.*)$")
        if not k then die("--set %s: expected key=value", val) end
        o.set[#o.set + 1] = { k, v }
      else
        o[key] = val
      end
    else
      o.rest[#o.rest + 1] = a
    end
    i = i + 1
  end
  return o
end

-- track: follow the script's current line in c.line. A pipeline ends with
-- `return rill.train{...}`, a tail call that leaves no frame of the script on the stack, so
-- without this rill.train could not say which line its settings came from. A line hook
-- costs about a microsecond a line: nothing for a pipeline, which runs a few hundred lines
-- of Lua before the engine takes over, but too much for any script `rill run` might run.
-- chunk: the script already loaded (a run's stored pipeline, named "@" .. path), else it
-- is loaded from the file path.
local function run_script(path, c, script_args, track, chunk)
  package.loaded["rill.cli"] = c
  if not chunk then
    local msg
    chunk, msg = loadfile(path)
    if not chunk then error(msg, 0) end
  end
  _G.arg = { [0] = path }
  for i, a in ipairs(script_args or {}) do _G.arg[i] = a end
  if track then
    local src = "@" .. path
    debug.sethook(function(_, line)
      if debug.getinfo(2, "S").source == src then c.line = line end
    end, "l")
  end
  local r = table.pack(chunk(table.unpack(script_args or {})))
  if track then debug.sethook() end
  return table.unpack(r, 1, r.n)
end

local function threads(o)
  if o.threads == nil then return nil end
  local n = math.tointeger(tonumber(o.threads))
  if not n or n < 0 then die("--threads %s: expected a whole number", o.threads) end
  return n
end

-- an option that must be a whole number >= 0, or nil when absent
local function whole(o, key)
  if o[key] == nil then return nil end
  local n = math.tointeger(tonumber(o[key]))
  if not n or n < 0 then die("--%s %s: expected a whole number", key, o[key]) end
  return n
end

local commands = {}

-- A script run for a command that needs rill.train (which sets c.trained) and never called
-- it did nothing: an error, not exit status 0. `rill run` runs any script and has no such check.
local function check_trained(c, what)
  if not c.trained then
    die("%s: the script built no %s (rill.train was never called)", c.script, what)
  end
end

function commands.train(args)
  local o = parse(args, 2, { data = true, set = true, run = true, threads = true,
                             ["checkpoint-every"] = true, cache = true, force = "flag",
                             ["checkpoint-sync"] = "flag", precision = true })
  local script = o.rest[1]
  if not script then die("rill train: which script? (e.g. rill train pipelines/dlrm.lua)") end
  if #o.rest > 1 then die("rill train: unexpected argument '%s'", o.rest[2]) end
  local c = { mode = "train", script = script, data = o.data, set = o.set, run = o.run,
              threads = threads(o), cache = o.cache, force = o.force == true,
              checkpoint_every = whole(o, "checkpoint-every"),
              checkpoint_sync = o["checkpoint-sync"] == true, precision = o.precision }
  local r = run_script(script, c, nil, true)
  check_trained(c, "training run")
  if type(r) == "table" and r.interrupted then return 130 end
  return 0
end

-- A run's pipeline and settings, from its store (written with its first checkpoint, so
-- they survive a crash). The pipeline is loaded from that text under the name
-- RUN/pipeline.lua (what errors and tracebacks show), not written there: eval, predict,
-- export and analyze write nothing into the run, so a full disk or a read-only copy of a run
-- is no obstacle. Returns the script's name, its loaded chunk, the settings table, and the
-- stored texts of the pipeline and the settings.
local function run_pipeline(run)
  local core = require "rill.core"
  local ok, pipeline = pcall(core.store_meta, run, "pipeline")
  if not ok then die("%s", pipeline) end
  local _, settings = pcall(core.store_meta, run, "settings")
  if not pipeline or not settings then
    die("%s: the run's store does not hold its pipeline; was it made by rill train?", run)
  end
  local meta_chunk = load(settings, "=" .. run .. "/meta.lua", "t", {})
  if not meta_chunk then die("%s: the run's settings cannot be read", run) end
  local script = run .. "/pipeline.lua"
  local chunk, msg = load(pipeline, "@" .. script, "t")
  if not chunk then die("%s (the pipeline kept in the run's store)", msg) end
  return script, chunk, meta_chunk(), pipeline, settings
end

local function saved_run(args, mode)
  local o = parse(args, 2, { data = true, out = true, threads = true, frequency = true,
                             bounds = true, result = true, ["count-in"] = true })
  if o["count-in"] and o["count-in"] ~= "table" and o["count-in"] ~= "data" then
    die("--count-in %s: expected table or data", o["count-in"])
  end
  if o["count-in"] and not o.frequency then die("--count-in needs --frequency FIELD") end
  local run = o.rest[1]
  if not run then die("rill %s: which run directory? (e.g. rill %s runs/dlrm --data test.tsv)", mode, mode) end
  if not o.data and mode == "predict" then die("rill %s %s: --data PATH is required", mode, run) end
  local bounds
  if o.bounds then
    bounds = {}
    for v in tostring(o.bounds):gmatch("[^,]+") do
      local n = math.tointeger(tonumber(v))
      if not n or n < 1 then die("--bounds %s: expected increasing whole numbers, e.g. 10,1000", o.bounds) end
      bounds[#bounds + 1] = n
    end
  end
  local script, chunk, meta, exported
  local mf = io.open(run .. "/manifest.json")
  if mf then
    -- an exported model: its own copy of the pipeline and settings, no store
    mf:close()
    exported = run
    script = run .. "/pipeline.lua"
    local meta_chunk = loadfile(run .. "/meta.lua", "t", {})
    local msg
    chunk, msg = loadfile(script, "t")
    if not meta_chunk or not chunk then
      die("%s: the export lacks pipeline.lua or meta.lua (%s)", run, tostring(msg or "meta.lua"))
    end
    meta = meta_chunk()
  else
    script, chunk, meta = run_pipeline(run)
  end
  local c = { mode = mode, run = run, export = exported, script = script, data = meta.data,
              set = meta.set, precision = meta.precision, eval_data = o.data, out = o.out,
              threads = threads(o),
              frequency = o.frequency, bounds = bounds, count_in = o["count-in"],
              result = o.result, quiet = false }
  run_script(script, c, nil, true, chunk)
  check_trained(c, "model to " .. (mode == "eval" and "evaluate" or "predict with"))
  return 0
end

function commands.sweep(args)
  local path = args[2]
  if not path then die("rill sweep: which sweep script? (e.g. rill sweep pipelines/sweeps/mlet_dims.lua)") end
  return require("rill.sweep").run(path, {})
end

function commands.analyze(args)
  local what = args[2]
  local known = { spectrum = true, correlation = true, entanglement = true, gates = true }
  if not known[what] then die("rill analyze: what? (known: spectrum, correlation, entanglement, gates)") end
  local o = parse(args, 3, { out = true, joint = true, ["min-count"] = true, node = true,
                             ["target-cat"] = true, ["sequence-cat"] = true })
  local run = o.rest[1]
  if not run then die("rill analyze %s: which run directory?", what) end
  local script, chunk, meta = run_pipeline(run)
  local c = { mode = "analyze", analysis = what, run = run, script = script,
              data = meta.data, set = meta.set, out = o.out, joint = o.joint,
              min_count = o["min-count"], node = o.node, target_cat = o["target-cat"],
              sequence_cat = o["sequence-cat"] }
  run_script(script, c, nil, true, chunk)
  check_trained(c, "model to analyze")
  return 0
end

function commands.export(args)
  local o = parse(args, 2, { out = true })
  local run = o.rest[1]
  if not run then die("rill export: which run directory? (e.g. rill export runs/dlrm --out model/)") end
  if not o.out then die("rill export %s: --out DIR is required", run) end
  local script, chunk, meta, pipeline, settings = run_pipeline(run)
  local c = { mode = "export", run = run, script = script, data = meta.data, set = meta.set,
              out = o.out, pipeline = pipeline, settings = settings }
  run_script(script, c, nil, true, chunk)
  check_trained(c, "model to export")
  io.stdout:write(string.format("exported %s to %s (manifest.json; rill predict %s --data FILE)\n",
                                run, o.out, o.out))
  return 0
end

local function human(bytes)
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local i = 1
  while bytes >= 1024 and i < #units do bytes = bytes / 1024; i = i + 1 end
  return string.format(i == 1 and "%d %s" or "%.1f %s", bytes, units[i])
end

function commands.inspect(args)
  local o = parse(args, 2, { check = "flag", digest = "flag" })
  local run = o.rest[1]
  if not run then die("rill inspect: which run directory?") end
  local core = require "rill.core"
  local check = o.check == true
  local ok, info = pcall(core.inspect, run, check)
  if not ok then die("%s", (tostring(info):gsub("^[^:]+%.lua:%d+: ", ""))) end
  local out = {}
  out[#out + 1] = string.format("run %s: step %s, epoch %s%s%s", run, tostring(info.step or 0),
                                tostring(info.epoch or 0),
                                info.finished and ", finished" or ", not finished (rill resume continues it)",
                                info.early_stopped and " (stopped early)" or "")
  out[#out + 1] = string.format("store: %s used of a %s map", human(info.used_bytes), human(info.map_size))
  if info.valid then out[#out + 1] = "last validation: " .. require("rill").format_metrics(info.valid) end
  out[#out + 1] = string.format("%-28s %12s %5s %7s %-16s %10s", "table", "rows", "dim", "stride", "optimizer", "bytes")
  for _, t in ipairs(info.tables) do
    out[#out + 1] = string.format("%-28s %12d %5d %7d %-16s %10s", t.name, t.rows, t.dim, t.stride, t.optim, human(t.bytes))
  end
  -- CEL tables come in pairs: NAME.assign (one cluster number per entity), NAME.clusters
  local by_name, cel = {}, {}
  for _, t in ipairs(info.tables) do by_name[t.name] = t end
  for _, t in ipairs(info.tables) do
    local base = t.optim == "none" and t.name:match("^(.*)%.assign$")
    local c = base and by_name[base .. ".clusters"]
    if c then cel[#cel + 1] = { name = base, entities = t.rows, clusters = c.rows, dim = c.dim } end
  end
  if #cel > 0 then
    out[#out + 1] = string.format("%-28s %12s %9s %14s %14s %9s", "clustered (CEL)", "entities",
                                  "clusters", "inference", "unclustered", "smaller")
    for _, c in ipairs(cel) do
      local clustered = c.clusters * c.dim * 4 + c.entities * 4
      local full = c.entities * c.dim * 4
      out[#out + 1] = string.format("%-28s %12d %9d %14s %14s %8.1fx", c.name, c.entities,
                                    c.clusters, human(clustered), human(full), full / clustered)
    end
  end
  out[#out + 1] = string.format("%-28s %12s", "dense parameter", "floats (with optimizer state)")
  for _, d in ipairs(info.dense) do
    out[#out + 1] = string.format("%-28s %12d", d.name, d.values)
  end
  if check then out[#out + 1] = "check: the store is sound" end
  if o.digest then
    local okd, d = pcall(core.store_digest, run)
    if not okd then die("%s", (tostring(d):gsub("^[^:]+%.lua:%d+: ", ""))) end
    out[#out + 1] = "digest: " .. d
  end
  print(table.concat(out, "\n"))
  return 0
end

function commands.resume(args)
  local o = parse(args, 2, { threads = true, ["checkpoint-every"] = true, cache = true,
                             ["checkpoint-sync"] = "flag" })
  local run = o.rest[1]
  if not run then die("rill resume: which run directory? (e.g. rill resume runs/dlrm)") end
  local script, chunk, meta, pipeline, settings = run_pipeline(run)
  -- pipeline and settings: rill.train writes the copies people read (RUN/pipeline.lua and
  -- RUN/meta.lua) when they are missing, as after a crash before the first run's end
  local c = { mode = "resume", run = run, script = script, data = meta.data, set = meta.set,
              precision = meta.precision, threads = threads(o), cache = o.cache, pipeline = pipeline, settings = settings,
              checkpoint_every = whole(o, "checkpoint-every"),
              checkpoint_sync = o["checkpoint-sync"] == true }
  local r = run_script(script, c, nil, true, chunk)
  check_trained(c, "training run to resume")
  if type(r) == "table" and r.interrupted then return 130 end
  return 0
end

function commands.eval(args) return saved_run(args, "eval") end
function commands.predict(args) return saved_run(args, "predict") end

-- each data set's options (besides --rows, --seed, --out) and its core function
local gen_sets = {
  criteo = { options = { ["max-cardinality"] = true, interaction = true,
                         ["entity-clusters"] = true },
             fn = "gen_criteo" },
  multitask = { options = { sample = true, correlation = true, rates = true,
                            ["repeat-rate"] = true, ["repeat-lift"] = true },
                fn = "gen_multitask" },
}

function commands.gen(args)
  local name = args[2]
  if name == nil or name:match("^%-") then
    die("rill gen: which data set? (known: criteo, multitask)")
  end
  local set = gen_sets[name]
  if not set then die("rill gen: unknown data set '%s' (known: criteo, multitask)", name) end
  local who = "rill gen " .. name
  local allowed = { rows = true, seed = true, out = true }
  for k in pairs(set.options) do allowed[k] = true end
  local o = parse(args, 3, allowed)
  if #o.rest > 0 then die("%s: unexpected argument '%s'", who, o.rest[1]) end
  local function num(key, whole)
    if o[key] == nil then return nil end
    local v = tonumber(o[key])
    if not v then die("--%s %s: expected a number", key, o[key]) end
    if whole and not math.tointeger(v) then die("--%s %s: expected a whole number", key, o[key]) end
    return v
  end
  if not o.rows then die("%s: --rows N is required", who) end
  if not o.out then die("%s: --out FILE is required", who) end
  if num("rows", true) < 1 then die("--rows %s: expected at least 1", o.rows) end
  local settings = { rows = num("rows", true), seed = num("seed", true), out = o.out }
  if name == "criteo" then
    settings.max_cardinality = num("max-cardinality")
    settings.interaction = num("interaction")
    settings.entity_clusters = num("entity-clusters", true)
  else
    settings.sample = num("sample", true)
    settings.correlation = num("correlation")
    settings.repeat_rate = num("repeat-rate")
    settings.repeat_lift = num("repeat-lift")
    if o.rates ~= nil then
      local p1, p2 = o.rates:match("^([^,]+),([^,]+)$")
      settings.rate1, settings.rate2 = tonumber(p1), tonumber(p2)
      if not (settings.rate1 and settings.rate2) then
        die("--rates %s: expected two numbers P1,P2 (the two tasks' positive rates)", o.rates)
      end
    end
  end
  local existed = io.open(o.out, "r")
  if existed then existed:close() end
  local ok, msg = pcall(require("rill.core")[set.fn], settings)
  if not ok then
    -- the core opens the file before it checks every setting: leave no empty file behind
    if not existed and o.out ~= "-" then os.remove(o.out) end
    -- the core names its Lua arguments and the generator its settings; here they are options
    msg = tostring(msg):gsub("^.-rill%.gen_%w+: argument '([%w_]+)'", function(k)
      return who .. ": --" .. k:gsub("_", "-")
    end):gsub("^[^\n]-main%.lua:%d+: ", "")
    msg = msg:gsub("^generator: (rate[12])", who .. ": --rates: %1")
             :gsub("^generator: ([%w_]+)", function(k)
               if set.options[k:gsub("_", "-")] then return who .. ": --" .. k:gsub("_", "-") end
             end)
    die("%s", msg)
  end
  return 0
end

function commands.prep(args)
  if args[2] ~= "sequences" then die("rill prep: what? (known: sequences)") end
  local o = parse(args, 3, { log = true, items = true, out = true, ["max-length"] = true,
                             negatives = true, seed = true, ["valid-fraction"] = true,
                             ["user-col"] = true, ["item-col"] = true,
                             ["time-col"] = true, ["cat-col"] = true })
  if #o.rest > 0 then die("rill prep sequences: unexpected argument '%s'", o.rest[1]) end
  local ok, msg = pcall(require("rill.prep").sequences, {
    log = o.log, items = o.items, out = o.out, max_length = o["max-length"], negatives = o.negatives,
    seed = o.seed, valid_fraction = o["valid-fraction"], user_col = o["user-col"],
    item_col = o["item-col"], time_col = o["time-col"],
    cat_col = o["cat-col"] })
  if not ok then die("%s", tostring(msg)) end
  return 0
end

function commands.run(args)
  local script = args[2]
  if not script then die("rill run: which script?") end
  local rest = table.move(args, 3, #args, 1, {})
  local r = run_script(script, { mode = "train", script = script, set = {} }, rest)
  if math.type(r) == "integer" then return r end
  return 0
end

function commands.bench(args)
  if args[2] == "store" then
    return require("rill.bench_store")(parse(args, 3, { rows = true, ids = true, limit = true,
                                                          cache = true, dlrm = true,
                                                          prefetch = true, layout = true }))
  end
  local model = args[2]
  if model ~= "dlrm" and model ~= "dcnv2" and model ~= "dcnv2-parallel" then
    die("rill bench: unknown benchmark '%s' (known: dlrm, dcnv2, dcnv2-parallel, store)", tostring(model))
  end
  local o = parse(args, 3, { rows = true, data = true, run = true, threads = true,
                             precision = true, script = true })
  o.model = model
  return require("rill.bench")(o)
end

function commands.version()
  print("rill " .. require("rill.core").version)
  return 0
end

function commands.help()
  io.write(usage)
  return 0
end
commands["--help"] = commands.help
commands["-h"] = commands.help

return function(args)
  local cmd = args[1]
  if not cmd then
    io.stderr:write(usage)
    return 2
  end
  local f = commands[cmd]
  if not f then die("unknown command '%s' (commands: train, eval, predict, gen, run, version, help)", cmd) end
  return f(args)
end
