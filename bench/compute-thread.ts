// bench/compute-thread: what running every async operation on one compute thread buys, against running each on
// whichever libuv thread picked it up (PETRA_COMPUTE_THREAD=0, how petra worked before). Each mode runs in its own
// process, alternating, `--pairs` times. Per process: ResNet-20 and the small CNN, 8 successive benchmark() calls
// each at batch 1 (the median of their medians), and three training epochs of the small CNN (the median epoch).
// Usage: node --import=tsx bench/compute-thread.ts [--pairs 3] [--threads 2] [--out bench/results/compute-thread.json]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { median, iqr, table } from './lib/stats.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};

interface ChildResult {
  resnet20B1Ms: number;
  smallCnnB1Ms: number;
  epochSeconds: number;
  threads: number;
}

async function child(): Promise<void> {
  const { Model } = await import('../lib/runtime/model.js');
  const { resnetCifar, smallCnn } = await import('../lib/graph/builders.js');
  const { benchmark } = await import('../lib/lab/benchmark.js');
  const { train } = await import('../lib/runtime/train.js');
  const { info } = await import('../lib/runtime/info.js');
  const { createRng } = await import('../lib/data/split.js');
  const successive = async (spec: Parameters<typeof Model.build>[0]): Promise<number> => {
    using model = Model.build(spec, { seed: 1 });
    const medians: number[] = [];
    for (let i = 0; i < 8; i++)
      medians.push((await benchmark(model, { batchSizes: [1], timeCapMs: 400 })).batches[0]!.medianMs);
    return median(medians);
  };
  const resnet20B1Ms = await successive(resnetCifar({ depth: 20, inputShape: [1, 28, 28], classes: 10 }));
  const smallCnnB1Ms = await successive(smallCnn({ inputShape: [1, 28, 28], classes: 10 }));
  const rng = createRng(1);
  const n = 4096;
  const data = {
    inputs: [{ data: Float32Array.from({ length: n * 784 }, () => rng.normal()), shape: [n, 1, 28, 28] }],
    target: { data: Int32Array.from({ length: n }, () => rng.int(10)), shape: [n] },
  };
  using model = Model.build(smallCnn({ inputShape: [1, 28, 28], classes: 10 }), { seed: 1 });
  const r = await train(model, { train: data }, { epochs: 3, batchSize: 64, optimizer: 'sgd', lr: 0.01, seed: 1 });
  const out: ChildResult = {
    resnet20B1Ms,
    smallCnnB1Ms,
    epochSeconds: median(r.history.map((h) => h.seconds)),
    threads: info().threads.intraOp,
  };
  console.log(JSON.stringify(out));
}

async function parent(): Promise<void> {
  const pairs = Number(arg('pairs', '3'));
  const threads = arg('threads', '2');
  const out = arg('out', 'bench/results/compute-thread.json');
  const modes = [
    { name: 'compute thread', env: { PETRA_COMPUTE_THREAD: '1' } },
    { name: 'libuv threads (PETRA_COMPUTE_THREAD=0)', env: { PETRA_COMPUTE_THREAD: '0' } },
  ];
  const runs: Record<string, ChildResult[]> = Object.fromEntries(modes.map((m) => [m.name, []]));
  const loads: number[] = [loadavg()[0]!];
  for (let p = 0; p < pairs; p++) {
    for (const mode of p % 2 === 0 ? modes : [...modes].reverse()) {
      const stdout = execFileSync(process.execPath, [...process.execArgv, process.argv[1]!, '--child'], {
        env: { ...process.env, ...mode.env, PETRA_THREADS: threads, OPENBLAS_NUM_THREADS: '1' },
        encoding: 'utf8',
      });
      runs[mode.name]!.push(JSON.parse(stdout.trim().split('\n').pop()!) as ChildResult);
      console.error(`pair ${p + 1}/${pairs}: ${mode.name} ${JSON.stringify(runs[mode.name]!.at(-1))}`);
    }
    loads.push(loadavg()[0]!);
  }
  const keys = ['resnet20B1Ms', 'smallCnnB1Ms', 'epochSeconds'] as const;
  const labels = {
    resnet20B1Ms: 'ResNet-20 batch 1, ms',
    smallCnnB1Ms: 'small CNN batch 1, ms',
    epochSeconds: 'small CNN epoch (4096 × b64), s',
  };
  const [a, b] = modes.map((m) => runs[m.name]!);
  const rows = keys.map((k) => {
    const x = a!.map((r) => r[k]);
    const y = b!.map((r) => r[k]);
    return {
      measure: labels[k],
      computeThread: median(x),
      computeThreadIqr: iqr(x),
      libuv: median(y),
      libuvIqr: iqr(y),
      ratio: median(x) / median(y),
    };
  });
  const result = {
    bench: 'compute-thread',
    date: new Date().toISOString(),
    threads: Number(threads),
    pairs,
    loadavg: loads,
    note: 'median over processes of: the median of 8 successive benchmark() medians (batch 1), and the median of 3 training epochs; ratio = compute thread / libuv threads (< 1: the compute thread is faster)',
    rows,
    runs,
  };
  mkdirSync(out.slice(0, out.lastIndexOf('/')), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2));
  console.log(
    table(
      ['measure', 'compute thread', 'libuv threads', 'ratio'],
      rows.map((r) => [r.measure, r.computeThread, r.libuv, r.ratio]),
    ),
  );
  console.log(`\nwrote ${out}`);
}

if (process.argv.includes('--child')) await child();
else await parent();
