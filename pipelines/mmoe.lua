-- MMoE (Ma et al., "Modeling Task Relationships in Multi-task Learning with Multi-gate
-- Mixture-of-Experts", KDD 2018) on Census-Income's two tasks, the paper's benchmark: shared
-- experts (MLPs over the embedded and log-transformed columns), one softmax gate per task
-- over them, one tower and loss per task. `--set model=shared` is the shared-bottom baseline
-- (pipelines/census.lua). Its data is gzipped:
--   zcat ../shared/data/census_income_mtl/census-income.test.gz > data/census-income.csv
--   bin/rill train pipelines/mmoe.lua --data data/census-income.csv
local rill = require "rill"

local cfg = rill.config{
  data = "data/census-income.csv",
  schema = "pipelines/schemas/census_income.yaml",
  valid = 0.2,
  model = "mmoe",                 -- "mmoe" or "shared" (one shared MLP for both tasks)
  embed = { dim = 8, buckets = 4096, lr = 0.05 },
  experts = { count = 4, width = 64 },
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
local per_task = {}
if cfg.model == "mmoe" then
  local experts = {}
  for e = 1, cfg.experts.count do
    experts[e] = g:mlp{ x, sizes = { w, w }, name = "expert" .. e }
  end
  for i, t in ipairs(tasks) do
    local inputs = { x, name = t[1] .. "_gate" } -- the gate's input, then the experts
    for _, e in ipairs(experts) do inputs[#inputs + 1] = e end
    per_task[i] = g:gate(inputs)
  end
elseif cfg.model == "shared" then
  local shared = g:mlp{ x, sizes = { w * 2, w }, name = "shared" }
  for i = 1, #tasks do per_task[i] = shared end
else
  error(string.format("model must be \"mmoe\" or \"shared\", got %q", tostring(cfg.model)))
end
for i, t in ipairs(tasks) do
  local logit = g:tower{ per_task[i], sizes = { cfg.tower.width }, name = t[1] .. "_tower" }
  g:loss_bce{ logit, label = t[2], name = t[1] }
end

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
