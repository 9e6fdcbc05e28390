-- rill analyze: analyses of a trained run. Each takes the pipeline's graph (rebuilt by
-- rill.train in analyze mode), the run directory and the command line, prints a table and
-- writes CSV and SVG files into the output directory (default RUN/analysis).

local core = require "rill.core"
local plot = require "rill.plot"

local analyze = {}

local function write(path, text)
  local f, msg = io.open(path, "wb")
  if not f then error("cannot write " .. path .. ": " .. tostring(msg), 0) end
  f:write(text)
  f:close()
end

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

return analyze
