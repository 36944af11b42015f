#!/usr/bin/env bash
# Command 2 of the README: install what is missing, build, run the whole test
# suite (unit and integration). Exit status is the suite's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/install-deps.sh"
"$root/deploy/build.sh" "$@"
cd "${BUILD_DIR:-$root/build}"
ctest --output-on-failure --timeout 600 -j 2
