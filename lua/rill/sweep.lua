-- rill sweep SWEEP.lua: train the variants of a base pipeline, several seeds each, and table
-- and plot the results.
--
-- A sweep script returns a table:
--   base = "pipelines/dlrm.lua",        the pipeline every variant runs
--   data = "data/sample.tsv",           its --data (optional; a variant's set.data wins)
--   set = { ["train.epochs"] = 1 },     settings every variant gets (optional)
--   grid = { ["embed.dim"] = { 4, 8 }, ["embed.kind"] = { "single", "mlet" } },
--                                        every combination is a variant; or
--   variants = { { name = "mlet k=4d", set = { ... } }, ... },
--                                        an explicit list (both may be given: grid x variants)
--   seeds = { 1, 2, 3 },                train.seed of each run (default { 1 })
--   x = "embed.dim",                     the setting on the plot's x axis (default: the first
--                                        grid key); the other settings make the series
--   metric = "auc",                      plotted: auc, logloss, or auc_<bucket> (rare, ...)
--   frequency = { field = "C3", bounds = { 10, 1000 }, count_in = "data" },
--                                        (false: none)
--                                        per-frequency evaluation (default: the largest table;
--                                        count_in = "data" counts the field in the training
--                                        data, for variants whose tables differ)
--   out = "docs/results/NAME",           results.md, results.csv, plot.svg, runs/
--   spectrum = true,                     also rill analyze spectrum each run: the mean
--                                        information abundance per variant and a table of
--                                        it per field (a multi-embedding field: its sets
--                                        read jointly); { min_count = N }: over the rows
--                                        trained in N steps or more
--   entanglement = true,                 also rill analyze entanglement each run: the mean
--                                        cosine of the tasks' gradients on the embedding
--                                        sets they share and the share of probes in conflict
--   calibration = true,                  also each task's mean prediction over its positive
--                                        rate on the validation data (1: calibrated)
--   parallel = 1,                        runs at a time (2: two, one thread each)
--   threads = 2,                         threads per run when parallel = 1
-- A run whose evaluation is already there is not run again, so an interrupted sweep picks
-- up where it stopped. Ctrl-C lets the runs under way end (they get it too and checkpoint),
-- starts no other, writes the results so far and exits with status 130. The runs are started
-- without a shell (core.spawn: argument lists), so names and settings reach bin/rill as written.

local core = require "rill.core"
local plot = require "rill.plot"

local M = {}

local function die(fmt, ...) error(string.format(fmt, ...), 0) end

local util = require "rill.util"
local exists = util.exists


