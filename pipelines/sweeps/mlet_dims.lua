-- MLET against single-layer embeddings (Deng et al.): output dims 2..32, MLET with inner
-- dimension k = 2d, 4d, 8d, three seeds each, DLRM on the generator's data.
--   bin/rill gen criteo --rows 300000 --seed 1 --out data/sample.tsv   (make demo makes it)
--   bin/rill sweep pipelines/sweeps/mlet_dims.lua
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
  title = "MLET against single-layer embeddings (generator data)",
  description = "DLRM (bottom 256-128-d, top 256-128-1), one epoch over 270,000 training rows of "
    .. "`data/sample.tsv`, validation on the last 30,000. Frequency buckets: how many training "
    .. "steps saw the example's value of the largest-table field.",
  base = "pipelines/dlrm.lua",
  data = "data/sample.tsv",
  set = { ["train.epochs"] = 1, ["mlp.bottom"] = 256, ["mlp.top"] = 256 },
  variants = variants,
  seeds = { 1, 2, 3 },
  x = "embed.dim",
  match = { baseline = "^single", challenger = "^mlet" },
  logx = true,
  out = "docs/results/mlet_dims",
  parallel = 2,
}
