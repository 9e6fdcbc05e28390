#!/bin/sh
# The include graph points one way (tools/check-includes.sh): the tree passes, and a copy of it
# with one bad include planted per rule fails, naming the file and line of that include.
cd "$(dirname "$0")/.." || exit 1
. tests/tap.sh

run tools/check-includes.sh
ok "$status" "the tree's includes follow the rules" || diag "$T/out" "$T/err"

# plant FILE LINE NEEDLE NAME: a fresh copy with LINE appended to FILE must fail naming FILE
plant() {
    file=$1 line=$2 needle=$3 name=$4
    rm -rf "$T/tree" && mkdir "$T/tree" && cp -r core store lua tools "$T/tree/" || return 1
    lines=$(($(wc -l <"$T/tree/$file") + 1))
    echo "$line" >>"$T/tree/$file"
    run tools/check-includes.sh "$T/tree"
    [ "$status" -ne 0 ] && grep -q "^$file:$lines: .*$needle" "$T/out"
    ok $? "$name: fails at $file:$lines" || diag "$T/out" "$T/err"
}
plant store/seal.c '#include "graph.h"' "store/ may include only" "store/ including the graph"
plant store/table.c '#include "reader.h"' "store/ may include only" "store/ including a reader"
plant store/store.c '#include "rill_lua.h"' "store/ may include only" "store/ including lua/"
plant core/nodes/node_relu.c '#include "rill_lua.h"' "must not include from lua/" "a node kind including lua/"
plant core/train/train.c '#include "store_impl.h"' "only through store.h" "core/ including the store's inside"
plant core/arena.c '#include "reader.h"' "base file of core/ must not include from core/data" \
    "a base file including a reader"
plant core/util.c '  #  include "train.h"' "must not include from core/train" \
    "a base file including the trainer (spaced directive)"
plant core/nodes/node_add.c '#include "spectrum.h"' "node kinds must not include from core/analysis" \
    "a node kind including analysis"
plant core/graph.c '#include "../lua/rill_lua.h"' "include headers by name" "an include by path"

# the allowed exceptions are per file: the same include elsewhere still fails
plant core/optim.c '#include "nodes.h"' "base file of core/ must not include from core/nodes" \
    "graph.c's exception does not cover another base file"

done_testing
