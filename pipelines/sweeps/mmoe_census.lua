-- MMoE against a shared bottom on Census-Income's two tasks (income over 50k; never married):
--   zcat ../shared/data/census_income_mtl/census-income.test.gz > data/census-income.csv
--   bin/rill sweep pipelines/sweeps/mmoe_census.lua
return {
  title = "MMoE against a shared bottom (Census-Income, two tasks)",
  description = "pipelines/mmoe.lua: categorical columns embedded (dim 8), numeric ones log-transformed; "
    .. "`mmoe`: 4 experts (MLP 64-64) and a softmax gate per task, `shared`: one MLP 128-64; a tower "
    .. "(32) and a loss per task. Four epochs over 80% of the 99,762 rows of the official test split "
    .. "(the sample holds no other), validation on a seeded 20%. AUC and logloss: income (the first "
    .. "columns), never married.",
  base = "pipelines/mmoe.lua",
  data = "data/census-income.csv",
  variants = {
    { name = "shared", set = { model = "shared" } },
    { name = "mmoe", set = { model = "mmoe" } },
  },
  seeds = { 1, 2, 3 },
  frequency = false,
  out = "docs/results/mmoe_census",
  parallel = 2,
}
