-- The MNSE sweep of pipelines/sweeps/mnse.lua on ../shared/data/criteo/criteo_merged.tsv
-- (14,549 real rows, not in this repository).
--   bin/rill sweep pipelines/sweeps/mnse_criteo.lua
return assert(loadfile("pipelines/sweeps/mnse.lua"))("criteo")
