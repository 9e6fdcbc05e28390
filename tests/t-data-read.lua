-- rill.data.read and the data cache from a script: the training part read from the text and
-- from the cache gives the same rows and bad lines; the first cached read writes the cache
-- (into the directory named by cache = "DIR"), the second maps it; the cache settings that are
-- not allowed are errors naming the setting.
package.path = arg[0]:match("^(.*/)") .. "?.lua;" .. package.path
local tap = require "tap"
local rill = require "rill"
local core = require "rill.core"

return tap.main(function()
  local dir = tap.tempdir()
  local data = dir .. "/d.tsv"
  rill.gen_criteo{ rows = 5000, seed = 3, out = data }
  local text = tap.read(data)
  local line1, rest = text:match("^([^\n]*\n)(.*)$")
  tap.write(data, line1 .. "1\tnot a line\n" .. rest) -- a bad line 2, in the training part
  local cdir = dir .. "/cache"

  local function read(cache)
    return rill.data.read(rill.data.criteo{ path = data, valid = 0.1, on_bad_line = "skip",
                                            cache = cache }, { batch = 512 })
  end
  local t = read(false)
  tap.ok(not t.cached and t.rows > 4400 and t.rows < 4600 and t.bad_lines == 1 and
         t.batches == (t.rows + 511) // 512,
         string.format("the text: %d rows in %d batches, %d bad line, %.0f rows/s", t.rows,
                       t.batches, t.bad_lines, t.rows_per_s))
  local first = read(cdir)
  local names = core.dir_entries(cdir)
  tap.ok(first.cached and first.rows == t.rows and first.bad_lines == t.bad_lines and #names == 1
         and names[1]:match("^d%.tsv%.%x+%.rillcache$"),
         "the first read with cache = DIR writes one cache there and reads from it: " .. tostring(names[1]))
  local again = read(cdir)
  tap.ok(again.cached and again.rows == t.rows and again.open_seconds < first.open_seconds + 1,
         string.format("the second maps it (opened in %.3f s; written in %.3f s)", again.open_seconds,
                       first.open_seconds))

  local function raises(f, needle, name)
    local ok, msg = pcall(f)
    tap.like(ok and "" or tostring(msg), { needle }, name)
  end
  raises(function() return read(3) end, "'cache' must be true, false or a directory",
         "cache = 3 is an error naming 'cache'")
  raises(function() return read("") end, "'cache' must be true, false or a directory",
         "cache = '' is an error")
  raises(function() return rill.data.read(rill.data.criteo{ path = data }, { batch = 1.5 }) end,
         "'batch' must be a whole number", "batch = 1.5 is an error")
  raises(function() return rill.data.read({ path = data }) end, "'data' must come from rill.data",
         "a plain table for data is an error")
end)
