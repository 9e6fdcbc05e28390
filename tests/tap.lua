-- A tiny TAP producer for the Lua tests, the counterpart of tests/tap.h: ok, is, like,
-- diag, skip_all, done_testing, plus what the tests around bin/rill need: a temporary
-- directory removed at the end, and running a command for its exit status and output.
--   package.path = arg[0]:match("^(.*/)") .. "?.lua;" .. package.path
--   local tap = require "tap"
-- Failures print the test file's line and, for strings, what was got and wanted.

local tap = { run = 0, failed = 0 }

-- the test file's line that called into this module
local function caller()
  for level = 3, 12 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.short_src ~= debug.getinfo(1, "S").short_src and (info.currentline or 0) > 0 then
      return info.short_src, info.currentline
    end
  end
  return "?", 0
end

local function comment(text)
  return (tostring(text):gsub("\n", "\n#   "))
end

-- ok(cond, name [, todo]): a TODO test may fail without failing the file (TAP's "# TODO")
function tap.ok(cond, name, todo)
  tap.run = tap.run + 1
  local pass = not not cond
  if not pass and not todo then tap.failed = tap.failed + 1 end
  name = tostring(name or ""):gsub("\n", " "):gsub("#", "\\#")
  io.write(string.format("%sok %d - %s%s\n", pass and "" or "not ", tap.run, name,
                         todo and (" # TODO " .. todo) or ""))
  if not pass then
    local file, line = caller()
    io.write(string.format("#   Failed test at %s line %d.\n", file, line))
  end
  io.flush()
  return pass
end

function tap.diag(fmt, ...)
  io.write("# ", comment(string.format(fmt, ...)), "\n")
  io.flush()
end

function tap.is(got, want, name)
  local pass = tap.ok(got == want, name)
  if not pass then tap.diag("     got: %s\nexpected: %s", tostring(got), tostring(want)) end
  return pass
end

-- like(text, needles, name): text contains every plain string in needles (a string or a list)
function tap.like(text, needles, name, todo)
  if type(needles) ~= "table" then needles = { needles } end
  local missing = {}
  for _, s in ipairs(needles) do
    if type(text) ~= "string" or not text:find(s, 1, true) then missing[#missing + 1] = s end
  end
  local pass = tap.ok(#missing == 0, name, todo)
  if not pass then
    tap.diag("text: %s\nlacks: %s", tostring(text), table.concat(missing, " | "))
  end
  return pass
end

function tap.skip_all(why)
  io.write("1..0 # SKIP ", why, "\n")
  os.exit(0)
end

function tap.skip(why)
  tap.run = tap.run + 1
  io.write(string.format("ok %d # SKIP %s\n", tap.run, why))
end

-- Prints the plan and, as a script's last statement (`return tap.done_testing()`), gives
-- bin/rill run its exit status.
function tap.done_testing()
  io.write(string.format("1..%d\n", tap.run))
  if tap.failed > 0 then
    io.write(string.format("# Looks like you failed %d test%s of %d.\n", tap.failed,
                           tap.failed == 1 and "" or "s", tap.run))
  end
  io.flush()
  return tap.failed > 0 and 1 or 0
end

-- tap.main(fn): runs the test body; an error in it is a failed test, not a lost temporary
-- directory. Ends with the plan: `return tap.main(function() ... end)`.
function tap.main(fn)
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then
    tap.ok(false, "the test script ran to its end")
    tap.diag("%s", tostring(err))
  end
  tap.cleanup()
  return tap.done_testing()
end

---------------------------------------------------------------------------- files, commands

-- s as one word for sh, whatever it holds (spaces, quotes, ;, $(...), newlines, a leading -):
-- single quotes, each ' inside as '\''. tap.sh's commands are built with it (t-files.lua
-- tests it against such names).
function tap.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function tap.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- the engine's own file functions (bin/rill run has them): no shell, every write checked
local core = require "rill.core"

function tap.write(path, text)
  core.write_file(path, text)
end

-- A fresh directory under $TMPDIR; tap.cleanup() removes it (tap.main calls it).
function tap.tempdir()
  local tmp = os.getenv("TMPDIR")
  local dir = core.mkdtemp(((tmp and tmp ~= "") and tmp or "/tmp") .. "/rill-test-")
  tap.dir = dir
  return dir
end

function tap.cleanup()
  if tap.dir and tap.dir:match("/rill%-test%-[%w]+$") then
    core.remove_tree(tap.dir)
    tap.dir = nil
  end
end

-- sh(cmd): runs cmd under sh with stdout and stderr captured; returns a table
-- { status = exit code or nil, signal = number or nil, out =, err = }
function tap.sh(cmd)
  assert(tap.dir, "tap.sh needs tap.tempdir() first")
  local out, err = tap.dir .. "/.out", tap.dir .. "/.err"
  local _, how, code = os.execute(string.format("(%s) >%s 2>%s", cmd, tap.quote(out), tap.quote(err)))
  local r = { out = tap.read(out) or "", err = tap.read(err) or "" }
  if how == "exit" then r.status = code else r.signal = code end
  os.remove(out)
  os.remove(err)
  return r
end

return tap
