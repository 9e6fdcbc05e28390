-- rill bench store (make bench-store): the store's benchmark.
--
-- 1. A table larger than memory. One table of --ids rows (20,000,000) of dim 64 with row-wise
--    Adagrad (65 floats a row: 5.2 GB in the store), every row created in the store up front,
--    ids Zipf-distributed (exponent 1.05) over all rows, a logistic model on top, batch 4096,
--    2 threads, a row cache of --cache (256 MiB), a checkpoint every 1000 steps (the default).
--    Trained twice on the same --rows examples: with no memory limit (the kernel may keep the
--    whole file in its page cache), and with the process held to --limit (1.25 GiB, a quarter
--    of the table) by a memory cgroup of its own, which bounds the page cache it faults in as
--    well as what it allocates. Where no cgroup can be made, it says so and the second run is
--    reported as not limited. Per run: examples/s with and without the checkpoints' time, the
--    cache's hit rate, the share of training spent waiting for rows read from the store, disk
--    bytes read and written and major page faults (/proc/self/io, getrusage), the checkpoints'
--    rows, bytes, disk writes per row byte written, and time; then the ratios against the
--    targets. All of it twice (--layout both): with the checkpoints appended as generations
--    and folded back at the end (the fold measured, and its cost spread over the checkpoints
--    between folds), and with them rewriting the rows in place.
-- 2. All-in-RAM overhead: DLRM of `rill bench dlrm` trained with its tables in a store (no
--    budget, one checkpoint at the end), in RAM tables, and in plain arrays indexed by id.

local rill = require "rill"
local core = rill.core

local util = require "rill.util"
local exists = util.exists
local commas = util.commas

local function gib(b) return string.format("%.2f GiB", b / 2^30) end
local function pct(a, b) return b > 0 and 100 * a / b or 0 end

-- "640MiB", "1.25GiB", "1500000000" -> bytes
local function size_arg(s, what)
  local n, unit = tostring(s):match("^([%d%.]+)%s*(%a*)$")
  local mult = ({ [""] = 1, B = 1, KiB = 2^10, MiB = 2^20, GiB = 2^30 })[unit or ""]
  if not n or not tonumber(n) or not mult then
    error(string.format("--%s: a size such as 640MiB or 1.25GiB, not '%s'", what, s), 0)
  end
  return math.floor(tonumber(n) * mult)
end

