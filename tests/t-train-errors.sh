#!/bin/sh
# Training that cannot succeed stops with an error instead of reporting a success:
#   - a learning rate that makes the loss diverge (non-finite, or a hundred times the lowest
#     smoothed loss) names the step and the node where the values first blew up;
#   - skip mode on a file of nothing but bad lines, or with more bad lines than allowed;
#   - a prefilled table larger than the free disk is refused before anything is written.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh
# fails_after NAME NEEDLE CMD...: CMD exits 1 and its last line of stderr (after the progress
# lines) is "rill: ..." saying NEEDLE
fails_after() {
    name=$1 needle=$2
    shift 2
    run "$@"
    [ "$status" -eq 1 ] && tail -n 1 "$T/err" | grep -q '^rill: ' && grep -qF -- "$needle" "$T/err"
    ok $? "$name: exit 1 with '$needle'" || { echo "#   status $status, stderr:"; diag "$T/err"; }
}

F=$T/data.tsv
run $R gen criteo --rows 20000 --seed 3 --max-cardinality 2000 --out "$F"
ok $status "gen: 20,000 rows" || diag "$T/err"
SET="--data $F --set embed.buckets=65536 --set mlp.bottom=32 --set mlp.top=32 --set train.epochs=3 --threads 2"

# shellcheck disable=SC2086
fails_after "dense lr 1e6 (NaN)" "training diverged at step" $R train pipelines/dlrm.lua $SET --set train.lr=1e6 --run "$T/d1"
grep -q "values first blow up in node '" "$T/err"
ok $? "... and names the node where the values first blew up" || diag "$T/err"
# shellcheck disable=SC2086
fails_after "embedding lr 1e6 (finite, huge)" "over 100 times the lowest smoothed loss" $R train pipelines/dlrm.lua $SET --set embed.lr=1e6 --run "$T/d2"
grep -q "node 'emb' (embed) at pipelines/dlrm.lua:" "$T/err"
ok $? "... in the embedding node" || diag "$T/err"
# shellcheck disable=SC2086
run $R train pipelines/dlrm.lua $SET --run "$T/d3"
ok $status "the default learning rates train" || diag "$T/err"

cat >"$T/skip.lua" <<'LUA'
local rill = require "rill"
local cfg = rill.config{ data = "x", bad = "error", max_bad = 0.1, prefill = false, buckets = 1000,
                         lr = 0.1, diverge = 100 }
local data = rill.data.criteo{ path = cfg.data, valid = 0.1, on_bad_line = cfg.bad,
                               max_bad = cfg.max_bad }
local g = rill.graph(data)
local ids = g:encode_hash{ fields = data.categorical, buckets = cfg.buckets }
local emb = g:embed{ ids, dim = 4, pooling = "sum", prefill = cfg.prefill,
                     optim = rill.rowwise_adagrad{ lr = cfg.lr } }
local logit = g:tower{ g:interact_concat{ emb }, sizes = {} }
g:loss_bce{ logit }
return rill.train{ graph = g, data = data, epochs = 1, batch = 64, diverge = cfg.diverge }
LUA
i=0
while [ $i -lt 500 ]; do echo x; i=$((i + 1)); done >"$T/bad.tsv"
fails "500 bad lines, skipped" "bad.tsv (the training part): no examples: all 450 lines were bad" \
    $R train "$T/skip.lua" --data "$T/bad.tsv" --set bad=skip --run "$T/s1"
head -n 1000 "$F" >"$T/mixed.tsv"
head -n 400 "$T/bad.tsv" >>"$T/mixed.tsv"
sed -n 1001,2000p "$F" >>"$T/mixed.tsv"
fails_after "400 bad lines in 2,400, skipped" "were bad and skipped, more than the 10% allowed" \
    $R train "$T/skip.lua" --data "$T/mixed.tsv" --set bad=skip --run "$T/s2"
run $R train "$T/skip.lua" --data "$T/mixed.tsv" --set bad=skip --set max_bad=0.2 --run "$T/s2b"
ok $status "... trains when the pipeline allows 20% (max_bad = 0.2)" || diag "$T/err"
head -n 2000 "$F" >"$T/mixed.tsv"
head -n 100 "$T/bad.tsv" >>"$T/mixed.tsv"
head -n 2000 "$F" >>"$T/mixed.tsv"
run $R train "$T/skip.lua" --data "$T/mixed.tsv" --set bad=skip --run "$T/s3"
ok $status "100 bad lines in 4,100, skipped: trains" || diag "$T/err"

fails_after "embedding lr 1e6 in a small model" "training diverged" \
    $R train "$T/skip.lua" --data "$F" --set lr=1e6 --run "$T/d4"
run $R train "$T/skip.lua" --data "$F" --set lr=1e6 --set diverge=0 --run "$T/d5"
ok $status "... trains to the end with diverge = 0 (the check off)" || diag "$T/err"

fails "a prefilled table of 2^40 rows" "would write about" \
    $R train "$T/skip.lua" --data "$F" --set prefill=true --set buckets=1099511627776 --run "$T/p1"
size=$(stat -c %s "$T/p1/store.mdb" 2>/dev/null || echo 0)
[ "$size" -lt 10000000 ]
ok $? "... before writing it (store.mdb is $size bytes)"
# a schema of 20,000 columns over a file of one: refused where the data is described, before a
# graph of 20,000 tables is built (which once took 15 s and 3.2 GB to reach the same error)
lua5.4 -e 'local t = { "format: csv", "columns:", "  - { name: y, role: label }" }
for i = 1, 20000 do t[#t + 1] = string.format("  - { name: c%d, role: categorical }", i) end
io.write(table.concat(t, "\n"), "\n")' >"$T/wide.yaml"
printf 'y\n1\n0\n' >"$T/one.csv"
cat >"$T/wide.lua" <<'LUA'
local rill = require "rill"
local cfg = rill.config{ data = "x", schema = "x" }
local data = rill.data.csv{ path = cfg.data, schema = cfg.schema }
local g = rill.graph(data)
local emb = g:embed{ g:encode_hash{ fields = data.categorical, buckets = 1000 }, dim = 4 }
g:loss_bce{ g:tower{ g:interact_concat{ emb }, sizes = {} } }
return rill.train{ graph = g, data = data }
LUA
fails "20,000 schema columns, 1 in the file" "wide.lua:3: $T/one.csv:1: the header has 1 columns, the schema 20001" \
    $R train "$T/wide.lua" --data "$T/one.csv" --set "schema=$T/wide.yaml" --run "$T/w1"
done_testing
