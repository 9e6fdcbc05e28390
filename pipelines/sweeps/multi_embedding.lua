-- Multi-embedding against single-embedding DCNv2 at equal embedding parameter count (Guo et
-- al., "On the Embedding Collapse when Scaling up Recommendation Models", ICML 2024): a single
-- embedding of dim M*8 against M sets of dim 8, each with its own cross network, averaged.
-- Each run is also analysed with rill analyze spectrum (information abundance per field over
-- the rows trained in 10 steps or more; a multi-embedding field's sets read jointly, M*8
-- wide like the single embedding).
--   bin/rill gen criteo --rows 300000 --seed 1 --out data/sample.tsv   (make demo makes it)
--   bin/rill sweep pipelines/sweeps/multi_embedding.lua
local variants = { { name = "single d=8", set = { ["embed.dim"] = 8, ["embed.sets"] = 1 } } }
for _, m in ipairs{ 2, 4, 8 } do
  variants[#variants + 1] = { name = string.format("single d=%d", 8 * m),
                              set = { ["embed.dim"] = 8 * m, ["embed.sets"] = 1 } }
  variants[#variants + 1] = { name = string.format("multi %dx8", m),
                              set = { ["embed.dim"] = 8, ["embed.sets"] = m } }
end
-- Averaging M sets divides each set's row gradients by M; row-wise Adagrad with a small
-- initial accumulator then steps M times shorter. These variants give the rows M times the
-- learning rate to undo that.
for _, m in ipairs{ 2, 4, 8 } do
  variants[#variants + 1] = { name = string.format("multi %dx8 lr x%d", m, m),
                              set = { ["embed.dim"] = 8, ["embed.sets"] = m, ["embed.lr"] = 0.1 * m } }
end
return {
  title = "Multi-embedding against single-embedding DCNv2 (generator data)",
  description = "pipelines/dcnv2.lua: embeddings and log counts into a full-rank cross network of 3 "
    .. "layers, then a 400-400-400 MLP; in the multi-embedding form each set has its own cross "
    .. "network and the sets' outputs are averaged before the MLP. 2^20 hashed rows per field, "
    .. "row-wise Adagrad. One epoch over 270,000 training rows of `data/sample.tsv`, validation on "
    .. "the last 30,000. Pairs with equal embedding parameters: single d=16 / multi 2x8, d=32 / 4x8, "
    .. "d=64 / 8x8; the `lr xM` variants give the sets' rows M times the learning rate (0.1). "
    .. "Frequency buckets: how often the example's C3 value occurs in the training part.",
  base = "pipelines/dcnv2.lua",
  data = "data/sample.tsv",
  set = { ["train.epochs"] = 1 },
  variants = variants,
  seeds = { 1, 2, 3 },
  frequency = { field = "C3", bounds = { 2, 10 }, count_in = "data" },
  spectrum = { min_count = 10 }, -- rarely trained rows keep their isotropic random start
  out = "docs/results/multi_embedding",
  parallel = 2,
}
