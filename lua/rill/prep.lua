-- rill prep sequences: behaviour-sequence examples from an interaction log, as DIN's and
-- TIM's papers make them from Amazon reviews. Each user's interactions are sorted by time
-- (ties keep file order); every interaction after the first is a target: a positive example
-- with the user's earlier interactions as its history (the newest max_length, newest last),
-- and `negatives` negative examples with the same history and an item drawn uniformly from
-- the items the user never interacted with. The user's last target goes to the validation
-- file (leave-one-out, the papers' split), the others to the training file, in the order
-- of their targets' times (then users, then positive before negatives); with
-- valid_fraction, the split is by time instead: the examples whose targets are in the last
-- valid_fraction of all, by time, validate.
--
-- Input: the log, tab-separated with a header naming at least user, item and time columns
-- (names set by options); optionally an item file, tab-separated with a header, mapping items
-- to a category. Output: two TSV files with a header, columns
--   label  user  item  item_cat  time  hist_items  hist_cats  hist_times
-- the lists separated by "|" (empty for no history). Same input, seed and options, same
-- bytes (Lua 5.4's math.random, xoshiro256**, seeded).

local M = {}

local function die(fmt, ...) error(string.format(fmt, ...), 0) end

local function split_tab(line)
  local t = {}
  for v in (line .. "\t"):gmatch("([^\t]*)\t") do t[#t + 1] = v end
  return t
end

-- Reads a tab-separated file with a header; calls fn(fields, lineno) for each row. cols maps
-- wanted names to their index.
local function read_tsv(path, wanted, fn)
  local f, msg = io.open(path, "rb")
  if not f then die("%s: cannot open: %s", path, msg) end
  local header = f:read("l")
  if not header then f:close(); die("%s: empty file (expected a header line)", path) end
  local names = split_tab((header:gsub("\r$", "")))
  local idx = {}
  for i, n in ipairs(names) do idx[n] = i end
  local cols = {}
  for key, name in pairs(wanted) do
    if not idx[name] then
      f:close()
      die("%s:1: no column '%s' in the header (columns: %s)", path, name, table.concat(names, ", "))
    end
    cols[key] = idx[name]
  end
  local lineno = 1
  for line in f:lines() do
    lineno = lineno + 1
    line = line:gsub("\r$", "")
    if line ~= "" then
      local t = split_tab(line)
      if #t ~= #names then
        f:close()
        die("%s:%d: %d columns, expected %d as in the header", path, lineno, #t, #names)
      end
      fn(t, cols, lineno)
    end
  end
  f:close()
end

-- the numeric options, checked: max_length, negatives, seed and valid_fraction (nil: none)
local function sequence_options(o)
  local max_len = math.tointeger(tonumber(o.max_length or 50))
  local negatives = math.tointeger(tonumber(o.negatives or 1))
  local seed = math.tointeger(tonumber(o.seed or 1))
  if not max_len or max_len < 1 then die("--max-length %s: expected a whole number >= 1", tostring(o.max_length)) end
  if not negatives or negatives < 0 then die("--negatives %s: expected a whole number >= 0", tostring(o.negatives)) end
  if not seed then die("--seed %s: expected a whole number", tostring(o.seed)) end
  local vf = o.valid_fraction and tonumber(o.valid_fraction)
  if o.valid_fraction and not (vf and vf > 0 and vf < 1) then
    die("--valid-fraction %s: expected a number between 0 and 1", tostring(o.valid_fraction))
  end
  if not o.log then die("rill prep sequences: --log FILE (user, item, time; tab-separated) is required") end
  if not o.out then die("rill prep sequences: --out PREFIX is required (writes PREFIX.train.tsv and PREFIX.valid.tsv)") end
  return max_len, negatives, seed, vf
end

-- The log: each user's interactions in file order (users[u], users in order of first
-- appearance), the distinct items in order of first appearance, and the interactions' count
local function read_log(o)
  local log = { users = {}, order = {}, items = {}, nitems = 0, n = 0 }
  local users, order, items, seen = log.users, log.order, log.items, {}
  read_tsv(o.log, { user = o.user_col or "user_id", item = o.item_col or "item_id", time = o.time_col or "time" },
    function(t, c, lineno)
      local u, it, tm = t[c.user], t[c.item], tonumber(t[c.time])
      if u == "" or it == "" then die("%s:%d: an empty user or item", o.log, lineno) end
      if not tm then die("%s:%d: time '%s' is not a number", o.log, lineno, t[c.time]) end
      if u:find("|", 1, true) or it:find("|", 1, true) then
        die("%s:%d: '|' in a user or item id (it separates the history lists)", o.log, lineno)
      end
      local ev = users[u]
      if not ev then ev = {}; users[u] = ev; order[#order + 1] = u end
      log.n = log.n + 1
      ev[#ev + 1] = { item = it, time = tm, n = log.n }
      if not seen[it] then seen[it] = true; log.nitems = log.nitems + 1; items[log.nitems] = it end
    end)
  if log.n == 0 then die("%s: no interactions", o.log) end
  return log
end

-- User u's examples (interactions ev), added to rows.train and rows.valid, or with
-- valid_fraction (vf) to rows.all for split_by_time
local function user_examples(u, ev, cat, log, opt, rows)
  table.sort(ev, function(a, b) if a.time ~= b.time then return a.time < b.time end return a.n < b.n end)
  local mine = {}
  for _, e in ipairs(ev) do mine[e.item] = true end
  for k = 2, #ev do
    local first = math.max(1, k - opt.max_len)
    local hi, hc, ht = {}, {}, {}
    for j = first, k - 1 do
      hi[#hi + 1] = ev[j].item
      hc[#hc + 1] = cat[ev[j].item] or ""
      ht[#ht + 1] = string.format("%.17g", ev[j].time)
    end
    local hist = table.concat(hi, "|") .. "\t" .. table.concat(hc, "|") .. "\t" .. table.concat(ht, "|")
    local part = (opt.vf and "later") or (k == #ev and rows.valid or rows.train)
    local function add(label, item)
      local r = { time = ev[k].time, n = ev[k].n, line = string.format("%d\t%s\t%s\t%s\t%.17g\t%s",
        label, u, item, cat[item] or "", ev[k].time, hist) }
      if part == "later" then rows.all = rows.all or {}; rows.all[#rows.all + 1] = r
      else part[#part + 1] = r end
    end
    add(1, ev[k].item)
    for _ = 1, opt.negatives do
      -- an item the user never had; a user who had every item gets no negative
      local item
      for _ = 1, 1000 do
        local cand = log.items[math.random(log.nitems)]
        if not mine[cand] then item = cand; break end
      end
      if item then add(0, item) end
    end
  end
end

-- split by time: the targets in the last valid_fraction of the (time-sorted) examples
-- validate; examples of one moment stay on one side
local function split_by_time(rows, vf)
  local all = rows.all or {}
  table.sort(all, function(a, b) if a.time ~= b.time then return a.time < b.time end return a.n < b.n end)
  local cut = math.floor(#all * (1 - vf) + 0.5)
  while cut > 0 and cut < #all and all[cut + 1].time == all[cut].time do cut = cut + 1 end
  for i, r in ipairs(all) do
    local part = i <= cut and rows.train or rows.valid
    part[#part + 1] = r
  end
end

-- One output file: its examples sorted, stable by target time, then by the target's place in
-- the log
local function write_part(path, part)
  local header = "label\tuser\titem\titem_cat\ttime\thist_items\thist_cats\thist_times\n"
  for i, r in ipairs(part) do r.k = i end
  table.sort(part, function(a, b)
    if a.time ~= b.time then return a.time < b.time end
    if a.n ~= b.n then return a.n < b.n end
    return a.k < b.k
  end)
  local f, msg = io.open(path, "wb")
  if not f then die("%s: cannot write: %s", path, msg) end
  -- every write and the close checked: on a full disk the close (the last flush) is
  -- often the one that fails
  local ok, err = f:write(header)
  for _, r in ipairs(part) do
    if not ok then break end
    ok, err = f:write(r.line, "\n")
  end
  local closed, cerr = f:close()
  if not ok or not closed then
    die("%s: cannot write: %s", path, tostring(err or cerr))
  end
end

function M.sequences(o)
  local max_len, negatives, seed, vf = sequence_options(o)
  -- items' categories
  local cat = {}
  if o.items then
    read_tsv(o.items, { item = o.item_col or "item_id", cat = o.cat_col or "i_category" }, function(t, c)
      cat[t[c.item]] = t[c.cat]
    end)
  end
  local log = read_log(o)
  math.randomseed(seed)
  local rows = { train = {}, valid = {} }
  local opt = { max_len = max_len, negatives = negatives, vf = vf }
  for _, u in ipairs(log.order) do user_examples(u, log.users[u], cat, log, opt, rows) end
  if vf then split_by_time(rows, vf) end
  local counts = {}
  for _, name in ipairs{ "train", "valid" } do
    write_part(o.out .. "." .. name .. ".tsv", rows[name])
    counts[name] = #rows[name]
  end
  io.stderr:write(string.format("rill prep: %d interactions of %d users, %d items -> %s.train.tsv (%d rows), %s.valid.tsv (%d rows)\n",
                                log.n, #log.order, log.nitems, o.out, counts.train, o.out, counts.valid))
  return 0
end

return M
