#!/bin/sh
# rill sweep starts its runs without a shell (posix_spawn with argument lists): an output
# directory, a data file and settings with hostile names (spaces, quotes, ;, $(...), `...`, a
# newline, a leading -) reach bin/rill as written, and nothing in them is ever executed; two
# runs at a time (parallel = 2) both finish; a failing command is reported with its exit
# status and the run's log.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh

nl='
'
# a shell would run each `touch PWNED...` (in the working directory, the project's root)
H="o ;touch PWNED1; \$(touch PWNED2) \`touch PWNED3\` 'q' \"dq\"${nl}touch PWNED4${nl}-x"
mkdir "$T/$H" || exit 1
F="$T/$H/data ;touch PWNED5;.tsv"
$R gen criteo --rows 600 --seed 2 --out "$F" || exit 1
# the sweep script (out, data, min_count): names written with Lua's %q, which keeps every byte
cat >"$T/names.lua" <<'LUA'
local out, data, min_count = ...
return string.format([[
return {
  base = "pipelines/dlrm.lua",
  data = %q,
  set = { ["train.epochs"] = 1, ["embed.buckets"] = 256, ["mlp.bottom"] = 8, ["mlp.top"] = 8 },
  grid = { ["embed.dim"] = { 4, 8 } },
  frequency = false,
  out = %q,
  spectrum = { min_count = %s },
  parallel = 2,
}
]], data, out, min_count)
LUA
# a plain file from a Lua string, so that no shell quoting is involved in writing it
cat >"$T/write.lua" <<'LUA'
local chunk = assert(loadfile(arg[1]))
local f = assert(io.open(arg[2], "wb"))
assert(f:write(chunk(arg[3], arg[4], arg[5])))
assert(f:close())
LUA
OUT="$T/$H/sweep out"
$R run "$T/write.lua" "$T/names.lua" "$T/sweep.lua" "$OUT" "$F" 1
ok $? "a sweep script with hostile names written"

run $R sweep "$T/sweep.lua"
[ "$status" -eq 0 ] && [ "$(wc -l <"$OUT/results.csv")" -eq 3 ] &&
    grep -q '^| embed.dim=4 | 0\.[0-9]* ± ' "$OUT/results.md" &&
    grep -q '^| embed.dim=8 | 0\.[0-9]* ± ' "$OUT/results.md" && grep -q '<svg' "$OUT/plot.svg"
ok $? "sweep (2 at a time) under a hostile directory and data file: both runs, results.csv, .md, .svg" ||
    { diag "$T/err"; cat "$OUT"/runs/*.log | diag; }
for d in 4 8; do
    [ -s "$OUT/runs/embed.dim_${d}_s1/store.mdb" ] && [ -s "$OUT/runs/embed.dim_${d}_s1/eval.lua" ] &&
        [ -s "$OUT/runs/embed.dim_${d}_s1/analysis/spectrum.csv" ] &&
        grep -q "done: run saved in $OUT/runs/embed.dim_${d}_s1" "$OUT/runs/embed.dim_${d}_s1.log"
    ok $? "sweep: run embed.dim=$d trained, evaluated and analysed where named, its log complete"
done
cat >"$T/meta-data.lua" <<'LUA'
return dofile(arg[1]).data == arg[2] and 0 or 1
LUA
$R run "$T/meta-data.lua" "$OUT/runs/embed.dim_4_s1/meta.lua" "$F"
ok $? "sweep: the run's --data is the hostile file name, byte for byte"

# a setting that a shell would have run: with argument lists it is one (bad) argument
$R run "$T/write.lua" "$T/names.lua" "$T/sweep-bad.lua" "$T/bad out" "$F" '"1;touch PWNED6"'
run $R sweep "$T/sweep-bad.lua"
[ "$status" -eq 0 ] &&
    grep -q 'failed: embed.dim=4, seed 1 (rill analyze exited with status 1; see .*bad out/runs/embed.dim_4_s1.log)' "$T/err" &&
    grep -q -- '--min-count 1;touch PWNED6' "$T/bad out/runs/embed.dim_4_s1.log"
ok $? "sweep: a failing command is reported with its exit status and the run's log" ||
    { diag "$T/err"; diag "$T/bad out/runs/embed.dim_4_s1.log"; }

[ -z "$(find . "$T" "$T/$H" -maxdepth 1 -name 'PWNED*')" ]
ok $? "sweep: nothing in the names was run (no PWNED marker)" || find . "$T" -maxdepth 2 -name 'PWNED*' | diag
rm -f PWNED1 PWNED2 PWNED3 PWNED4 PWNED5 PWNED6

done_testing
