-- Logistic regression: one weight per categorical id and per log count, no interactions.
-- The baseline the interaction models are measured against.
--   bin/rill train pipelines/lr.lua --data data/sample.tsv
local rill = require "rill"

local cfg = rill.config{
  data = "data/sample.tsv",
  valid = 0.1,
  embed = { buckets = 1048576, lr = 0.5 },
  train = { epochs = 2, batch = 2048, lr = 0.01, seed = 1, threads = 0 },
}

local data = rill.data.criteo{ path = cfg.data, valid = cfg.valid }
local g = rill.graph(data)
local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local w = g:embed{ ids, dim = 1, name = "weights",
                   optim = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 } }
local counts = g:encode_log{ fields = data.numeric, name = "counts" }
local logit = g:tower{ w, counts, sizes = {}, name = "linear" }
g:loss_bce{ logit, name = "click" }

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
