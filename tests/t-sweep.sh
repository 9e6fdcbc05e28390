#!/bin/sh
# rill sweep starts its runs without a shell (posix_spawn with argument lists): an output
# directory, a data file and settings with hostile names (spaces, quotes, ;, $(...), `...`, a
# newline, a leading -) reach bin/rill as written, and nothing in them is ever executed; two
# runs at a time (parallel = 2) both finish; a failing command is reported with its exit
# status and the run's log; Ctrl-C stops the sweep after the run under way.
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

# Ctrl-C (SIGINT to the sweep alone here): the run under way ends, no other starts, exit 130
# (each run takes about 2 s; the signal comes as soon as the first has started)
$R gen criteo --rows 100000 --seed 5 --out "$T/long.tsv" || exit 1
cat >"$T/sweep-int.lua" <<LUA
return {
  base = "pipelines/dlrm.lua", data = "$T/long.tsv", frequency = false, out = "$T/int",
  set = { ["train.epochs"] = 2, ["train.batch"] = 256, ["embed.buckets"] = 4096,
          ["mlp.bottom"] = 32, ["mlp.top"] = 32 },
  grid = { ["embed.dim"] = { 4, 6, 8 } }, threads = 1,
}
LUA
$R sweep "$T/sweep-int.lua" >"$T/int.out" 2>"$T/int.err" &
pid=$!
i=0
while ! grep -q '^\[1/3\]' "$T/int.err" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT "$pid"
wait "$pid"
status=$?
[ "$status" -eq 130 ] && grep -q 'sweep interrupted: 2 of 3 runs not started' "$T/int.err" &&
    [ -s "$T/int/runs/embed.dim_4_s1/eval.lua" ] && [ ! -e "$T/int/runs/embed.dim_6_s1" ]
ok $? "sweep: Ctrl-C lets the run under way finish, starts no other, exit 130" ||
    { echo "#   status $status"; diag "$T/int.err"; }
run $R sweep "$T/sweep-int.lua"
[ "$status" -eq 0 ] && grep -q '3 runs, 2 to do' "$T/err" && [ "$(wc -l <"$T/int/results.csv")" -eq 4 ]
ok $? "sweep after Ctrl-C: the next call does the other two" || diag "$T/err"

[ -z "$(find . "$T" "$T/$H" -maxdepth 1 -name 'PWNED*')" ]
ok $? "sweep: nothing in the names was run (no PWNED marker)" || find . "$T" -maxdepth 2 -name 'PWNED*' | diag
rm -f PWNED1 PWNED2 PWNED3 PWNED4 PWNED5 PWNED6

done_testing
