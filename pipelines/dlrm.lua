-- DLRM (Naumov et al., 2019): counts through a bottom MLP, categorical fields through
-- embeddings, pairwise dot products of all of them, a top MLP to the click logit.
--   bin/rill train pipelines/dlrm.lua --data data/sample.tsv --set train.epochs=2
local rill = require "rill"

local cfg = rill.config{
  data = "data/sample.tsv",
  valid = 0.1,                    -- the last 10% of the file is the validation part
  embed = { dim = 16, buckets = 1048576, lr = 0.1, acc0 = 1e-6,
            kind = "single", inner = 64,    -- kind = "mlet": factorised tables (inner > dim)
            sets = 1,                        -- sets = M: multi-embedding, M sets and interactions
            prefill = false },               -- true: every row made in the run's store up front
                                             -- (checkpoints then append, README "Store")
  numeric = "log",                -- the counts: "log" (log(1+x) into the bottom MLP), "bucket"
                                  -- (log buckets, embedded) or "mnse" (MNSE of round(100 ln(1+x)))
  mlp = { bottom = 512, top = 512 }, -- first widths; each next layer is half as wide
  train = { epochs = 2, batch = 2048, lr = 1e-3, seed = 1, threads = 0 },
  init_from = "",                 -- an export to start from; an MLET model's export fine-tunes
                                  -- as single-layer (its tables collapsed to W1 W2)
}

local data = rill.data.criteo{ path = cfg.data, valid = cfg.valid }
-- started from an export, the graph takes its inference form (MLET tables collapsed)
local g = rill.graph(data, { collapsed = cfg.init_from ~= "" })

local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.embed.buckets, name = "ids" }
local emb = g:embed{ ids, dim = cfg.embed.dim, name = "emb", kind = cfg.embed.kind,
                     inner = cfg.embed.kind == "mlet" and cfg.embed.inner or nil, sets = cfg.embed.sets,
                     prefill = cfg.embed.prefill,
                     optim = rill.rowwise_adagrad{ lr = cfg.embed.lr, initial_accumulator = cfg.embed.acc0 } }
local dense
if cfg.numeric == "log" then
  local counts = g:encode_log{ fields = data.numeric, name = "counts" }
  dense = g:mlp{ counts, sizes = { cfg.mlp.bottom, cfg.mlp.bottom // 2, cfg.embed.dim }, name = "bottom" }
elseif cfg.numeric == "bucket" then
  local buckets = g:encode_bucket{ fields = data.numeric, name = "count_buckets" }
  dense = g:embed{ buckets, dim = cfg.embed.dim, name = "count_emb" }
elseif cfg.numeric == "mnse" then
  -- four bases (2, 3, 5, 10), each dim/4 wide, so a count's encoding is as wide as an embedding
  dense = g:encode_mnse{ fields = data.numeric, dim = cfg.embed.dim // 4, transform = "log",
                         name = "count_mnse" }
else
  error(string.format("numeric must be \"log\", \"bucket\" or \"mnse\", got %q", tostring(cfg.numeric)))
end
local z = g:interact_dot{ dense, emb, name = "interact" }
local logit = g:tower{ z, sizes = { cfg.mlp.top, cfg.mlp.top // 2 }, name = "top" }
g:loss_bce{ logit, name = "click" }

return rill.train{
  graph = g, data = data,
  epochs = cfg.train.epochs, batch = cfg.train.batch, seed = cfg.train.seed,
  threads = cfg.train.threads,
  optim = rill.adam{ lr = cfg.train.lr },
  init_from = cfg.init_from ~= "" and cfg.init_from or nil,
}
