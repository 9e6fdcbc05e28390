-- CEL (Chen et al., "Clustered Embedding Learning for Recommender Systems") against the
-- full table and against plain hashing to as many rows as CEL has clusters, on generator data
-- whose four largest fields are entities in 64 planted clusters (their effects are their
-- cluster's), 20,000 distinct values at most per field (pipelines/sweeps/cel_longtail.lua:
-- the same sweep with 1,000,000):
--   bin/rill gen criteo --rows 300000 --seed 3 --max-cardinality 20000 --entity-clusters 64 --out data/cel-20k.tsv
--   bin/rill sweep pipelines/sweeps/cel.lua
local longtail = ... == "longtail"
local data = longtail and "data/cel-300k.tsv" or "data/cel-20k.tsv"
local variants = {
  { name = "full table", set = { ["cel.kind"] = "full" } },
  { name = "hash K=64", set = { ["cel.kind"] = "hash", ["cel.clusters"] = 64 } },
  { name = "hash K=128", set = { ["cel.kind"] = "hash", ["cel.clusters"] = 128 } },
  { name = "cel K=64 split only", set = { ["cel.kind"] = "cel", ["cel.clusters"] = 64, ["cel.reassign_every"] = 0 } },
  { name = "cel K=64 reassign 200/10", set = { ["cel.kind"] = "cel", ["cel.clusters"] = 64,
                                               ["cel.reassign_every"] = 200, ["cel.reassign_window"] = 10 } },
  { name = "cel K=64 reassign 50/50", set = { ["cel.kind"] = "cel", ["cel.clusters"] = 64,
                                              ["cel.reassign_every"] = 50, ["cel.reassign_window"] = 50 } },
  { name = "cel K=128 reassign 50/50", set = { ["cel.kind"] = "cel", ["cel.clusters"] = 128,
                                               ["cel.reassign_every"] = 50, ["cel.reassign_window"] = 50 } },
}
return {
  title = longtail and "CEL against the full table and plain hashing (long tail: 1,000,000 ids per field, 64 planted clusters)"
    or "CEL against the full table and plain hashing (20,000 ids per field, 64 planted clusters)",
  description = string.format("pipelines/cel.lua: DLRM (bottom 256-128-16, top 256-128-1) whose entity fields C3 and C21 "
    .. "get a full table (4,194,304 hashed rows: one per id), plain hashing into K rows, or CEL with a "
    .. "budget of K clusters (a split every 5 steps; reassignment never, or every R steps summing "
    .. "losses over the last W steps, shown as R/W; min_examples 4); the other fields are hashed into 262,144 "
    .. "rows each. Two epochs, batch 512, over 270,000 training rows of `%s`, validation on "
    .. "the last 30,000. Frequency buckets: how often the example's C3 value occurs in the training "
    .. "part (counted in the data, the same for every variant); 0-1 is the cold bucket. Inference "
    .. "table bytes cover all tables (the 24 other fields' too): CEL's entity tables are K x 16 floats "
    .. "plus one number per entity.", data),
  base = "pipelines/cel.lua",
  data = data,
  set = { ["train.epochs"] = 2, ["train.batch"] = 512, ["mlp.bottom"] = 256, ["mlp.top"] = 256,
          ["embed.buckets"] = 262144, ["cel.split_every"] = 5 },
  variants = variants,
  seeds = { 1, 2, 3 },
  frequency = { field = "C3", bounds = { 2, 10 }, count_in = "data" },
  out = longtail and "docs/results/cel_longtail" or "docs/results/cel",
  parallel = 2,
}
