-- The Temporal Interest Module against DIN and a pooled history on the Amazon Grocery sample
-- (../shared/data/amazon_grocery_seq, not in this repository), AUC and GAUC per user:
--   bin/rill prep sequences --log ../shared/data/amazon_grocery_seq/train.csv \
--       --items ../shared/data/amazon_grocery_seq/item_meta.csv --out data/grocery
--   bin/rill sweep pipelines/sweeps/sequences.lua
return {
  title = "TIM against DIN and a pooled history (Amazon Grocery)",
  description = "pipelines/tim.lua: the target item and the history share one table (dim 18); `tim`: "
    .. "the Temporal Interest Module's interest and the target, `din`: DIN's "
    .. "attention-weighted sum (activation unit 80-40) and the target, `pooled`: the target and the "
    .. "history's mean; with the categories (target, history mean) into a 200-80 MLP. Two epochs "
    .. "over the 185,060 training examples of `rill prep sequences` (one sampled negative per "
    .. "positive, histories of at most 50), validation on each user's last interaction (29,362).",
  base = "pipelines/tim.lua",
  data = "data/grocery.train.tsv",
  set = { valid_path = "data/grocery.valid.tsv" },
  variants = {
    { name = "pooled", set = { model = "pooled" } },
    { name = "din", set = { model = "din" } },
    { name = "tim", set = { model = "tim" } },
  },
  seeds = { 1, 2, 3 },
  frequency = false,
  out = "docs/results/sequences",
  parallel = 2,
}
