-- CEL against the full table and against plain hashing to as many rows as CEL has clusters
-- (Chen et al., "Clustered Embedding Learning for Recommender Systems"), on generator data
-- whose four largest fields carry a planted cluster structure (64 clusters):
--   bin/rill gen criteo --rows 300000 --seed 3 --max-cardinality 1000000 --entity-clusters 64 --out data/cel-300k.tsv
--   bin/rill sweep pipelines/sweeps/cel.lua
local variants = {
  { name = "full table", set = { ["cel.kind"] = "full" } },
}
for _, k in ipairs{ 64, 128 } do
  variants[#variants + 1] = { name = string.format("hash K=%d", k),
                              set = { ["cel.kind"] = "hash", ["cel.clusters"] = k } }
  variants[#variants + 1] = { name = string.format("cel K=%d split only", k),
                              set = { ["cel.kind"] = "cel", ["cel.clusters"] = k, ["cel.reassign_every"] = 0 } }
  variants[#variants + 1] = { name = string.format("cel K=%d split+reassign", k),
                              set = { ["cel.kind"] = "cel", ["cel.clusters"] = k, ["cel.reassign_every"] = 200 } }
end
return {
  title = "CEL against the full table and plain hashing (generator data with planted clusters)",
  description = "pipelines/cel.lua: DLRM (bottom 256-128-16, top 256-128-1) whose entity fields C3 and C21 "
    .. "get a full table (4,194,304 hashed rows), plain hashing into K rows, or CEL with a budget of K "
    .. "clusters (a split every 5 steps, reassignment every 200 steps or none, min_examples 4); the other "
    .. "fields share 262,144 hashed rows each. Two epochs, batch 512, over 270,000 training rows of "
    .. "`data/cel-300k.tsv`, validation on the last 30,000. Frequency buckets: how often the example's "
    .. "C3 value occurs in the training part (counted in the data, the same for every variant); "
    .. "0-1 is the cold bucket.",
  base = "pipelines/cel.lua",
  data = "data/cel-300k.tsv",
  set = { ["train.epochs"] = 2, ["train.batch"] = 512, ["mlp.bottom"] = 256, ["mlp.top"] = 256,
          ["embed.buckets"] = 262144, ["cel.split_every"] = 5 },
  variants = variants,
  seeds = { 1, 2, 3 },
  frequency = { field = "C3", bounds = { 2, 10 }, count_in = "data" },
  out = "docs/results/cel",
  parallel = 2,
}
