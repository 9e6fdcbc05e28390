-- DIN (Zhou et al., "Deep Interest Network for Click-Through Rate Prediction", KDD 2018): the
-- user's interest in a candidate is the sum of their behaviours weighted by an activation
-- unit, a small MLP over [behaviour, target, behaviour - target, behaviour * target]. The
-- target item and the earlier items share one table (embed_seq); the interest, the target and
-- the categories go through an MLP. Examples come from rill prep sequences:
--   bin/rill prep sequences --log ../shared/data/amazon_grocery_seq/train.csv \
--       --items ../shared/data/amazon_grocery_seq/item_meta.csv --out data/grocery
--   bin/rill train pipelines/din.lua
-- (pipelines/tim.lua holds the same model as --set model=din, beside TIM and a pooled baseline.)
local rill = require "rill"

local cfg = rill.config{
  data = "data/grocery.train.tsv",
  valid_path = "data/grocery.valid.tsv",
  schema = "pipelines/schemas/sequence_examples.yaml",
  embed = { dim = 18, buckets = 65536, lr = 0.05 },
  seq = { length = 50 },
  attention = { hidden = 80 },    -- the activation unit: hidden, then hidden / 2 units
  mlp = { width = 200 },
  train = { epochs = 2, batch = 256, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.csv{ path = cfg.data, valid_path = cfg.valid_path, schema = cfg.schema }
local g = rill.graph(data)
local rows = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 }

local items = g:encode_hash{ fields = { "item", "hist_items" }, buckets = cfg.embed.buckets,
                             shared = true, missing = "none", name = "items" }
local seq = g:embed_seq{ items, dim = cfg.embed.dim, target = "item", sequence = "hist_items",
                         length = cfg.seq.length, optim = rows, name = "seq" }
local interest = g:din{ seq, sizes = { cfg.attention.hidden, cfg.attention.hidden // 2 },
                        with_target = true, name = "din" }
local cats = g:encode_hash{ fields = { "item_cat", "hist_cats" }, buckets = 1024, shared = true,
                            missing = "none", name = "cats" }
local cat_emb = g:embed{ cats, dim = cfg.embed.dim, pooling = "mean", optim = rows, name = "cat_emb" }
local hidden = g:mlp{ interest, cat_emb, sizes = { cfg.mlp.width, cfg.mlp.width * 2 // 5 }, name = "mlp" }
g:loss_bce{ g:tower{ hidden, sizes = {}, name = "head" }, name = "click" }

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
