#!/usr/bin/env bash
# Runs the AWS SDK for JavaScript v3 suite (tests/js/*.test.mjs) against a real
# troupe-node: starts one on loopback in a temporary data dir, runs the tests
# with node:test, stops the node and removes the directory. Exit status: the
# tests'.
#
# Usage: tests/js/run.sh [path/to/troupe-node]
#   troupe-node: $1, else $TROUPE_NODE, else build/bin/troupe-node
#   BUILD_DIR:   where examples/*.zip are (default: the node's ../)
#   TEST_NAME_PATTERN: passed to node --test-name-pattern (optional)
# shellcheck disable=SC2317 # stop_node and cleanup run from the EXIT trap
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

node_bin=${1:-${TROUPE_NODE:-$root/build/bin/troupe-node}}
case $node_bin in /*) ;; *) node_bin=$PWD/$node_bin ;; esac
region=us-east-1

fail() { echo "tests/js/run.sh: $*" >&2; exit 2; }

[ -d "$(dirname "$node_bin")" ] || fail "$node_bin: no such troupe-node (pass its path, or set TROUPE_NODE)"
build_dir=${BUILD_DIR:-$(cd "$(dirname "$node_bin")/.." && pwd)}
examples=$build_dir/examples

command -v node >/dev/null || fail "node is not installed (deploy/install-deps.sh installs it)"
[ -d "$here/node_modules/@aws-sdk/client-lambda" ] ||
  fail "tests/js/node_modules is missing: run 'npm ci --no-audit --no-fund' in tests/js (deploy/install-deps.sh does)"
for zip in shell-echo python-echo node-echo cpp-echo; do
  [ -f "$examples/$zip.zip" ] || fail "$examples/$zip.zip is missing: build the example_zips target (or set BUILD_DIR)"
done

# The binary may be mid-rebuild: wait (bounded) for it to be there.
for _ in $(seq 1 60); do
  [ -x "$node_bin" ] && break
  sleep 1
done
[ -x "$node_bin" ] || fail "$node_bin is not an executable troupe-node"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/troupe-js.XXXXXX")
node_pid=
watchdog_pid=
tests_pid=

stop_node() {
  [ -n "$node_pid" ] || return 0
  kill -TERM "$node_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do # 10 s
    kill -0 "$node_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$node_pid" 2>/dev/null; then
    echo "tests/js/run.sh: troupe-node did not stop within 10 s of SIGTERM: SIGKILL" >&2
    kill -KILL "$node_pid" 2>/dev/null || true
  fi
  wait "$node_pid" 2>/dev/null || true
  node_pid=
}

cleanup() {
  [ -z "$tests_pid" ] || kill -TERM "$tests_pid" 2>/dev/null || true
  stop_node
  [ -z "$watchdog_pid" ] || kill "$watchdog_pid" 2>/dev/null || true
  # A killed node may leave sandbox mounts under its data dir: never descend into them.
  awk -v dir="$tmp/" 'index($2, dir) == 1 { print $2 }' /proc/self/mounts 2>/dev/null |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two tenants with one key each. The secrets are made fresh for each run.
secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
alpha_id=AKIDALPHA00000000001 alpha_secret=alpha-$(secret)
beta_id=AKIDBETA000000000001 beta_secret=beta-$(secret)
cat >"$tmp/tenants.json" <<EOF
{"tenants":[
  {"name":"alpha","keys":[{"id":"$alpha_id","secret":"$alpha_secret"}]},
  {"name":"beta","keys":[{"id":"$beta_id","secret":"$beta_secret"}]}
]}
EOF
chmod 600 "$tmp/tenants.json"

auth_args=(--auth.tenants-file="$tmp/tenants.json")

mkdir "$tmp/data"
"$node_bin" --node.data-dir="$tmp/data" --ingress.host=127.0.0.1 --ingress.port=0 \
  --node.region="$region" "${auth_args[@]}" >"$tmp/node.out" 2>"$tmp/node.err" &
node_pid=$!
# Should this script be killed outright (no EXIT trap), the node goes too.
( while kill -0 $$ 2>/dev/null; do sleep 1; done; kill -KILL "$node_pid" 2>/dev/null ) \
  </dev/null >/dev/null 2>&1 &
watchdog_pid=$!

port=
for _ in $(seq 1 300); do # 30 s
  if grep -q 'troupe-node: ready' "$tmp/node.out" 2>/dev/null; then
    port=$(grep 'troupe-node: ready' "$tmp/node.out" | sed -n 's|.*ingress on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' | head -n1)
    break
  fi
  kill -0 "$node_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "tests/js/run.sh: troupe-node did not become ready (stdout, then stderr):" >&2
  cat "$tmp/node.out" >&2 || true
  tail -n 50 "$tmp/node.err" >&2 || true
  exit 2
fi
echo "tests/js/run.sh: troupe-node (pid $node_pid) on http://127.0.0.1:$port"

test_args=(--test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec)
[ -n "${TEST_NAME_PATTERN:-}" ] && test_args+=(--test-name-pattern="$TEST_NAME_PATTERN")
status=0
TROUPE_ENDPOINT=http://127.0.0.1:$port \
TROUPE_REGION=$region \
TROUPE_EXAMPLES_DIR=$examples \
TROUPE_ALPHA_KEY_ID=$alpha_id TROUPE_ALPHA_SECRET=$alpha_secret \
TROUPE_BETA_KEY_ID=$beta_id TROUPE_BETA_SECRET=$beta_secret \
AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true \
  timeout -k 10 480 node "${test_args[@]}" "$here"/*.test.mjs &
tests_pid=$! # in the background, so that a signal to this script is handled at once
wait "$tests_pid" || status=$?
tests_pid=

if [ "$status" -ne 0 ]; then
  echo "tests/js/run.sh: tests failed ($status); the node's last log lines:" >&2
  tail -n 40 "$tmp/node.err" >&2 || true
fi
exit "$status"
