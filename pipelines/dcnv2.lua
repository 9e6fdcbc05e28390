-- DCNv2 (Wang et al., 2021) in either of the paper's two structures: the field embeddings and
-- log counts side by side (x0) go through a cross network (explicit feature crosses of
-- bounded degree) and a deep MLP, either one after the other (structure = "stacked", the
-- default: x0 -> cross -> deep -> logit) or side by side (structure = "parallel": x0 -> cross
-- and x0 -> deep, the two outputs concatenated -> logit). Set cross.rank > 0 for the low-rank
-- cross layers.
--   bin/rill train pipelines/dcnv2.lua --data data/sample.tsv --set cross.rank=64
--   bin/rill train pipelines/dcnv2.lua --data data/sample.tsv --set structure=parallel
local rill = require "rill"

local cfg = rill.config{
  data = "data/sample.tsv",
  valid = 0.1,
  structure = "stacked",
  embed = { dim = 16, buckets = 1048576, lr = 0.1, kind = "single", inner = 64, sets = 1 },
  cross = { layers = 3, rank = 0 },
  deep = { width = 400 },
  train = { epochs = 2, batch = 2048, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.criteo{ path = cfg.data, valid = cfg.valid }
local g = rill.graph(data)

local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local emb = g:embed{ ids, dim = cfg.embed.dim, name = "emb", kind = cfg.embed.kind,
                     inner = cfg.embed.kind == "mlet" and cfg.embed.inner or nil, sets = cfg.embed.sets,
                     optim = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 } }
local counts = g:encode_log{ fields = data.numeric, name = "counts" }
local x0 = g:interact_concat{ emb, counts, name = "x0" }
local crossed = g:interact_cross{ x0, layers = cfg.cross.layers, rank = cfg.cross.rank, name = "cross" }
local w = cfg.deep.width
local logit
if cfg.structure == "stacked" then
  local deep = g:mlp{ crossed, sizes = { w, w, w }, name = "deep" }
  logit = g:tower{ deep, sizes = {}, name = "head" }
elseif cfg.structure == "parallel" then
  local deep = g:mlp{ x0, sizes = { w, w, w }, name = "deep" }
  local both = g:interact_concat{ crossed, deep, name = "both" }
  logit = g:tower{ both, sizes = {}, name = "head" }
else
  error(string.format("pipelines/dcnv2.lua: structure must be \"stacked\" or \"parallel\", got %q",
                      tostring(cfg.structure)), 0)
end
g:loss_bce{ logit, name = "click" }

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
