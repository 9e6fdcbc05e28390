-- DeepFM on Avazu's CSV layout (the built-in schema: id skipped, click the label, the other
-- 22 columns categorical). The sample in ../shared/data has 9,999 rows of one hour.
--   bin/rill train pipelines/avazu.lua --data ../shared/data/avazu/avazu_train_head9999.csv
local rill = require "rill"

local cfg = rill.config{
  data = "../shared/data/avazu/avazu_train_head9999.csv",
  valid = 0.1,
  embed = { dim = 16, buckets = 262144, lr = 0.01 },
  deep = { width = 256 },
  train = { epochs = 2, batch = 512, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.avazu{ path = cfg.data, valid = cfg.valid }
local g = rill.graph(data)
local rows = rill.lazy_adam{ lr = cfg.embed.lr }

local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local emb = g:embed{ ids, dim = cfg.embed.dim, optim = rows, name = "emb" }
local w1 = g:embed{ ids, dim = 1, optim = rows, name = "first_order" }
local linear = g:tower{ w1, sizes = {}, name = "linear" }
local fm = g:interact_fm{ emb, name = "fm" }
local w = cfg.deep.width
local deep = g:mlp{ emb, sizes = { w, w // 2 }, name = "deep" }
local deep_logit = g:tower{ deep, sizes = {}, name = "deep_head" }
g:loss_bce{ g:add{ linear, fm, deep_logit, name = "logit" }, name = "click" }

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
