import test from 'ava';
import { binding } from '../../lib/runtime/binding.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../lib/runtime/model.js';
import { benchmark, compare, modelSize, TorchScriptModel } from '../../lib/lab/index.js';
import { ConfigError, DataError, DeviceError, ShapeError } from '../../lib/core/errors.js';
import { mlp } from '../../lib/graph/builders.js';

const FIXTURE = new URL('../fixtures/tiny-convnet.pt', import.meta.url).pathname;
// k identical 256×256 layers: doubling k doubles the work (the 10-wide head is negligible); 256² weights stay
// cache-resident at 6 layers, so memory effects do not swamp the compute ratio.
const chain = (k: number) => mlp({ inputShape: [256], hidden: Array.from({ length: k }, () => 256), classes: 10 });

test.serial('a model doing twice the work measures about twice the latency', async (t) => {
  using small = Model.build(chain(3), { seed: 1 });
  using large = Model.build(chain(6), { seed: 1 });
  const ratios: number[] = [];
  for (let i = 0; i < 3; i++) {
    const a = await benchmark(small, { batchSizes: [64], timeCapMs: 600 });
    const b = await benchmark(large, { batchSizes: [64], timeCapMs: 600 });
    ratios.push(b.batches[0]!.medianMs / a.batches[0]!.medianMs);
  }
  ratios.sort((a, b) => a - b);
  t.log(`latency ratio 6 layers / 3 layers: ${ratios.map((r) => r.toFixed(2)).join(', ')}`);
  t.true(ratios[1]! > 1.4 && ratios[1]! < 2.8, `median ratio ${ratios[1]}`);
});

test.serial('a report has percentiles, throughput, an interval around the median and a host fingerprint', async (t) => {
  using model = Model.build(chain(2), { seed: 1 });
  const r = await benchmark(model, { batchSizes: [1, 64], timeCapMs: 500 });
  t.is(r.batches.length, 2);
  for (const b of r.batches) {
    t.true(b.p5Ms <= b.medianMs && b.medianMs <= b.p95Ms && b.p95Ms <= b.p99Ms);
    t.true(b.ciLowMs <= b.medianMs && b.medianMs <= b.ciHighMs);
    t.true(b.throughput > 0 && b.madMs >= 0 && b.iterations >= 5);
    t.is(b.peakKind, 'cpu-rss-delta');
  }
  t.true(r.batches[1]!.throughput > r.batches[0]!.throughput, 'batching raises throughput');
  t.truthy(r.host.cpu);
  t.regex(r.host.libtorch, /^\d/);
  t.true(r.host.cores >= 1);
});

test.serial('more iterations narrow the interval', async (t) => {
  using model = Model.build(chain(2), { seed: 1 });
  const width = (b: { ciHighMs: number; ciLowMs: number; medianMs: number }) => (b.ciHighMs - b.ciLowMs) / b.medianMs;
  const few = await benchmark(model, { batchSizes: [16], minIterations: 10, maxIterations: 10, targetRelativeCi: 0 });
  const many = await benchmark(model, {
    batchSizes: [16],
    minIterations: 400,
    maxIterations: 400,
    targetRelativeCi: 0,
    timeCapMs: 1e9,
  });
  t.is(few.batches[0]!.iterations, 10);
  t.is(many.batches[0]!.iterations, 400);
  t.true(width(many.batches[0]!) < width(few.batches[0]!));
});

test.serial('compare says "same" for a model against itself and "faster" for a halved model', async (t) => {
  using full = Model.build(chain(6), { seed: 1 });
  using half = Model.build(chain(3), { seed: 1 });
  const self = await compare(full, full, { batchSize: 64, rounds: 8, iterationsPerRound: 15 });
  t.log(`self: ratio ${self.ratio.toFixed(3)} CI [${self.ci.map((v) => v.toFixed(3)).join(', ')}]`);
  t.is(self.verdict, 'same');
  const faster = await compare(full, half, { batchSize: 64, rounds: 8, iterationsPerRound: 15 });
  t.log(`halved: ratio ${faster.ratio.toFixed(3)} CI [${faster.ci.map((v) => v.toFixed(3)).join(', ')}]`);
  t.is(faster.verdict, 'faster');
  t.true(faster.ratio < 0.75);
  const slower = await compare(half, full, { batchSize: 64, rounds: 6, iterationsPerRound: 15 });
  t.is(slower.verdict, 'slower');
});

