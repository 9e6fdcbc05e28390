-- Mistakes in pipeline scripts: each is reported as a Lua error that names the script's
-- file:line, the node and what was wrong, and none brings the engine down. Every case is a
-- small script written to a temporary directory; it runs here under pcall (the message a
-- script author sees from the module) and again as `bin/rill train CASE` (exit status 1,
-- "rill: " and the same message on stderr; a crash would be 128 + signal). Line numbers
-- come from the cases' own text: the header below is lines 1-5. SHOW=1 prints every message.
package.path = arg[0]:match("^(.*/)") .. "?.lua;" .. package.path
local tap = require "tap"
local rill = require "rill"

return tap.main(function()
  local root = arg[0]:match("^(.-)/?tests/[^/]*$")
  local bin = (root == "" and "." or root) .. "/bin/rill"
  local dir = tap.tempdir()
  local data = dir .. "/d.tsv"
  rill.gen_criteo{ rows = 300, seed = 1, out = data }

  local header = {
    'local rill = require "rill"',
    string.format("local data = rill.data.criteo{ path = %q, valid = 0.1 }", data),
    "local g = rill.graph(data)",
    'local ids = g:encode_hash{ fields = data.categorical, buckets = 1000, name = "ids" }',
    'local counts = g:encode_log{ fields = data.numeric, name = "counts" }',
  }
  -- a complete small model, for the cases about rill.train
  local model = {
    'local emb = g:embed{ ids, dim = 4, name = "emb" }',
    'local top = g:tower{ emb, counts, sizes = {}, name = "top" }',
    'g:loss_bce{ top, name = "click" }',
  }

  local function cat(...)
    local out = {}
    for _, t in ipairs{ ... } do for _, l in ipairs(t) do out[#out + 1] = l end end
    return out
  end

  -- The message without its "file.lua:N" locations, so that numbers in it can be looked for.
  local function unlocated(msg)
    return (msg:gsub("[%w_/%.%-]+%.lua:%d+", "@"))
  end

  -- c: { id, lines, line = the line the message must name, want = strings it must contain,
  --      widths = numbers it must contain, set = --set pairs, data = --data path,
  --      inproc = false (only under bin/rill), todo = { want =, why = } }
  local function check(c)
    local path = dir .. "/" .. c.id .. ".lua"
    tap.write(path, table.concat(c.lines, "\n") .. "\n")
    local loc = c.id .. ".lua:" .. c.line
    local want = cat({ loc }, c.want)

    local function assess(msg, how)
      if os.getenv("SHOW") then tap.diag("%s", msg) end
      tap.like(msg, want, string.format("%s (%s): names %s", c.id, how, table.concat(want, ", ")))
      for _, w in ipairs(c.widths or {}) do
        tap.ok(type(msg) == "string" and unlocated(msg):find("%f[%d]" .. w .. "%f[%D]"),
               string.format("%s (%s): names the width %d", c.id, how, w))
      end
      if c.todo then
        tap.like(msg, c.todo.want, c.id .. " (" .. how .. "): " .. c.todo.what, c.todo.why)
      end
    end

    if c.inproc ~= false then
      -- the command line's settings as bin/rill would hand them over
      local cli = package.loaded["rill.cli"]
      package.loaded["rill.cli"] = { mode = "train", set = c.set or {}, data = c.data, quiet = true }
      local chunk, msg = loadfile(path)
      local ok = false
      if chunk then ok, msg = pcall(chunk) end
      package.loaded["rill.cli"] = cli
      tap.ok(not ok, c.id .. " (pcall): fails")
      assess(msg, "pcall")
    end

    local args = ""
    for _, kv in ipairs(c.set or {}) do
      args = args .. " --set " .. tap.quote(kv[1] .. "=" .. kv[2])
    end
    if c.data then args = args .. " --data " .. tap.quote(c.data) end
    local run = dir .. "/run-" .. c.id
    local r = tap.sh(string.format("%s train %s --run %s%s", bin, tap.quote(path),
                                   tap.quote(run), args))
    if not tap.is(r.status, 1, c.id .. " (bin/rill): exit status 1, no crash") then
      tap.diag("stderr: %s", r.err)
    end
    tap.ok(r.err:match("^rill: "), c.id .. " (bin/rill): one 'rill: ' message on stderr")
    assess(r.err, "bin/rill")
  end

  -- the header, then the case's own lines from line 6 on
  local function after_header(...) return cat(header, { ... }) end
  local cfg_lines = { 'local rill = require "rill"', "local cfg = rill.config{",
                      "  data = 'x.tsv', embed = { dim = 16 } }" }
  local cases = {
    { id = "syntax", line = 6, lines = after_header("local x = = 1"),
      want = { "unexpected symbol" } },
    { id = "runtime", line = 7, lines = after_header("local x", "local y = x.field"),
      want = { "attempt to index a nil value" } },
    { id = "unknown_kind", line = 6,
      lines = after_header('local m = g:mlpp{ counts, sizes = { 4 }, name = "m" }'),
      want = { "unknown node kind 'mlpp'", "did you mean 'mlp'", "embed", "interact_dot" } },
    { id = "unknown_kind_far", line = 6,
      lines = after_header('local m = g:transformer{ counts, name = "m" }'),
      want = { "unknown node kind 'transformer'", "mlp" } },
    -- a call written over several lines is reported at the line where it starts
    { id = "missing_arg", line = 6,
      lines = after_header("local emb = g:embed{ ids,", '  name = "emb",', "}"),
      want = { "'emb'", "embed", "'dim'", "required" } },
    { id = "mistyped_arg", line = 6,
      lines = after_header('local emb = g:embed{ ids, dim = "big", name = "emb" }'),
      want = { "'emb'", "'dim'", "integer", '"big"' } },
    { id = "unknown_arg", line = 6,
      lines = after_header('local emb = g:embed{ ids, dim = 4, poolling = "mean", name = "emb" }'),
      want = { "'emb'", "unknown argument 'poolling'", "pooling", "dim", "optim" } },
    -- a misspelt required argument: the message says 'dim' is required and also names the
    -- misspelling, which is most likely what the author has to fix
    { id = "misspelt_required", line = 6,
      lines = after_header('local emb = g:embed{ ids, dimm = 16, name = "emb" }'),
      want = { "'emb'", "'dim'", "unknown argument 'dimm'" } },
    { id = "out_of_range", line = 6,
      lines = after_header('local emb = g:embed{ ids, dim = 0, name = "emb" }'),
      want = { "'emb'", "'dim'", "out of range" } },
    { id = "bad_optim", line = 6,
      lines = after_header('local emb = g:embed{ ids, dim = 4, optim = rill.adam{}, name = "emb" }'),
      want = { "'emb'", "optim", '"adam"', "rowwise_adagrad" } },
    -- the embedding variants
    { id = "embed_kind", line = 6,
      lines = after_header('local emb = g:embed{ ids, kind = "mlett", dim = 4, name = "emb" }'),
      want = { "unknown kind 'mlett'", "single", "mlet", "cel" } },
    { id = "embed_sets", line = 6,
      lines = after_header('local emb = g:embed{ ids, dim = 4, sets = 0, name = "emb" }'),
      want = { "'sets'", "whole number from 1 to 64", "0" } },
    { id = "sets_mismatch", line = 8,
      lines = after_header('local a = g:embed{ ids, dim = 4, sets = 2, name = "a" }',
                           'local b = g:embed{ ids, dim = 4, sets = 3, name = "b" }',
                           'local z = g:interact_dot{ a, b, name = "interact" }'),
      want = { "interact_dot", "inputs with 2 and 3 embedding sets" } },
    { id = "mlet_inner", line = 6,
      lines = after_header('local emb = g:embed{ ids, kind = "mlet", dim = 4, name = "emb" }'),
      want = { "'emb'", "embed_mlet", "'inner'", "required" } },
    { id = "cel_clusters", line = 6,
      lines = after_header('local emb = g:embed{ ids, kind = "cel", dim = 4, name = "emb" }'),
      want = { "'emb'", "embed_cel", "'clusters'", "required" } },
    { id = "cel_bad_arg", line = 6,
      lines = after_header('local emb = g:embed{ ids, kind = "cel", dim = 4, clusters = 8,',
                           '                    min_examples = 0, name = "emb" }'),
      want = { "'emb'", "embed_cel", "'min_examples'", "out of range" } },
    { id = "function_arg", line = 6,
      lines = after_header('local m = g:mlp{ counts, sizes = { 4 }, act = print, name = "m" }'),
      want = { "'m'", "act", "function" } },
    { id = "shape_mismatch", line = 8,
      lines = after_header('local emb = g:embed{ ids, dim = 16, name = "emb" }',
                           'local bottom = g:mlp{ counts, sizes = { 8 }, name = "bottom" }',
                           'local z = g:interact_dot{ bottom, emb, name = "interact" }'),
      want = { "'interact'", "interact_dot", "'bottom'", "'emb'" }, widths = { 8, 16 } },
    { id = "unknown_field", line = 6,
      lines = after_header('local h = g:encode_hash{ fields = { "C1", "C99" }, name = "h" }'),
      want = { "'h'", "'C99'" } },
    { id = "numeric_to_hash", line = 6,
      lines = after_header('local h = g:encode_hash{ fields = { "I1" }, name = "h" }'),
      want = { "'h'", "'I1'", "numeric", "encode_log" } },
    { id = "categorical_to_log", line = 6,
      lines = after_header('local h = g:encode_log{ fields = { "C3" }, name = "h" }'),
      want = { "'h'", "'C3'", "categorical", "encode_hash" } },
    { id = "no_fields", line = 6,
      lines = after_header('local h = g:encode_hash{ buckets = 10, name = "h" }'),
      want = { "'h'", "'fields'", "required" } },
    { id = "number_input", line = 6,
      lines = after_header('local m = g:mlp{ 3, sizes = { 4 }, name = "m" }'),
      want = { "'m'", "input 1", "number", "node" } },
    { id = "list_input", line = 6,
      lines = after_header('local m = g:mlp{ { counts, "x" }, sizes = { 4 }, name = "m" }'),
      want = { "'m'", "input 1.2", "string" } },
    { id = "ids_input", line = 6,
      lines = after_header('local m = g:mlp{ ids, sizes = { 4 }, name = "m" }'),
      want = { "'m'", "'ids'", "embed" } },
    -- an empty list of inputs is an error, not a node built without them
    { id = "empty_list_input", line = 6,
      lines = after_header('local c = g:interact_concat{ {}, counts, name = "c" }'),
      want = { "g:interact_concat 'c'", "input 1 is an empty list" } },
    { id = "empty_list_dot", line = 7,
      lines = after_header('local emb = g:embed{ ids, dim = 4, name = "emb" }',
                           "local z = g:interact_dot{ emb, {} }"),
      want = { "g:interact_dot", "input 2 is an empty list" } },
    { id = "named_only_input", line = 6,
      lines = after_header('local m = g:mlp{ { x = counts }, sizes = { 4 }, name = "m" }'),
      want = { "g:mlp 'm'", "input 1 is a table without a list of nodes" } },
    { id = "not_a_table", line = 6, lines = after_header("local m = g:mlp(counts)"),
      want = { "g:mlp", "table" } },
    { id = "duplicate_name", line = 6,
      lines = after_header('local m = g:mlp{ counts, sizes = { 4 }, name = "counts" }'),
      want = { "'counts'", "already exists", "duplicate_name.lua:5" } },
    { id = "data_unknown", line = 3,
      lines = { 'local rill = require "rill"', "",
                string.format("local data = rill.data.criteo{ path = %q, vaild = 0.1 }", data) },
      want = { "unknown setting 'vaild'", "valid" } },

    -- rill.config and the command line
    { id = "set_unknown", line = 2, lines = cfg_lines, set = { { "embed.dimm", "3" } },
      want = { "--set embed.dimm", "no such setting", "embed.dim" } },
    { id = "set_type", line = 2, lines = cfg_lines, set = { { "embed.dim", "abc" } },
      want = { "--set embed.dim=abc", "number", "16" } },
    { id = "set_bool", line = 2, set = { { "fast", "yes" } },
      lines = { 'local rill = require "rill"', "local cfg = rill.config{ fast = false }" },
      want = { "--set fast=yes", "true or false" } },
    { id = "set_group", line = 2, lines = cfg_lines, set = { { "embed", "3" } },
      want = { "--set embed: is a group of settings", "embed.dim" } },
    { id = "data_without_setting", line = 3, data = data,
      lines = { 'local rill = require "rill"', "", "local cfg = rill.config{ dim = 4 }" },
      want = { "--data", "'data' setting" } },

    -- rill.train
    { id = "train_epochs", line = 9,
      lines = cat(header, model, { "local r = rill.train{ graph = g, data = data,", "  epochs = 0 }" }),
      want = { "rill.train", "'epochs'", "out of range" } },
    { id = "train_optim", line = 9,
      lines = cat(header, model,
                  { 'local r = rill.train{ graph = g, data = data, optim = { kind = "nope" } }' }),
      want = { "rill.train", "'optim'", '"nope"', '"adam"' } },
    { id = "train_optim_arg", line = 9,
      lines = cat(header, model,
                  { "local r = rill.train{ graph = g, data = data, optim = rill.adam{ lrr = 0.1 } }" }),
      want = { "rill.train", "'optim'", "unknown argument 'lrr'", "lr" } },
    { id = "train_unknown", line = 9,
      lines = cat(header, model, { "local r = rill.train{ graph = g, data = data, epoch = 2 }" }),
      want = { "rill.train", "unknown argument 'epoch'", "epochs", "batch" } },
    { id = "train_graph", line = 9,
      lines = cat(header, model, { "local r = rill.train{ graph = ids, data = data }" }),
      want = { "rill.train", "'graph'" } },
    { id = "train_no_loss", line = 7,
      lines = after_header('local emb = g:embed{ ids, dim = 4, name = "emb" }',
                          "local r = rill.train{ graph = g, data = data }"),
      want = { "no loss node", "loss_bce" } },
    { id = "train_missing_file", line = 9,
      lines = cat({ header[1], 'local data = rill.data.criteo{ path = "/nonexistent/rill/d.tsv" }',
                    header[3], header[4], header[5] }, model,
                  { "local r = rill.train{ graph = g, data = data }" }),
      want = { "/nonexistent/rill/d.tsv", "cannot open" } },
    -- errors without a message of their own, and a stack overflow: bin/rill names the
    -- script's line (under a plain pcall the error object is all there is)
    { id = "error_table", line = 6, inproc = false, lines = after_header("error({})"),
      want = { "error object is a table (no message)" } },
    { id = "error_nil", line = 6, inproc = false, -- the line of error(), in f
      lines = after_header("local function f() error() end", "f()"),
      want = { "error object is nil" } },
    { id = "error_tostring", line = 6, inproc = false,
      lines = after_header('error(setmetatable({}, { __tostring = function() return "mine" end }))'),
      want = { "mine" } },
    { id = "stack_overflow", line = 6, inproc = false,
      lines = after_header("local function f(n) return 1 + f(n + 1) end", "local x = f(1)"),
      want = { "stack overflow" } },
    -- the way pipelines end: a tail call, after which no frame of the script is left on the
    -- stack; bin/rill follows the script's lines to name it anyway
    { id = "train_tail", line = 9, inproc = false,
      lines = cat(header, model,
                  { "return rill.train{", "  graph = g, data = data,", "  batch = 0,", "}" }),
      want = { "rill.train", "'batch'", "out of range" } },
  }

  for _, c in ipairs(cases) do check(c) end

  -- After errors the graph and the engine go on: a failed g:... call adds nothing (its name
  -- stays free), and the same graph then trains.
  do
    local path = dir .. "/recover.lua"
    local bad = [[
local bad1 = pcall(function() local n = g:embed{ ids, name = "emb" }; return n end)
local bad2 = pcall(function()
  local n = g:mlp{ counts, sizes = { 4 }, name = "counts" }; return n
end)
local bad3 = pcall(function()
  local e3 = g:embed{ ids, dim = 3, name = "e3" }
  local n = g:interact_dot{ counts, e3, name = "dot" }; return n
end)
local bad4 = pcall(function() local n = g:mlpp{ counts }; return n end)
]]
    local train = string.format("local r = rill.train{ graph = g, data = data, epochs = 1, "
                                .. "progress = false, run = %q }", dir .. "/run-recover")
    tap.write(path, table.concat(header, "\n") .. "\n" .. bad .. table.concat(model, "\n") .. "\n"
                    .. train .. "\nreturn bad1, bad2, bad3, bad4, r, g\n")
    local cli = package.loaded["rill.cli"]
    package.loaded["rill.cli"] = { mode = "train", set = {}, quiet = true }
    local ok, b1, b2, b3, b4, r, g = pcall(dofile, path)
    package.loaded["rill.cli"] = cli
    if not tap.ok(ok, "recover: the script ran") then tap.diag("%s", tostring(b1)) end
    tap.ok(ok and not b1 and not b2 and not b3 and not b4, "recover: the four bad calls failed")
    local names = {}
    for _, n in ipairs(ok and g:nodes() or {}) do names[#names + 1] = n:name() end
    -- e3 was made before the dot product failed; it stays, unused
    tap.is(table.concat(names, " "), "ids counts e3 emb top click",
           "recover: only the good nodes are in the graph")
    tap.ok(ok and type(r) == "table" and r.steps > 0 and r.valid and r.valid.auc == r.valid.auc,
           "recover: the graph trained after the errors")

    -- A table the core cannot take, raised while the call holds another it converted first
    -- (the options), or while it holds both: under make check (ASan's leak check at exit)
    -- these prove the converted values are freed, not lost to the longjmp. And a table read
    -- raw, so a metamethod cannot raise in the middle of the conversion.
    local core = rill.core
    local function raises(f, want, name)
      local okc, msg = pcall(f)
      if os.getenv("SHOW") then tap.diag("%s", tostring(msg)) end
      tap.ok(not okc, name .. ": raises")
      tap.like(tostring(msg), want, name .. ": names " .. table.concat(want, ", "))
    end
    local gc = ok and g.core
    local run = dir .. "/run-recover"
    local fn = print
    raises(function() return core.train(gc, { path = fn }, { epochs = 1 }, "t.lua:1") end,
           { "rill.train at t.lua:1: data.path", "a function cannot be an argument" },
           "core.train with a bad data table after its options")
    raises(function() return core.train(gc, { path = data, valid = 0.1 }, { epochs = 1, bogus = 1 }, "t.lua:2") end,
           { "unknown argument 'bogus'" }, "core.train with an unknown option: both tables held")
    raises(function() return core.evaluate(gc, { path = fn }, { run = run }, "t.lua:3") end,
           { "evaluate at t.lua:3.path", "a function cannot be an argument" },
           "core.evaluate with a bad data table after its options")
    raises(function() return core.gates(gc, { path = fn }, { run = run }) end,
           { "rill analyze gates.path", "a function" }, "core.gates with a bad data table")
    raises(function() return core.attention(gc, { path = fn }, { run = run, node = "top" }) end,
           { "rill analyze correlation.path", "a function" }, "core.attention with a bad data table")
    raises(function() return core.attention(gc, { path = data, valid = 0.1 }, { run = run, node = "top" }) end,
           { "'top' is not a tim or din node" }, "core.attention of a tower: both tables held")
    local booby = setmetatable({}, { __len = function() return 1 end,
                                     __index = function() error("a metamethod ran") end })
    raises(function()
             return core.spectrum(gc, { run = run, joint = { { name = "j", tables = booby } } })
           end, { "joint[1] needs a name and a list of tables" },
           "core.spectrum: a joint group's tables read raw, no metamethod")
    raises(function() return core.spectrum(gc, { run = run, joint = { { name = fn } } }) end,
           { "core.spectrum.joint[1].name", "a function" }, "core.spectrum with a function in it")
    raises(function() return core.gen_criteo{ rows = 10, out = fn } end,
           { "rill.gen_criteo.out", "a function" }, "core.gen_criteo with a function for out")
    local cycle = { rows = 10 }
    cycle.again = cycle
    raises(function() return core.gen_criteo(cycle) end,
           { "rill.gen_criteo.again.again", "tables nested too deeply (a cycle?)" },
           "core.gen_criteo of a table that holds itself: the tree made so far freed")
    raises(function() return core.gen_criteo{ rows = 10, list = { 1, { 2, print } } } end,
           { "rill.gen_criteo.list[2][2]", "a function" },
           "core.gen_criteo with a function deep in a list")
    raises(function() return core.gen_criteo_truth{ rows = 10, from = 20 } end,
           { "from must be below rows" }, "core.gen_criteo_truth: from past the rows")
  end
end)
