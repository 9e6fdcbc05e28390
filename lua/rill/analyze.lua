-- rill analyze: analyses of a trained run. Each takes the pipeline's graph (rebuilt by
-- rill.train in analyze mode), the run directory and the command line, prints a table and
-- writes CSV and SVG files into the output directory (default RUN/analysis).

local core = require "rill.core"
local plot = require "rill.plot"

local analyze = {}

-- checked: an error names the file and the OS error (a full disk)
local write = core.write_file

-- Singular spectrum per table (Guo et al., "On the Embedding Collapse when Scaling up
-- Recommendation Models"): singular values normalised by the largest, and information
-- abundance IA = sum(sigma) / max(sigma), between 1 (collapsed) and dim (balanced).
-- Factorised (MLET) tables are analysed as their collapsed rows W1 W2.
-- Multi-embedding: the tables of a field's M sets ("emb.C1", "emb.s2.C1", ...) are also
-- analysed jointly, each id's rows of all sets side by side (one M*d embedding), which is
-- what compares with a single embedding of dim M*d.
local function set_groups(res)
  local names, by_key, groups = {}, {}, {}
  for _, t in ipairs(res) do names[t.name] = true end
  for name in pairs(names) do
    local node, k, field = name:match("^(.-)%.s(%d+)%.([^%.]+)$")
    if node and names[node .. "." .. field] then
      local key = node .. "." .. field
      if not by_key[key] then
        by_key[key] = { name = string.format("%s [sets]", key), tables = { key }, sets = {} }
        groups[#groups + 1] = by_key[key]
      end
      by_key[key].sets[#by_key[key].sets + 1] = { tonumber(k), name }
    end
  end
  for _, grp in ipairs(groups) do
    table.sort(grp.sets, function(a, b) return a[1] < b[1] end)
    for _, s in ipairs(grp.sets) do grp.tables[#grp.tables + 1] = s[2] end
    grp.name = string.format("%s [%d sets]", grp.tables[1], #grp.tables)
    grp.sets = nil
  end
  table.sort(groups, function(a, b) return a.name < b.name end)
  return groups
end

function analyze.spectrum(graph, run, c)
  local min_count = c.min_count and math.tointeger(tonumber(c.min_count))
  if c.min_count and (not min_count or min_count < 0) then
    error(string.format("--min-count %s: expected a whole number, 0 or more", tostring(c.min_count)), 0)
  end
  local res = core.spectrum(graph.core, { run = run, min_count = min_count })
  local groups = set_groups(res)
  if c.joint then
    local tables = {}
    for name in tostring(c.joint):gmatch("[^,]+") do tables[#tables + 1] = name end
    groups[#groups + 1] = { name = string.format("%s [joint]", table.concat(tables, "+")), tables = tables }
  end
  if #groups > 0 then
    for _, j in ipairs(core.spectrum(graph.core, { run = run, joint = groups, tables = false,
                                                   min_count = min_count })) do
      res[#res + 1] = j
    end
  end
  local dir = c.out or (run .. "/analysis")
  core.mkdir(dir)
  local lines = { string.format("%-28s %10s %5s %8s  %s", "table", "rows", "dim", "IA",
                                "normalised singular values (first 8)") }
  local csv = { "table,rows,dim,information_abundance,index,singular_value,normalised" }
  local series = {}
  for _, t in ipairs(res) do
    local top = t.sv[1] or 0
    local first = {}
    for k = 1, math.min(8, #t.sv) do first[#first + 1] = string.format("%.3f", top > 0 and t.sv[k] / top or 0) end
    lines[#lines + 1] = string.format("%-28s %10d %5d %8.3f  %s", t.name, t.rows, t.dim, t.ia, table.concat(first, " "))
    local xs, ys = {}, {}
    for k, v in ipairs(t.sv) do
      csv[#csv + 1] = string.format("%s,%d,%d,%.6g,%d,%.9g,%.9g", t.name, t.rows, t.dim, t.ia, k, v, top > 0 and v / top or 0)
      if top > 0 and v > 0 then xs[#xs + 1] = k; ys[#ys + 1] = v / top end
    end
    series[#series + 1] = { name = string.format("%s (IA %.2f)", t.name, t.ia), x = xs, y = ys }
  end
  local mean, nt, jmean, nj = 0, 0, 0, 0
  for _, t in ipairs(res) do
    if t.name:match(" %[joint%]$") then -- (asked for: not in the means)
    elseif t.name:match(" %[%d+ sets%]$") then jmean, nj = jmean + t.ia, nj + 1 else mean, nt = mean + t.ia, nt + 1 end
  end
  if nt > 0 then lines[#lines + 1] = string.format("mean information abundance: %.3f over %d tables", mean / nt, nt) end
  if nj > 0 then
    lines[#lines + 1] = string.format("mean information abundance of the sets read jointly: %.3f over %d fields", jmean / nj, nj)
  end
  write(dir .. "/spectrum.csv", table.concat(csv, "\n") .. "\n")
  -- one plot, at most 10 tables (the most rows), normalised singular values on a log scale
  table.sort(series, function(a, b) return #a.y > #b.y end)
  local shown = {}
  local order = {}
  for i, t in ipairs(res) do order[i] = t end
  table.sort(order, function(a, b) return a.rows > b.rows end)
  for i = 1, math.min(10, #order) do
    for _, s in ipairs(series) do
      if s.name:sub(1, #order[i].name + 1) == order[i].name .. " " then shown[#shown + 1] = s end
    end
  end
  write(dir .. "/spectrum.svg", plot.lines{ title = "Singular spectrum: " .. run, xlabel = "index",
                                            ylabel = "singular value / largest", logy = true,
                                            series = shown })
  print(table.concat(lines, "\n"))
  print(string.format("written: %s/spectrum.csv, %s/spectrum.svg", dir, dir))
  return res
end

-- the node c names, or the graph's first with behaviour weights (a tim or din node)
local function attention_node(graph, c)
  local node = c.node
  if not node then
    for _, n in ipairs(graph.core:nodes()) do
      if not node and n:capabilities().behaviour_weights then node = n:name() end
    end
  end
  if not node then error("rill analyze correlation: the run's graph has no tim or din node", 0) end
  return node
end

-- names of the category hashes, from the text of the file at path (columns tcat and scat)
local function category_names(path, sep, tcat, scat)
  local names = {}
  local f = io.open(path, "rb")
  if f then
    local header = f:read("l")
    local idx = {}
    local k = 0
    for h in (header .. sep):gmatch("([^" .. sep .. "]*)" .. sep) do k = k + 1; idx[h] = k end
    for line in f:lines() do
      local i = 0
      for v in (line .. sep):gmatch("([^" .. sep .. "]*)" .. sep) do
        i = i + 1
        if i == idx[tcat] or i == idx[scat] then
          for one in v:gmatch("[^|]+") do names[core.hash_text(one)] = one end
        end
      end
    end
    f:close()
  end
  return names
end

-- attention by position: lines for the first 20 positions, correlation_position.csv and .svg
local function position_report(res, node, dir, lines)
  local csv = { "position,mean_weight,weight_x_behaviours,count" }
  local xs, ys = {}, {}
  for _, p in ipairs(res.positions) do
    if p.count > 0 then
      if p.position <= 20 then lines[#lines + 1] = string.format("%8d %10.4f %12.4f %10d", p.position, p.mean, p.lift, p.count) end
      csv[#csv + 1] = string.format("%d,%.6g,%.6g,%d", p.position, p.mean, p.lift, p.count)
      xs[#xs + 1], ys[#ys + 1] = p.position, p.mean
    end
  end
  write(dir .. "/correlation_position.csv", table.concat(csv, "\n") .. "\n")
  write(dir .. "/correlation_position.svg", plot.lines{ title = "Attention by position: " .. node,
    xlabel = "position before the target (1 = newest)", ylabel = "mean attention weight",
    series = { { name = node, x = xs, y = ys } } })
end

-- the n keys of counts with the largest counts (ties by key)
local function top(counts, n)
  local t = {}
  for k in pairs(counts) do t[#t + 1] = k end
  table.sort(t, function(a, b) if counts[a] ~= counts[b] then return counts[a] > counts[b] end return a < b end)
  while #t > n do t[#t] = nil end
  return t
end

-- category pairs, over the most frequent behaviour and target categories:
-- correlation_pairs.csv and .svg, and correlation_position_target.svg
local function category_report(res, names, node, tcat, scat, dir)
  local count_b, count_t = {}, {}
  for _, p in ipairs(res.pairs) do
    count_b[p.behaviour] = (count_b[p.behaviour] or 0) + p.count
    count_t[p.target] = (count_t[p.target] or 0) + p.count
  end
  local tb, tt = top(count_b, 15), top(count_t, 15)
  local cell = {}
  local csv2 = { "behaviour_category,target_category,mean_weight,count" }
  for _, p in ipairs(res.pairs) do
    cell[p.behaviour .. ":" .. p.target] = p
    csv2[#csv2 + 1] = string.format("%s,%s,%.6g,%d", names[p.behaviour] or p.behaviour, names[p.target] or p.target, p.mean, p.count)
  end
  table.sort(csv2, function(a, b) if a:sub(1, 9) == "behaviour" then return true end if b:sub(1, 9) == "behaviour" then return false end return a < b end)
  write(dir .. "/correlation_pairs.csv", table.concat(csv2, "\n") .. "\n")
  local label = function(h) return names[h] or tostring(h) end
  local xl, yl = {}, {}
  for _, h in ipairs(tt) do xl[#xl + 1] = label(h) end
  for _, h in ipairs(tb) do yl[#yl + 1] = label(h) end
  write(dir .. "/correlation_pairs.svg", plot.heatmap{
    title = "Mean attention by behaviour and target category: " .. node,
    xlabel = "target category (" .. tcat .. ")", ylabel = "behaviour category (" .. scat .. ")",
    xs = xl, ys = yl,
    value = function(i, j)
      local p = cell[tb[i] .. ":" .. tt[j]]
      return p and p.count >= 5 and p.mean or nil
    end })
  -- position x target category: the weight times the row's behaviours (1: even spread)
  local pcell, maxpos = {}, 0
  for _, p in ipairs(res.position_targets or {}) do
    pcell[p.position .. ":" .. p.target] = p
    if p.position <= 20 and p.position > maxpos then maxpos = p.position end
  end
  local px = {}
  for p = 1, maxpos do px[#px + 1] = tostring(p) end
  write(dir .. "/correlation_position_target.svg", plot.heatmap{
    title = "Attention x behaviours, by position and target category: " .. node,
    xlabel = "position before the target (1 = newest)", ylabel = "target category (" .. tcat .. ")",
    xs = px, ys = xl,
    value = function(i, j)
      local p = pcell[j .. ":" .. tt[i]]
      return p and p.count >= 5 and p.lift or nil
    end })
end

-- Behaviour-target correlation a sequence model learned (TIM's and DIN's papers show it as
-- heat maps): the attention weights of a tim or din node over the validation data, averaged
-- by the behaviour's position relative to the target (1 = newest) and by (behaviour category,
-- target category), for the most frequent categories. "x uniform" is the weight times the
-- row's number of behaviours: 1 where a softmax (tim) spreads evenly, above 1 where it favours
-- the position. Category names come from the data file's text (values are hashed in batches).
function analyze.correlation(graph, run, c, spec, data)
  local node = attention_node(graph, c)
  local tcat, scat = c.target_cat or "item_cat", c.sequence_cat or "hist_cats"
  local res = core.attention(graph.core, spec, { run = run, node = node, target_cat = tcat, sequence_cat = scat })
  local dir = c.out or (run .. "/analysis")
  core.mkdir(dir)
  local names = category_names(spec.valid_path or spec.path, data.schema:columns().sep or "\t", tcat, scat)
  local lines = { string.format("%s: attention by the behaviour's position before the target (1 = newest)", node),
                  string.format("%8s %10s %12s %10s", "position", "mean", "x uniform", "count") }
  position_report(res, node, dir, lines)
  category_report(res, names, node, tcat, scat, dir)
  -- the diagonal against the rest: does a behaviour of the target's category weigh more?
  local same, same_n, other, other_n = 0, 0, 0, 0
  for _, p in ipairs(res.pairs) do
    if p.behaviour == p.target then same, same_n = same + p.mean * p.count, same_n + p.count
    else other, other_n = other + p.mean * p.count, other_n + p.count end
  end
  if same_n > 0 and other_n > 0 then
    lines[#lines + 1] = string.format("behaviours of the target's category: mean weight %.4f (%d); of other categories: %.4f (%d)",
                                      same / same_n, same_n, other / other_n, other_n)
  end
  print(table.concat(lines, "\n"))
  print(string.format("written: %s/correlation_position.csv, .svg; %s/correlation_pairs.csv, .svg; %s/correlation_position_target.svg", dir, dir, dir))
  return res
end

-- Interest entanglement of a multi-task model ("Ads Recommendation in a Collapsed and
-- Entangled World", KDD 2024; STEM, AAAI 2024): training probes each task's gradient on every
-- embedding table every `entanglement` steps (rill.train, default 100) and logs its norm and
-- the cosine of each pair of tasks to metrics.jsonl. Here the tables are grouped by the node
-- that owns them (an embedding set: "shared_emb.C1" belongs to "shared_emb") and each set's
-- cosine is taken over all its tables at once (dot products and squared norms summed over
-- the tables). A negative cosine is a conflict: the tasks pull the shared rows apart. Then
-- the per-task spectrum: the mean information abundance of each set's tables, for the sets
-- each task's loss reaches.
local function read_probes(run)
  local path = run .. "/metrics.jsonl"
  local f = io.open(path, "rb")
  if not f then error("rill analyze entanglement: cannot read " .. path, 0) end
  local probes, tasks = {}, nil
  local lineno = 0
  for line in f:lines() do
    lineno = lineno + 1
    if line:find('"split":"entanglement"', 1, true) then
      local step = tonumber(line:match('"step":(%d+)'))
      local name = line:match('"table":"([^"]*)"')
      local ts, norms, coss = line:match('"tasks":%[(.-)%]'), line:match('"norm":%[(.-)%]'),
                              line:match('"cos":%[(.-)%]')
      if not (step and name and ts and norms and coss) then
        f:close()
        error(string.format("%s:%d: not an entanglement record", path, lineno), 0)
      end
      local t, n, c = {}, {}, {}
      for x in ts:gmatch('"([^"]*)"') do t[#t + 1] = x end
      for x in norms:gmatch("[^,]+") do n[#n + 1] = tonumber(x) or 0 / 0 end -- null: not finite
      for x in coss:gmatch("[^,]+") do c[#c + 1] = x == "null" and false or tonumber(x) end
      tasks = tasks or t
      probes[#probes + 1] = { step = step, table = name, norm = n, cos = c }
    end
  end
  f:close()
  return probes, tasks or {}
end

-- The probes grouped by embedding set (the node owning the table), sorted by name; per set
-- and step: summed squared norms per task and summed dot products per pair of tasks
local function group_probes(probes, nt, pairs_)
  local sets, set_list = {}, {}
  for _, p in ipairs(probes) do
    local set = p.table:match("^([^%.]+)%.") or p.table
    local s = sets[set]
    if not s then
      s = { name = set, steps = {}, order = {}, tables = {}, reached = {} }
      sets[set] = s
      set_list[#set_list + 1] = s
    end
    s.tables[p.table] = true
    local at = s.steps[p.step]
    if not at then
      at = { sq = {}, dot = {} }
      for k = 1, nt do at.sq[k] = 0 end
      for i = 1, #pairs_ do at.dot[i] = 0 end
      s.steps[p.step] = at
      s.order[#s.order + 1] = p.step
    end
    for k = 1, nt do
      local v = p.norm[k] or 0
      at.sq[k] = at.sq[k] + v * v -- a non-finite norm makes the step's cosine NaN: left out below
      if v > 0 then s.reached[k] = true end
    end
    for i, pr in ipairs(pairs_) do
      local cs = p.cos[i]
      if cs then at.dot[i] = at.dot[i] + cs * p.norm[pr[1]] * p.norm[pr[2]] end
    end
  end
  table.sort(set_list, function(x, y) return x.name < y.name end)
  return set_list
end

-- One set's line for the pair of tasks `label`, from its cosines ys over the probes: their
-- mean per third of training and overall, and the share in conflict (negative)
local function cosine_line(s, label, ys)
  local function mean(lo, hi)
    local sum, n = 0, 0
    for j = lo, hi do sum, n = sum + ys[j], n + 1 end
    return n > 0 and string.format("%7.3f", sum / n) or "    n/a" -- a third without probes
  end
  -- probe j (of n) is in third floor(3 (j - 1) / n) + 1; the first ends at ceil(n / 3)
  local n = #ys
  local e1, e2 = (n + 2) // 3, (2 * n + 2) // 3
  local conflict = 0
  for _, v in ipairs(ys) do if v < 0 then conflict = conflict + 1 end end
  return string.format("%-22s %-30s %s %s %s %s %8.0f%%", s.name, label,
    mean(1, e1), mean(e1 + 1, e2), mean(e2 + 1, n), mean(1, n), 100 * conflict / n)
end

-- the cosine of each pair of tasks' gradients per set and step: lines, entanglement.csv, .svg
local function cosine_report(set_list, tasks, pairs_, run, dir, lines)
  local nt = #tasks
  local csv = { "set,task_a,task_b,step,cosine,norm_a,norm_b" }
  local series = {}
  for _, s in ipairs(set_list) do
    table.sort(s.order)
    for i, pr in ipairs(pairs_) do
      local xs, ys = {}, {}
      for _, step in ipairs(s.order) do
        local at = s.steps[step]
        local na, nb = math.sqrt(at.sq[pr[1]]), math.sqrt(at.sq[pr[2]])
        local cs = na > 0 and nb > 0 and at.dot[i] / (na * nb) or 0 / 0
        if cs == cs and cs > -math.huge and cs < math.huge then
          xs[#xs + 1], ys[#ys + 1] = step, cs
          csv[#csv + 1] = string.format("%s,%s,%s,%d,%.6g,%.6g,%.6g", s.name, tasks[pr[1]], tasks[pr[2]], step, cs, na, nb)
        end
      end
      local label = tasks[pr[1]] .. " / " .. tasks[pr[2]]
      if #ys == 0 then
        local only = {}
        for k = 1, nt do if s.reached[k] then only[#only + 1] = tasks[k] end end
        lines[#lines + 1] = string.format("%-22s %-30s  not shared (trained by: %s)", s.name, label,
                                          #only > 0 and table.concat(only, ", ") or "none")
      else
        lines[#lines + 1] = cosine_line(s, label, ys)
        series[#series + 1] = { name = s.name .. ": " .. label, x = xs, y = ys }
      end
    end
  end
  lines[#lines + 1] = string.format("cosine of the tasks' gradients per embedding set over %d probes " ..
                                    "(thirds of training; conflict: probes with a negative cosine)",
                                    #set_list > 0 and #set_list[1].order or 0)
  write(dir .. "/entanglement.csv", table.concat(csv, "\n") .. "\n")
  write(dir .. "/entanglement.svg", plot.lines{ title = "Tasks' gradient cosine on shared embeddings: " .. run,
                                                xlabel = "step", ylabel = "cosine", series = series })
end

-- per-task spectrum, the sets each task's loss reaches: lines, entanglement_spectrum.csv, .svg
local function task_spectrum_report(graph, run, set_list, tasks, dir, lines)
  local nt = #tasks
  local spec = {}
  for _, t in ipairs(core.spectrum(graph.core, { run = run, min_count = 1 })) do spec[t.name] = t end
  lines[#lines + 1] = ""
  lines[#lines + 1] = string.format("%-22s %-16s %7s %5s %9s", "embedding set", "task", "tables", "dim", "mean IA")
  local scsv = { "set,task,tables,dim,mean_information_abundance" }
  local sseries = {}
  for _, s in ipairs(set_list) do
    local sum, n, dim, sv = 0, 0, 0, {}
    for name in pairs(s.tables) do
      local t = spec[name]
      if t and t.sv[1] and t.sv[1] > 0 then
        sum, n, dim = sum + t.ia, n + 1, t.dim
        for k, v in ipairs(t.sv) do sv[k] = (sv[k] or 0) + v / t.sv[1] end
      end
    end
    if n > 0 then
      for k = 1, nt do
        if s.reached[k] then
          lines[#lines + 1] = string.format("%-22s %-16s %7d %5d %9.3f", s.name, tasks[k], n, dim, sum / n)
          scsv[#scsv + 1] = string.format("%s,%s,%d,%d,%.6g", s.name, tasks[k], n, dim, sum / n)
        end
      end
      local xs, ys = {}, {}
      for k, v in ipairs(sv) do xs[k], ys[k] = k, v / n end
      local by = {}
      for k = 1, nt do if s.reached[k] then by[#by + 1] = tasks[k] end end
      sseries[#sseries + 1] = { name = string.format("%s (%s; IA %.2f)", s.name, table.concat(by, ", "), sum / n), x = xs, y = ys }
    end
  end
  lines[#lines + 1] = "mean information abundance of each set's tables (rows trained 1+ steps), per task reaching it"
  write(dir .. "/entanglement_spectrum.csv", table.concat(scsv, "\n") .. "\n")
  write(dir .. "/entanglement_spectrum.svg", plot.lines{ title = "Per-task embedding spectrum: " .. run,
    xlabel = "index", ylabel = "mean singular value / largest", logy = true, series = sseries })
end

function analyze.entanglement(graph, run, c)
  local probes, tasks = read_probes(run)
  if #probes == 0 then
    error("rill analyze entanglement: " .. run .. "/metrics.jsonl has no gradient probes: the " ..
          "graph needs two or more losses, and rill.train's entanglement (steps between probes) " ..
          "must not be 0", 0)
  end
  local nt = #tasks
  local pairs_ = {}
  for a = 1, nt do for b = a + 1, nt do pairs_[#pairs_ + 1] = { a, b } end end
  local set_list = group_probes(probes, nt, pairs_)
  local dir = c.out or (run .. "/analysis")
  core.mkdir(dir)
  local lines = { string.format("%-22s %-30s %7s %7s %7s %7s %9s", "embedding set", "tasks",
                                "early", "middle", "late", "mean", "conflict") }
  cosine_report(set_list, tasks, pairs_, run, dir, lines)
  task_spectrum_report(graph, run, set_list, tasks, dir, lines)
  print(table.concat(lines, "\n"))
  print(string.format("written: %s/entanglement.csv, .svg; %s/entanglement_spectrum.csv, .svg", dir, dir))
  return { sets = set_list, tasks = tasks }
end

-- Gate weights: every gate node's mean mixture weight of each of its experts over the run's
-- validation data, which experts (and, with AME or STEM, which embedding sets) each task's
-- mixture leans on.
function analyze.gates(graph, run, c, spec)
  local res = core.gates(graph.core, spec, { run = run })
  local dir = c.out or (run .. "/analysis")
  core.mkdir(dir)
  local lines, csv = {}, { "gate,expert,mean_weight" }
  local experts, seen = {}, {}
  for _, gt in ipairs(res) do
    lines[#lines + 1] = string.format("%s (%d rows):", gt.gate, gt.rows)
    for _, e in ipairs(gt.experts) do
      lines[#lines + 1] = string.format("  %-28s %6.3f  %s", e.expert, e.mean, string.rep("#", math.floor(40 * e.mean + 0.5)))
      csv[#csv + 1] = string.format("%s,%s,%.6f", gt.gate, e.expert, e.mean)
      if not seen[e.expert] then seen[e.expert] = true; experts[#experts + 1] = e.expert end
    end
  end
  write(dir .. "/gates.csv", table.concat(csv, "\n") .. "\n")
  local ys = {}
  for i, gt in ipairs(res) do ys[i] = gt.gate end
  write(dir .. "/gates.svg", plot.heatmap{ title = "Mean gate weights: " .. run, xs = experts, ys = ys,
    value = function(i, j)
      for _, e in ipairs(res[i].experts) do if e.expert == experts[j] then return e.mean end end
      return nil
    end })
  print(table.concat(lines, "\n"))
  print(string.format("written: %s/gates.csv, %s/gates.svg", dir, dir))
  return res
end

return analyze
