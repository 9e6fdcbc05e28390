-- Shared-embedding MMoE against STEM, AME, PLE and the heterogeneous mixture of experts over
-- multiple embeddings (pipelines/hmoe_me.lua) on Census-Income's two tasks:
--   zcat ../shared/data/census_income_mtl/census-income.test.gz > data/census-income.csv
--   bin/rill sweep pipelines/sweeps/hmoe_census.lua
return {
  title = "Multi-task experts and embeddings (Census-Income: income over 50k, never married)",
  description = "pipelines/hmoe_me.lua: categorical columns hashed and embedded (dim 8), numeric "
    .. "ones MNSE-encoded, per task a softmax gate, a tower (32) and BCE; experts are MLPs 64-64 "
    .. "over their interaction. `mmoe`: 4 MLP experts on one shared embedding set; `ple`: 4 shared "
    .. "MLP experts on one set and one expert per task on it that only its own gate sees (CGC); "
    .. "`stem`: one shared set and expert and one per task, other tasks' experts through "
    .. "stop_gradient; `ame`: one shared set (dim 8) plus sets of dims 4, 8 and 16, an expert on "
    .. "each, all gated per task; `hetero 1 set`: experts cross, dot, FM, MLP on one shared set; "
    .. "`hetero ME`: the same experts each on its own set (multi-embedding); `hetero ME + STEM`: "
    .. "and task-specific sets and experts (the full design); `hetero ME + STEM-AL`: never married "
    .. "made auxiliary (its tower sees only its own expert). Four epochs over 80% of the 99,762 rows "
    .. "of the official test split, validation on a seeded 20%. AUC and logloss: income (the first "
    .. "columns), never married.",
  base = "pipelines/hmoe_me.lua",
  data = "data/census-income.csv",
  variants = {
    { name = "mmoe", set = { ["experts.kinds"] = "mlp,mlp,mlp,mlp", ["experts.one_set"] = true, task_experts = "none" } },
    { name = "ple", set = { ["experts.kinds"] = "mlp,mlp,mlp,mlp", ["experts.one_set"] = true, task_experts = "ple" } },
    { name = "stem", set = { ["experts.kinds"] = "mlp", task_experts = "stem" } },
    { name = "ame", set = { ["experts.kinds"] = "mlp", task_experts = "none", ame = "4,8,16" } },
    { name = "hetero 1 set", set = { ["experts.one_set"] = true, task_experts = "none" } },
    { name = "hetero ME", set = { task_experts = "none" } },
    { name = "hetero ME + STEM", set = { task_experts = "stem" } },
    { name = "hetero ME + STEM-AL", set = { task_experts = "stem", aux = "never_married" } },
  },
  seeds = { 1, 2, 3 },
  frequency = false,
  out = "docs/results/hmoe_census",
  parallel = 2,
}
