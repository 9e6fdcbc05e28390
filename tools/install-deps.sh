#!/bin/sh
# Installs what Rill needs on Debian 12 when something is missing; quiet when all is there.
# Run as root, or as a user with sudo. The package list is the project's whole dependency list.
set -e
PKGS="build-essential pkg-config perl liblua5.4-dev lua5.4 libopenblas-dev liblmdb-dev lmdb-utils libyaml-dev libdnnl-dev"

missing=""
pkg-config --exists lua5.4 yaml-0.1 lmdb openblas 2>/dev/null || missing="libs"
[ -f /usr/include/oneapi/dnnl/dnnl.h ] || missing="$missing oneDNN"
for cmd in cc make prove lua5.4 mdb_stat pkg-config; do
    command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"
done
[ -z "$missing" ] && exit 0

# shellcheck disable=SC2086
exec "$(dirname "$0")/apt-install.sh" "build dependencies" "$missing" $PKGS
