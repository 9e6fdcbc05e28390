-- Inverse propensity weighting of repeated exposures, checked against the planted truth: the
-- training file has 30% repeats whose positives are inflated (probability x (1 + 0.5 k)), the
-- validation file is another sample of the same model with first exposures only:
--   bin/rill gen multitask --rows 1000000 --out data/mt-train.csv
--   bin/rill gen multitask --rows 1000000 --repeat-rate 0 --out data/mt-train-first.csv
--   bin/rill gen multitask --rows 200000 --sample 1 --repeat-rate 0 --out data/mt-valid.csv
--   bin/rill sweep pipelines/sweeps/ipw.lua
return {
  title = "Inverse propensity weighting for repeated exposure (generator, two tasks)",
  description = "pipelines/multitask.lua (MMoE: 4 experts 64-64, gates, towers 32) on 1M generated rows, "
    .. "validated on 200k first exposures of the same planted model (first-exposure positive rates 10% "
    .. "and 3%). `no ipw`: BCE on the repeats as they are; `ratio`, `linear`: loss_bce's ipw on the "
    .. "repeat count with that estimator (clip 10); `ratio clip 1.2`: the propensities clipped to "
    .. "[1/1.2, 1.2]; `first exposures only`: trained on a file without repeats (the target IPW "
    .. "aims at). pred/rate: mean predicted probability over the positive rate on the validation file "
    .. "(1 = calibrated; the planted inflation of the training labels is 1.27 on average).",
  base = "pipelines/multitask.lua",
  data = "data/mt-train.csv",
  set = { valid_data = "data/mt-valid.csv" },
  variants = {
    { name = "no ipw", set = {} },
    { name = "ratio", set = { ["loss.ipw"] = "repeats" } },
    { name = "linear", set = { ["loss.ipw"] = "repeats", ["loss.ipw_estimator"] = "linear" } },
    { name = "ratio clip 1.2", set = { ["loss.ipw"] = "repeats", ["loss.ipw_clip"] = 1.2 } },
    { name = "first exposures only", set = { data = "data/mt-train-first.csv" } },
  },
  seeds = { 1, 2, 3 },
  frequency = false,
  calibration = true,
  out = "docs/results/ipw",
  parallel = 2,
}
