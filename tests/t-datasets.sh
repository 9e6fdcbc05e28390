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

# ---- behaviour sequences: rill prep sequences on a made-up log

printf 'user_id\titem_id\ttime\nu1\ta\t30\nu2\tb\t10\nu1\tb\t20\nu1\tc\t40\nu2\tc\t20\nu1\td\t50\nu3\te\t5\nu3\tf\t60\n' >"$T/log.tsv"
printf 'item_id\ti_category\na\t1\nb\t1\nc\t2\nd\t3\ne\t3\n' >"$T/items.tsv"
run $R prep sequences --log "$T/log.tsv" --items "$T/items.tsv" --out "$T/seq" --max-length 2 --seed 3
ok $status "prep sequences: exit 0" || diag "$T/err"
# u1's items by time: b(20) a(30) c(40) d(50); u2's: b(10) c(20); u3's: e(5) f(60). Targets
# after the first; each user's last goes to valid, in time order.
awk -F '\t' 'NR > 1 && $1 == 1 { print $2, $3, $4, $6, $7 }' "$T/seq.train.tsv" >"$T/pos.txt"
printf 'u1 a 1 b 1\nu1 c 2 b|a 1|1\n' >"$T/pos.want"
cmp -s "$T/pos.txt" "$T/pos.want"
ok $? "prep: positives in time order, the history newest last and cut to --max-length 2" ||
    { diag "$T/pos.txt"; diag "$T/seq.train.tsv"; }
awk -F '\t' 'NR > 1 && $1 == 1 { print $2, $3, $6 }' "$T/seq.valid.tsv" >"$T/valid.txt"
printf 'u2 c b\nu1 d a|c\nu3 f e\n' >"$T/valid.want"
cmp -s "$T/valid.txt" "$T/valid.want"
ok $? "prep: each user's last interaction is its validation example" || diag "$T/valid.txt"
awk -F '\t' 'FNR > 1 && $1 == 0 { if (($2 == "u1" && $3 !~ /^(e|f)$/) || ($2 == "u2" && $3 !~ /^(a|d|e|f)$/) ||
                                       ($2 == "u3" && $3 !~ /^(a|b|c|d)$/)) bad++; n++ }
              END { exit !(n == 5 && !bad) }' "$T/seq.train.tsv" "$T/seq.valid.tsv"
ok $? "prep: one negative per positive, drawn from the items the user never had"
# split by time: u1's a(30) c(40) d(50), u2's c(20), u3's f(60) are the targets: 10 examples;
# the last 40% by time (d at 50 and f at 60, with their negatives) validate
run $R prep sequences --log "$T/log.tsv" --items "$T/items.tsv" --out "$T/seqt" --valid-fraction 0.4
awk -F '\t' 'FNR > 1 && $1 == 1 { print FILENAME ~ /valid/ ? "v" : "t", $3, $5 }' "$T/seqt.train.tsv" "$T/seqt.valid.tsv" >"$T/split.txt"
printf 't c 20\nt a 30\nt c 40\nv d 50\nv f 60\n' >"$T/split.want"
[ "$status" -eq 0 ] && cmp -s "$T/split.txt" "$T/split.want"
ok $? "prep --valid-fraction 0.4: the latest targets by time validate" || { diag "$T/split.txt"; diag "$T/err"; }
fails "prep --valid-fraction 2" "--valid-fraction 2: expected a number between 0 and 1" \
    $R prep sequences --log "$T/log.tsv" --out "$T/x" --valid-fraction 2
run $R prep sequences --log "$T/log.tsv" --items "$T/items.tsv" --out "$T/seq2" --max-length 2 --seed 3
cmp -s "$T/seq.train.tsv" "$T/seq2.train.tsv" && cmp -s "$T/seq.valid.tsv" "$T/seq2.valid.tsv"
ok $? "prep: the same seed writes the same bytes"
# TIM on those examples, and the correlation it learned: TIM's weights are a softmax, so over
# the validation rows (6, each with a history) they sum to 6
run $R train pipelines/tim.lua --data "$T/seq.train.tsv" --set valid_path="$T/seq.valid.tsv" \
    --set train.batch=4 --set seq.length=2 --threads 1 --run "$T/tim-tiny"
ok $status "tim.lua on the made-up examples" || diag "$T/err"
run $R analyze correlation "$T/tim-tiny" --out "$T/corr"
[ "$status" -eq 0 ] && [ -s "$T/corr/correlation_pairs.csv" ] && grep -q '<svg' "$T/corr/correlation_pairs.svg" &&
    grep -q '<svg' "$T/corr/correlation_position.svg" && grep -q '<svg' "$T/corr/correlation_position_target.svg" &&
    awk -F, 'NR > 1 { s += $2 * $4 } END { exit !(s > 5.999 && s < 6.001) }' "$T/corr/correlation_position.csv"
ok $? "analyze correlation: position and category-pair tables and plots; the weights of each row sum to 1" ||
    { diag "$T/out" "$T/err"; diag "$T/corr/correlation_position.csv"; }
fails "analyze correlation of a run without attention" "has no tim or din node" \
    $R analyze correlation "$T/ml"

printf 'user_id\titem_id\ttime\nu1\ta\tnoon\n' >"$T/badlog.tsv"
fails "prep: a time that is not a number" "badlog.tsv:2: time 'noon' is not a number" \
    $R prep sequences --log "$T/badlog.tsv" --out "$T/x"
