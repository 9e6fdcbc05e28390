#!/bin/sh
# tools/apt-install.sh WHAT MISSING PACKAGE...: installs Debian packages for the install
# scripts (install-deps.sh, install-fuzz-deps.sh), as root or through sudo; WHAT and MISSING
# say what for and why, in one line on stderr.
set -e
what=$1 missing=$2
shift 2
echo "rill: installing $what (missing: $missing)" >&2
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "rill: not root and no sudo; as root run: apt-get update && apt-get install -y $*" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "$@" >/dev/null
