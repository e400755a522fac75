#!/usr/bin/env bash
# Runs on the GPU machine (see scripts/device-pack.sh for what must be carried): builds petra against python
# torch's CUDA LibTorch with plain CMake, runs the CUDA checks and GPU benchmarks, writes everything to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/petra-device-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/device-check.log") 2>&1
step() { echo; echo "== $* ($(date +%T))"; }

step "node"
if ! command -v node >/dev/null; then
  mkdir -p /tmp/petra-node && xz -dc .device/node.xz > /tmp/petra-node/node && chmod +x /tmp/petra-node/node
  export PATH=/tmp/petra-node:$PATH
fi
node --version

step "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.csv"
python3 -c 'import torch;print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' | tee "$OUT/torch.txt"

step "build (CMake + Ninja against python torch's LibTorch)"
TORCH_DIR=$(node scripts/find-libtorch.mjs --torch-dir) || { echo "no LibTorch found"; exit 1; }
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$TORCH_DIR" \
  -DCMAKE_JS_INC="$PWD/node_modules/node-api-headers/include" > "$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
grep -E "petra:|CUDA" "$OUT/cmake.log" | head -5
time cmake --build build -j "$(nproc)" > "$OUT/build.log" 2>&1 || { tail -60 "$OUT/build.log"; exit 1; }
mkdir -p build/Release && cp build/petra.node build/Release/petra.node 2>/dev/null || true
ls -la build/Release/petra.node

step "CUDA checks and GPU benchmarks"
node scripts/device-tests.mjs "$OUT"
echo "device-check exit $?"