-- the CPU every figure is measured on: its name and vector units (they change between machines)
local function cpu_name()
  local f = io.open("/proc/cpuinfo")
  if not f then return "unknown CPU" end
  local text = f:read("a")
  f:close()
  local name = text:match("model name%s*:%s*([^\n]+)") or "unknown CPU"
  local flags = " " .. (text:match("\nflags%s*:%s*([^\n]+)") or "") .. " "
  local have = {}
  for _, x in ipairs{ "avx2", "avx512f", "avx512_bf16", "amx_tile" } do
    if flags:find(" " .. x .. " ", 1, true) then have[#have + 1] = x end
  end
  local cores = select(2, text:gsub("\nprocessor%s*:", "")) + (text:match("^processor") and 1 or 0)
  return string.format("%s, %d cores, %s", name, cores, #have > 0 and table.concat(have, " ") or "no AVX2")
end

local function big_table(file, ids, cache, run, prefetch, generations)
  local data = rill.data.criteo{ path = file, valid = 0.02 }
  local g = rill.graph(data)
  local id = g:encode_hash{ fields = { "C1" }, buckets = ids, missing = "none", name = "id" }
  local emb = g:embed{ id, dim = 64, prefill = true, name = "emb",
                       optim = rill.rowwise_adagrad{ lr = 0.05, initial_accumulator = 1e-6 } }
  local z = g:tower{ emb, sizes = {}, name = "head" }
  g:loss_bce{ z, name = "click" }
  package.loaded["rill.cli"] = { mode = "train", profile = true, quiet = true }
  local r = rill.train{ graph = g, data = data, epochs = 1, batch = 4096, run = run,
                        cache = cache, threads = 2, prefetch = prefetch,
                        generations = generations }
  package.loaded["rill.cli"] = nil
  local t = r.tables[1]
  r.hit = t.hits / math.max(1, t.hits + t.misses)
  r.t = t
  r.graph.core = nil
  -- training time: the loop's (evaluation left out), with the waits for the checkpoints taken
  -- every 1000 steps; the last checkpoint (a fold with generations) is reported on its own
  r.train_s = r.seconds - r.eval_seconds
  local waited = math.max(0, r.checkpoint_wait_seconds - r.final_checkpoint_seconds)
  r.with_ckpt = r.examples / r.train_s
  r.no_ckpt = r.examples / (r.train_s - waited)
  r.ckpt_share = waited / r.train_s
  r.periodic = r.checkpoints - 1 -- those every 1000 steps (0 in a run that is shorter)
  local disk = r.checkpoint_disk_bytes - r.last_checkpoint_disk_bytes
  local rowb = r.checkpoint_row_bytes - r.last_checkpoint_row_bytes
  r.periodic_disk, r.periodic_row_bytes = disk, rowb
  r.write_factor = rowb > 0 and disk / rowb or 0
  r.folds = t.folds
  return r
end

local function report(out, name, r)
  local t = r.t
  local per = math.max(1, r.checkpoints)
  out[#out + 1] = string.format("  %-10s %s examples/s with the checkpoints' time, %s without; cache hit rate %.1f%%; waiting for rows read from the store %.1f%% of training",
                                name, commas(r.with_ckpt), commas(r.no_ckpt), 100 * r.hit,
                                pct(t.read_seconds, r.train_s))
  out[#out + 1] = string.format("  %-10s disk: %s read, %s written, %s major page faults; %s rows read from the store, %s evicted (%s spilled), at most %s cached of a budget of %s%s",
                                "", gib(r.disk_read_bytes), gib(r.disk_write_bytes),
                                commas(r.major_faults), commas(t.misses), commas(t.evicted),
                                commas(t.spilled), commas(t.cached_max), commas(t.cache_capacity),
                                r.peak and (", the group's peak " .. gib(r.peak)) or "")
  local n = math.max(1, r.periodic)
  if r.periodic < 1 then
    out[#out + 1] = string.format("  %-10s no checkpoint every 1000 steps: the run is shorter", "")
  else
  out[#out + 1] = string.format("  %-10s %d checkpoints every 1000 steps: %s of rows each, the disk writes %s each = %.1fx the row bytes; training waited %.2f s for them = %.1f%% of training",
                                "", n, gib(r.periodic_row_bytes / n), gib(r.periodic_disk / n),
                                r.write_factor, math.max(0, r.checkpoint_wait_seconds - r.final_checkpoint_seconds),
                                100 * r.ckpt_share)
  end
  out[#out + 1] = string.format("  %-10s the last checkpoint, at the end: %.1f s, %s written to the disk for %s of rows",
                                "", r.final_checkpoint_seconds, gib(r.last_checkpoint_disk_bytes),
                                gib(r.last_checkpoint_row_bytes))
  if r.generations then
    out[#out + 1] = string.format("  %-10s the rolling fold went over %s ids (%.1f times the table); %d generations hold values at the end, %s of them",
                                  "", commas(r.t.folded), r.t.folded / r.ids, r.t.generations,
                                  commas(r.t.generation_values))
  end
end

-- the large table twice: unlimited, then held to `limit`; with checkpoints as generations, or
-- rewriting rows in place
local function larger_than_memory(out, file, ids, rows, cache, limit, prefetch, generations)
  local table_bytes = ids * 65 * 4
  local res = {}
  out[#out + 1] = generations and "checkpoints as generations (store/table_gens.c: appended, and folded into the table a sixteenth of its ids at each checkpoint):"
                              or "checkpoints rewriting rows in place (rill.train{ generations = false }):"
  for _, case in ipairs{ "unlimited", "limited" } do
    local run = "runs/bench-store"
    core.remove_tree(run)
    local peak
    if case == "limited" then
      local entered, how = core.memlimit_enter(limit)
      if not entered then
        out[#out + 1] = "  NOT LIMITED: " .. how .. " (run as root on Linux with a cgroup file system); the second run is reported as it ran, with no limit"
        case = "no limit"
      else
        out[#out + 1] = string.format("  limited: a cgroup-v%d memory group of %s for the process (the table is %.1fx the limit)", how, gib(limit), table_bytes / limit)
      end
    end
    io.stderr:write(string.format("%s: creating the table in the store and training...\n", case))
    local ok, r = pcall(big_table, file, ids, cache, run, prefetch, generations)
    if case == "limited" then
      peak = core.memlimit_peak()
      core.memlimit_leave()
    end
    if not ok then error(r, 0) end
    r.peak = peak and peak > 0 and peak or nil
    r.generations, r.ids = generations, ids
    res[#res + 1] = r
    report(out, case, r)
    core.remove_tree(run)
  end
  local u, l = res[1], res[2]
  out[#out + 1] = string.format("  limited against unlimited: %.0f%% of the examples/s with checkpoints (target: at least 50%%), %.0f%% without",
                                pct(l.with_ckpt, u.with_ckpt), pct(l.no_ckpt, u.no_ckpt))
  out[#out + 1] = string.format("  checkpoints' share of training: %.1f%% unlimited, %.1f%% limited (target: at most 10%%); disk writes per row byte checkpointed: %.1fx and %.1fx (target: at most 4x)",
                                100 * u.ckpt_share, 100 * l.ckpt_share, u.write_factor, l.write_factor)
  return u, l
end

local function dlrm(file, how, run)
  core.plain_tables(how == "plain")
  package.loaded["rill.cli"] = { mode = "train", script = "pipelines/dlrm.lua", data = file,
                                 run = how == "store" and run or false, quiet = true,
                                 set = { { "train.epochs", "1" } }, checkpoint_every = 0 }
  local r = assert(loadfile("pipelines/dlrm.lua"))()
  package.loaded["rill.cli"] = nil
  core.plain_tables(false)
  return r
end

-- the store's overhead with every row in RAM, on the DLRM benchmark
local function all_in_ram(out)
  local dfile = "data/bench-1000000.tsv"
  if not exists(dfile) then core.gen_criteo{ rows = 1000000, seed = 11, out = dfile } end
  local speeds = {}
  for _, how in ipairs{ "plain", "ram", "store" } do
    io.stderr:write(string.format("DLRM with %s tables...\n", how))
    speeds[how] = dlrm(dfile, how, "runs/bench-store-dlrm").examples_per_s
  end
  core.remove_tree("runs/bench-store-dlrm")
  out[#out + 1] = string.format("  DLRM (rill bench dlrm's model, 1 epoch): plain arrays %s examples/s, RAM tables %s, store %s",
                                commas(speeds.plain), commas(speeds.ram), commas(speeds.store))
  local d = 100 * (speeds.store / speeds.plain - 1)
  out[#out + 1] = string.format("  store against plain arrays: %.1f%% %s (target: at most 10%% slower); against RAM tables: %.1f%%",
                                math.abs(d), d >= 0 and "faster" or "slower", 100 * (speeds.store / speeds.ram - 1))
end

return function(o)
  local ids = math.tointeger(tonumber(o.ids or "20000000"))
  local rows = math.tointeger(tonumber(o.rows or "10000000"))
  if not ids or ids < 1000 or not rows or rows < 10000 then
    error("--ids and --rows: whole numbers (at least 1000 and 10000)", 0)
  end
  local limit = size_arg(o.limit or "1.25GiB", "limit")
  -- 256 MiB: with LMDB's write buffer (up to 512 MiB) and a checkpoint's copy, 640 MiB did not fit
  local cache = size_arg(o.cache or "256MiB", "cache")
  core.mkdir("data")
  core.mkdir("runs")
  local file = string.format("data/bench-store-%d-%d.tsv", rows, ids)
  if not exists(file) then
    io.stderr:write(string.format("generating %s rows of Zipf(1.05) ids over %s into %s\n",
                                  commas(rows), commas(ids), file))
    core.gen_zipf{ rows = rows, ids = ids, exponent = 1.05, seed = 3, out = file }
  end
  local out = setmetatable({}, { __newindex = function(t, k, v)
    rawset(t, k, v)
    io.stdout:write(v, "\n") -- as it comes: a long benchmark's parts are not lost
    io.stdout:flush()
  end })
  if o.prefetch and o.prefetch ~= "yes" and o.prefetch ~= "no" and o.prefetch ~= "auto" then
    error("--prefetch: yes, no or auto, not '" .. tostring(o.prefetch) .. "'", 0)
  end
  local prefetch = ({ yes = true, no = false })[o.prefetch or "auto"] -- nil: "auto"
  out[1] = string.format("rill bench store on %s: %s rows of dim 64 + row-wise Adagrad (%s in the store), %s examples of Zipf(1.05) ids, batch 4096, 2 threads, row cache %s, a checkpoint every 1000 steps, prefetch %s",
                         cpu_name(), commas(ids), gib(ids * 65 * 4), commas(rows), gib(cache),
                         o.prefetch or "auto")
  local layout = o.layout or "both"
  if layout ~= "both" and layout ~= "generations" and layout ~= "rows" then
    error("--layout: generations, rows or both, not '" .. layout .. "'", 0)
  end
  local g, r = {}, {}
  if layout ~= "rows" then
    g.u, g.l = larger_than_memory(out, file, ids, rows, cache, limit, prefetch, true)
  end
  if layout ~= "generations" then
    r.u, r.l = larger_than_memory(out, file, ids, rows, cache, limit, prefetch, false)
  end
  if g.l and r.l then
    out[#out + 1] = string.format("generations against rows in place: limited %s against %s examples/s (%.2fx), unlimited %s against %s (%.2fx); disk writes per checkpoint %s against %s",
                                  commas(g.l.with_ckpt), commas(r.l.with_ckpt), g.l.with_ckpt / r.l.with_ckpt,
                                  commas(g.u.with_ckpt), commas(r.u.with_ckpt), g.u.with_ckpt / r.u.with_ckpt,
                                  gib(g.l.periodic_disk / g.l.periodic), gib(r.l.periodic_disk / r.l.periodic))
  end
  if o.dlrm ~= "no" then all_in_ram(out) end
  return 0
end
