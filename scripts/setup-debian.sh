#!/bin/sh
# Installs what a fresh Debian/Ubuntu machine with Node 20 lacks for petra, then `npm ci` (which builds the addon).
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
# python3-torch: the tests run petra's TorchScript exports in PyTorch itself, and the benches compare with PyTorch
# (it shares libtorch with libtorch-dev: ~100 MB more). clang-format: npm run lint:format checks native/ with it.
need=""
for pkg in libtorch-dev libopenblas0-pthread dataset-fashion-mnist cmake g++ make python3 python3-torch ninja-build chromium redis-server openssl clang-format; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
  echo "setup: apt-get install$need"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q $need
fi
[ -d node_modules ] && [ -f build/Release/petra.node ] && [ -d dist ] || npm ci --no-audit --no-fund
