-- PLE (Tang et al., "Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL)
-- Model for Personalized Recommendations", RecSys 2020) on Census-Income's two tasks. Each
-- extraction level (a CGC) has shared experts and experts of each task; a task's gate mixes
-- its own and the shared experts only; below the last level a shared gate mixes all of them
-- and feeds the next level's shared experts, each task's mixture its own experts. levels = 1
-- is CGC alone. Then a tower and a loss per task. Its data is gzipped:
--   zcat ../shared/data/census_income_mtl/census-income.test.gz > data/census-income.csv
--   bin/rill train pipelines/ple.lua --data data/census-income.csv
local rill = require "rill"

local cfg = rill.config{
  data = "data/census-income.csv",
  schema = "pipelines/schemas/census_income.yaml",
  valid = 0.2,
  levels = 2,
  experts = { shared = 2, per_task = 1, width = 64 },
  embed = { dim = 8, buckets = 4096, lr = 0.05 },
  tower = { width = 32 },
  train = { epochs = 4, batch = 512, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.csv{ path = cfg.data, schema = cfg.schema, valid = cfg.valid, split = "hash" }
local g = rill.graph(data)
local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local emb = g:embed{ ids, dim = cfg.embed.dim, name = "emb",
                     optim = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 } }
local nums = g:encode_log{ fields = data.numeric, name = "nums" }
local x = g:interact_concat{ emb, nums, name = "x" }
local w = cfg.experts.width
local tasks = { { "income", "income_50k" }, { "never_married", "marital_stat" } }
if cfg.levels < 1 then error(string.format("levels must be 1 or more, got %s", tostring(cfg.levels))) end

-- inputs of the level: the shared one and one per task (all x at the first level)
local shared_in, task_in = x, {}
for i = 1, #tasks do task_in[i] = x end
for level = 1, cfg.levels do
  local shared, own = {}, {}
  for e = 1, cfg.experts.shared do
    shared[e] = g:mlp{ shared_in, sizes = { w, w }, name = string.format("l%d_shared%d", level, e) }
  end
  for i, t in ipairs(tasks) do
    own[i] = {}
    for e = 1, cfg.experts.per_task do
      own[i][e] = g:mlp{ task_in[i], sizes = { w, w }, name = string.format("l%d_%s%d", level, t[1], e) }
    end
  end
  local next_task = {}
  for i, t in ipairs(tasks) do
    local inputs = { task_in[i], name = string.format("l%d_%s_gate", level, t[1]) }
    for _, e in ipairs(own[i]) do inputs[#inputs + 1] = e end
    for _, e in ipairs(shared) do inputs[#inputs + 1] = e end
    next_task[i] = g:gate(inputs)
  end
  if level < cfg.levels then
    local inputs = { shared_in, name = string.format("l%d_shared_gate", level) }
    for _, e in ipairs(shared) do inputs[#inputs + 1] = e end
    for i = 1, #tasks do for _, e in ipairs(own[i]) do inputs[#inputs + 1] = e end end
    shared_in = g:gate(inputs)
  end
  task_in = next_task
end

for i, t in ipairs(tasks) do
  local logit = g:tower{ task_in[i], sizes = { cfg.tower.width }, name = t[1] .. "_tower" }
  g:loss_bce{ logit, label = t[2], name = t[1] }
end

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
