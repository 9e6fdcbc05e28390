-- MNSE against log bucketing and the plain log transform for DLRM's 13 counts ("Ads
-- Recommendation in a Collapsed and Entangled World", KDD 2024: Multiple Numeral Systems
-- Encoding), on the generator's data (pipelines/sweeps/mnse_criteo.lua: the Criteo sample).
--   bin/rill gen criteo --rows 300000 --seed 1 --out data/sample.tsv   (make demo makes it)
--   bin/rill sweep pipelines/sweeps/mnse.lua
local criteo = ... == "criteo"
return {
  title = criteo and "MNSE against log bucketing for the counts (Criteo sample)"
    or "MNSE against log bucketing for the counts (generator data)",
  description = "pipelines/dlrm.lua with its counts as `log`: log(1 + x) into the bottom MLP "
    .. "(256-128-16), `bucket`: encode_bucket's log-squared buckets embedded (dim 16), or `mnse`: "
    .. "encode_mnse of round(100 ln(1 + x)) in bases 2, 3, 5, 10 (dim 4 each, 16 in all); "
    .. "either of the last two enters the dot interaction as 13 more fields. "
    .. (criteo and "Two epochs over the first 13,094 rows of criteo_merged.tsv, validation on the last "
                   .. "1,455; 65,536 hashed rows per field."
              or "One epoch over 270,000 training rows of `data/sample.tsv`, validation on the last 30,000."),
  base = "pipelines/dlrm.lua",
  data = criteo and "../shared/data/criteo/criteo_merged.tsv" or "data/sample.tsv",
  set = criteo and { ["train.epochs"] = 2, ["mlp.bottom"] = 256, ["mlp.top"] = 256,
                     ["embed.buckets"] = 65536, ["train.batch"] = 512 }
             or { ["train.epochs"] = 1, ["mlp.bottom"] = 256, ["mlp.top"] = 256 },
  variants = {
    { name = "log", set = { numeric = "log" } },
    { name = "bucket", set = { numeric = "bucket" } },
    { name = "mnse", set = { numeric = "mnse" } },
  },
  seeds = criteo and { 1, 2, 3, 4, 5 } or { 1, 2, 3 },
  out = criteo and "docs/results/mnse_criteo" or "docs/results/mnse",
  parallel = 2,
}
