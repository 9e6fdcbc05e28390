-- DeepFM (Guo et al., 2017): a first-order linear part, the factorization machine's
-- pairwise term over the field embeddings, and a deep MLP over the same embeddings, summed
-- into one logit.
--   bin/rill train pipelines/deepfm.lua --data data/sample.tsv
local rill = require "rill"

local cfg = rill.config{
  data = "data/sample.tsv",
  valid = 0.1,
  embed = { dim = 16, buckets = 1048576, lr = 0.01 },
  deep = { width = 400 },
  train = { epochs = 2, batch = 2048, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.criteo{ path = cfg.data, valid = cfg.valid }
local g = rill.graph(data)
-- lazy Adam on the rows: the FM term learns far faster with it than with row-wise Adagrad here
local rows = rill.lazy_adam{ lr = cfg.embed.lr }

local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local emb = g:embed{ ids, dim = cfg.embed.dim, optim = rows, name = "emb" }
local counts = g:encode_log{ fields = data.numeric, name = "counts" }

-- first order: one weight per id (a dim-1 embedding) and per count, summed linearly
local w1 = g:embed{ ids, dim = 1, optim = rows, name = "first_order" }
local linear = g:tower{ w1, counts, sizes = {}, name = "linear" }
-- second order: the FM term over the shared embeddings
local fm = g:interact_fm{ emb, name = "fm" }
-- deep part over the same embeddings
local w = cfg.deep.width
local deep = g:mlp{ emb, counts, sizes = { w, w, w }, name = "deep" }
local deep_logit = g:tower{ deep, sizes = {}, name = "deep_head" }

local logit = g:add{ linear, fm, deep_logit, name = "logit" }
g:loss_bce{ logit, name = "click" }

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