local function sorted_keys(t)
  local k = {}
  for key in pairs(t) do k[#k + 1] = key end
  table.sort(k)
  return k
end

-- the variants: the grid's combinations (keys in name order) times the explicit list
local function expand(sw)
  local combos = { { name = {}, set = {} } }
  if sw.grid then
    for _, key in ipairs(sorted_keys(sw.grid)) do
      local vals = sw.grid[key]
      if type(vals) ~= "table" or #vals == 0 then die("sweep: grid[%q] must be a non-empty list", key) end
      local next_combos = {}
      for _, c in ipairs(combos) do
        for _, v in ipairs(vals) do
          local n = { name = { table.unpack(c.name) }, set = {} }
          for k2, v2 in pairs(c.set) do n.set[k2] = v2 end
          n.set[key] = v
          n.name[#n.name + 1] = key .. "=" .. tostring(v)
          next_combos[#next_combos + 1] = n
        end
      end
      combos = next_combos
    end
  end
  local out = {}
  local list = sw.variants or { { name = nil, set = {} } }
  for _, c in ipairs(combos) do
    for _, v in ipairs(list) do
      local set, name = {}, { table.unpack(c.name) }
      for k2, v2 in pairs(c.set) do set[k2] = v2 end
      for k2, v2 in pairs(v.set or {}) do set[k2] = v2 end
      if v.name then name[#name + 1] = v.name end
      out[#out + 1] = { name = #name > 0 and table.concat(name, " ") or "base", set = set }
    end
  end
  return out
end

local function slug(s) return (s:gsub("[^%w%-%.]+", "_")) end

local function mean_sd(xs)
  local n, s = 0, 0
  for _, x in ipairs(xs) do if x == x then n = n + 1; s = s + x end end
  if n == 0 then return 0 / 0, 0 / 0 end
  local m = s / n
  local q = 0
  for _, x in ipairs(xs) do if x == x then q = q + (x - m) ^ 2 end end
  return m, n > 1 and math.sqrt(q / (n - 1)) or 0
end

-- "0.1234 ± 0.0012", or "n/a" where no run had a value (an empty frequency bucket)
local function pm(m, sd)
  if m ~= m then return "n/a" end
  return string.format("%.4f ± %.4f", m, sd == sd and sd or 0)
end

local function read_lua(path)
  local chunk = loadfile(path, "t", {})
  return chunk and chunk() or nil
end

local function load_sweep(path)
  local chunk, msg = loadfile(path)
  if not chunk then die("%s", msg) end
  local sw = chunk()
  if type(sw) ~= "table" or type(sw.base) ~= "string" then
    die("%s: a sweep script returns a table with base = \"pipelines/....lua\" (see rill help)", path)
  end
  return sw
end

local function add(list, ...) for _, a in ipairs{ ... } do list[#list + 1] = tostring(a) end end

-- bin/rill train's arguments for one variant and seed: the sweep's settings, then the
-- variant's, then the seed
local function train_command(sw, v, seed, dir, rill_bin, threads)
  local train = { rill_bin, "train", sw.base, "--run", dir, "--threads", tostring(threads) }
  local set = {}
  for k, val in pairs(sw.set or {}) do set[k] = val end
  for k, val in pairs(v.set) do set[k] = val end
  -- a variant may train on other data: its set.data wins over the sweep's
  local data = set.data or sw.data
  set.data = nil
  if data then train[#train + 1] = "--data"; train[#train + 1] = tostring(data) end
  set["train.seed"] = seed
  for _, k in ipairs(sorted_keys(set)) do
    train[#train + 1] = "--set"
    train[#train + 1] = k .. "=" .. tostring(set[k])
  end
  return train
end

-- one run: its commands, and the file whose presence says it is done
local function plan_run(sw, v, seed, out, rill_bin, threads)
  local dir = string.format("%s/runs/%s_s%d", out, slug(v.name), seed)
  local train = train_command(sw, v, seed, dir, rill_bin, threads)
  local fr = sw.frequency or {}
  local eval = { rill_bin, "eval", dir, "--threads", tostring(threads), "--result", dir .. "/eval.lua" }
  if sw.frequency ~= false then add(eval, "--frequency", fr.field or "") end
  if fr.bounds then add(eval, "--bounds", table.concat(fr.bounds, ",")) end
  if fr.count_in then add(eval, "--count-in", fr.count_in) end
  local analyze = {}
  if sw.spectrum then
    local mc = type(sw.spectrum) == "table" and sw.spectrum.min_count
    local a = { rill_bin, "analyze", "spectrum", dir, "--out", dir .. "/analysis" }
    if mc then add(a, "--min-count", mc) end
    analyze[#analyze + 1] = a
  end
  if sw.entanglement then
    analyze[#analyze + 1] = { rill_bin, "analyze", "entanglement", dir, "--out", dir .. "/analysis" }
  end
  local done = dir .. "/eval.lua"
  if sw.spectrum then done = dir .. "/analysis/spectrum.csv" end
  if sw.entanglement then done = dir .. "/analysis/entanglement.csv" end
  return { variant = v, seed = seed, dir = dir, train = train, eval = eval,
           analyze = analyze, done = done }
end

-- Runs `todo`, `parallel` at a time: a run's next command starts when its last one exits 0,
-- a new run when one ends. Returns how many runs were started.
local function run_all(todo, parallel)
  local t0 = os.time()
  local active, nactive, started = {}, 0, 0
  local function finish(r, why)
    if why or not exists(r.done) then
      io.stderr:write(string.format("  failed: %s, seed %d (%s; see %s.log)\n", r.variant.name,
                                    r.seed, why or "its results are missing", r.dir))
    end
  end
  local function step(r)
    local cmd = r.steps[r.k]
    -- the first command of a run starts its log afresh; the others add to it
    local ok, pid = pcall(core.spawn, cmd, { stdout = r.dir .. ".log", stderr = r.dir .. ".log",
                                             append = r.k > 1 or r.append })
    if not ok then return finish(r, tostring(pid)) end
    active[pid], nactive = r, nactive + 1
  end
  while true do
    while nactive < parallel and started < #todo and not core.interrupted() do
      started = started + 1
      local r = todo[started]
      io.stderr:write(string.format("[%d/%d] %s, seed %d (%ds so far)\n", started, #todo,
                                    r.variant.name, r.seed, os.time() - t0))
      if exists(r.dir .. "/eval.lua") then -- trained and evaluated: only the analysis is missing
        r.steps, r.append = r.analyze, true
      else
        r.steps = { r.train, r.eval, table.unpack(r.analyze) }
      end
      r.k = 1
      if #r.steps == 0 then finish(r) else step(r) end
    end
    if nactive == 0 then break end
    local pid, how, code = core.wait()
    if not pid then break end
    local r = active[pid]
    if r then
      active[pid], nactive = nil, nactive - 1
      if how == "exit" and code == 0 and r.k < #r.steps then
        r.k = r.k + 1
        step(r)
      elseif how == "exit" and code == 0 then
        finish(r)
      else
        finish(r, string.format("rill %s %s", r.steps[r.k][2],
                                how == "exit" and ("exited with status " .. code)
                                or ("was killed by signal " .. code)))
      end
    end
  end
  return started
end

function M.run(path, opts)
  local sw = load_sweep(path)
  local out = sw.out or ("docs/results/" .. (path:match("([^/]+)%.lua$") or "sweep"))
  core.mkdir(out .. "/runs")
  local variants = expand(sw)
  local seeds = sw.seeds or { 1 }
  local parallel = math.max(1, math.min(2, sw.parallel or 1))
  local threads = parallel == 2 and 1 or (sw.threads or 2)
  local rill_bin = opts.bin or "bin/rill"
  -- the runs, in order; each is a list of commands (argument lists: no shell sees them, so
  -- any name or setting reaches bin/rill as written), run one after the other while they
  -- succeed, their output into RUN.log
  local runs = {}
  for _, v in ipairs(variants) do
    for _, seed in ipairs(seeds) do
      runs[#runs + 1] = plan_run(sw, v, seed, out, rill_bin, threads)
    end
  end
  local todo = {}
  for _, r in ipairs(runs) do
    if not exists(r.done) then todo[#todo + 1] = r end
  end
  io.stderr:write(string.format("sweep %s: %d variants x %d seeds = %d runs, %d to do, %d at a time -> %s\n",
                                path, #variants, #seeds, #runs, #todo, parallel, out))
  local started = run_all(todo, parallel)
  if core.interrupted() then
    io.stderr:write(string.format("sweep interrupted: %d of %d runs not started; rill sweep %s "
                                  .. "continues where it stopped\n", #todo - started, #todo, path))
    M.report(sw, out, runs, variants, seeds, path)
    return 130
  end
  return M.report(sw, out, runs, variants, seeds, path)
end

-- A run's information abundance per table from its analysis/spectrum.csv: the plain tables,
-- and where a field has embedding sets, their joint reading in place of the first set's.
local function read_ia(path)
  local f = io.open(path)
  if not f then return nil end
  local ia = {}
  f:read("l")
  for line in f:lines() do
    local name, v = line:match('^([^,]+),%d+,%d+,([^,]+),1,')
    if name then
      local joint = name:match("^(.-) %[%d+ sets%]$")
      if joint then
        ia[joint] = tonumber(v)
      elseif not name:match("%.s%d+%.[^%.]+$") and not name:match(" %[joint%]$") and ia[name] == nil then
        ia[name] = tonumber(v)
      end
    end
  end
  f:close()
  local sum, n = 0, 0
  for _, v in pairs(ia) do sum, n = sum + v, n + 1 end
  return ia, n > 0 and sum / n or 0 / 0
end

-- A run's mean gradient cosine over the probes of the sets its tasks share, and the share of
-- probes with a negative one, from its analysis/entanglement.csv.
local function read_entanglement(path)
  local f = io.open(path)
  if not f then return nil end
  f:read("l")
  local sum, n, neg = 0, 0, 0
  for line in f:lines() do
    local c = tonumber(line:match("^[^,]*,[^,]*,[^,]*,[^,]*,([^,]*)"))
    if c then sum, n, neg = sum + c, n + 1, neg + (c < 0 and 1 or 0) end
  end
  f:close()
  if n == 0 then return 0 / 0, 0 / 0 end
  return sum / n, neg / n
end

-- results.md, results.csv and plot.svg from the runs' eval.lua and summary.lua
-- One row per run that has an eval.lua, and the rows by variant name
local function collect_rows(sw, runs)
  local rows, by_variant = {}, {}
  for _, r in ipairs(runs) do
    local e = read_lua(r.dir .. "/eval.lua")
    local s = read_lua(r.dir .. "/summary.lua") or {}
    if e then
      local row = { variant = r.variant.name, seed = r.seed, auc = e.auc, logloss = e.logloss, gauc = e.gauc,
                    params = s.params, inference_bytes = s.inference_bytes, seconds = s.seconds,
                    examples_per_s = s.examples_per_s, freq = {} }
      for _, b in ipairs(e.frequency or {}) do row.freq[#row.freq + 1] = b end
      if sw.spectrum then row.ia, row.ia_mean = read_ia(r.dir .. "/analysis/spectrum.csv") end
      if sw.entanglement then row.cos, row.conflict = read_entanglement(r.dir .. "/analysis/entanglement.csv") end
      row.more_tasks = {} -- the AUC of each task after the first (multi-task models)
      for k = 2, #(e.tasks or {}) do row.more_tasks[#row.more_tasks + 1] = e.tasks[k] end
      row.calibration = {} -- per task: mean prediction / positive rate
      for k, t in ipairs(e.tasks or {}) do
        row.calibration[k] = t.mean_pred and t.pos_rate and t.pos_rate > 0 and t.mean_pred / t.pos_rate or 0 / 0
      end
      rows[#rows + 1] = row
      by_variant[r.variant.name] = by_variant[r.variant.name] or {}
      table.insert(by_variant[r.variant.name], row)
    end
  end
  return rows, by_variant
end

-- What the report's tables hold, from the rows: the frequency buckets (nb, and bname(k) their
-- names), whether there is a GAUC, the tasks after the first (more) and the calibration columns
local function report_columns(sw, rows)
  local bucket_names = { "rare", "medium", "frequent", "b4", "b5", "b6" }
  local nb = 0
  for _, row in ipairs(rows) do nb = math.max(nb, #row.freq) end
  local function bname(k)
    if nb == 3 then return bucket_names[k] end
    return "bucket" .. k
  end
  local has_gauc = false
  for _, row in ipairs(rows) do has_gauc = has_gauc or row.gauc ~= nil end
  local more = rows[1] and rows[1].more_tasks or {}
  local ncal = sw.calibration and rows[1] and #rows[1].calibration or 0
  return { nb = nb, bname = bname, has_gauc = has_gauc, more = more, ncal = ncal }
end

-- results.csv: one line per run
local function write_csv(sw, out, rows, c)
  local nb, bname = c.nb, c.bname
  local csv = { "variant,seed,auc,logloss" .. (c.has_gauc and ",gauc" or "") }
  for k = 1, nb do csv[1] = csv[1] .. ",auc_" .. bname(k) .. ",rows_" .. bname(k) end
  csv[1] = csv[1] .. ",params,inference_table_bytes,train_seconds,examples_per_s"
  if sw.spectrum then csv[1] = csv[1] .. ",mean_information_abundance" end
  if sw.entanglement then csv[1] = csv[1] .. ",gradient_cosine,conflict_share" end
  for _, t in ipairs(c.more) do csv[1] = csv[1] .. ",auc_" .. t.task .. ",logloss_" .. t.task end
  for k = 1, c.ncal do csv[1] = csv[1] .. ",calibration" .. (k > 1 and "_" .. c.more[k - 1].task or "") end
  for _, row in ipairs(rows) do
    local line = string.format("%q,%d,%.6f,%.6f", row.variant, row.seed, row.auc, row.logloss)
    if c.has_gauc then line = line .. string.format(",%.6f", row.gauc or 0 / 0) end
    for k = 1, nb do
      local b = row.freq[k] or {}
      line = line .. string.format(",%.6f,%d", b.auc or 0 / 0, b.rows or 0)
    end
    line = line .. string.format(",%d,%d,%.1f,%.0f", row.params or 0, row.inference_bytes or 0,
                                 row.seconds or 0, row.examples_per_s or 0)
    if sw.spectrum then line = line .. string.format(",%.4f", row.ia_mean or 0 / 0) end
    if sw.entanglement then line = line .. string.format(",%.4f,%.4f", row.cos or 0 / 0, row.conflict or 0 / 0) end
    for k = 1, #c.more do
      local t = row.more_tasks[k] or {}
      line = line .. string.format(",%.6f,%.6f", t.auc or 0 / 0, t.logloss or 0 / 0)
    end
    for k = 1, c.ncal do line = line .. string.format(",%.6f", row.calibration[k] or 0 / 0) end
    csv[#csv + 1] = line
  end
  core.write_file(out .. "/results.csv", table.concat(csv, "\n") .. "\n")
end

-- the Markdown table's header and rule lines
local function md_header(sw, rows, c)
  local head = "| variant | AUC | logloss |" .. (c.has_gauc and " GAUC |" or "")
  local rule = "|---|---|---|" .. (c.has_gauc and "---|" or "")
  for _, t in ipairs(c.more) do
    head = head .. string.format(" AUC %s | logloss %s |", t.task, t.task)
    rule = rule .. "---|---|"
  end
  for k = 1, c.nb do
    local b = rows[1] and rows[1].freq[k] or {}
    head = head .. string.format(" AUC %s (%s) |", c.bname(k), b.hi and string.format("%d-%d", b.lo, b.hi - 1) or string.format(">=%d", b.lo or 0))
    rule = rule .. "---|"
  end
  head = head .. " params | inference table bytes | train s | examples/s |"
  rule = rule .. "---|---|---|---|"
  if sw.spectrum then head, rule = head .. " mean IA |", rule .. "---|" end
  if sw.entanglement then head, rule = head .. " gradient cosine | conflict |", rule .. "---|---|" end
  for k = 1, c.ncal do
    head = head .. string.format(" pred/rate%s |", k > 1 and " " .. c.more[k - 1].task or "")
    rule = rule .. "---|"
  end
  return head, rule
end

-- A variant's Markdown line (mean ± sd over its runs `rs`), and its summary for the match
-- and the plot
local function variant_line(sw, v, rs, c)
  local function col(get)
    local xs = {}
    for _, r in ipairs(rs) do xs[#xs + 1] = get(r) or 0 / 0 end
    return mean_sd(xs)
  end
  local am, asd = col(function(r) return r.auc end)
  local lm, lsd = col(function(r) return r.logloss end)
  local line = string.format("| %s | %s | %s |", v.name, pm(am, asd), pm(lm, lsd))
  if c.has_gauc then
    local gm, gsd = col(function(r) return r.gauc end)
    line = line .. " " .. pm(gm, gsd) .. " |"
  end
  for k = 1, #c.more do
    local tm, tsd = col(function(r) return r.more_tasks[k] and r.more_tasks[k].auc end)
    local lm2, lsd2 = col(function(r) return r.more_tasks[k] and r.more_tasks[k].logloss end)
    line = line .. " " .. pm(tm, tsd) .. " | " .. pm(lm2, lsd2) .. " |"
  end
  local fm = {}
  for k = 1, c.nb do
    local m, sd = col(function(r) return r.freq[k] and r.freq[k].auc end)
    fm[k] = m
    line = line .. " " .. pm(m, sd) .. " |"
  end
  local params = col(function(r) return r.params end)
  local ib = col(function(r) return r.inference_bytes end)
  local ts = col(function(r) return r.seconds end)
  local eps = col(function(r) return r.examples_per_s end)
  line = line .. string.format(" %d | %d | %.1f | %.0f |", math.floor(params + 0.5), math.floor(ib + 0.5), ts, eps)
  if sw.spectrum then
    local im, isd = col(function(r) return r.ia_mean end)
    line = line .. string.format(" %s |", im == im and string.format("%.2f ± %.2f", im, isd) or "n/a")
  end
  if sw.entanglement then
    local cm, csd = col(function(r) return r.cos end)
    local fm2, fsd = col(function(r) return r.conflict end)
    line = line .. string.format(" %.3f ± %.3f | %.0f%% ± %.0f%% |", cm, csd, 100 * fm2, 100 * fsd)
  end
  for k = 1, c.ncal do
    local cm, csd = col(function(r) return r.calibration[k] end)
    line = line .. string.format(" %.3f ± %.3f |", cm, csd)
  end
  return line, { variant = v, auc = am, auc_sd = asd, logloss = lm, freq = fm }
end

-- sw.match: the smallest challenger (inference table bytes) that matches the best baseline's
-- AUC, as lines added to md
local function match_lines(sw, md, summary, by_variant)
  local best
  for _, r in ipairs(summary) do
    r.bytes = 0
    for _, row in ipairs(by_variant[r.variant.name]) do r.bytes = math.max(r.bytes, row.inference_bytes or 0) end
    if r.variant.name:match(sw.match.baseline) and (not best or r.auc > best.auc) then best = r end
  end
  local ch = {}
  for _, r in ipairs(summary) do
    if r.variant.name:match(sw.match.challenger) then ch[#ch + 1] = r end
  end
  table.sort(ch, function(a, b) if a.bytes ~= b.bytes then return a.bytes < b.bytes end return a.auc > b.auc end)
  local function describe(r)
    local rare = r.freq[1] and string.format(", rare-bucket AUC %.4f", r.freq[1]) or ""
    return string.format("%s (AUC %.4f%s, inference tables %s bytes)", r.variant.name, r.auc, rare, r.bytes)
  end
  if best then
    md[#md + 1] = ""
    md[#md + 1] = "Best " .. sw.match.baseline:gsub("^%^", "") .. ": " .. describe(best) .. "."
    local strict, near
    for _, r in ipairs(ch) do
      if not strict and r.auc >= best.auc then strict = r end
      if not near and r.auc >= best.auc - best.auc_sd then near = r end
    end
    md[#md + 1] = "Smallest " .. sw.match.challenger:gsub("^%^", "") .. " with a mean AUC at least as high: " ..
                  (strict and describe(strict) or "none") .. "."
    md[#md + 1] = "Smallest within one standard deviation of it: " .. (near and describe(near) or "none") .. "."
  end
end

-- sw.spectrum: information abundance per table (field), mean over seeds: rows tables,
-- columns variants, as lines added to md
local function spectrum_lines(sw, md, rows, variants, by_variant)
  local keys, seen = {}, {}
  for _, row in ipairs(rows) do
    for k in pairs(row.ia or {}) do if not seen[k] then seen[k] = true; keys[#keys + 1] = k end end
  end
  table.sort(keys, function(a, b)
    local na, nb2 = tonumber(a:match("(%d+)$")), tonumber(b:match("(%d+)$"))
    if na and nb2 and a:gsub("%d+$", "") == b:gsub("%d+$", "") then return na < nb2 end
    return a < b
  end)
  if #keys == 0 then return end
  md[#md + 1] = ""
  local mc = type(sw.spectrum) == "table" and sw.spectrum.min_count
  md[#md + 1] = "Information abundance (sum of singular values over the largest) per table, mean over " ..
                "seeds; a multi-embedding field's sets read jointly (`rill analyze spectrum`" ..
                (mc and string.format(" over the rows trained in %d steps or more", mc) or "") .. ")."
  md[#md + 1] = ""
  local h, rl = "| table |", "|---|"
  local shown = {}
  for _, v in ipairs(variants) do
    if by_variant[v.name] then shown[#shown + 1] = v; h = h .. " " .. v.name .. " |"; rl = rl .. "---|" end
  end
  md[#md + 1] = h
  md[#md + 1] = rl
  for _, k in ipairs(keys) do
    local line = "| " .. k .. " |"
    for _, v in ipairs(shown) do
      local xs = {}
      for _, r in ipairs(by_variant[v.name]) do xs[#xs + 1] = r.ia and r.ia[k] or 0 / 0 end
      local m = mean_sd(xs)
      line = line .. (m == m and string.format(" %.2f |", m) or " n/a |")
    end
    md[#md + 1] = line
  end
end

-- plot.svg: the metric against setting x, one series per combination of the other settings
local function write_plot(sw, out, path, summary, x, c)
  local metric = sw.metric or "auc"
  local series, order = {}, {}
  for _, srow in ipairs(summary) do
    local xv = tonumber(srow.variant.set[x])
    local others = {}
    for _, k in ipairs(sorted_keys(srow.variant.set)) do
      if k ~= x then others[#others + 1] = k .. "=" .. tostring(srow.variant.set[k]) end
    end
    local key = #others > 0 and table.concat(others, " ") or metric
    if not series[key] then series[key] = { name = key, x = {}, y = {}, err = {} }; order[#order + 1] = key end
    local y, err = srow.auc, srow.auc_sd
    if metric == "logloss" then y, err = srow.logloss, nil end
    local bk = metric:match("^auc_(%w+)$")
    if bk then
      for k = 1, c.nb do if c.bname(k) == bk then y, err = srow.freq[k], nil end end
    end
    if xv then
      table.insert(series[key].x, xv)
      table.insert(series[key].y, y)
      table.insert(series[key].err, err or 0)
    end
  end
  local list = {}
  for _, k in ipairs(order) do list[#list + 1] = series[k] end
  core.write_file(out .. "/plot.svg", plot.lines{ title = (sw.title or path) .. ": " .. metric,
                                                  xlabel = x, ylabel = metric, logx = sw.logx,
                                                  series = list })
end

-- results.md, results.csv and plot.svg from the runs' eval.lua and summary.lua
function M.report(sw, out, runs, variants, seeds, path)
  local rows, by_variant = collect_rows(sw, runs)
  local c = report_columns(sw, rows)
  write_csv(sw, out, rows, c)
  -- Markdown: one line per variant, mean +- sd over seeds
  local md = { "# " .. (sw.title or ("Sweep " .. path)), "" }
  if sw.description then md[#md + 1] = sw.description; md[#md + 1] = "" end
  md[#md + 1] = string.format("Made by `bin/rill sweep %s` (%d seeds: %s). Mean ± standard deviation over seeds.",
                              path, #seeds, table.concat(seeds, ", "))
  md[#md + 1] = ""
  local head, rule = md_header(sw, rows, c)
  md[#md + 1] = head
  md[#md + 1] = rule
  local summary = {}
  for _, v in ipairs(variants) do
    local rs = by_variant[v.name]
    if rs then
      local line, s = variant_line(sw, v, rs, c)
      md[#md + 1] = line
      summary[#summary + 1] = s
    end
  end
  if sw.match then match_lines(sw, md, summary, by_variant) end
  if sw.spectrum then spectrum_lines(sw, md, rows, variants, by_variant) end
  md[#md + 1] = ""
  local x = sw.x or (sw.grid and sorted_keys(sw.grid)[1])
  md[#md + 1] = "Per-run figures: `results.csv`." .. (x and " Plot: `plot.svg`." or "")
  core.write_file(out .. "/results.md", table.concat(md, "\n") .. "\n")
  if x then write_plot(sw, out, path, summary, x, c) end
  print(table.concat(md, "\n"))
  return 0
end

return M
