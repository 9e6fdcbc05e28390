-- rill bench store (make bench-store): the store's benchmark.
--
-- 1. Larger-than-cache training: one table of 20,000,000 rows of dim 64 with row-wise Adagrad
--    (65 floats a row, 5.2 GB), every row created in the store up front, ids Zipf-distributed
--    over all rows (exponent 1.05: 40,000,000 examples touch several million distinct rows,
--    more than the 2.5 million 1/8 of the table holds), a logistic model on top. Trained once with the whole
--    table cached and once with a cache of 1/8 of it: examples/s (checkpoints included, and
--    without them), hit rate, and the checkpoints (every 1000 steps): rows and bytes written
--    and time.
-- 2. All-in-RAM overhead: DLRM of `rill bench dlrm` trained with its tables in a store (no
--    budget, one checkpoint at the end), in RAM tables, and in plain arrays indexed by id.

local rill = require "rill"
local core = rill.core

local util = require "rill.util"
local exists = util.exists
local commas = util.commas


local function gib(b) return string.format("%.2f GiB", b / 2^30) end

local function big_table(file, ids, cache, run)
  local data = rill.data.criteo{ path = file, valid = 0.02 }
  local g = rill.graph(data)
  local id = g:encode_hash{ fields = { "C1" }, buckets = ids, missing = "none", name = "id" }
  local emb = g:embed{ id, dim = 64, prefill = true, name = "emb",
                       optim = rill.rowwise_adagrad{ lr = 0.05, initial_accumulator = 1e-6 } }
  local z = g:tower{ emb, sizes = {}, name = "head" }
  g:loss_bce{ z, name = "click" }
  package.loaded["rill.cli"] = { mode = "train", profile = true, quiet = true }
  local r = rill.train{ graph = g, data = data, epochs = 1, batch = 4096, run = run,
                        cache = cache, checkpoint_every = 1000, threads = 2 }
  package.loaded["rill.cli"] = nil
  local t = r.tables[1]
  r.hit = t.hits / math.max(1, t.hits + t.misses)
  r.row_bytes = t.stride * 4
  r.table_rows = t.rows
  r.evicted, r.spilled, r.cached, r.capacity = t.evicted, t.spilled, t.cached, t.cache_capacity
  r.sealed_reads, r.sealed_bytes = t.sealed_reads, t.sealed_bytes
  r.distinct = t.hits + t.misses - (t.hits) -- misses: rows fetched from the store or created
  r.graph.core = nil
  return r
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

return function(o)
  local ids = math.tointeger(tonumber(o.ids or "20000000"))
  local rows = math.tointeger(tonumber(o.rows or "40000000"))
  if not ids or ids < 1000 or not rows or rows < 10000 then
    error("--ids and --rows: whole numbers (at least 1000 and 10000)", 0)
  end
  core.mkdir("data")
  core.mkdir("runs")
  local file = string.format("data/bench-store-%d-%d.tsv", rows, ids)
  if not exists(file) then
    io.stderr:write(string.format("generating %s rows of Zipf(1.05) ids over %s into %s\n",
                                  commas(rows), commas(ids), file))
    core.gen_zipf{ rows = rows, ids = ids, exponent = 1.05, seed = 3, out = file }
  end
  local row_bytes = 65 * 4
  local table_bytes = ids * row_bytes
  local out = setmetatable({}, { __newindex = function(t, k, v)
    rawset(t, k, v)
    io.stdout:write(v, "\n") -- as it comes: a long benchmark's parts are not lost
    io.stdout:flush()
  end })
  out[1] = (string.format("rill bench store: %s rows of dim 64 + row-wise Adagrad (%s), %s examples of Zipf(1.05) ids, batch 4096, 2 threads",
                              commas(ids), gib(table_bytes), commas(rows)))
  local res = {}
  for _, case in ipairs{ { "all cached", 0 }, { "cache 1/8", table_bytes // 8 } } do
    local run = "runs/bench-store"
    core.remove_tree(run)
    io.stderr:write(string.format("%s: creating the table in the store and training...\n", case[1]))
    local r = big_table(file, ids, case[2], run)
    res[#res + 1] = r
    local per = r.checkpoints > 0 and r.checkpoints or 1
    local train_s = r.seconds - r.eval_seconds
    r.no_ckpt = r.examples / (train_s - (r.checkpoint_seconds_total - r.checkpoint_seconds))
    out[#out + 1] = string.format("  %-11s %s examples/s without the checkpoints' time", case[1], commas(r.no_ckpt))
    out[#out + 1] = string.format("  %-11s %s examples/s, cache hit rate %.1f%%, %s rows read from the store, %s evicted (%s spilled), %s cached at the end%s",
                                  case[1], commas(r.examples_per_s), 100 * r.hit, commas(r.distinct),
                                  commas(r.evicted), commas(r.spilled), commas(r.cached),
                                  r.capacity > 0 and (" of a budget of " .. commas(r.capacity)) or "")
    out[#out + 1] = string.format("  %-11s %d checkpoints: %s rows (%s) written and %.2f s each on average, of %s rows in the table",
                                  "", r.checkpoints, commas(r.checkpoint_rows_total / per),
                                  gib(r.checkpoint_bytes_total / per), r.checkpoint_seconds_total / per,
                                  commas(r.table_rows))
    core.remove_tree(run)
  end
  out[#out + 1] = string.format("  throughput with 1/8 cached: %.0f%% of all cached (%.0f%% without checkpoints; target: at least 50%%)",
                                100 * res[2].examples_per_s / res[1].examples_per_s,
                                100 * res[2].no_ckpt / res[1].no_ckpt)
  -- what the rows' seal checks cost: every row read from the map was checked; their CRC32C,
  -- timed apart on a row of the same size (a run-to-run comparison of two trainings varies by
  -- far more than the few tenths of a percent this is)
  local r2 = res[2]
  local per_row = r2.sealed_reads > 0 and r2.sealed_bytes / r2.sealed_reads or 0
  local ns = core.seal_ns(math.floor(per_row + 0.5))
  local spent = r2.sealed_reads * ns * 1e-9
  local train_s = r2.seconds - r2.eval_seconds
  out[#out + 1] = string.format("  rows' checksums (CRC32C, %s): %s rows of %d bytes checked when read from the store, %.0f ns each, %.2f s = %.2f%% of the 1/8 run's training time (%.2f%% without checkpoints; target: at most 3%%)",
                                core.crc32c_impl(), commas(r2.sealed_reads), math.floor(per_row + 0.5), ns,
                                spent, 100 * spent / train_s,
                                100 * spent / (train_s - (r2.checkpoint_seconds_total - r2.checkpoint_seconds)))
  -- the store's overhead with every row in RAM, on the DLRM benchmark
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
  return 0
end
