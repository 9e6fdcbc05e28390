-- MovieLens 100K as click-through data: did the user like the movie (rating >= 4)? The
-- schema pipelines/schemas/movielens_100k.yaml reads u.data; examples are grouped by user, so
-- evaluation reports grouped AUC (GAUC) beside AUC. A DLRM over the two ids: their
-- embeddings' dot product and the embeddings themselves into a small top MLP.
--   bin/rill train pipelines/movielens.lua --data ../shared/data/movielens_100k/u.data
local rill = require "rill"

local cfg = rill.config{
  data = "../shared/data/movielens_100k/u.data",
  schema = "pipelines/schemas/movielens_100k.yaml",
  valid = 0.2,                    -- u.data is not in time order: a seeded hash picks the rows
  embed = { dim = 16, buckets = 65536, lr = 0.05 },
  mlp = { top = 64 },
  train = { epochs = 4, batch = 256, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.csv{ path = cfg.data, schema = cfg.schema, valid = cfg.valid, split = "hash" }
local g = rill.graph(data)

local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local emb = g:embed{ ids, dim = cfg.embed.dim, name = "emb",
                     optim = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 } }
local z = g:interact_dot{ emb, passthrough = false, name = "dot" }
local flat = g:interact_concat{ emb, z, name = "flat" }
local logit = g:tower{ flat, sizes = { cfg.mlp.top, cfg.mlp.top // 2 }, name = "top" }
g:loss_bce{ logit, name = "liked" }

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
