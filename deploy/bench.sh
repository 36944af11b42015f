#!/usr/bin/env bash
# The benchmarks: install, build (optimised), run; JSON lines on stdout.
# Usage: deploy/bench.sh [requests-per-latency-run]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/install-deps.sh"
BUILD_DIR=${BUILD_DIR:-$root/build-bench} BUILD_TYPE=Release "$root/deploy/build.sh" > /dev/null
exec "${BUILD_DIR:-$root/build-bench}/bin/troupe-bench" "$@"
