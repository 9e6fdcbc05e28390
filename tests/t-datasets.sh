#!/bin/sh
# Data beyond the Criteo layout, end to end through bin/rill: a MovieLens-style TSV made here
# (60 users who each like one third of 300 items) read by pipelines/movielens.lua's YAML
# schema, with grouped AUC per user; the pipelines on the real samples in ../shared/data
# (MovieLens 100K, Avazu, Census-Income's two tasks; skipped where absent; RILL_SHARED
# overrides).
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh
SHARED=${RILL_SHARED:-../shared}

F=$T/ratings.tsv
awk 'BEGIN { srand(7); for (i = 0; i < 8000; i++) {
        u = int(rand() * 60); it = int(rand() * 300);
        like = (it % 3 == u % 3) ? rand() < 0.85 : rand() < 0.15;
        printf "%d\t%d\t%d\t%d\n", u, it, like ? 5 : 2, 880000000 + i } }' >"$F"
run $R train pipelines/movielens.lua --data "$F" --threads 1 --run "$T/ml"
ok $status "movielens.lua on made-up ratings: trained" || diag "$T/err"
run $R eval "$T/ml" --result "$T/ml.lua"
[ "$status" -eq 0 ] && grep -Eq 'gauc 0\.[0-9]+ \([0-9]+ groups\)' "$T/out"
ok $? "eval prints grouped AUC with its number of groups" || diag "$T/out" "$T/err"
cat >"$T/check.lua" <<'LUA'
local r = dofile(arg[1])
local t = r.tasks[1]
assert(t.gauc and t.gauc > 0.7 and t.groups == 60, string.format("gauc %s, %s groups", t.gauc, t.groups))
assert(r.gauc == t.gauc)
LUA
run lua5.4 "$T/check.lua" "$T/ml.lua"
ok $? "grouped AUC above 0.7 over the 60 users (each likes a third of the items)" || diag "$T/err"
grep -q '"gauc":' "$T/ml/metrics.jsonl"
ok $? "metrics.jsonl records gauc"

# the YAML schema's mistakes stop the pipeline with the schema's file:line:column
printf 'format: tsv\ncolumns:\n  - { name: user_id, role: categorical, group: true }\n  - { name: item_id, role: categorica }\n' >"$T/bad.yaml"
fails "a bad schema" "bad.yaml:4:28: unknown role 'categorica'" \
    $R train pipelines/movielens.lua --data "$F" --set schema="$T/bad.yaml" --run "$T/ml-bad"
printf '1\t2\t5\t880000000\n1\t2\tfive\t880000000\n' >"$T/badrow.tsv"
fails "a bad line" "badrow.tsv:2:5: column rating = 'five' is not a number" \
    $R train pipelines/movielens.lua --data "$T/badrow.tsv" --run "$T/ml-badrow"

# ---- the real samples

if [ -r "$SHARED/data/movielens_100k/u.data" ]; then
    run $R train pipelines/movielens.lua --data "$SHARED/data/movielens_100k/u.data" --set train.epochs=2 \
        --threads 2 --run "$T/ml100k"
    auc=$(sed -n 's/^liked: auc \(0\.[0-9]*\)  gauc \(0\.[0-9]*\).*/\1 \2/p' "$T/err")
    [ "$status" -eq 0 ] && echo "$auc" | awk '{ exit !($1 > 0.72 && $2 > 0.65) }'
    ok $? "MovieLens 100K: AUC above 0.72 and GAUC above 0.65 (${auc:-none})" || diag "$T/err"
else
    n=$((n + 1)); echo "ok $n # SKIP $SHARED/data/movielens_100k is absent"
fi
if [ -r "$SHARED/data/avazu/avazu_train_head9999.csv" ]; then
    run $R train pipelines/avazu.lua --data "$SHARED/data/avazu/avazu_train_head9999.csv" --threads 2 \
        --run "$T/avazu"
    auc=$(sed -n 's/^click: auc \(0\.[0-9]*\).*/\1/p' "$T/err")
    [ "$status" -eq 0 ] && echo "$auc" | awk '{ exit !($1 > 0.65) }'
    ok $? "Avazu sample: AUC above 0.65 (${auc:-none})" || diag "$T/err"
else
    n=$((n + 1)); echo "ok $n # SKIP $SHARED/data/avazu is absent"
fi

if [ -r "$SHARED/data/census_income_mtl/census-income.test.gz" ]; then
    zcat "$SHARED/data/census_income_mtl/census-income.test.gz" >"$T/census.csv"
    run $R train pipelines/census.lua --data "$T/census.csv" --set train.epochs=1 --threads 2 \
        --run "$T/census"
    aucs=$(sed -n 's/^\(income\|never_married\): auc \(0\.[0-9]*\).*/\2/p' "$T/err" | tr '\n' ' ')
    [ "$status" -eq 0 ] && echo "$aucs" | awk '{ exit !(NF == 2 && $1 > 0.9 && $2 > 0.95) }'
    ok $? "Census-Income, two tasks: income AUC above 0.9, never married above 0.95 (${aucs:-none})" ||
        diag "$T/err"
else
    n=$((n + 1)); echo "ok $n # SKIP $SHARED/data/census_income_mtl is absent"
fi

done_testing
