#!/usr/bin/env bash
# Installs the Debian 12 packages Troupe builds, runs and tests with, the npm
# packages of the JavaScript SDK suite (tests/js) and AWS Lambda's Runtime
# Interface Client for the nodejs-ric runtime (runtime/runtimes/nodejs-ric),
# idempotently.
set -euo pipefail

packages=(
  cmake g++ make pkg-config git
  libcaf-dev libboost1.74-dev librocksdb-dev libsimdjson-dev
  libfuse3-dev fuse3 libarchive-dev libseccomp-dev libedit-dev libssl-dev
  googletest libgtest-dev
  autoconf automake libtool
  python3 nodejs curl zip unzip openssl clang libclang-rt-14-dev
  prometheus
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (or with sudo) to install packages" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The JavaScript SDK suite's npm packages (tests/js), pinned by its
# package-lock.json: installed when node_modules is missing or the lock file
# changed since the last install.
js_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/js
if [ -f "$js_dir/package-lock.json" ]; then
  lock_sum=$(sha256sum "$js_dir/package-lock.json" | cut -d' ' -f1)
  stamp=$js_dir/node_modules/.troupe-lock-sha256
  if [ ! -d "$js_dir/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    if ! command -v npm >/dev/null; then
      echo "install-deps: npm is missing (NodeSource's nodejs includes it; Debian's is the npm package)" >&2
      exit 1
    fi
    echo "install-deps: npm ci in tests/js"
    (cd "$js_dir" && npm ci --no-audit --no-fund)
    echo "$lock_sum" >"$stamp"
  fi
fi

# AWS Lambda's Runtime Interface Client for Node.js (npm aws-lambda-ric 3.x,
# pinned by runtime/runtimes/nodejs-ric/package-lock.json), whose install
# script builds its native addon (curl and aws-lambda-cpp, bundled) with
# autoconf, automake, libtool, cmake and g++ against this machine's Node.js
# headers (nodedir=/usr in its .npmrc: nothing is downloaded). Installed when
# the addon is missing or the lock file changed since the last install.
ric_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/runtime/runtimes/nodejs-ric
ric_addon=$ric_dir/node_modules/aws-lambda-ric/dist/rapid-client.node
if [ -f "$ric_dir/package-lock.json" ]; then
  lock_sum=$(sha256sum "$ric_dir/package-lock.json" | cut -d' ' -f1)
  stamp=$ric_dir/node_modules/.troupe-lock-sha256
  if [ ! -f "$ric_addon" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    echo "install-deps: npm ci in runtime/runtimes/nodejs-ric (builds aws-lambda-ric's addon: minutes)"
    (cd "$ric_dir" && npm ci --no-audit --no-fund)
    # The build trees its postinstall means to remove (its glob misses under dash).
    rm -rf "$ric_dir"/node_modules/aws-lambda-ric/deps/*/
    echo "$lock_sum" >"$stamp"
  fi
fi
