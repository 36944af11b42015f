#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, AddressSanitizer (leak
# detection on) and UndefinedBehaviorSanitizer into ${FUZZ_BUILD_DIR:-build-fuzz},
# then runs each target for the given seconds (default 20) on a copy of its
# seed corpus. Exit status: 0 when no target found anything; otherwise 1, with
# the reproducer's path printed (a crash, leak, timeout or out-of-memory).
#   deploy/fuzz.sh [seconds-per-target] [target...]
# Runs land in ${FUZZ_OUT:-<build>/fuzz-runs/<time>}/<target>/: log, artifacts/
# (reproducers) and corpus/ (the copy, grown by the run; removed when the run
# passed, unless FUZZ_KEEP_CORPUS=1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http_request api_json sigv4 archive)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
out=${FUZZ_OUT:-$build/fuzz-runs/$(date +%Y%m%d-%H%M%S)}

start=$(date +%s)
cmake -S "$root" -B "$build" -DTROUPE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" > /dev/null
cmake --build "$build" -j "${FUZZ_JOBS:-2}" --target troupe_fuzz
echo "fuzz: built in $(($(date +%s) - start)) s; running ${targets[*]} for ${seconds} s each"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1:${ASAN_OPTIONS:-}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}
failed=0
for target in "${targets[@]}"; do
  run=$out/$target
  mkdir -p "$run/corpus" "$run/artifacts" "$run/tmp"
  cp -R "$root/tests/fuzz/corpus/$target/." "$run/corpus/"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$run/artifacts/")
  [ -f "$root/tests/fuzz/$target.dict" ] && args+=(-dict="$root/tests/fuzz/$target.dict")
  if TMPDIR=$run/tmp "$build/fuzz/fuzz_$target" "${args[@]}" "$run/corpus" > "$run/log" 2>&1; then
    stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
      "$run/log" | sed 's/^stat:://' | tr '\n' ' ')
    echo "fuzz: $target ok: $stats"
    rm -rf "$run/tmp"
    [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$run/corpus"
  else
    failed=1
    echo "fuzz: $target FAILED; log: $run/log" >&2
    grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|property violated' \
      "$run/log" | head -5 >&2 || true
    for artifact in "$run/artifacts"/*; do
      [ -e "$artifact" ] || continue
      echo "fuzz: reproducer: $artifact" >&2
      echo "fuzz:   reproduce: $build/fuzz/fuzz_$target $artifact" >&2
    done
  fi
done
echo "fuzz: done in $(($(date +%s) - start)) s"
exit "$failed"
