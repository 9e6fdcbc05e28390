-- rill bench dlrm | dcnv2 | dcnv2-parallel: the throughput benchmark. Trains
-- pipelines/dlrm.lua (embedding dim 16, hashed tables of 2^20 rows per field, bottom MLP
-- 512-256-16, top MLP 512-256-1) or pipelines/dcnv2.lua (3 full-rank cross layers and a deep
-- MLP 400-400-400, stacked or parallel) with batch 2048, Adam for dense and row-wise Adagrad
-- for embeddings, for one epoch on 1,000,000 generated rows, then measures in the same
-- process the bound the step time is held to:
--   GEMM time: every GEMM shape the epoch ran, timed again on its own at the rate OpenBLAS
--     reaches on this machine (same split over the same threads), times its call count;
--   embedding time: the distinct rows the epoch visited, each gathered once in forward and
--     read and written once by the optimizer, at the random-row gather rate measured on a
--     mapping as large as the tables.
-- It prints examples/s (evaluation excluded), peak resident memory, achieved/bound, the
-- loader's rows/s on one core (text and data cache), and where each step's time went: per
-- node, forward and backward (each node's own GEMMs included), the optimizers, the zeroing of
-- gradients and the waits for the loader.

local core = require "rill.core"
local rill = require "rill"

local util = require "rill.util"
local exists = util.exists
local commas = util.commas


return function(o)
  local rows = math.tointeger(tonumber(o.rows or "1000000"))
  if not rows or rows < 10000 then error("--rows: expected a whole number of at least 10000", 0) end
  local data = o.data or string.format("data/bench-%d.tsv", rows)
  local threads = math.tointeger(tonumber(o.threads or "2"))
  if not exists(data) then
    io.stderr:write(string.format("generating %s rows into %s\n", commas(rows), data))
    local dir = data:match("^(.*)/")
    if dir and dir ~= "" then core.mkdir(dir) end
    core.gen_criteo{ rows = rows, seed = 11, out = data }
  end
  local model = o.model or "dlrm"
  local run = o.run or ("runs/bench-" .. model)
  local set = { { "train.epochs", "1" }, { "train.batch", "2048" } }
  local script = "pipelines/dlrm.lua"
  if model == "dcnv2" or model == "dcnv2-parallel" then
    script = "pipelines/dcnv2.lua"
    set[#set + 1] = { "structure", model == "dcnv2" and "stacked" or "parallel" }
  end
  script = o.script or script
  package.loaded["rill.cli"] = {
    mode = "train", script = script, data = data, run = run, profile = true,
    threads = threads, set = set, precision = o.precision,
  }
  local chunk = assert(loadfile(script))
  local r = chunk()
  package.loaded["rill.cli"] = nil
  local rss = core.peak_rss() -- before the measurements below allocate their own memory
  -- the planted model on the same validation rows (the last 10%), when the data is ours
  local truth, first = nil, nil
  if not o.data then truth, first = core.gen_criteo_truth{ rows = rows, seed = 11, from = rows - rows // 10 } end

  -- the loader on one core: the training part parsed from the text, then mapped from the data
  -- cache the training run wrote (or this call writes: its time is open_seconds)
  local function read(cache)
    return rill.data.read(rill.data.criteo{ path = data, valid = 0.1, cache = cache })
  end
  local text, cached = read(false), read(true)
  if not cached.cached then cached = read(true) end

  local steps = r.steps
  local train_s = r.seconds - r.eval_seconds
  local gemm_s, flops, gemm_in_training = core.gemm_replay(20)
  local gemm_ob_s = core.gemm_replay(20, true)
  local visits, total_rows, stride = 0, 0, 0
  for _, t in ipairs(r.tables) do
    visits = visits + t.visits
    total_rows = total_rows + t.rows
    stride = math.max(stride, t.stride)
  end
  local gather = core.bench_gather(total_rows, stride, 20000000)
  -- what the model must hold: each created row at its stride (values and optimizer state), and
  -- the dense block (values, gradients, Adam's two moments)
  local created, table_bytes = 0, 0
  for _, t in ipairs(r.tables) do
    created = created + t.touched
    table_bytes = table_bytes + 4 * t.touched * t.stride
  end
  local dense = r.graph.core:param_count()
  local dense_bytes = 16 * dense
  local state = table_bytes + dense_bytes
  local embed_s = 2 * visits / gather
  local bound = (gemm_s + embed_s) / steps
  local achieved = train_s / steps
  local out = {
    string.format("rill bench %s: %s rows (%s), 1 epoch, batch 2048, %d threads", model, commas(rows), data, threads),
    string.format("  precision        %s", o.precision == "bf16" and
                  string.format("bf16 GEMMs (oneDNN %s), f32 weights, optimizer state and embeddings", core.bf16() or "?")
                  or "fp32"),
    string.format("  training         %s examples/s  (%d steps in %.1f s; evaluation excluded)", commas(r.examples_per_s), steps, train_s),
    string.format("  validation       auc %.4f  logloss %.4f  (%s rows)", r.valid.auc, r.valid.logloss, commas(r.valid.rows)),
    truth and string.format("  planted model    auc %.4f with its true logit, %.4f with its first-order part alone (the most a model without interactions can reach)", truth, first) or "  planted model    (not our generated data: not computed)",
    string.format("  peak resident    %.2f GiB: model state %.2f GiB (tables: %s rows created x their stride, %.2f GiB; dense: %s parameters x 4 for values, gradients and Adam's moments, %.3f GiB) + %.0f MB (target: at most 300 MB)",
                  rss / 2^30, state / 2^30, commas(created), table_bytes / 2^30, commas(dense), dense_bytes / 2^30, (rss - state) / 1e6),
    string.format("  GEMM bound       %.2f GFLOP/step at %.1f GFLOP/s = %.1f ms/step", flops / steps / 1e9, flops / gemm_s / 1e9, 1e3 * gemm_s / steps),
    string.format("  embedding bound  %s distinct rows/step x 2 passes at %.1f M rows/s = %.2f ms/step", commas(visits / steps), gather / 1e6, 1e3 * embed_s / steps),
    string.format("  bound            %.1f ms/step = %s examples/s", 1e3 * bound, commas(2048 / bound)),
    string.format("  GEMMs in training %.1f ms/step (%.1f GFLOP/s); everything else %.1f ms/step",
                  1e3 * gemm_in_training / steps, flops / gemm_in_training / 1e9, 1e3 * (train_s - gemm_in_training) / steps),
    string.format("  OpenBLAS threads %.1f GFLOP/s at the same shapes with OpenBLAS's own %d threads: bound %.1f ms/step = %s examples/s",
                  flops / gemm_ob_s / 1e9, threads, 1e3 * (gemm_ob_s + embed_s) / steps, commas(2048 * steps / (gemm_ob_s + embed_s))),
    string.format("  loader (1 core)  text %s rows/s (%.0f%% CPU); data cache %s rows/s (%.0f%% CPU) = %.1fx the training speed (target: at least 3x)",
                  commas(text.rows_per_s), 100 * text.cpu_seconds / text.seconds, commas(cached.rows_per_s),
                  100 * cached.cpu_seconds / cached.seconds, cached.rows_per_s / r.examples_per_s),
    string.format("  achieved         %.1f ms/step: %.0f%% of the bound with the pool's split, %.0f%% with OpenBLAS's threads (target: at least 85%%)",
                  1e3 * achieved, 100 * bound / achieved, 100 * (gemm_ob_s + embed_s) / steps / achieved),
  }
  -- where the step went (each node's time includes its GEMMs)
  local p, ms = r.profile, function(x) return 1e3 * x / steps end
  local counted = p.update + p.zero + p.loader
  out[#out + 1] = "  per step (ms; a node's time includes its GEMMs)"
  for _, n in ipairs(p.nodes) do
    counted = counted + n.fwd + n.bwd
    out[#out + 1] = string.format("    %-12s %-16s forward %6.2f  backward %6.2f", n.name, n.kind, ms(n.fwd), ms(n.bwd))
  end
  out[#out + 1] = string.format("    optimizers %.2f, gradient zeroing %.2f, waiting for the loader %.2f (%.1f%% of the step), the rest %.2f",
                                ms(p.update), ms(p.zero), ms(p.loader), 100 * p.loader / train_s, ms(train_s - counted))
  print(table.concat(out, "\n"))
  return 0
end
