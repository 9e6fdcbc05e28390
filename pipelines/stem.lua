-- STEM (Su et al., "STEM: Unleashing the Power of Embeddings for Multi-task Recommendation",
-- AAAI 2024) on Census-Income's two tasks: a shared embedding set and one set per task, an
-- expert on each, and per task a softmax gate over all the experts: its own and the shared
-- ones as they are, the other tasks' through stop_gradient ("All Forward, Task-specific
-- Backward"), so each task's loss trains only its own embeddings and experts and the shared
-- ones. Then a tower and a loss per task. STEM-AL, for an auxiliary task: --set
-- aux=never_married makes that task's tower see only its own expert, while the main task's
-- gate mixes every expert, the auxiliary one through stop_gradient. Its data is gzipped:
--   zcat ../shared/data/census_income_mtl/census-income.test.gz > data/census-income.csv
--   bin/rill train pipelines/stem.lua --data data/census-income.csv
local rill = require "rill"

local cfg = rill.config{
  data = "data/census-income.csv",
  schema = "pipelines/schemas/census_income.yaml",
  valid = 0.2,
  aux = "",                       -- STEM-AL: the auxiliary task ("income" or "never_married")
  embed = { dim = 8, buckets = 4096, lr = 0.05 },
  experts = { width = 64 },
  tower = { width = 32 },
  train = { epochs = 4, batch = 512, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.csv{ path = cfg.data, schema = cfg.schema, valid = cfg.valid, split = "hash" }
local g = rill.graph(data)
local rows = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 }
local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local nums = g:encode_log{ fields = data.numeric, name = "nums" }
local w = cfg.experts.width
local tasks = { { "income", "income_50k" }, { "never_married", "marital_stat" } }

-- an embedding set and an expert on it: "shared", and one per task
local function expert(name)
  local emb = g:embed{ ids, dim = cfg.embed.dim, optim = rows, name = name .. "_emb" }
  return g:mlp{ g:interact_concat{ emb, nums, name = name .. "_x" }, sizes = { w, w },
                name = name .. "_expert" }
end
local shared = expert("shared")
local own = {}
for i, t in ipairs(tasks) do own[i] = expert(t[1]) end

local aux = nil
for i, t in ipairs(tasks) do if t[1] == cfg.aux then aux = i end end
if cfg.aux ~= "" and not aux then
  error(string.format("aux: no task %q (tasks: income, never_married)", cfg.aux))
end

for i, t in ipairs(tasks) do
  local mixed = own[i] -- STEM-AL: an auxiliary task's tower sees only its own expert
  if i ~= aux then
    local inputs = { shared, name = t[1] .. "_gate" } -- the gate's input, then the experts
    inputs[#inputs + 1] = shared
    for k, e in ipairs(own) do
      inputs[#inputs + 1] = k == i and e or g:stop_gradient{ e, name = t[1] .. "_sees_" .. tasks[k][1] }
    end
    mixed = g:gate(inputs)
  end
  local logit = g:tower{ mixed, sizes = { cfg.tower.width }, name = t[1] .. "_tower" }
  g:loss_bce{ logit, label = t[2], name = t[1] }
end

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
