// bench/qgru: dynamic int8 GRU latency — petra's fused int8 recurrence, petra through quantized::linear_dynamic per
// step, petra float, and PyTorch-Python float / quantize_dynamic on the same LibTorch build, same threads, same model
// (GRU over [T, inputSize] + a 4-way linear head). Rounds alternate petra and PyTorch; each cell is the median over
// rounds of a median latency. Also the accuracy of the int8 transactions model (task `transactions`, shorter training).
// Usage: node --import=tsx bench/qgru.ts [--rounds 3] [--threads 2] [--hidden 64,128,256] [--batches 1,8,64]
//        [--python /usr/bin/python3] [--no-accuracy] [--out bench/results/qgru.json]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { median, table } from './lib/stats.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
process.env.OPENBLAS_NUM_THREADS = '1'; // before the addon loads (OpenBLAS threads fight LibTorch's on 2 cores)
const rounds = Number(arg('rounds', '3'));
const threads = Number(arg('threads', '2'));
const hiddens = arg('hidden', '64,128,256').split(',').map(Number);
const batches = arg('batches', '1,8,64').split(',').map(Number);
const python = arg('python', '/usr/bin/python3');
const out = arg('out', 'bench/results/qgru.json');
const seqLen = 64;
const inputSize = 28; // the transactions task's feature width (16 + 4 + 6 embedding dims + 2 numeric)

const { Model } = await import('../lib/runtime/model.js');
const { quantize } = await import('../lib/compress/quantize.js');
const { benchmark } = await import('../lib/lab/benchmark.js');
const { setThreads, info } = await import('../lib/runtime/info.js');
const { evaluate, train } = await import('../lib/runtime/train.js');
const { getTask } = await import('../lib/tasks/index.js');
setThreads(threads);

const variants = ['fp32', 'int8 auto', 'int8 fused', 'int8 linear_dynamic'] as const;
type Cell = Record<string, number[]>; // variant → per-round medians
const cells = new Map<string, Cell>(); // "hidden/batch"
const cell = (key: string): Cell => cells.get(key) ?? (cells.set(key, {}), cells.get(key)!);
const push = (key: string, variant: string, ms: number) => (cell(key)[variant] ??= []).push(ms);

async function petraRound(): Promise<void> {
  for (const hidden of hiddens) {
    using fp32 = Model.build(
      {
        format: 'petra.graph/1',
        inputs: [{ name: 'x', shape: [seqLen, inputSize], dtype: 'float32' }],
        nodes: [
          { name: 'gru', op: 'gru', inputs: ['x'], attrs: { inputSize, hiddenSize: hidden, output: 'last' } },
          { name: 'head', op: 'linear', inputs: ['gru'], attrs: { inFeatures: hidden, outFeatures: 4 } },
        ],
        output: 'head',
        task: { kind: 'classification', classes: 4 },
      },
      { seed: 1 },
    );
    const models: [string, typeof fp32][] = [['fp32', fp32]];
    for (const r of ['auto', 'fused', 'linear_dynamic'] as const)
      models.push([`int8 ${r}`, (await quantize(fp32, { mode: 'dynamic', gruRecurrence: r })).model]);
    for (const [name, model] of models) {
      const report = await benchmark(model, { batchSizes: batches, timeCapMs: 500 });
      for (const b of report.batches) push(`${hidden}/${b.batchSize}`, name, b.medianMs);
      if (model !== fp32) model.dispose();
    }
  }
}

