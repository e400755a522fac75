#!/usr/bin/env node
// Runs petra's int8 test files once per CPU kind that int8 must be exact on, on any x86-64 machine: oneDNN, ATen and
// petra's own kernels capped to AVX2 (a CPU without VNNI or AVX-512: the common AMD EPYC / older Xeon server), then
// to the x86-64 baseline (SSE4.1 for oneDNN, ATen's default kernels, petra's SSE2 clones). The uncapped run is the
// normal suite. `npm run test:int8-matrix [-- avx2|baseline]`; .ci/run runs both after `npm test`.
import { spawnSync } from 'node:child_process';

// Not quantize-intmm: its int8 GEMM is an exact int32 matmul (no ISA-dependent path), and its bfloat16 test trips
// on oneDNN capped below what ATen's own CPU check sees (a capping artifact: no real CPU is both).
const FILES = [
  'test/compress/int8-cpu.test.ts',
  'test/compress/quantize.test.ts',
  'test/compress/quantize-gru.test.ts',
  'test/compress/quantize-int8-graph.test.ts',
  'test/compress/compositions.test.ts',
  'test/interop/onnx-export.test.ts',
  'test/interop/onnx-bench.test.ts',
  'test/interop/torchscript-export.test.ts',
  'test/e2e/roundtrip.test.ts',
];
const KINDS = {
  avx2: { ONEDNN_MAX_CPU_ISA: 'AVX2', ATEN_CPU_CAPABILITY: 'avx2', PETRA_CPU_ISA: 'avx2' },
  baseline: { ONEDNN_MAX_CPU_ISA: 'SSE41', ATEN_CPU_CAPABILITY: 'default', PETRA_CPU_ISA: 'baseline' },
};
const wanted = process.argv.slice(2).filter((a) => a in KINDS);
let failed = false;
for (const kind of wanted.length ? wanted : Object.keys(KINDS)) {
  const env = { ...process.env, ...KINDS[kind] };
  console.log(
    `int8 matrix: ${kind} (${Object.entries(KINDS[kind])
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')})`,
  );
  const started = Date.now();
  const run = spawnSync('npx', ['ava', ...FILES], { env, stdio: 'inherit' });
  console.log(
    `int8 matrix: ${kind} ${run.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  if (run.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
