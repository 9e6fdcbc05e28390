#!/bin/sh
# tools/check-includes.sh [ROOT]: checks that the include graph points one way (docs: issue 12).
# Fails, naming file:line, when
#   - store/ includes from core/ anything but the base headers err.h util.h pool.h optim.h
#     crc32c.h idmap.h blob.h (the store knows no graph, node, reader or trainer), or from lua/;
#   - anything in core/ (any folder) includes from lua/, or a store header other than store.h
#     (core/ sees the store only through store.h);
#   - a base file of core/ (core/*.c, core/*.h) includes from core/nodes, core/data,
#     core/train, core/gen or core/analysis;
#   - core/nodes includes from core/train or core/analysis;
#   - an include names a path ("../core/graph.h") instead of a header.
# The few includes that break a rule today are listed below with the reason; each should go.
# Headers are included by name (the Makefile's -I list), so a name is resolved as the compiler
# does: the including file's folder first, then core, core/nodes, core/data, core/gen,
# core/train, core/analysis, store, lua. POSIX sh and awk; no build needed.
set -eu
ROOT=${1:-$(dirname "$0")/..}
cd "$ROOT"
DIRS="core core/nodes core/data core/gen core/train core/analysis store lua"

# file, included header and why it is allowed for now
ALLOWED='
core/graph.c nodes.h the graph adds nodes by kind name, looked up in the one list of kinds (nodes.c)
core/node.h batch.h the node contract: a step hands every node the batch it runs on
'

for d in $DIRS; do
    for h in "$d"/*.h; do
        [ -e "$h" ] && echo "H $d ${h##*/}"
    done
done >"${TMPDIR:-/tmp}/check-includes.$$" || exit 2
trap 'rm -f "${TMPDIR:-/tmp}/check-includes.$$"' EXIT

srcs=
for d in $DIRS; do
    for f in "$d"/*.c "$d"/*.h; do
        [ -e "$f" ] && srcs="$srcs $f"
    done
done

# shellcheck disable=SC2086
awk -v dirs="$DIRS" -v allowed="$ALLOWED" '
BEGIN {
    nd = split(dirs, order, " ")
    na = split(allowed, lines, "\n")
    for (i = 1; i <= na; i++)
        if (split(lines[i], w, " ") >= 2)
            ok_pair[w[1] " " w[2]] = 1
    split("err.h util.h pool.h optim.h crc32c.h idmap.h blob.h", b, " ")
    for (i in b)
        base[b[i]] = 1
    bad = 0
}
FNR == 1 && FILENAME !~ /check-includes/ {
    src = FILENAME; srcdir = src; sub(/\/[^\/]*$/, "", srcdir)
}
FILENAME ~ /check-includes/ { have[$2 "/" $3] = 1; next }
/^[ \t]*#[ \t]*include[ \t]*"/ {
    h = $0; sub(/^[^"]*"/, "", h); sub(/".*$/, "", h)
    if (h ~ /\//) {               # a path would get past the rules below
        printf "%s:%d: includes \"%s\": include headers by name (the Makefile\047s -I list)\n", src, FNR, h
        bad = 1
        next
    }
    where = ""
    if ((srcdir "/" h) in have)
        where = srcdir
    for (i = 1; where == "" && i <= nd; i++)
        if ((order[i] "/" h) in have)
            where = order[i]
    if (where == "")
        next                       # not one of ours (a system or package header)
    why = rule(srcdir, where, h)
    if (why != "" && !((src " " h) in ok_pair)) {
        printf "%s:%d: includes %s/%s: %s\n", src, FNR, where, h, why
        bad = 1
    }
}
function rule(from, to, h) {
    if (from == "store") {
        if (to == "store") return ""
        if (to == "core" && (h in base)) return ""
        return "store/ may include only store/ and the base headers err.h util.h pool.h optim.h crc32c.h idmap.h blob.h"
    }
    if (from !~ /^core/) return ""
    if (to == "lua") return "core/ must not include from lua/ (the binding sits above the engine)"
    if (to == "store" && h != "store.h") return "core/ sees the store only through store.h"
    if (from == "core" && to ~ /^core\//)
        return "a base file of core/ must not include from " to " (the parts build on the base, not the other way)"
    if (from == "core/nodes" && (to == "core/train" || to == "core/analysis"))
        return "node kinds must not include from " to " (training and analysis use the nodes)"
    return ""
}
END { exit bad }
' "${TMPDIR:-/tmp}/check-includes.$$" $srcs
