-- SVG plots a person can open in a browser: line charts (spectra, sweeps) with axes, ticks
-- and a legend. No dependencies; the numbers are written with enough digits to read back.

local plot = {}

local palette = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                  "#7f7f7f", "#bcbd22", "#17becf" }

local function esc(s)
  return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"):gsub('"', "&quot;"))
end

local function fmt(v)
  if v == 0 then return "0" end
  local a = math.abs(v)
  if a >= 1e4 or a < 1e-3 then return string.format("%.1e", v) end
  return (string.format("%.4g", v))
end

-- "nice" ticks between lo and hi
local function ticks(lo, hi, n)
  if hi <= lo then hi = lo + 1 end
  local span = (hi - lo) / n
  local mag = 10 ^ math.floor(math.log(span, 10))
  local step = mag
  for _, m in ipairs{ 1, 2, 5, 10 } do
    if m * mag >= span then step = m * mag; break end
  end
  local t, v = {}, math.ceil(lo / step) * step
  while v <= hi + step * 1e-9 do
    t[#t + 1] = v
    v = v + step
  end
  return t
end

-- plot.lines{ title =, xlabel =, ylabel =, logy = false, logx = false,
--             series = { { name =, x = {...}, y = {...}, err = {...} (optional) }, ... } }
function plot.lines(o)
  local W, H, L, R, T, B = o.width or 720, o.height or 440, 70, 170, 40, 55
  local pw, ph = W - L - R, H - T - B
  local xmin, xmax, ymin, ymax = math.huge, -math.huge, math.huge, -math.huge
  local function tx(v) return o.logx and math.log(v, 10) or v end
  local function ty(v) return o.logy and math.log(v, 10) or v end
  for _, s in ipairs(o.series) do
    for i, x in ipairs(s.x) do
      local y = s.y[i]
      if y and y == y and (not o.logy or y > 0) and (not o.logx or x > 0) then
        local e = s.err and s.err[i] or 0
        xmin, xmax = math.min(xmin, tx(x)), math.max(xmax, tx(x))
        ymin, ymax = math.min(ymin, ty(y - (o.logy and 0 or e))), math.max(ymax, ty(y + (o.logy and 0 or e)))
      end
    end
  end
  if xmin > xmax then xmin, xmax, ymin, ymax = 0, 1, 0, 1 end
  if xmax == xmin then xmin, xmax = xmin - 0.5, xmax + 0.5 end
  if ymax == ymin then ymin, ymax = ymin - 0.5, ymax + 0.5 end
  local pad = (ymax - ymin) * 0.05
  ymin, ymax = ymin - pad, ymax + pad
  local function px(v) return L + (tx(v) - xmin) / (xmax - xmin) * pw end
  local function py(v) return T + ph - (ty(v) - ymin) / (ymax - ymin) * ph end
  local out = {}
  local function add(f, ...) out[#out + 1] = string.format(f, ...) end
  add('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">', W, H, W, H)
  add('<rect width="%d" height="%d" fill="white"/>', W, H)
  add('<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>', L, esc(o.title or ""))
  add('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>', L, T, pw, ph)
  local function axis_ticks(lo, hi, log, vertical)
    local ts = ticks(lo, hi, 6)
    for _, v in ipairs(ts) do
      local label = log and fmt(10 ^ v) or fmt(v)
      if vertical then
        local y = T + ph - (v - ymin) / (ymax - ymin) * ph
        if y >= T - 0.5 and y <= T + ph + 0.5 then
          add('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>', L, y, L + pw, y)
          add('<text x="%d" y="%.1f" text-anchor="end">%s</text>', L - 6, y + 4, label)
        end
      else
        local x = L + (v - xmin) / (xmax - xmin) * pw
        if x >= L - 0.5 and x <= L + pw + 0.5 then
          add('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>', x, T, x, T + ph)
          add('<text x="%.1f" y="%d" text-anchor="middle">%s</text>', x, T + ph + 18, label)
        end
      end
    end
  end
  axis_ticks(xmin, xmax, o.logx, false)
  axis_ticks(ymin, ymax, o.logy, true)
  add('<text x="%d" y="%d" text-anchor="middle">%s</text>', L + pw // 2, H - 12, esc(o.xlabel or ""))
  add('<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">%s</text>', T + ph // 2, T + ph // 2, esc(o.ylabel or ""))
  for k, s in ipairs(o.series) do
    local color = palette[(k - 1) % #palette + 1]
    local pts = {}
    for i, x in ipairs(s.x) do
      local y = s.y[i]
      if y and y == y and (not o.logy or y > 0) and (not o.logx or x > 0) then
        pts[#pts + 1] = string.format("%.1f,%.1f", px(x), py(y))
        if s.err and s.err[i] and s.err[i] > 0 and not o.logy then
          add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>', px(x), py(y - s.err[i]), px(x), py(y + s.err[i]), color)
        end
        if #s.x <= 40 then add('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>', px(x), py(y), color) end
      end
    end
    if #pts > 1 then add('<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>', color, table.concat(pts, " ")) end
    local ly = T + 10 + (k - 1) * 18
    add('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>', L + pw + 12, ly, L + pw + 32, ly, color)
    add('<text x="%d" y="%d">%s</text>', L + pw + 38, ly + 4, esc(s.name or ("series " .. k)))
  end
  add('</svg>')
  return table.concat(out, "\n") .. "\n"
end

-- plot.heatmap{ title =, xlabel =, ylabel =, xs = { labels }, ys = { labels },
--               value = function(i, j) -> number or nil (empty cell) }: a grid of cells shaded
-- from white (the smallest value) to dark blue (the largest), each with its value written.
function plot.heatmap(o)
  local nx, ny = #o.xs, #o.ys
  local cell, L, T = 34, 110, 50
  -- labels wider than a cell are written slanted below it, with room made for them
  local longest = 0
  for j = 1, nx do longest = math.max(longest, #tostring(o.xs[j])) end
  local slant = longest > 6
  local below = slant and math.floor(longest * 4.5) + 10 or 0
  for i = 1, ny do L = math.max(L, #tostring(o.ys[i]) * 6 + 12) end
  local W, H = L + nx * cell + 20 + (slant and 30 or 0), T + ny * cell + 70 + below
  W = math.max(W, #(o.title or "") * 7 + 20)
  local lo, hi = math.huge, -math.huge
  for i = 1, ny do
    for j = 1, nx do
      local v = o.value(i, j)
      if v and v == v then lo, hi = math.min(lo, v), math.max(hi, v) end
    end
  end
  if hi <= lo then hi = lo + 1 end
  local out = { string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="10">', W, H),
                string.format('<rect width="%d" height="%d" fill="white"/>', W, H),
                string.format('<text x="%d" y="20" font-size="14" text-anchor="middle">%s</text>', W // 2, esc(o.title or "")) }
  for i = 1, ny do
    out[#out + 1] = string.format('<text x="%d" y="%d" text-anchor="end">%s</text>', L - 6, T + (i - 1) * cell + cell // 2 + 4, esc(o.ys[i]))
    for j = 1, nx do
      local v = o.value(i, j)
      local x, y = L + (j - 1) * cell, T + (i - 1) * cell
      if v and v == v then
        local f = (v - lo) / (hi - lo)
        local r, g, b = math.floor(255 - 225 * f), math.floor(255 - 175 * f), math.floor(255 - 75 * f)
        out[#out + 1] = string.format('<rect x="%d" y="%d" width="%d" height="%d" fill="rgb(%d,%d,%d)" stroke="#ddd"/>', x, y, cell, cell, r, g, b)
        out[#out + 1] = string.format('<text x="%d" y="%d" text-anchor="middle" font-size="8" fill="%s">%s</text>', x + cell // 2, y + cell // 2 + 3, f > 0.6 and "white" or "black", fmt(v))
      else
        out[#out + 1] = string.format('<rect x="%d" y="%d" width="%d" height="%d" fill="#f4f4f4" stroke="#ddd"/>', x, y, cell, cell)
      end
    end
  end
  for j = 1, nx do
    local x = L + (j - 1) * cell + cell // 2
    if slant then
      local y = T + ny * cell + 12
      out[#out + 1] = string.format('<text x="%d" y="%d" text-anchor="end" transform="rotate(-40 %d %d)">%s</text>', x, y, x, y, esc(o.xs[j]))
    else
      out[#out + 1] = string.format('<text x="%d" y="%d" text-anchor="middle">%s</text>', x, T + ny * cell + 14, esc(o.xs[j]))
    end
  end
  out[#out + 1] = string.format('<text x="%d" y="%d" text-anchor="middle" font-size="12">%s</text>', L + nx * cell // 2, T + ny * cell + 40 + below, esc(o.xlabel or ""))
  out[#out + 1] = string.format('<text x="14" y="%d" font-size="12" transform="rotate(-90 14 %d)" text-anchor="middle">%s</text>', T + ny * cell // 2, T + ny * cell // 2, esc(o.ylabel or ""))
  out[#out + 1] = "</svg>\n"
  return table.concat(out, "\n")
end

return plot
