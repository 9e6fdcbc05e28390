-- The MLET sweep on real Criteo rows: ../shared/data/criteo/criteo_merged.tsv (14,549 rows,
-- not in this repository; the sweep needs that file).
--   bin/rill sweep pipelines/sweeps/mlet_dims_criteo.lua
local variants = {}
for _, d in ipairs{ 2, 4, 8, 16, 32 } do
  variants[#variants + 1] = { name = string.format("single d=%d", d),
                              set = { ["embed.dim"] = d, ["embed.kind"] = "single" } }
  for _, m in ipairs{ 2, 4, 8 } do
    variants[#variants + 1] = { name = string.format("mlet d=%d k=%d", d, m * d),
                                set = { ["embed.dim"] = d, ["embed.kind"] = "mlet", ["embed.inner"] = m * d } }
  end
end
return {
  title = "MLET against single-layer embeddings (Criteo sample)",
  description = "DLRM (bottom 256-128-d, top 256-128-1), two epochs over the first 13,094 rows of "
    .. "criteo_merged.tsv (time order), validation on the last 1,455; 65,536 hashed rows per field. "
    .. "Frequency buckets: training steps that saw the example's value of the largest-table field.",
  base = "pipelines/dlrm.lua",
  data = "../shared/data/criteo/criteo_merged.tsv",
  set = { ["train.epochs"] = 2, ["mlp.bottom"] = 256, ["mlp.top"] = 256,
          ["embed.buckets"] = 65536, ["train.batch"] = 512 },
  variants = variants,
  seeds = { 1, 2, 3, 4, 5 },
  frequency = { bounds = { 2, 10 } },
  x = "embed.dim",
  match = { baseline = "^single", challenger = "^mlet" },
  logx = true,
  out = "docs/results/mlet_dims_criteo",
  parallel = 2,
}
