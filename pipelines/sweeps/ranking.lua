-- BCE alone against the combined-pair ranking loss (Lin et al., KDD 2024) at several shares, on
-- sparse positives: generated two-task data with first-exposure positive rates of 3% and 1%
-- and no repeats:
--   bin/rill gen multitask --rows 1000000 --rates 0.03,0.01 --repeat-rate 0 --out data/mt-sparse-train.csv
--   bin/rill gen multitask --rows 200000 --rates 0.03,0.01 --repeat-rate 0 --sample 1 --out data/mt-sparse-valid.csv
--   bin/rill sweep pipelines/sweeps/ranking.lua
return {
  title = "BCE against BCE + combined-pair ranking loss on sparse positives (generator, 3% and 1% positive)",
  description = "pipelines/multitask.lua (MMoE: 4 experts 64-64, gates, towers 32), 2 epochs over 1M "
    .. "generated rows, validated on 200k other rows of the same planted model. alpha is the BCE share: "
    .. "loss = alpha BCE + (1 - alpha) L_pair on both tasks; `ramp 1 to 0.5`: alpha moves from 1 to "
    .. "0.5 over the first 1,000 of the 1,954 steps. pred/rate: mean prediction over positive rate.",
  base = "pipelines/multitask.lua",
  data = "data/mt-sparse-train.csv",
  set = { valid_data = "data/mt-sparse-valid.csv" },
  variants = {
    { name = "bce (alpha 1)", set = { ["loss.alpha"] = 1 } },
    { name = "alpha 0.9", set = { ["loss.alpha"] = 0.9 } },
    { name = "alpha 0.7", set = { ["loss.alpha"] = 0.7 } },
    { name = "alpha 0.5", set = { ["loss.alpha"] = 0.5 } },
    { name = "alpha 0.2", set = { ["loss.alpha"] = 0.2 } },
    { name = "ramp 1 to 0.5", set = { ["loss.alpha_to"] = 0.5, ["loss.ramp_steps"] = 1000 } },
  },
  x = "loss.alpha",
  seeds = { 1, 2, 3 },
  frequency = false,
  calibration = true,
  out = "docs/results/ranking",
  parallel = 2,
}
