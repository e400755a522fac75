// bench/int8-inception: static int8 InceptionTime against float, on the UCR shapes petra's tasks use (Tecator
// [1, 100], GunPoint [1, 150], BasicMotions [6, 100]; depth 3, 16 filters as in lib/tasks). Latency ratios come from
// the lab's interleaved compare() (median ratio and 95% bootstrap CI) at batch 1 and 64; the int8 models are
// calibrated on random inputs (latency does not depend on the values).
// Usage: node --import=tsx bench/int8-inception.ts [--threads 2] [--out bench/results/int8-inception.json]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { table } from './lib/stats.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
process.env.OPENBLAS_NUM_THREADS = '1'; // before the addon loads
const threads = Number(arg('threads', '2'));
const out = arg('out', 'bench/results/int8-inception.json');
const { Model } = await import('../lib/runtime/model.js');
const { quantize } = await import('../lib/compress/quantize.js');
const { compare, modelSize } = await import('../lib/lab/index.js');
const { inceptionTime } = await import('../lib/graph/builders.js');
const { info, setThreads } = await import('../lib/runtime/info.js');
const { floatTensor } = await import('../test/helpers/tiny.js');
setThreads(threads);

const shapes: [string, [number, number]][] = [
  ['Tecator', [1, 100]],
  ['GunPoint', [1, 150]],
  ['BasicMotions', [6, 100]],
];
const loads = [loadavg()[0]!];
const rows = [];
for (const [name, [c, len]] of shapes) {
  using fp32 = Model.build(inceptionTime({ inputShape: [c, len], classes: 4, depth: 3, filters: 16 }), { seed: 1 });
  const x = floatTensor([256, c, len], 1);
  const { model: int8, report } = await quantize(fp32, {
    mode: 'static',
    calibration: { data: { inputs: [x], target: { data: new Int32Array(256), shape: [256] } }, batches: 4 },
  });
  using _q = int8;
  const row: Record<string, unknown> = {
    model: name,
    input: [c, len],
    int8Layers: report.layers.filter((l) => l.kind === 'int8').length,
    layers: report.layers.length,
  };
  for (const batchSize of [1, 64]) {
    const r = await compare(fp32, int8, { batchSize });
    row[`b${batchSize}`] = { fp32Ms: r.baselineMedianMs, int8Ms: r.candidateMedianMs, ratio: r.ratio, ci95: r.ci };
  }
  const [a, b] = [await modelSize(fp32), await modelSize(int8)];
  row.fileBytes = { fp32: a.fileBytes, int8: b.fileBytes };
  rows.push(row);
  loads.push(loadavg()[0]!);
}
const result = {
  bench: 'int8-inception',
  date: new Date().toISOString(),
  cpu: cpus()[0]?.model,
  threads,
  libtorch: info().libtorchVersion,
  loadavg: loads,
  note: 'ratio = int8 / fp32 latency (median of interleaved rounds; < 1: int8 faster), 95% bootstrap CI',
  rows,
};
mkdirSync(out.slice(0, out.lastIndexOf('/')), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2));
type B = { fp32Ms: number; int8Ms: number; ratio: number; ci95: [number, number] };
const f = (b: B) =>
  `${b.fp32Ms.toFixed(3)} → ${b.int8Ms.toFixed(3)} ms (×${b.ratio.toFixed(2)} [${b.ci95[0].toFixed(2)}, ${b.ci95[1].toFixed(2)}])`;
console.log(
  table(
    ['model', 'int8 layers', 'batch 1', 'batch 64', 'file'],
    rows.map((r) => [
      String(r.model),
      `${r.int8Layers}/${r.layers}`,
      f(r.b1 as B),
      f(r.b64 as B),
      `${((r.fileBytes as { fp32: number }).fp32 / 1024).toFixed(0)} → ${((r.fileBytes as { int8: number }).int8 / 1024).toFixed(0)} kB`,
    ]),
  ),
);
console.log(`\nwrote ${out}`);
