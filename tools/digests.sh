#!/bin/sh
# tools/digests.sh OUT: trains a fixed set of small runs and writes, per run, the parameter
# digest (rill inspect RUN --digest) and metrics.jsonl without its timing fields to OUT/NAME.*.
# A change that must not change behaviour (the architecture issue's refactoring) is checked by
# running this before and after it and comparing the folders: `diff -r BEFORE AFTER`.
# The runs: DLRM, DCNv2, DeepFM, MLET, CEL, STEM with IPW and the pair loss, MMoE, on 1 and 2
# threads, from the project's own generators; TIM and hmoe_me on ../shared's Amazon Grocery and
# census samples where they are present (they are read in place, never copied into the project).
# Digests depend on the CPU's vector paths: compare folders made on one machine.
set -eu
cd "$(dirname "$0")/.."
OUT=${1:?usage: tools/digests.sh OUT}
SHARED=${SHARED:-../shared}
R=bin/rill
mkdir -p "$OUT/data" "$OUT/runs"
D=$OUT/data
[ -s "$D/criteo.tsv" ] || $R gen criteo --rows 20000 --seed 7 --max-cardinality 3000 --out "$D/criteo.tsv" 2>/dev/null
[ -s "$D/clusters.tsv" ] || $R gen criteo --rows 20000 --seed 8 --entity-clusters 16 --out "$D/clusters.tsv" 2>/dev/null
[ -s "$D/mt.csv" ] || $R gen multitask --rows 8000 --seed 5 --out "$D/mt.csv" 2>/dev/null
[ -s "$D/mtv.csv" ] || $R gen multitask --rows 3000 --seed 5 --sample 1 --repeat-rate 0 --out "$D/mtv.csv" 2>/dev/null

record() { # record NAME PIPELINE ARGS...: train, then keep the digest and the metrics
    name=$1; shift
    run=$OUT/runs/$name
    if ! $R train "$@" --run "$run" --force >"$OUT/$name.log" 2>&1; then
        echo "$name: training failed (see $OUT/$name.log)" >&2; return 1
    fi
    $R inspect "$run" --digest | grep -i digest >"$OUT/$name.digest"
    # wall-clock fields differ from run to run; everything else must not
    sed -e 's/"\(secs\|seconds\|elapsed\|time\|examples_per_sec\|eps\|rate\|wait\)[a-z_]*": *[-0-9.e+]*,\{0,1\}//g' \
        "$run/metrics.jsonl" >"$OUT/$name.metrics"
    echo "$name: $(cat "$OUT/$name.digest")"
}

C="--data $D/criteo.tsv --set embed.buckets=16384 --set train.epochs=1 --set train.batch=256 --checkpoint-every 20"
for t in 1 2; do
    record dlrm-t$t pipelines/dlrm.lua $C --set embed.dim=8 --set mlp.bottom=32 --set mlp.top=32 --threads $t
    record dcnv2-t$t pipelines/dcnv2.lua $C --set embed.dim=8 --set deep.width=32 --set cross.rank=8 --threads $t
    record deepfm-t$t pipelines/deepfm.lua $C --set deep.width=32 --threads $t
    record mlet-t$t pipelines/dlrm.lua $C --set embed.dim=8 --set embed.kind=mlet --set mlp.bottom=32 \
        --set mlp.top=32 --threads $t
    record cel-t$t pipelines/cel.lua --data "$D/clusters.tsv" --set cel.clusters=32 --set train.epochs=1 --set train.batch=256 --checkpoint-every 20 --threads $t
    M="pipelines/multitask.lua --data $D/mt.csv --set valid_data=$D/mtv.csv --set train.epochs=1 --set train.batch=256 --set embed.buckets=4096"
    record stem-ipw-pair-t$t $M --set model=stem --set loss.ipw=repeats --set loss.alpha=0.5 \
        --set train.entanglement=5 --threads $t
    record mmoe-t$t $M --set model=mmoe --set loss.alpha=0.5 --set loss.alpha_to=0.2 --set loss.ramp_steps=20 \
        --set loss.ipw=repeats --set loss.ipw_estimator=linear --threads $t
done

if [ -r "$SHARED/data/amazon_grocery_seq/train.csv" ]; then
    [ -s "$D/grocery.train.tsv" ] || $R prep sequences --log "$SHARED/data/amazon_grocery_seq/train.csv" \
        --items "$SHARED/data/amazon_grocery_seq/item_meta.csv" --out "$D/grocery" 2>/dev/null
    for t in 1 2; do
        record tim-t$t pipelines/tim.lua --data "$D/grocery.train.tsv" --set valid_path="$D/grocery.valid.tsv" \
            --set train.epochs=1 --threads $t
    done
else
    echo "tim: skipped, $SHARED/data/amazon_grocery_seq is absent"
fi
if [ -r "$SHARED/data/census_income_mtl/census-income.test.gz" ]; then
    [ -s "$D/census.csv" ] || zcat "$SHARED/data/census_income_mtl/census-income.test.gz" | head -30001 >"$D/census.csv"
    for t in 1 2; do
        record hmoe_me-t$t pipelines/hmoe_me.lua --data "$D/census.csv" --set train.epochs=1 --threads $t
    done
else
    echo "hmoe_me: skipped, $SHARED/data/census_income_mtl is absent"
fi
