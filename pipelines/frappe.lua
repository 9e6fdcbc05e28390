-- Frappe (context-aware app usage, libfm format as NFM and AFM use it): a factorization
-- machine over its 10 one-hot fields (user, item, daytime, weekday, isweekend, homework,
-- cost, weather, country, city). The sample in ../shared/data lacks the original training
-- split, so this trains on frappe.validation.libfm and validates on frappe.test.libfm.
--   bin/rill train pipelines/frappe.lua
local rill = require "rill"

local cfg = rill.config{
  data = "../shared/data/frappe/frappe.validation.libfm",
  valid_path = "../shared/data/frappe/frappe.test.libfm",
  embed = { dim = 16, buckets = 16384, lr = 0.01 },
  deep = { width = 128 },
  train = { epochs = 10, batch = 256, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.libsvm{ path = cfg.data, valid_path = cfg.valid_path, fields = 10 }
local g = rill.graph(data)
local rows = rill.lazy_adam{ lr = cfg.embed.lr }

local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local emb = g:embed{ ids, dim = cfg.embed.dim, optim = rows, name = "emb" }
local w1 = g:embed{ ids, dim = 1, optim = rows, name = "first_order" }
local linear = g:tower{ w1, sizes = {}, name = "linear" }
local fm = g:interact_fm{ emb, name = "fm" }
g:loss_bce{ g:add{ linear, fm, name = "logit" }, name = "used" }

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