test.serial('size reports bytes by dtype and the saved file size', async (t) => {
  using model = Model.build(chain(2), { seed: 1 });
  const s = await modelSize(model);
  t.is(s.parameters, model.parameterCount);
  t.is(s.parameterBytes, model.parameterCount * 4);
  t.is(s.bytesByDtype.Float, s.parameterBytes + s.bufferBytes);
  t.true(s.fileBytes >= s.parameterBytes);
});

test.serial('the TorchScript fixture loads, runs and benchmarks from the API', async (t) => {
  using script = TorchScriptModel.load(FIXTURE);
  const out = script.native.forward([{ data: new Float32Array(2 * 3 * 32 * 32), shape: [2, 3, 32, 32] }]);
  t.deepEqual(out.shape, [2, 10]);
  const r = await script.benchmark([[3, 32, 32]], { batchSizes: [1, 8], timeCapMs: 300 });
  t.is(r.batches.length, 2);
  t.true(r.batches.every((b) => b.medianMs > 0));
});

test.serial('the TorchScript fixture benchmarks from the CLI, as a table and as JSON', (t) => {
  const json = execFileSync(process.execPath, [
    'bin/petra.js',
    'bench',
    FIXTURE,
    '--input',
    '4x3x32x32',
    '--time-cap',
    '300',
    '--json',
  ]).toString();
  const report = JSON.parse(json) as { batches: { batchSize: number; medianMs: number }[]; host: { cpu: string } };
  t.is(report.batches[0]!.batchSize, 4);
  t.true(report.batches[0]!.medianMs > 0);
  const text = execFileSync(process.execPath, [
    'bin/petra.js',
    'bench',
    FIXTURE,
    '--input',
    '1x3x32x32',
    '--time-cap',
    '200',
  ]).toString();
  t.regex(text, /median/);
  t.regex(text, /throughput/);
});

test.serial('bad inputs are typed errors: wrong shape, missing file, not TorchScript, unknown device', async (t) => {
  using script = TorchScriptModel.load(FIXTURE);
  await t.throwsAsync(async () => script.benchmark([[5, 7]]), { instanceOf: ShapeError });
  t.throws(() => TorchScriptModel.load(join(tmpdir(), 'no-such-model.pt')), { instanceOf: DataError });
  const junk = join(tmpdir(), `petra-not-script-${process.pid}.pt`);
  writeFileSync(junk, 'not a zip');
  t.throws(() => TorchScriptModel.load(junk), { instanceOf: DataError });
  t.throws(() => TorchScriptModel.load(FIXTURE, { device: 'gpu7' }), { instanceOf: DeviceError });
  using model = Model.build(chain(1));
  await t.throwsAsync(benchmark(model, { batchSizes: [0] }), { instanceOf: ConfigError });
  await t.throwsAsync(benchmark(model, { cudaGraph: true }), { instanceOf: ConfigError, message: /CUDA device/ });
  // The native check too (a caller that skips lib/lab): a rejected promise with a typed error, not an abort.
  await t.throwsAsync(binding().benchmarkModel(model.native, { cudaGraph: true }), {
    instanceOf: ConfigError,
    message: /CUDA device/,
  });
  const cli = spawnSync(process.execPath, ['bin/petra.js', 'bench', FIXTURE, '--input', 'banana'], {
    encoding: 'utf8',
  });
  t.not(cli.status, 0);
  t.regex(cli.stderr, /not a shape/);
});