function torchRound(): string {
  const stdout = execFileSync(
    python,
    [
      'bench/qgru/torch_gru.py',
      String(threads),
      String(seqLen),
      String(inputSize),
      hiddens.join(','),
      batches.join(','),
    ],
    {
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const parsed = JSON.parse(stdout.trim().split('\n').pop()!) as {
    torch: string;
    results: Record<string, { fp32: number; int8: number }>;
  };
  for (const [key, r] of Object.entries(parsed.results)) {
    push(key, 'PyTorch fp32', r.fp32);
    push(key, 'PyTorch int8', r.int8);
  }
  return parsed.torch;
}

const loads = [loadavg()[0]!];
let torchVersion = '';
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) {
    await petraRound();
    torchVersion = torchRound();
  } else {
    torchVersion = torchRound();
    await petraRound();
  }
  loads.push(loadavg()[0]!);
  console.error(`round ${r + 1}/${rounds} done`);
}

const rows = [...cells.entries()].map(([key, c]) => {
  const [hidden, batch] = key.split('/').map(Number);
  const m = Object.fromEntries(Object.entries(c).map(([k, v]) => [k, median(v)])) as Record<string, number>;
  return {
    hidden,
    batch,
    ms: m,
    int8AutoVsFp32: m['int8 auto']! / m.fp32!,
    int8AutoVsPyTorchInt8: m['int8 auto']! / m['PyTorch int8']!,
    int8AutoVsPyTorchFp32: m['int8 auto']! / m['PyTorch fp32']!,
    fp32VsPyTorchFp32: m.fp32! / m['PyTorch fp32']!,
  };
});

// Accuracy of the int8 model on the transactions task (fewer epochs than the task's default: a bench, not a result).
let accuracy: Record<string, number> | undefined;
if (!process.argv.includes('--no-accuracy')) {
  const task = getTask('transactions');
  const ds = await task.load();
  using model = Model.build(task.model(ds), { seed: 1 });
  await train(model, { train: ds.train }, { ...task.training, epochs: 4, seed: 1 });
  const fp32 = await evaluate(model, ds.test);
  const q = await quantize(model, { mode: 'dynamic' });
  using _q = q.model;
  const int8 = await evaluate(q.model, ds.test);
  accuracy = { fp32: fp32.accuracy!, int8Dynamic: int8.accuracy!, testRows: ds.test.target.shape[0]! };
}

const result = {
  bench: 'qgru',
  date: new Date().toISOString(),
  cpu: cpus()[0]?.model,
  threads,
  rounds,
  loadavg: loads,
  libtorch: info().libtorchVersion,
  pytorch: torchVersion,
  seqLen,
  inputSize,
  model: 'GRU(inputSize, hidden) last step → linear(hidden, 4)',
  note: 'latency: median over rounds of a median per-call latency (petra benchmark(); PyTorch perf_counter loop); ratios < 1: petra int8 (auto) is faster',
  rows,
  accuracy,
};
mkdirSync(out.slice(0, out.lastIndexOf('/')), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2));
const f = (x: number) => x.toFixed(3);
console.log(
  table(
    [
      'hidden',
      'batch',
      'petra fp32',
      'int8 auto',
      'int8 fused',
      'int8 linear_dynamic',
      'PyTorch fp32',
      'PyTorch int8',
      'auto/fp32',
      'auto/PyTorch int8',
      'auto/PyTorch fp32',
    ],
    rows.map((r) => [
      String(r.hidden),
      String(r.batch),
      f(r.ms.fp32!),
      f(r.ms['int8 auto']!),
      f(r.ms['int8 fused']!),
      f(r.ms['int8 linear_dynamic']!),
      f(r.ms['PyTorch fp32']!),
      f(r.ms['PyTorch int8']!),
      r.int8AutoVsFp32.toFixed(2),
      r.int8AutoVsPyTorchInt8.toFixed(2),
      r.int8AutoVsPyTorchFp32.toFixed(2),
    ]),
  ),
);
if (accuracy)
  console.log(
    `\ntransactions (4 epochs, ${accuracy.testRows} test rows): fp32 ${(accuracy.fp32 * 100).toFixed(2)}%, dynamic int8 ${(accuracy.int8Dynamic * 100).toFixed(2)}%`,
  );
console.log(`\nwrote ${out}`);
