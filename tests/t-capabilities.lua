-- node:capabilities(): what a node can do beyond forward and backward (core/node.h's optional
-- capabilities), which scripts and analyses ask instead of the node's kind: a gate gives
-- mixture weights, stop_gradient forwards its input, embed_seq gives a sequence, tim and din
-- give weights per behaviour, and the other kinds none of these.
package.path = arg[0]:match("^(.*/)") .. "?.lua;" .. package.path
local tap = require "tap"
local rill = require "rill"

local function set(t)
  local keys = {}
  for k, v in pairs(t) do if v then keys[#keys + 1] = k end end
  table.sort(keys)
  return table.concat(keys, ",")
end

return tap.main(function()
  local dir = tap.tempdir()
  local data = dir .. "/d.tsv"
  rill.gen_criteo{ rows = 50, seed = 1, out = data }
  local g = rill.graph(rill.data.criteo{ path = data })
  local counts = g:encode_log{ fields = { "I1", "I2" }, name = "counts" }
  local e1 = g:mlp{ counts, sizes = { 3 }, name = "e1" }
  local e2 = g:mlp{ counts, sizes = { 3 }, name = "e2" }
  local sg = g:stop_gradient{ e2, name = "sg" }
  local gate = g:gate{ counts, e1, sg, name = "gate" }
  tap.is(set(gate:capabilities()), "mixture_weights", "gate: mixture weights")
  tap.is(set(sg:capabilities()), "forwards_input", "stop_gradient: forwards its input")
  tap.is(set(e1:capabilities()), "", "mlp: none")
  tap.is(set(counts:capabilities()), "", "encode_log: none")

  -- a behaviour sequence: the item and its history as categorical text
  local yaml = dir .. "/s.yaml"
  tap.write(yaml, "format: tsv\nheader: false\ncolumns:\n  - { name: y, role: label }\n"
                  .. "  - { name: item, role: categorical }\n  - { name: hist, role: multi }\n")
  local seqdata = dir .. "/seq.tsv"
  tap.write(seqdata, "1\t7\t1|2|3\n0\t8\t4\n")
  local sg2 = rill.graph(rill.data.csv{ path = seqdata, schema = yaml })
  local ids = sg2:encode_hash{ fields = { "item", "hist" }, buckets = 1000, shared = true,
                               missing = "none" }
  local seq = sg2:embed_seq{ ids, dim = 2, target = "item", sequence = "hist", length = 3,
                             name = "seq" }
  tap.is(set(seq:capabilities()), "sequence", "embed_seq: a sequence")
  tap.is(set(sg2:tim{ seq, name = "tim" }:capabilities()), "behaviour_weights",
         "tim: weights per behaviour")
  tap.is(set(sg2:din{ seq, sizes = { 4 }, name = "din" }:capabilities()), "behaviour_weights",
         "din: weights per behaviour")
end)
