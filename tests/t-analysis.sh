#!/bin/sh
# The analysis commands on a small trained run: rill eval's per-frequency buckets (counted
# from the rows' use counts and from the training data, the latter checked against awk's
# count of the same file), rill analyze spectrum (table, CSV, SVG, IA within its bounds),
# and rill sweep (runs, results tables, a second call that finds nothing left to do).
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh

F=$T/data.tsv
$R gen criteo --rows 4000 --seed 11 --out "$F" 2>/dev/null
RUN=$T/run
run $R train pipelines/dlrm.lua --data "$F" --set train.epochs=1 --set embed.buckets=4096 \
    --set mlp.bottom=32 --set mlp.top=32 --set embed.dim=8 --threads 1 --run "$RUN"
ok $? "a small DLRM run to analyse" || diag "$T/err"

# ---- per-frequency evaluation

# the validation part is the file's last 10% (400 rows); C3 is column 17
NV=400
NT=$(( $(wc -l <"$F") - NV ))
awk -F '\t' -v nt="$NT" '
    NR <= nt { if ($17 != "") seen[$17]++; next }
    { c = ($17 == "") ? 0 : seen[$17] + 0; if (c < 2) b0++; else if (c < 10) b1++; else b2++ }
    END { printf "%d %d %d\n", b0, b1, b2 }' "$F" >"$T/want"
run $R eval "$RUN" --frequency C3 --bounds 2,10 --count-in data --result "$T/ev.lua"
sed -n 's/.*seen .* times: auc .*(\([0-9]*\) rows).*/\1/p' "$T/out" | tr '\n' ' ' |
    sed 's/ $/\n/' >"$T/got"
[ "$status" -eq 0 ] && cmp -s "$T/got" "$T/want" && grep -q "counted in the training data" "$T/out"
ok $? "eval --count-in data: the buckets hold the rows awk counts ($(cat "$T/want"))" ||
    { diag "$T/out" "$T/err"; echo "#   awk: $(cat "$T/want")"; }
cat >"$T/check.lua" <<'LUA'
local r = dofile(arg[1])
assert(r.frequency and r.frequency.field == "C3", "field")
local rows = 0
for _, b in ipairs(r.frequency) do
  rows = rows + b.rows
  assert(b.rows == 0 or (b.auc > 0 and b.auc < 1), "bucket auc")
