#!/bin/sh
# End to end: a generated data set with a planted interaction signal is learned by each
# interaction pipeline (DLRM, DCNv2, DeepFM) well beyond what logistic regression, a model
# without interactions, reaches on it, in a few seconds each.
#
# Data: rill gen criteo --rows 100000 --seed 3 --max-cardinality 2000 --interaction 2; the
# pipelines keep the last 10% (10,000 rows, 28% positive) for validation. From the
# generator's truth (rill_gen_criteo_truth) on those rows: the true logit has AUC 0.905, its
# first-order part alone (bias, per-value effects, counts: the best any model without
# interactions can do, since the planted pairwise terms average to zero over each field)
# 0.698. pipelines/lr.lua reaches 0.690, close to that ceiling; the interaction pipelines,
# shrunk here to a second or two each, reach 0.77 to 0.81 (measured: lr 0.690, dlrm 0.790,
# dcnv2 0.771, deepfm 0.807 with --threads 2). The test asks lr + 0.05: 0.04 above the
# first-order ceiling, several standard errors of an AUC on 10,000 rows (about 0.005), so a
# model that learned no interaction cannot pass; and 0.02 to 0.07 below what the pipelines
# reach, room for other BLAS kernels and CPUs. lr itself must reach 0.65, so a broken
# baseline cannot make the margin easy. Threads are fixed at 2 so that every run is
# deterministic.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh
now() { date +%s.%N; }

F=$T/planted.tsv
$R gen criteo --rows 100000 --seed 3 --max-cardinality 2000 --interaction 2 --out "$F" 2>"$T/err"
ok $? "gen: 100,000 rows with planted interactions" || diag "$T/err"

# train NAME --set ...: trains pipelines/NAME.lua; sets auc (the last validation AUC) and secs
train() {
    name=$1
    shift
    t0=$(now)
    $R train "pipelines/$name.lua" --data "$F" --set embed.buckets=65536 --threads 2 \
        --run "$T/$name" "$@" >"$T/out" 2>"$T/err"
    status=$?
    secs=$(echo "$t0 $(now)" | awk '{ printf "%.1f", $2 - $1 }')
    auc=$(perl -MJSON::PP -ne '$r = decode_json($_); $a = $r->{auc} if $r->{split} eq "valid";
                               END { print $a // "none" }' "$T/$name/metrics.jsonl" 2>/dev/null)
    ok $status "$name: trained (validation AUC $auc, ${secs}s)" || diag "$T/err"
    echo "# $name: validation AUC $auc in ${secs}s${*:+ with $*}"
}

train lr
lr=$auc
awk -v a="$lr" 'BEGIN { exit !(a + 0 >= 0.65 && a + 0 < 0.75) }'
ok $? "lr learns the first-order signal: AUC $lr in [0.65, 0.75)"

beats() { # beats NAME AUC
    awk -v a="$2" -v b="$lr" 'BEGIN { exit !(a + 0 >= b + 0.05) }'
    ok $? "$1 learns the interactions: AUC $2 >= lr's $lr + 0.05"
}
train dlrm --set embed.dim=8 --set mlp.bottom=64 --set mlp.top=64
beats dlrm "$auc"
train dcnv2 --set embed.dim=8 --set deep.width=64 --set cross.rank=16
beats dcnv2 "$auc"
train deepfm --set deep.width=32
beats deepfm "$auc"

done_testing
