// bench/blas-threads: fp32 inference latency of a GEMM-heavy MLP, a GRU and two CNNs under each way of sharing the
// cores between LibTorch's OpenMP threads and OpenBLAS's own, and with glibc's default malloc thresholds (issue #19:
// the fp32 baseline must be timed at its fastest). Each model is fresh and timed at one batch size in its process
// order (b1, then b64) — the case where glibc's defaults page-fault activations in on every call. One child process per configuration (OpenBLAS and OpenMP read their variables at load), rounds
// interleaved so drift hits every configuration alike; the median over rounds of benchmark() medians. Convolutions run
// in oneDNN on OpenMP's threads, GEMMs in OpenBLAS: the CNNs show what a BLAS setting costs the models that do not use it.
// petra's default slices each fp32 Linear's output over the OpenMP team, every thread running the one-threaded BLAS
// (native/inference_linear.cc); PETRA_PARALLEL_LINEAR=0 rows run it as one BLAS call, as petra did before.
// The last configuration loads Debian's OpenMP build of OpenBLAS (libopenblas0-openmp, via LD_LIBRARY_PATH), whose
// GEMMs run on the same OpenMP team as LibTorch's other kernels instead of a second pool of pthreads.
// Usage: node --import=tsx bench/blas-threads.ts [--rounds 3] [--out bench/results/blas-threads]
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { benchmark } from '../lib/lab/benchmark.js';
import { hostFingerprint } from '../lib/lab/fingerprint.js';
import { Model } from '../lib/runtime/model.js';
import { gruSequenceClassifier, mlp, resnetCifar, smallCnn } from '../lib/graph/builders.js';
import { transactionFeatures } from '../lib/data/synthetic.js';
import { gitCommit, markdownTable, median } from './lib/stats.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};

const MODELS = {
  'MLP 1024-1024-2': () => mlp({ inputShape: [1024], hidden: [1024], classes: 2 }),
  'GRU h128 T32': () => gruSequenceClassifier({ seqLen: 32, ...transactionFeatures, hiddenSize: 128, classes: 4 }),
  'small CNN 28²': () => smallCnn({ inputShape: [1, 28, 28], classes: 10 }),
  'ResNet-8 32²': () => resnetCifar({ depth: 8, inputShape: [3, 32, 32], classes: 10 }),
};
const BATCHES = [1, 64];

if (process.env.BLAS_BENCH_CHILD) {
  const out: Record<string, Record<string, number>> = {};
  for (const [name, spec] of Object.entries(MODELS)) {
    out[name] = {};
    // A fresh model per batch size: oneDNN's convolutions keep the primitive of the first input shape they see.
    for (const b of BATCHES) {
      using model = Model.build(spec(), { seed: 1 });
      const r = await benchmark(model, { batchSizes: [b], timeCapMs: 1200 });
      out[name]![`b${b}`] = r.batches[0]!.medianMs;
    }
  }
  console.log(JSON.stringify(out));
  process.exit(0);
}

const n = availableParallelism();
const CONFIGS: { name: string; env: Record<string, string> }[] = [
  // glibc's own malloc thresholds (before petra raised them at load: native/memory.cc ConfigureCHeap)
  {
    name: `OpenMP ${n}, OpenBLAS 1, C heap glibc default`,
    env: { PETRA_THREADS: String(n), OPENBLAS_NUM_THREADS: '1', PETRA_MALLOC: 'default', PETRA_PARALLEL_LINEAR: '0' },
  },
  {
    name: `petra default: OpenMP ${n}, OpenBLAS 1, fp32 Linear sliced over the OpenMP team`,
    env: { PETRA_THREADS: String(n), OPENBLAS_NUM_THREADS: '1' },
  },
  {
    name: `OpenMP ${n}, OpenBLAS 1, Linear in one BLAS call (petra before)`,
    env: { PETRA_THREADS: String(n), OPENBLAS_NUM_THREADS: '1', PETRA_PARALLEL_LINEAR: '0' },
  },
  { name: `OpenMP ${n}, OpenBLAS ${n}`, env: { PETRA_THREADS: String(n), OPENBLAS_NUM_THREADS: String(n) } },
  {
    name: `OpenMP ${n} passive, OpenBLAS ${n}`,
    env: { PETRA_THREADS: String(n), OPENBLAS_NUM_THREADS: String(n), OMP_WAIT_POLICY: 'passive' },
  },
  { name: `OpenMP 1, OpenBLAS ${n}`, env: { PETRA_THREADS: '1', OPENBLAS_NUM_THREADS: String(n) } },
  { name: 'OpenMP 1, OpenBLAS 1', env: { PETRA_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } },
];
const OPENMP_BLAS = '/usr/lib/x86_64-linux-gnu/openblas-openmp';
if (existsSync(`${OPENMP_BLAS}/libblas.so.3`)) {
  CONFIGS.push({
    name: `OpenMP ${n}, OpenBLAS on OpenMP (${n})`,
    env: { PETRA_THREADS: String(n), OPENBLAS_NUM_THREADS: String(n), LD_LIBRARY_PATH: OPENMP_BLAS },
  });
}
const rounds = Number(arg('rounds', '3'));
const samples = new Map<string, Record<string, Record<string, number>>[]>();
for (let r = 0; r < rounds; r++) {
  for (const c of CONFIGS) {
    const child = spawnSync(process.execPath, ['--import=tsx', 'bench/blas-threads.ts'], {
      env: { ...process.env, ...c.env, BLAS_BENCH_CHILD: '1' },
      encoding: 'utf8',
    });
    if (child.status !== 0) throw new Error(`${c.name}: ${child.stderr}`);
    samples.set(c.name, [...(samples.get(c.name) ?? []), JSON.parse(child.stdout.trim().split('\n').pop()!)]);
    console.error(`round ${r + 1}/${rounds}: ${c.name}`);
  }
}
const results = CONFIGS.map((c) => {
  const runs = samples.get(c.name)!;
  const ms: Record<string, Record<string, number>> = {};
  for (const m of Object.keys(MODELS))
    ms[m] = Object.fromEntries(BATCHES.map((b) => [`b${b}`, median(runs.map((x) => x[m]![`b${b}`]!))]));
  return { config: c.name, env: c.env, medianMs: ms };
});
const header = ['configuration', ...Object.keys(MODELS).flatMap((m) => BATCHES.map((b) => `${m} b${b} ms`))];
const rows = results.map((r) => [
  r.config,
  ...Object.keys(MODELS).flatMap((m) => BATCHES.map((b) => r.medianMs[m]![`b${b}`]!.toFixed(3))),
]);
const md = markdownTable(header, rows);
console.log(md);
const out = arg('out', 'bench/results/blas-threads');
const commit = gitCommit();
writeFileSync(
  `${out}.json`,
  JSON.stringify(
    { bench: 'blas-threads', date: new Date().toISOString(), commit, rounds, host: hostFingerprint(), results },
    null,
    2,
  ) + '\n',
);
writeFileSync(
  `${out}.md`,
  `# fp32 inference: OpenMP and OpenBLAS threads, and the C heap\n\n${new Date().toISOString().slice(0, 10)} · ${hostFingerprint().cpu}, ${n} cores · commit ${commit ?? 'unknown'} · command: \`node --import=tsx bench/blas-threads.ts --rounds ${rounds}\` · median over ${rounds} interleaved rounds of benchmark() medians.\n\n${md}\n`,
);
