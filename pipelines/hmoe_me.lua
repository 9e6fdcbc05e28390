-- The heterogeneous mixture of experts over multiple embeddings of "Ads Recommendation in a
-- Collapsed and Entangled World" (Tencent, KDD 2024), on Census-Income's two tasks (income
-- over 50k, never married):
--   * feature encoding: categorical columns hashed; numeric columns by MNSE (the digits of
--     round(100 ln(1 + x)) in bases 2, 3, 5, 10, each digit embedded), one per embedding set;
--   * multi-embedding, heterogeneous experts: each expert has its own embedding set and its own
--     interaction: "cross" (DCNv2 cross network), "dot" (DLRM's pairwise dot products), "fm"
--     (the FM bi-interaction vector), "mlp" (the fields side by side); each ends in an MLP of
--     the experts' common width, shared by the tasks;
--   * task-specific embeddings: task_experts = "stem" gives every task its own embedding set
--     and expert, seen by the other tasks' gates through stop_gradient (STEM's All Forward,
--     Task-specific Backward; Su et al., AAAI 2024); "ple" gives every task its own expert on
--     the first shared set, seen only by its own gate (PLE's CGC); "none": only shared experts;
--   * asymmetric multi-embedding (AME): ame = "4,8,16" adds shared embedding sets of those
--     dims, an MLP expert on each, that every task's gate weighs, so that a task can lean on
--     the small sets;
--   * STEM-AL: aux = "never_married" makes that task auxiliary: its tower sees only its own
--     expert (needs task_experts = "stem"), while the other tasks gate over every expert, its
--     own through stop_gradient;
--   * per task a softmax gate over its experts, a tower, and the loss mix: alpha * BCE +
--     (1 - alpha) * the combined-pair ranking loss, the task weights, and a ramp of both
--     (alpha_to, ramp_steps).
-- Where the paper leaves a choice, this pipeline picks: the gates read the first shared set's
-- fields and the log-encoded numbers; every expert's MLP is two layers of experts.width.
--   zcat ../shared/data/census_income_mtl/census-income.test.gz > data/census-income.csv
--   bin/rill train pipelines/hmoe_me.lua --data data/census-income.csv
local rill = require "rill"

local cfg = rill.config{
  data = "data/census-income.csv",
  schema = "pipelines/schemas/census_income.yaml",
  valid = 0.2,
  experts = { kinds = "cross,dot,fm,mlp", width = 64, one_set = false }, -- one_set: all on one set
  task_experts = "stem",         -- "stem", "ple" or "none"
  ame = "",                      -- e.g. "4,8,16": asymmetric shared sets of these dims
  aux = "",                      -- STEM-AL: the auxiliary task ("never_married")
  embed = { dim = 8, buckets = 4096, lr = 0.05 },
  tower = { width = 32 },
  loss = { alpha = 1.0, alpha_to = -1.0, ramp_steps = 0, income = 1.0, never_married = 1.0 },
  train = { epochs = 4, batch = 512, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.csv{ path = cfg.data, schema = cfg.schema, valid = cfg.valid, split = "hash" }
local g = rill.graph(data)
local rows = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 }
local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local w, D = cfg.experts.width, cfg.embed.dim
local tasks = { { "income", "income_50k" }, { "never_married", "marital_stat" } }

local function list(text, what)
  local out = {}
  for item in tostring(text):gmatch("[^,%s]+") do out[#out + 1] = item end
  return out
end

-- an embedding set: the categorical fields and MNSE-encoded numbers, (B, F, dim)
local function embedding_set(name, dim)
  if dim % 4 ~= 0 then error(string.format("embedding dims must be multiples of 4 (MNSE's 4 bases), got %d", dim)) end
  local emb = g:embed{ ids, dim = dim, optim = rows, name = name }
  local nums = g:encode_mnse{ fields = data.numeric, dim = dim // 4, transform = "log", name = name .. "_num" }
  return { emb, nums }
end

local function expert(kind, set, name)
  local x
  if kind == "cross" then
    x = g:interact_cross{ set[1], set[2], layers = 2, name = name .. "_cross" }
  elseif kind == "dot" then
    x = g:interact_dot{ set[1], set[2], name = name .. "_dot" }
  elseif kind == "fm" then
    x = g:interact_fm{ set[1], set[2], output = "vector", name = name .. "_fm" }
  elseif kind == "mlp" then
    x = g:interact_concat{ set[1], set[2], name = name .. "_x" }
  else
    error(string.format("experts.kinds: unknown expert %q (known: cross, dot, fm, mlp)", kind))
  end
  return g:mlp{ x, sizes = { w, w }, name = name }
end

-- shared experts, each on its own set (or all on one)
local shared, sets = {}, {}
for i, kind in ipairs(list(cfg.experts.kinds)) do
  sets[i] = (cfg.experts.one_set and sets[1]) or embedding_set("set" .. i, D)
  shared[#shared + 1] = expert(kind, sets[i], "expert" .. i .. "_" .. kind)
end
if #shared == 0 then error("experts.kinds: no experts") end
for _, dim in ipairs(list(cfg.ame)) do
  local d = math.tointeger(tonumber(dim))
  if not d or d < 4 then error(string.format("ame: expected dims such as \"4,8,16\", got %q", cfg.ame)) end
  shared[#shared + 1] = expert("mlp", embedding_set("ame" .. d, d), "ame" .. d .. "_expert")
end
local gate_in = g:interact_concat{ sets[1][1], g:encode_log{ fields = data.numeric, name = "gate_nums" },
                                   name = "gate_x" }

-- task-specific experts
local own = {}
if cfg.task_experts == "stem" then
  for i, t in ipairs(tasks) do own[i] = expert("mlp", embedding_set(t[1] .. "_set", D), t[1] .. "_expert") end
elseif cfg.task_experts == "ple" then
  for i, t in ipairs(tasks) do own[i] = expert("mlp", sets[1], t[1] .. "_expert") end
elseif cfg.task_experts ~= "none" then
  error(string.format("task_experts must be \"stem\", \"ple\" or \"none\", got %q", tostring(cfg.task_experts)))
end
local aux = nil
for i, t in ipairs(tasks) do if t[1] == cfg.aux then aux = i end end
if cfg.aux ~= "" and not aux then error(string.format("aux: no task %q (tasks: income, never_married)", cfg.aux)) end
if aux and cfg.task_experts ~= "stem" then error("aux (STEM-AL) needs task_experts = \"stem\"") end

for i, t in ipairs(tasks) do
  local mixed
  if i == aux then
    mixed = own[i] -- STEM-AL: the auxiliary tower sees only its own expert
  else
    local inputs = { gate_in, name = t[1] .. "_gate" }
    for _, e in ipairs(shared) do inputs[#inputs + 1] = e end
    for k, e in ipairs(own) do
      if k == i then
        inputs[#inputs + 1] = e
      elseif cfg.task_experts == "stem" then
        inputs[#inputs + 1] = g:stop_gradient{ e, name = t[1] .. "_sees_" .. tasks[k][1] }
      end
    end
    mixed = g:gate(inputs)
  end
  local logit = g:tower{ mixed, sizes = { cfg.tower.width }, name = t[1] .. "_tower" }
  local l = cfg.loss
  -- alpha_to < 0: no ramp target (alpha throughout); the node checks a target and its steps
  g:loss_bce{ logit, label = t[2], name = t[1], weight = l[t[1]], alpha = l.alpha,
              alpha_to = l.alpha_to >= 0 and l.alpha_to or nil,
              ramp_steps = l.ramp_steps ~= 0 and l.ramp_steps or nil }
end

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
