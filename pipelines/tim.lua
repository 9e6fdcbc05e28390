-- The Temporal Interest Module (Zhou et al., "Temporal Interest Network for User Response
-- Prediction", WWW 2024) over the user's behaviour sequence: the target item and the earlier
-- items share one table (embed_seq); each behaviour and the target get an embedding of their
-- position relative to the target added, attention is the softmax of their scaled dot
-- products, and the interest is the weighted sum of the behaviours' products with the target.
-- The interest, the target's embedding and the categories (target, and the history's mean)
-- go through an MLP. `--set model=pooled` is the baseline that target attention improves
-- on: the history mean-pooled in the target's embedding space, no attention.
-- Examples come from rill prep sequences:
--   bin/rill prep sequences --log ../shared/data/amazon_grocery_seq/train.csv \
--       --items ../shared/data/amazon_grocery_seq/item_meta.csv --out data/grocery
--   bin/rill train pipelines/tim.lua
local rill = require "rill"

local cfg = rill.config{
  data = "data/grocery.train.tsv",
  valid_path = "data/grocery.valid.tsv",
  schema = "pipelines/schemas/sequence_examples.yaml",
  model = "tim",                  -- "tim"; "din" (DIN's attention, as pipelines/din.lua); or
                                  -- "pooled" (the history's mean, no attention)
  embed = { dim = 18, buckets = 65536, lr = 0.05 },
  seq = { length = 50 },
  mlp = { width = 200 },
  train = { epochs = 2, batch = 256, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.csv{ path = cfg.data, valid_path = cfg.valid_path, schema = cfg.schema }
local g = rill.graph(data)
local rows = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 }

local items = g:encode_hash{ fields = { "item", "hist_items" }, buckets = cfg.embed.buckets,
                             shared = true, missing = "none", name = "items" }
local cats = g:encode_hash{ fields = { "item_cat", "hist_cats" }, buckets = 1024, shared = true,
                            missing = "none", name = "cats" }
local cat_emb = g:embed{ cats, dim = cfg.embed.dim, pooling = "mean", optim = rows, name = "cat_emb" }
local user_side
if cfg.model == "tim" then
  local seq = g:embed_seq{ items, dim = cfg.embed.dim, target = "item", sequence = "hist_items",
                           length = cfg.seq.length, optim = rows, name = "seq" }
  user_side = g:tim{ seq, with_target = true, name = "tim" } -- the interest and the target
elseif cfg.model == "din" then
  local seq = g:embed_seq{ items, dim = cfg.embed.dim, target = "item", sequence = "hist_items",
                           length = cfg.seq.length, optim = rows, name = "seq" }
  user_side = g:din{ seq, sizes = { 80, 40 }, with_target = true, name = "din" }
elseif cfg.model == "pooled" then
  user_side = g:embed{ items, dim = cfg.embed.dim, pooling = "mean", optim = rows, name = "item_emb" }
else
  error(string.format("model must be \"tim\", \"din\" or \"pooled\", got %q", tostring(cfg.model)))
end
local w = cfg.mlp.width
local hidden = g:mlp{ user_side, cat_emb, sizes = { w, w * 2 // 5 }, name = "mlp" }
g:loss_bce{ g:tower{ hidden, sizes = {}, name = "head" }, name = "click" }

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
