-- The engine's file and process functions for the Lua side (rill.core: mkdir, remove_tree,
-- write_file, dir_entries, file_type, mkdtemp, spawn, wait), which replace every shell command
-- the Lua code used to run. Each is tried on hostile names (spaces, quotes, ;, $(...), `...`,
-- newlines, a leading -, a glob): the paths made and removed are exactly the ones named, and
-- nothing is ever executed (a name that a shell would run creates a marker file: there must
-- be none). Also tap.quote, with which tests/tap.lua still builds its shell commands.
package.path = arg[0]:match("^(.*/)") .. "?.lua;" .. package.path
local tap = require "tap"
local core = require "rill.core"

return tap.main(function()
  local dir = tap.tempdir()
  local root = arg[0]:match("^(.-)/?tests/[^/]*$")
  local bin = (root == "" and "." or root) .. "/bin/rill"

  -- each would run `touch PWNED...` (in the working directory) if a shell saw it; none has
  -- a '/', so each is one path component
  local hostile = {
    "plain",
    "with space",
    "semi;touch PWNED1;x",
    "dollar$(touch PWNED2)",
    "back`touch PWNED3`tick",
    "quote'touch PWNED4'q",
    'dq"x"; touch PWNED5',
    "new\nline\ntouch PWNED6",
    "-leading-dash",
    "--rf",
    "glob*?[a]",
    "amp&&touch PWNED7&",
    "pipe|touch PWNED8",
    "redir>x",
    "tab\there",
    "é ünïcödé",
  }
  local function no_marker(what)
    local left = {}
    for _, d in ipairs{ ".", dir } do
      for _, n in ipairs(core.dir_entries(d)) do
        if n:match("^PWNED") then left[#left + 1] = d .. "/" .. n end
      end
    end
    tap.ok(#left == 0, what .. ": nothing was executed (no PWNED marker)")
    if #left > 0 then tap.diag("found: %s", table.concat(left, " ")) end
  end
  local function raises(fn, needles, name)
    local ok, msg = pcall(fn)
    tap.ok(not ok, name .. ": raises an error")
    return tap.like(msg, needles, name .. ": the message")
  end

  -- ---- mkdir: every component, exactly as named
  for i, name in ipairs(hostile) do
    local path = dir .. "/" .. name .. "/sub " .. i .. "/" .. name
    local ok, msg = pcall(core.mkdir, path)
    tap.ok(ok and core.file_type(path) == "directory",
           string.format("mkdir -p %q: made", name))
    if not ok then tap.diag("%s", tostring(msg)) end
    tap.ok(pcall(core.mkdir, path), string.format("mkdir %q again: an existing directory is fine", name))
  end
  no_marker("mkdir")
  -- in the working directory: a name starting with '-' is a name, not an option
  tap.ok(core.mkdir(dir .. "/./-p/../-p//x/") and core.file_type(dir .. "/-p/x") == "directory",
         "mkdir: '.', '..', '//' and a trailing '/' in a path")
  tap.write(dir .. "/afile", "x")
  raises(function() core.mkdir(dir .. "/afile") end, { dir .. "/afile", "a file of that name is in the way" },
         "mkdir over a file")
  raises(function() core.mkdir(dir .. "/afile/below") end, { dir .. "/afile:", "a file of that name is in the way" },
         "mkdir below a file: names the component")
  raises(function() core.mkdir("") end, { "empty name" }, "mkdir of ''")

  -- ---- write_file
  for i, name in ipairs(hostile) do
    local path = dir .. "/" .. name .. "/f" .. i
    core.write_file(path, name .. "\0bytes")
    tap.is(tap.read(path), name .. "\0bytes", string.format("write_file into %q: the bytes", name))
  end
  raises(function() core.write_file(dir .. "/no/such/dir/f", "x") end,
         { "cannot write " .. dir .. "/no/such/dir/f", "No such file or directory" },
         "write_file into a missing directory")
  if core.file_type("/dev/full") == "other" then
    raises(function() core.write_file("/dev/full", "x") end,
           { "cannot write /dev/full", "No space left on device", "(the disk is full)" },
           "write_file to /dev/full")
  else
    tap.skip("no /dev/full")
  end

  -- ---- dir_entries, file_type
  local names = core.dir_entries(dir .. "/" .. hostile[2])
  table.sort(names)
  tap.is(table.concat(names, ","), "f2,sub 2", "dir_entries: the names, no . or ..")
  tap.is(core.dir_entries(dir .. "/nothing-here"), nil, "dir_entries of nothing: nil")
  raises(function() core.dir_entries(dir .. "/afile") end, { dir .. "/afile", "Not a directory" },
         "dir_entries of a file")
  tap.is(core.file_type(dir .. "/afile"), "file", "file_type: file")
  tap.is(core.file_type(dir .. "/nothing-here"), nil, "file_type of nothing: nil")

  -- ---- remove_tree: exactly the tree named, links removed and not followed
  local keep = dir .. "/keep"
  core.mkdir(keep .. "/inner")
  tap.write(keep .. "/inner/precious", "keep me")
  local victim = dir .. "/victim"
  core.mkdir(victim .. "/a/b/c")
  tap.write(victim .. "/a/b/c/file", "x")
  tap.write(victim .. "/top", "x")
  for _, name in ipairs(hostile) do
    core.mkdir(victim .. "/a/" .. name)
    tap.write(victim .. "/a/" .. name .. "/" .. name, "x")
  end
  -- links into the kept tree, to a file in it and to something missing; a shell glob would
  -- also have caught "victim-sibling"
  local have_ln = tap.sh("ln -s " .. tap.quote(keep) .. " " .. tap.quote(victim .. "/a/link-dir") ..
                         " && ln -s " .. tap.quote(keep .. "/inner/precious") .. " " ..
                         tap.quote(victim .. "/link-file") .. " && ln -s /nonexistent " ..
                         tap.quote(victim .. "/dangling")).status == 0
  core.mkdir(dir .. "/victim-sibling")
  tap.ok(have_ln and core.file_type(victim .. "/a/link-dir") == "link", "remove_tree: links set up")
  tap.is(core.remove_tree(victim), true, "remove_tree: true when it removed something")
  tap.is(core.file_type(victim), nil, "remove_tree: the tree is gone")
  tap.is(tap.read(keep .. "/inner/precious"), "keep me", "remove_tree: what the links point to is kept")
  tap.is(core.file_type(dir .. "/victim-sibling"), "directory", "remove_tree: a sibling with the same prefix is kept")
  tap.is(core.remove_tree(victim), false, "remove_tree of nothing: false, no error")
  -- a link given as the tree: the link goes, its target stays (also with a trailing /)
  tap.sh("ln -s " .. tap.quote(keep) .. " " .. tap.quote(dir .. "/keep-link"))
  core.remove_tree(dir .. "/keep-link/")
  tap.ok(core.file_type(dir .. "/keep-link") == nil and tap.read(keep .. "/inner/precious") == "keep me",
         "remove_tree of a link to a directory (with a trailing /): the link only")
  for _, name in ipairs(hostile) do core.remove_tree(dir .. "/" .. name) end
  local left = {}
  for _, n in ipairs(core.dir_entries(dir)) do
    for _, h in ipairs(hostile) do if n == h then left[#left + 1] = n end end
  end
  tap.is(#left, 0, "remove_tree: every hostile tree removed")
  for _, bad in ipairs{ "/", ".", "..", dir .. "/.", dir .. "/..", "" } do
    raises(function() core.remove_tree(bad) end, { "remove" }, string.format("remove_tree(%q)", bad))
  end
  tap.is(core.file_type(keep), "directory", "remove_tree of '.' and '..' under the directory: refused, nothing removed")
  no_marker("remove_tree")

  -- ---- spawn and wait: argv as given, no shell
  local echo = dir .. "/echo.lua"
  tap.write(echo, [[
local f = assert(io.open(arg[1], "wb"))
for i = 2, #arg do f:write(arg[i], "\0") end
f:close()
io.stdout:write("to stdout\n")
io.stdout:flush()
io.stderr:write("to stderr\n")
return tonumber(os.getenv("RILL_TEST_STATUS") or "0")
]])
  local argv = { bin, "run", echo, dir .. "/args" }
  for _, h in ipairs(hostile) do argv[#argv + 1] = h end
  local log = dir .. "/log " .. hostile[3]
  local pid = core.spawn(argv, { stdout = log, stderr = log })
  tap.ok(math.type(pid) == "integer" and pid > 0, "spawn: a pid")
  local got, how, code = core.wait(pid)
  tap.ok(got == pid and how == "exit" and code == 0, "wait: that child, exit status 0")
  tap.is(tap.read(dir .. "/args"), table.concat(hostile, "\0") .. "\0",
         "spawn: every argument reached the program unchanged")
  tap.is(tap.read(log), "to stdout\nto stderr\n", "spawn: stdout and stderr into one file (the same name)")
  core.spawn({ bin, "run", echo, dir .. "/args2", "x" }, { stdout = log, stderr = log, append = true })
  core.wait()
  tap.is(tap.read(log), "to stdout\nto stderr\nto stdout\nto stderr\n", "spawn: append = true adds to the file")
  core.spawn({ bin, "run", echo, dir .. "/args3" }, { stdout = dir .. "/o", stderr = dir .. "/e" })
  core.wait()
  tap.ok(tap.read(dir .. "/o") == "to stdout\n" and tap.read(dir .. "/e") == "to stderr\n",
         "spawn: stdout and stderr into files of their own")
  -- the exit status and a signal
  local sh = "/bin/sh"
  pid = core.spawn({ sh, "-c", "exit 7" })
  got, how, code = core.wait(pid)
  tap.ok(how == "exit" and code == 7, "wait: exit status 7")
  pid = core.spawn({ sh, "-c", "kill -9 $$" })
  got, how, code = core.wait(pid)
  tap.ok(how == "signal" and code == 9, "wait: killed by signal 9")
  tap.is(core.wait(), nil, "wait with no child left: nil")
  raises(function() core.spawn({ dir .. "/no such program" }) end,
         { "cannot start " .. dir .. "/no such program", "No such file" }, "spawn of a missing program")
  raises(function() core.spawn({ sh, "-c", "true" }, { stdout = dir .. "/no/dir/log" }) end,
         { "cannot start /bin/sh", dir .. "/no/dir/log" }, "spawn with an output file in a missing directory")
  raises(function() core.spawn({}) end, { "core.spawn" }, "spawn of an empty argv")
  raises(function() core.spawn({ sh, {} }) end, { "argv[2]", "table" }, "spawn with a table argument")
  tap.is(core.wait(), nil, "no child left behind by the failed spawns")
  no_marker("spawn")

  -- ---- mkdtemp
  local t1, t2 = core.mkdtemp(dir .. "/tmp " .. hostile[4] .. "-"), core.mkdtemp(dir .. "/tmp-")
  tap.ok(t1 ~= t2 and core.file_type(t1) == "directory" and core.file_type(t2) == "directory" and
         t1:sub(1, #dir + 5) == dir .. "/tmp ", "mkdtemp: two fresh directories under the prefix")

  -- ---- tap.quote: the one way the test harness passes names to sh
  for i, h in ipairs(hostile) do
    local r = tap.sh("cd " .. tap.quote(dir) .. " && printf '%s' " .. tap.quote(h) .. " >" ..
                     tap.quote("q" .. i))
    tap.ok(r.status == 0 and tap.read(dir .. "/q" .. i) == h,
           string.format("tap.quote(%q): sh sees one word, unchanged", h))
  end
  no_marker("tap.quote")
end)
