#!/bin/sh
# Prepares what the GPU machine lacks, in ignored folders named in the device tool's `carry`:
#   .device/node.xz  — this machine's node binary (the device image may have no Node)
#   dist/            — compiled lib/ (the device runs plain JS: no tsx, ava or esbuild there)
# and node_modules/node-addon-api + node_modules/node-api-headers (headers for the plain-CMake build).
# carry: [".device", "dist", "node_modules/node-addon-api", "node_modules/node-api-headers"]
set -eu
cd "$(dirname "$0")/.."
mkdir -p .device
[ -f .device/node.xz ] || xz -T2 -6 -c "$(command -v node)" > .device/node.xz
npx tsc -p tsconfig.json
du -sh .device dist node_modules/node-addon-api node_modules/node-api-headers
