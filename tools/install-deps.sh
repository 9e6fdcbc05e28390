#!/bin/sh
# Installs what Rill needs on Debian 12 when something is missing; quiet when all is there.
# Run as root, or as a user with sudo. The package list is the project's whole dependency list.
set -e
PKGS="build-essential pkg-config perl liblua5.4-dev lua5.4 libopenblas-dev liblmdb-dev lmdb-utils libyaml-dev"

missing=""
pkg-config --exists lua5.4 yaml-0.1 lmdb openblas 2>/dev/null || missing="libs"
for cmd in cc make prove lua5.4 mdb_stat pkg-config; do
    command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"
done
[ -z "$missing" ] && exit 0

echo "rill: installing build dependencies (missing: $missing)" >&2
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "rill: not root and no sudo; as root run: apt-get update && apt-get install -y $PKGS" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq $PKGS >/dev/null
