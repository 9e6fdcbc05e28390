#!/bin/sh
# The rill module in a plain lua5.4 interpreter, without bin/rill: require "rill" finds
# lua/rill/init.lua and lib/rill/core.so, writes a small data file with rill.gen_criteo,
# builds a graph, trains it and gets the result table. Skipped when lua5.4 is not installed.
cd "$(dirname "$0")/.." || exit 1
command -v lua5.4 >/dev/null 2>&1 || { echo "1..0 # SKIP lua5.4 is not installed"; exit 0; }
. tests/tap.sh

# Under `make check` core.so is built with the sanitizers, whose runtimes must be loaded
# before anything else: an instrumented bin/rill does that, a plain lua5.4 does not, so they
# are preloaded for it (for it alone: every other program here is uninstrumented). Leak
# checking stays with bin/rill; in a foreign interpreter LeakSanitizer's exit-time scan
# crashes (its tracer catches SIGSEGV) after the script has run correctly.
preload=
if ldd lib/rill/core.so 2>/dev/null | grep -q 'libasan'; then
    preload=$(ldd lib/rill/core.so | awk '/libasan|libubsan/ { printf "%s ", $3 }')
fi


cat >"$T/use.lua" <<'EOF'
local dir = arg[1]
local rill = require "rill"
assert(package.loaded["rill.cli"] == nil, "rill.cli is bin/rill's; a plain interpreter has none")
print("version " .. rill.version)
rill.gen_criteo{ rows = 1000, seed = 2, out = dir .. "/d.tsv" }
local data = rill.data.criteo{ path = dir .. "/d.tsv", valid = 0.2 }
local g = rill.graph(data)
local ids = g:encode_hash{ fields = data.categorical, buckets = 4096, name = "ids" }
local emb = g:embed{ ids, dim = 4, name = "emb" }
local counts = g:encode_log{ fields = data.numeric, name = "counts" }
local bottom = g:mlp{ counts, sizes = { 8, 4 }, name = "bottom" }
local z = g:interact_dot{ bottom, emb, name = "interact" }
local top = g:tower{ z, sizes = { 8 }, name = "top" }
g:loss_bce{ top, name = "click" }
print("nodes " .. #g:nodes())
local ok, msg = pcall(function() local n = g:embed{ ids, name = "e2" }; return n end)
print("error " .. tostring(not ok) .. " " .. tostring(msg))
local r = rill.train{ graph = g, data = data, epochs = 1, batch = 100, threads = 2,
                      run = dir .. "/run", progress = false }
print(string.format("steps %d examples %d valid_rows %d auc %.4f", r.steps, r.examples,
                    r.valid.rows, r.valid.auc))
EOF

export LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="lib/?.so;;"
if [ -n "$preload" ]; then
    LD_PRELOAD=$preload ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
        lua5.4 "$T/use.lua" "$T" >"$T/out" 2>"$T/err"
else
    lua5.4 "$T/use.lua" "$T" >"$T/out" 2>"$T/err"
fi
status=$?
ok $status "lua5.4 runs a script that requires rill and trains" || diag "$T/out" "$T/err"
grep -qx "version $(bin/rill version | sed 's/^rill //')" "$T/out"
ok $? "rill.version is bin/rill's version" || diag "$T/out"
[ "$(wc -l <"$T/d.tsv")" -eq 1000 ]
ok $? "rill.gen_criteo wrote 1000 rows"
grep -qx "nodes 7" "$T/out"
ok $? "the graph has its seven nodes"
grep -q "^error true .*use.lua:16: .*'dim'" "$T/out"
ok $? "an error names the script line and the argument" || diag "$T/out"
# 800 training rows in batches of 100; 200 validation rows
grep -Eq '^steps 8 examples 800 valid_rows 200 auc 0\.[0-9]+$' "$T/out"
ok $? "rill.train returns steps 8, examples 800 and a validation AUC" || diag "$T/out"
[ -s "$T/run/store.mdb" ] && [ -s "$T/run/metrics.jsonl" ]
ok $? "the run directory has store.mdb and metrics.jsonl"

done_testing