end
assert(#r.frequency == 3 and rows == r.click.rows or rows == r[1].rows, "rows")
LUA
run lua5.4 -e 'package.path = "lua/?.lua;" .. package.path' "$T/check.lua" "$T/ev.lua"
ok $? "eval --result: a Lua table with three buckets that add up to the validation rows" ||
    diag "$T/err"

run $R eval "$RUN" --frequency "" --bounds 2
[ "$status" -eq 0 ] && [ "$(grep -c 'seen .* times' "$T/out")" -eq 2 ] &&
    [ "$(sed -n 's/.*(\([0-9]*\) rows).*/\1/p' "$T/out" | awk '{ s += $1 } END { print s }')" -eq "$NV" ]
ok $? "eval --frequency '' (the largest table's use counts): two buckets of 400 rows in all" ||
    diag "$T/out" "$T/err"

fails "--count-in without a field" "needs a field" $R eval "$RUN" --frequency "" --count-in data
fails "--count-in with a numeric field" "needs a categorical field of the data, got 'I1'" \
    $R eval "$RUN" --frequency I1 --count-in data
fails "--count-in of an unknown kind" "--count-in rows: expected table or data" \
    $R eval "$RUN" --frequency C3 --count-in rows
fails "--frequency of a field no embedding reads" "no embedding reads field 'C99'" \
    $R eval "$RUN" --frequency C99

# ---- singular spectrum

run $R analyze spectrum "$RUN" --out "$T/spec"
[ "$status" -eq 0 ] && [ -s "$T/spec/spectrum.csv" ] && grep -q '<svg' "$T/spec/spectrum.svg"
ok $? "analyze spectrum: spectrum.csv and spectrum.svg written" || diag "$T/err"
awk -F, 'NR > 1 { if ($4 < 1 - 1e-6 || $4 > $3 + 1e-6 || $7 > 1 + 1e-6 || $7 < 0) bad++; n++ }
         END { exit !(n > 0 && !bad) }' "$T/spec/spectrum.csv"
ok $? "analyze spectrum: IA between 1 and dim, normalised values in [0, 1]"
[ "$(grep -c '^emb\.C' "$T/out")" -eq 26 ] && grep -q "mean information abundance" "$T/out"
ok $? "analyze spectrum: one line per field's table and the mean" || diag "$T/out"
# a table read side by side with itself: [E E] has singular values sqrt(2) times E's, the
# same information abundance
run $R analyze spectrum "$RUN" --out "$T/spec2" --joint emb.C3,emb.C3
awk -F, '$1 == "emb.C3" { sv[$5] = $6; ia = $4 }
         $1 == "emb.C3+emb.C3 [joint]" { j[$5] = $6; jia = $4; jd = $3 }
         END { if (jd != 16 || (jia - ia) ^ 2 > 1e-8) exit 1
               for (k in sv) { d = j[k] - sqrt(2) * sv[k]; if (d * d > 1e-8 * (1 + sv[k] ^ 2)) exit 1 }
               exit !(length(sv) == 8) }' "$T/spec2/spectrum.csv"
ok $? "analyze --joint: a table beside itself has its singular values times sqrt(2), its IA" ||
    { diag "$T/err"; grep 'emb.C3' "$T/spec2/spectrum.csv" | head -20 | diag; }
fails "analyze --joint of an unknown table" "no table 'emb.nope'" \
    $R analyze spectrum "$RUN" --out "$T/spec3" --joint emb.C3,emb.nope

# --min-count: only the rows trained in that many steps or more
run $R analyze spectrum "$RUN" --out "$T/spec-mc" --min-count 2
awk -F, 'FNR == 1 { f++; next } $5 == 1 { if (f == 1) all[$1] = $2; else few[$1] = $2 }
         END { for (t in all) { if (few[t] > all[t]) exit 1; if (few[t] < all[t]) fewer++ } exit !(fewer > 0) }' \
    "$T/spec/spectrum.csv" "$T/spec-mc/spectrum.csv"
ok $? "analyze --min-count 2: fewer rows in some tables, more in none" || diag "$T/err"
fails "analyze --min-count of a word" "--min-count many: expected a whole number" \
    $R analyze spectrum "$RUN" --out "$T/spec-x" --min-count many

# multi-embedding: each field's sets also read jointly
ME=$T/me
run $R train pipelines/dcnv2.lua --data "$F" --set train.epochs=1 --set embed.buckets=4096 \
    --set embed.dim=4 --set embed.sets=3 --set deep.width=32 --threads 1 --run "$ME"
ok $? "a small multi-embedding DCNv2 run (3 sets of dim 4)" || diag "$T/err"
run $R analyze spectrum "$ME" --out "$T/spec-me"
[ "$status" -eq 0 ] && [ "$(grep -c '^emb\.C[0-9]* *\[3 sets\]' "$T/out")" -eq 26 ] &&
    grep -q 'mean information abundance of the sets read jointly' "$T/out"
ok $? "analyze spectrum of a multi-embedding run: one joint line per field" || diag "$T/out" "$T/err"
awk -F, '$1 ~ /\[3 sets\]$/ { if ($3 != 12 || $4 < 1 - 1e-6 || $4 > 12 + 1e-6) bad++; n++ }
         END { exit !(n > 0 && !bad) }' "$T/spec-me/spectrum.csv"
ok $? "the joint rows have dim 12 and IA between 1 and 12"

fails "analyze of an unknown analysis" "known: spectrum" $R analyze nonsense "$RUN"
fails "analyze without a run" "which run directory" $R analyze spectrum

# ---- sweep

cat >"$T/sweep.lua" <<LUA
return {
  title = "test sweep",
  base = "pipelines/dlrm.lua",
  data = "$F",
  set = { ["train.epochs"] = 1, ["embed.buckets"] = 4096, ["mlp.bottom"] = 32, ["mlp.top"] = 32 },
  grid = { ["embed.dim"] = { 4, 8 } },
  seeds = { 1, 2 },
  frequency = { field = "C3", bounds = { 2 }, count_in = "data" },
  out = "$T/sweep",
  spectrum = { min_count = 1 },
  parallel = 2,
}
LUA
run $R sweep "$T/sweep.lua"
[ "$status" -eq 0 ] && [ "$(wc -l <"$T/sweep/results.csv")" -eq 5 ] &&
    grep -q '^| embed.dim=4 | 0\.[0-9]* ± ' "$T/sweep/results.md" &&
    grep -q '^| embed.dim=8 | 0\.[0-9]* ± ' "$T/sweep/results.md" && grep -q '<svg' "$T/sweep/plot.svg"
ok $? "sweep: 2 variants x 2 seeds run; results.csv (4 rows), results.md, plot.svg" ||
    { diag "$T/err"; diag "$T/sweep/results.md"; }
grep -q 'AUC bucket1 (0-1) | AUC bucket2 (>=2)' "$T/sweep/results.md"
ok $? "sweep: a per-frequency column from the data's counts" || diag "$T/sweep/results.md"
grep -q '| mean IA |' "$T/sweep/results.md" && grep -q '^| emb.C26 | [0-9.]* | [0-9.]* |$' "$T/sweep/results.md" &&
    [ -s "$T/sweep/runs/embed.dim_4_s1/analysis/spectrum.csv" ]
ok $? "sweep with spectrum (min_count 1): mean IA per variant and a per-table IA table" ||
    diag "$T/sweep/results.md"
# an analysis lost: the next call analyses again without training again
rm -r "$T/sweep/runs/embed.dim_8_s2/analysis"
cp "$T/sweep/runs/embed.dim_8_s2/eval.lua" "$T/eval-before.lua"
run $R sweep "$T/sweep.lua"
[ "$status" -eq 0 ] && grep -q '4 runs, 1 to do' "$T/err" &&
    [ -s "$T/sweep/runs/embed.dim_8_s2/analysis/spectrum.csv" ] &&
    cmp -s "$T/eval-before.lua" "$T/sweep/runs/embed.dim_8_s2/eval.lua"
ok $? "sweep: a run without its analysis is analysed again, not trained again" || diag "$T/err"
cp "$T/sweep/results.csv" "$T/first.csv"
run $R sweep "$T/sweep.lua"
[ "$status" -eq 0 ] && grep -q '4 runs, 0 to do' "$T/err" && cmp -s "$T/first.csv" "$T/sweep/results.csv"
ok $? "sweep again: nothing left to do, the same results" || diag "$T/err"
echo 'return { }' >"$T/bad-sweep.lua"
fails "a sweep without a base" "a sweep script returns a table with base" $R sweep "$T/bad-sweep.lua"

done_testing
