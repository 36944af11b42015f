#!/usr/bin/env bash
# Command 2 of the README: install what is missing, build, run the whole test
# suite (unit and integration, then a short fuzzing run: deploy/fuzz.sh). Exit
# status is the suite's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/install-deps.sh"
"$root/deploy/build.sh" "$@"
cd "${BUILD_DIR:-$root/build}"
status=0
ctest --output-on-failure --timeout 600 -j 2 || status=$?
# A short libFuzzer run of every fuzz target (tests/fuzz), in build-fuzz.
"$root/deploy/fuzz.sh" 15 || status=$?
exit "$status"
