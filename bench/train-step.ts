// bench/train-step: petra vs PyTorch-Python on the same LibTorch build, same model, batch 64, same threads.
// Interleaved process pairs (the order alternates), medians with interquartile ranges, ratio petra / PyTorch.
// Usage: node --import=tsx bench/train-step.ts [--pairs 10] [--threads 2] [--python /usr/bin/python3]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { iqr, median, table } from './lib/stats.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const pairs = Number(arg('pairs', '10'));
const threads = arg('threads', '2');
const python = arg('python', '/usr/bin/python3');
const out = arg('out', 'bench/results/train-step.json');
const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', PETRA_THREADS: threads };

const configs = [
  { model: 'cnn', optimizer: 'sgd', steps: 150, warmup: 20 },
  { model: 'cnn', optimizer: 'adam', steps: 150, warmup: 20 },
  { model: 'mlp', optimizer: 'sgd', steps: 1500, warmup: 100 },
  { model: 'mlp', optimizer: 'adam', steps: 1500, warmup: 100 },
];

// --clock cpu: process CPU time per step (meaningful with --threads 1 on a shared machine); default wall time.
const clock = arg('clock', 'wall');
type StepResult = { msPerStep: number; cpuMsPerStep: number };
const pick = (r: StepResult): number => (clock === 'cpu' ? r.cpuMsPerStep : r.msPerStep);
function petra(c: (typeof configs)[number]): number {
  const o = execFileSync(
    process.execPath,
    ['--import=tsx', 'bench/train-step/petra-step.ts', c.model, c.optimizer, String(c.steps), String(c.warmup)],
    { env },
  ).toString();
  return pick(JSON.parse(o.trim().split('\n').pop()!) as StepResult);
}
function torch(c: (typeof configs)[number]): number {
  const o = execFileSync(
    python,
    ['bench/train-step/torch_step.py', c.model, c.optimizer, String(c.steps), String(c.warmup), threads],
    { env },
  ).toString();
  return pick(JSON.parse(o.trim().split('\n').pop()!) as StepResult);
}

const loadBefore = loadavg();
const rows = [];
for (const c of configs) {
  const p: number[] = [];
  const t: number[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      p.push(petra(c));
      t.push(torch(c));
    } else {
      t.push(torch(c));
      p.push(petra(c));
    }
  }
  const ratios = p.map((v, i) => v / t[i]!);
  rows.push({
    ...c,
    petraMs: median(p),
    petraIqr: iqr(p),
    torchMs: median(t),
    torchIqr: iqr(t),
    ratio: median(p) / median(t),
    pairRatioMedian: median(ratios),
    petra: p,
    torch: t,
  });
  console.error(`${c.model}/${c.optimizer}: petra ${median(p).toFixed(3)} ms, PyTorch ${median(t).toFixed(3)} ms`);
}
const result = {
  bench: 'train-step',
  clock,
  date: new Date().toISOString(),
  host: { cpu: cpus()[0]?.model, cores: cpus().length },
  threads: Number(threads),
  batch: 64,
  pairs,
  note: 'ms per SGD/Adam step (shuffle, index_select batch, zero_grad, forward, cross-entropy, backward, step, loss read); OPENBLAS_NUM_THREADS=1',
  loadavgBefore: loadBefore,
  loadavgAfter: loadavg(),
  rows,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2));
console.log(
  table(
    ['model', 'optimizer', 'petra ms (IQR)', 'PyTorch ms (IQR)', 'ratio'],
    rows.map((r) => [
      r.model,
      r.optimizer,
      `${r.petraMs.toFixed(3)} (${r.petraIqr[0].toFixed(3)}–${r.petraIqr[1].toFixed(3)})`,
      `${r.torchMs.toFixed(3)} (${r.torchIqr[0].toFixed(3)}–${r.torchIqr[1].toFixed(3)})`,
      r.ratio.toFixed(3),
    ]),
  ),
);
