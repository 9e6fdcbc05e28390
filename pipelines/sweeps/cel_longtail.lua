-- The CEL sweep of pipelines/sweeps/cel.lua on long-tailed data: 1,000,000 distinct values
-- at most per field, the same 64 planted clusters.
--   bin/rill gen criteo --rows 300000 --seed 3 --max-cardinality 1000000 --entity-clusters 64 --out data/cel-300k.tsv
--   bin/rill sweep pipelines/sweeps/cel_longtail.lua
return assert(loadfile("pipelines/sweeps/cel.lua"))("longtail")
