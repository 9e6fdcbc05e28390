-- UCI Census-Income (KDD) with its two tasks, the MMoE paper's benchmark: income over 50k and
-- never married. A shared-bottom model: the categorical columns embedded and the numeric ones
-- log-transformed, one shared MLP, one tower and one loss per task; each task's AUC and
-- logloss are reported. The sample in ../shared/data has the official test split only:
--   zcat ../shared/data/census_income_mtl/census-income.test.gz > data/census-income.csv
--   bin/rill train pipelines/census.lua --data data/census-income.csv
local rill = require "rill"

local cfg = rill.config{
  data = "data/census-income.csv",
  schema = "pipelines/schemas/census_income.yaml",
  valid = 0.2,
  embed = { dim = 8, buckets = 4096, lr = 0.05 },
  shared = { width = 128 },
  tower = { width = 32 },
  train = { epochs = 4, batch = 512, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.csv{ path = cfg.data, schema = cfg.schema, valid = cfg.valid, split = "hash" }
local g = rill.graph(data)

local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local emb = g:embed{ ids, dim = cfg.embed.dim, name = "emb",
                     optim = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 } }
local nums = g:encode_log{ fields = data.numeric, name = "nums" }
local shared = g:mlp{ emb, nums, sizes = { cfg.shared.width, cfg.shared.width // 2 }, name = "shared" }
for _, task in ipairs{ { "income", "income_50k" }, { "never_married", "marital_stat" } } do
  local logit = g:tower{ shared, sizes = { cfg.tower.width }, name = task[1] .. "_tower" }
  g:loss_bce{ logit, label = task[2], name = task[1] }
end

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
