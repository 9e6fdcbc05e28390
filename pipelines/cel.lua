-- CEL (Chen et al., "Clustered Embedding Learning for Recommender Systems", WWW 2023) in a
-- DLRM: the entity fields (cel.fields, the largest ones) get their own embeddings, one of
--   kind = "cel":  entities share the embeddings of learned clusters (cel.clusters of them)
--   kind = "full": one row per id (cel.buckets hashed rows, few collisions)
--   kind = "hash": plain hashing into as many rows as CEL has clusters
-- and the other fields ordinary embeddings. The sweep pipelines/sweeps/cel.lua compares them.
--   bin/rill train pipelines/cel.lua --data data/sample.tsv --set cel.clusters=256
local rill = require "rill"

local cfg = rill.config{
  data = "data/sample.tsv",
  valid = 0.1,
  embed = { dim = 16, buckets = 1048576, lr = 0.1 },
  cel = { kind = "cel", fields = "C3,C21", clusters = 1024, buckets = 4194304,
          split_every = 50, reassign_every = 200, candidates = 8, cluster_until = 0,
          grad = "mean", min_examples = 4, reassign_window = 10 },
  mlp = { bottom = 512, top = 512 },
  train = { epochs = 2, batch = 2048, lr = 1e-3, seed = 1, threads = 0 },
}

local data = rill.data.criteo{ path = cfg.data, valid = cfg.valid }
local g = rill.graph(data)

local entity, other = {}, {}
for f in cfg.cel.fields:gmatch("[^,%s]+") do entity[f] = true end
local efields = {}
for _, f in ipairs(data.categorical) do
  if entity[f] then efields[#efields + 1] = f else other[#other + 1] = f end
end
local optim = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = 1e-6 }

local ids = g:encode_hash{ fields = other, buckets = cfg.embed.buckets, name = "ids" }
local emb = g:embed{ ids, dim = cfg.embed.dim, name = "emb", optim = optim }
local k = cfg.cel.kind
local ents = g:encode_hash{ fields = efields, name = "entities",
                            buckets = k == "hash" and cfg.cel.clusters or cfg.cel.buckets }
local eemb
if k == "cel" then
  eemb = g:embed{ ents, kind = "cel", dim = cfg.embed.dim, clusters = cfg.cel.clusters,
                  split_every = cfg.cel.split_every, reassign_every = cfg.cel.reassign_every,
                  candidates = cfg.cel.candidates, cluster_until = cfg.cel.cluster_until,
                  grad = cfg.cel.grad, min_examples = cfg.cel.min_examples,
                  reassign_window = cfg.cel.reassign_window, optim = optim,
                  name = "entity_emb" }
elseif k == "full" or k == "hash" then
  eemb = g:embed{ ents, dim = cfg.embed.dim, optim = optim, name = "entity_emb" }
else
  error(string.format("cel.kind must be \"cel\", \"full\" or \"hash\", got %q", tostring(k)))
end
local counts = g:encode_log{ fields = data.numeric, name = "counts" }
local bottom = g:mlp{ counts, sizes = { cfg.mlp.bottom, cfg.mlp.bottom // 2, cfg.embed.dim }, name = "bottom" }
local z = g:interact_dot{ bottom, emb, eemb, name = "interact" }
local logit = g:tower{ z, sizes = { cfg.mlp.top, cfg.mlp.top // 2 }, name = "top" }
g:loss_bce{ logit, name = "click" }

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
}
