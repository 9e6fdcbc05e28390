#!/bin/sh
# make demo: sample data from the project's own generator, then DLRM trained on it with
# progress, validation AUC and logloss at the end of each epoch.
set -e
cd "$(dirname "$0")/.."
if [ ! -s data/sample.tsv ]; then
    mkdir -p data
    echo "generating data/sample.tsv: 300,000 Criteo-format rows from a planted model (rill gen criteo)"
    bin/rill gen criteo --rows 300000 --seed 1 --out data/sample.tsv
fi
bin/rill train pipelines/dlrm.lua --data data/sample.tsv --run runs/demo "$@"
echo "next: bin/rill eval runs/demo --data data/sample.tsv   (or predict; see README.md)"
