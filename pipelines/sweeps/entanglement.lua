-- Interest entanglement against a known truth: generated two-task data whose tasks' logits
-- correlate at -0.5, 0, 0.5 and 0.9 across rows (no repeats), a shared-embedding MMoE and STEM
-- on each, and the cosine of the tasks' gradients on the embeddings they share:
--   for r in -0.5 0 0.5 0.9; do
--     bin/rill gen multitask --rows 500000 --correlation $r --repeat-rate 0 --out data/mt-corr$r-train.csv
--     bin/rill gen multitask --rows 100000 --correlation $r --repeat-rate 0 --sample 1 --out data/mt-corr$r-valid.csv
--   done
--   bin/rill sweep pipelines/sweeps/entanglement.lua
local variants = {}
for _, model in ipairs({ "mmoe", "stem" }) do
  for _, r in ipairs({ "-0.5", "0", "0.5", "0.9" }) do
    variants[#variants + 1] = { name = string.format("%s, correlation %s", model, r),
                                set = { model = model, data = "data/mt-corr" .. r .. "-train.csv",
                                        valid_data = "data/mt-corr" .. r .. "-valid.csv" } }
  end
end
return {
  title = "Tasks' gradient conflict on shared embeddings against the planted task correlation (generator)",
  description = "pipelines/multitask.lua, 2 epochs over 500k generated rows whose two tasks' logits "
    .. "correlate at the given value (first-exposure positive rates 10% and 3%), validated on 100k "
    .. "other rows of the same model. `mmoe`: one shared embedding set, 4 experts, a gate per task; "
    .. "`stem`: a shared set and one per task (STEM). Gradient cosine: the tasks' gradients on the "
    .. "shared embedding set, probed every 50 steps (rill analyze entanglement), averaged over "
    .. "training; conflict: the share of probes where it is negative.",
  base = "pipelines/multitask.lua",
  variants = variants,
  seeds = { 1, 2, 3 },
  frequency = false,
  entanglement = true,
  out = "docs/results/entanglement",
  parallel = 2,
}
