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
function analyze.spectrum(graph, run, c)
  local res = core.spectrum(graph.core, { run = run })
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
  local mean = 0
  for _, t in ipairs(res) do mean = mean + t.ia end
  if #res > 0 then lines[#lines + 1] = string.format("mean information abundance: %.3f over %d tables", mean / #res, #res) end
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