fails "prep: a missing column" "no column 'when' in the header" \
    $R prep sequences --log "$T/log.tsv" --time-col when --out "$T/x"
fails "prep: no --out" "--out PREFIX is required" $R prep sequences --log "$T/log.tsv"

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

if [ -r "$SHARED/data/amazon_grocery_seq/train.csv" ]; then
    run $R prep sequences --log "$SHARED/data/amazon_grocery_seq/train.csv" \
        --items "$SHARED/data/amazon_grocery_seq/item_meta.csv" --out "$T/grocery"
    run $R train pipelines/tim.lua --set model=pooled --data "$T/grocery.train.tsv" \
        --set valid_path="$T/grocery.valid.tsv" --set train.epochs=1 --threads 2 --run "$T/seqp"
    g=$(sed -n 's/^click: auc \(0\.[0-9]*\)  gauc \(0\.[0-9]*\).*/\1 \2/p' "$T/err")
    [ "$status" -eq 0 ] && echo "$g" | awk '{ exit !($1 > 0.68 && $2 > 0.66) }'
    ok $? "Amazon Grocery sequences, pooled history: AUC above 0.68, GAUC above 0.66 (${g:-none})" ||
        diag "$T/err"
    run $R train pipelines/tim.lua --data "$T/grocery.train.tsv" \
        --set valid_path="$T/grocery.valid.tsv" --set train.epochs=1 --threads 2 --run "$T/tim"
    g=$(sed -n 's/^click: auc \(0\.[0-9]*\)  gauc \(0\.[0-9]*\).*/\1 \2/p' "$T/err")
    [ "$status" -eq 0 ] && echo "$g" | awk '{ exit !($1 > 0.70 && $2 > 0.68) }'
    ok $? "Amazon Grocery sequences, TIM: AUC above 0.70, GAUC above 0.68 (${g:-none})" || diag "$T/err"
    run $R train pipelines/din.lua --data "$T/grocery.train.tsv" \
        --set valid_path="$T/grocery.valid.tsv" --set train.epochs=1 --threads 2 --run "$T/din"
    g=$(sed -n 's/^click: auc \(0\.[0-9]*\)  gauc \(0\.[0-9]*\).*/\1 \2/p' "$T/err")
    [ "$status" -eq 0 ] && echo "$g" | awk '{ exit !($1 > 0.68 && $2 > 0.66) }'
    ok $? "Amazon Grocery sequences, DIN: AUC above 0.68, GAUC above 0.66 (${g:-none})" || diag "$T/err"
else
    n=$((n + 1)); echo "ok $n # SKIP $SHARED/data/amazon_grocery_seq is absent"
fi
if [ -r "$SHARED/data/census_income_mtl/census-income.test.gz" ]; then
    zcat "$SHARED/data/census_income_mtl/census-income.test.gz" >"$T/census.csv"
    run $R train pipelines/census.lua --data "$T/census.csv" --set train.epochs=1 --threads 2 \
        --run "$T/census"
    aucs=$(sed -n 's/^\(income\|never_married\): auc \(0\.[0-9]*\).*/\2/p' "$T/err" | tr '\n' ' ')
    [ "$status" -eq 0 ] && echo "$aucs" | awk '{ exit !(NF == 2 && $1 > 0.9 && $2 > 0.95) }'
    ok $? "Census-Income, two tasks: income AUC above 0.9, never married above 0.95 (${aucs:-none})" ||
        diag "$T/err"
    for p in mmoe stem ple hmoe_me; do
        run $R train pipelines/$p.lua --data "$T/census.csv" --set train.epochs=1 --threads 2 --run "$T/$p"
        aucs=$(sed -n 's/^\(income\|never_married\): auc \(0\.[0-9]*\).*/\2/p' "$T/err" | tr '\n' ' ')
        [ "$status" -eq 0 ] && echo "$aucs" | awk '{ exit !(NF == 2 && $1 > 0.9 && $2 > 0.95) }'
        ok $? "Census-Income, $p.lua: income AUC above 0.9, never married above 0.95 (${aucs:-none})" ||
            diag "$T/err"
    done
    run $R train pipelines/stem.lua --data "$T/census.csv" --set train.epochs=1 --threads 2 \
        --set aux=never_married --run "$T/stem_al"
    ok $? "Census-Income, STEM-AL (never married auxiliary) trains" || diag "$T/err"
    run $R train pipelines/hmoe_me.lua --data "$T/census.csv" --set train.epochs=1 --threads 2 \
        --set task_experts=none --set ame=4,8,16 --set experts.kinds=fm,dot --run "$T/ame"
    ok $? "Census-Income, hmoe_me.lua with AME sets and FM and dot experts trains" || diag "$T/err"
    fails "hmoe_me.lua with an unknown expert" "unknown expert \"attention\"" \
        $R train pipelines/hmoe_me.lua --data "$T/census.csv" --set experts.kinds=mlp,attention --run "$T/bad"
    fails "hmoe_me.lua, STEM-AL without task-specific experts" "needs task_experts" \
        $R train pipelines/hmoe_me.lua --data "$T/census.csv" --set aux=income --set task_experts=ple --run "$T/bad"
else
    n=$((n + 1)); echo "ok $n # SKIP $SHARED/data/census_income_mtl is absent"
fi

done_testing
