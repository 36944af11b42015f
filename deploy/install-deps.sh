#!/usr/bin/env bash
# Installs the Debian 12 packages Troupe builds, runs and tests with (idempotent).
set -euo pipefail

packages=(
  cmake g++ make pkg-config git
  libcaf-dev libboost1.74-dev librocksdb-dev libsimdjson-dev
  libfuse3-dev fuse3 libarchive-dev libseccomp-dev libedit-dev libssl-dev
  googletest libgtest-dev
  python3 nodejs curl zip unzip openssl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (or with sudo) to install packages" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
