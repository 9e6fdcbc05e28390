#!/bin/sh
# make bench: the DLRM throughput benchmark (see lua/rill/bench.lua for what it measures).
set -e
cd "$(dirname "$0")/.."
exec bin/rill bench dlrm "$@"
