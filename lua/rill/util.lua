-- Small helpers the command-line modules share (the benchmarks, sweeps).
local M = {}

-- true when path names something that can be opened for reading
function M.exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- a whole number with thousands separators: 1234567 -> "1,234,567"
function M.commas(n)
  local s = string.format("%d", math.floor(n + 0.5))
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

return M
