-- Behaviour sequences, pooled: the baseline that DIN's target attention improves on. The
-- target item and the user's earlier items share one table (and the categories another), so
-- a history is the mean of embeddings in the target's space; the target, the pooled history
-- and their categories go through an MLP. Examples come from rill prep sequences:
--   bin/rill prep sequences --log ../shared/data/amazon_grocery_seq/train.csv \
--       --items ../shared/data/amazon_grocery_seq/item_meta.csv --out data/grocery
--   bin/rill train pipelines/seq_pooled.lua
local rill = require "rill"

local cfg = rill.config{
  data = "data/grocery.train.tsv",
  valid_path = "data/grocery.valid.tsv",
  schema = "pipelines/schemas/sequence_examples.yaml",
  embed = { dim = 18, buckets = 65536, lr = 0.05 },
  mlp = { width = 200 },
  train = { epochs = 2, batch = 256, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.csv{ path = cfg.data, valid_path = cfg.valid_path, schema = cfg.schema }
local g = rill.graph(data)
local rows = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 }

-- one table for items (target and history), one for categories
local items = g:encode_hash{ fields = { "item", "hist_items" }, buckets = cfg.embed.buckets,
                             shared = true, missing = "none", name = "items" }
local cats = g:encode_hash{ fields = { "item_cat", "hist_cats" }, buckets = 1024, shared = true,
                            missing = "none", name = "cats" }
local emb = g:embed{ items, cats, dim = cfg.embed.dim, pooling = "mean", optim = rows, name = "emb" }
local w = cfg.mlp.width
local hidden = g:mlp{ emb, sizes = { w, w * 2 // 5 }, name = "mlp" }
g:loss_bce{ g:tower{ hidden, sizes = {}, name = "head" }, name = "click" }

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
