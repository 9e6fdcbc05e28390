-- Two tasks on the generator's multi-task data (`rill gen multitask`: a planted task
-- correlation, repeated exposures with inflated positive rates), for the loss-mix and IPW
-- experiments: a shared bottom, MMoE or STEM over hashed embeddings and log-transformed
-- counts, a tower and a loss per task. The repeat count is not a feature (it is the
-- propensity, not a property of the example): with --set loss.ipw=repeats it weights the
-- repeated exposures' positives instead. Training and validation files are two samples of
-- one planted model, the validation one without repeats (the unbiased truth):
--   bin/rill gen multitask --rows 200000 --out data/mt-train.csv
--   bin/rill gen multitask --rows 50000 --sample 1 --repeat-rate 0 --out data/mt-valid.csv
--   bin/rill train pipelines/multitask.lua
local rill = require "rill"

local cfg = rill.config{
  data = "data/mt-train.csv",
  valid_data = "data/mt-valid.csv",
  schema = "pipelines/schemas/gen_multitask.yaml",
  model = "mmoe",                 -- "shared", "mmoe" or "stem"
  embed = { dim = 8, buckets = 65536, lr = 0.05 },
  experts = { count = 4, width = 64 },
  tower = { width = 32 },
  loss = { alpha = 1.0, alpha_to = -1.0, ramp_steps = 0, t1 = 1.0, t2 = 1.0,
           ipw = "", ipw_estimator = "ratio", ipw_clip = 10 },
  train = { epochs = 2, batch = 1024, lr = 1e-3, seed = 1, threads = 0, entanglement = 50 },
}

local data = rill.data.csv{ path = cfg.data, valid_path = cfg.valid_data, schema = cfg.schema }
local g = rill.graph(data)
local rows = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 }
local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local counts = {}
for _, f in ipairs(data.numeric) do if f ~= "repeats" then counts[#counts + 1] = f end end
local nums = g:encode_log{ fields = counts, name = "nums" }
local w = cfg.experts.width
local tasks = { "t1", "t2" }

local function bottom(name)
  local emb = g:embed{ ids, dim = cfg.embed.dim, optim = rows, name = name .. "_emb" }
  return g:interact_concat{ emb, nums, name = name .. "_x" }
end

local per_task = {}
if cfg.model == "shared" then
  local shared = g:mlp{ bottom("shared"), sizes = { 2 * w, w }, name = "shared" }
  per_task = { shared, shared }
elseif cfg.model == "mmoe" then
  local x = bottom("shared")
  local experts = {}
  for e = 1, cfg.experts.count do experts[e] = g:mlp{ x, sizes = { w, w }, name = "expert" .. e } end
  for i, t in ipairs(tasks) do
    local inputs = { x, name = t .. "_gate" }
    for _, e in ipairs(experts) do inputs[#inputs + 1] = e end
    per_task[i] = g:gate(inputs)
  end
elseif cfg.model == "stem" then
  local x = bottom("shared")
  local shared = g:mlp{ x, sizes = { w, w }, name = "shared_expert" }
  local own = {}
  for i, t in ipairs(tasks) do own[i] = g:mlp{ bottom(t), sizes = { w, w }, name = t .. "_expert" } end
  for i, t in ipairs(tasks) do
    local inputs = { x, shared, name = t .. "_gate" }
    for k, e in ipairs(own) do
      inputs[#inputs + 1] = k == i and e or g:stop_gradient{ e, name = t .. "_sees_" .. tasks[k] }
    end
    per_task[i] = g:gate(inputs)
  end
else
  error(string.format("model must be \"shared\", \"mmoe\" or \"stem\", got %q", tostring(cfg.model)))
end

local l = cfg.loss
for i, t in ipairs(tasks) do
  local logit = g:tower{ per_task[i], sizes = { cfg.tower.width }, name = t .. "_tower" }
  local ipw = l.ipw ~= "" and l.ipw or nil
  -- alpha_to < 0: no ramp target (alpha throughout); the node checks a target and its steps
  g:loss_bce{ logit, label = t, name = t, weight = l[t], alpha = l.alpha,
              alpha_to = l.alpha_to >= 0 and l.alpha_to or nil,
              ramp_steps = l.ramp_steps ~= 0 and l.ramp_steps or nil, ipw = ipw,
              ipw_estimator = ipw and l.ipw_estimator or nil, ipw_clip = ipw and l.ipw_clip or nil }
end

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads, entanglement = cfg.train.entanglement,
  optim = rill.adam{ lr = cfg.train.lr },
}
