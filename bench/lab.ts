// bench/lab: the measurement lab checking itself — a model doing twice the work measures about twice the latency,
// compare() calls a model against itself "same" and a halved model "faster", and the TorchScript fixture's numbers.
// Usage: node --import=tsx bench/lab.ts   → bench/results/lab.json + a printed table
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Model } from '../lib/runtime/model.js';
import { benchmark, compare, hostFingerprint, TorchScriptModel } from '../lib/lab/index.js';
import { mlp, smallCnn } from '../lib/graph/builders.js';
import { table } from './lib/stats.js';

const chain = (k: number, width = 256) =>
  mlp({ inputShape: [width], hidden: Array.from({ length: k }, () => width), classes: 10 });
const cnn = (w: number) => smallCnn({ inputShape: [1, 28, 28], classes: 10, widths: [w, 2 * w], hidden: 128 });
const load0 = loadavg();

const doubling = [];
for (const [label, small, large, batch] of [
  ['MLP 3 vs 6 layers of 256²', chain(3), chain(6), 64],
  ['MLP 3 vs 6 layers of 256², batch 1', chain(3), chain(6), 1],
  ['CNN widths 16/32 vs 32/64 (≈2–4× conv work)', cnn(16), cnn(32), 64],
] as const) {
  using a = Model.build(small, { seed: 1 });
  using b = Model.build(large, { seed: 1 });
  const ratios: number[] = [];
  for (let i = 0; i < 5; i++) {
    const ra = await benchmark(a, { batchSizes: [batch], timeCapMs: 800 });
    const rb = await benchmark(b, { batchSizes: [batch], timeCapMs: 800 });
    ratios.push(rb.batches[0]!.medianMs / ra.batches[0]!.medianMs);
  }
  ratios.sort((x, y) => x - y);
  const c = await compare(a, b, { batchSize: batch, rounds: 12, iterationsPerRound: 30 });
  doubling.push({
    label,
    batch,
    medianRatio: ratios[2]!,
    ratios,
    compareRatio: c.ratio,
    compareCi: c.ci,
    verdictLargeVsSmall: c.verdict,
  });
}

const verdicts = [];
{
  using full = Model.build(chain(6), { seed: 1 });
  using half = Model.build(chain(3), { seed: 1 });
  for (const [label, a, b] of [
    ['self (6 layers vs itself)', full, full],
    ['halved (6 → 3 layers)', full, half],
    ['doubled (3 → 6 layers)', half, full],
  ] as const) {
    const c = await compare(a, b, { batchSize: 64, rounds: 12, iterationsPerRound: 30 });
    verdicts.push({ label, ratio: c.ratio, ci: c.ci, verdict: c.verdict });
  }
}

const script = TorchScriptModel.load(new URL('../test/fixtures/tiny-convnet.pt', import.meta.url).pathname);
const ts = await script.benchmark([[3, 32, 32]], { batchSizes: [1, 64] });
script.dispose();

const result = {
  bench: 'lab',
  date: new Date().toISOString(),
  host: hostFingerprint(),
  loadavgBefore: load0,
  loadavgAfter: loadavg(),
  doubling,
  verdicts,
  torchscriptFixture: ts.batches,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/lab.json', JSON.stringify(result, null, 2));
console.log(
  table(
    ['2× work check', 'batch', 'median latency ratio', 'compare ratio (95% CI)'],
    doubling.map((d) => [
      d.label,
      String(d.batch),
      d.medianRatio.toFixed(2),
      `${d.compareRatio.toFixed(2)} (${d.compareCi[0]!.toFixed(2)}–${d.compareCi[1]!.toFixed(2)})`,
    ]),
  ),
);
console.log();
console.log(
  table(
    ['compare', 'ratio B/A', '95% CI', 'verdict'],
    verdicts.map((v) => [v.label, v.ratio.toFixed(3), `${v.ci[0].toFixed(3)}–${v.ci[1].toFixed(3)}`, v.verdict]),
  ),
);
console.log();
console.log(
  table(
    ['TorchScript fixture', 'median ms', 'p95 ms', 'throughput/s', 'iterations'],
    ts.batches.map((b) => [
      `batch ${b.batchSize}`,
      b.medianMs.toFixed(4),
      b.p95Ms.toFixed(4),
      b.throughput.toFixed(0),
      String(b.iterations),
    ]),
  ),
);
