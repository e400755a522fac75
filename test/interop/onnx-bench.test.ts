// ONNX models through the measurement lab: onnxruntime-node timed with the lab's loop, compare() across runtimes,
// `petra bench model.pt model.onnx`, `petra export --format onnx`, and test-set accuracy of exported models.
import test from 'ava';
import type { TensorData } from '../../lib/data/types.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runBenchCommand } from '../../lib/commands/bench.js';
import { exportTrialAs } from '../../lib/commands/export.js';
import { quantize } from '../../lib/compress/quantize.js';
import { loadFashionMnist } from '../../lib/data/idx.js';
import { loadUcr } from '../../lib/data/ucr.js';
import { ConfigError } from '../../lib/core/errors.js';
import { saveOnnx } from '../../lib/interop/onnx-export.js';
import { OnnxModel } from '../../lib/interop/onnx-runtime.js';
import { maxAbsDiff } from '../../lib/interop/torchscript-import.js';
import { TorchScriptModel } from '../../lib/lab/benchmark.js';
import { compare } from '../../lib/lab/compare.js';
import { Model } from '../../lib/runtime/model.js';
import { StudyFile, trialModelFile } from '../../lib/pipeline/study-file.js';
import { inceptionTime, smallCnn } from '../../lib/graph/builders.js';
import { train } from '../../lib/runtime/train.js';
import { UCR_DIR } from '../helpers/tiny.js';
import { accuracy, argmaxRows, FAMILIES, trainedModel } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-interop-'));

async function captureStdout(fn: () => Promise<unknown>): Promise<string> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => {
    lines.push(args.map(String).join(' '));
  };
  try {
    await fn();
  } finally {
    console.log = original;
  }
  return lines.join('\n');
}

/** Test accuracy of a model in petra (a) and of its ONNX export in onnxruntime (b), and how often their top-1 agree. */
async function bothAccuracies(
  m: Model,
  split: { inputs: TensorData[]; target: TensorData },
): Promise<{ a: number; b: number; same: number }> {
  using onnx = await OnnxModel.fromModel(m);
  const petraPred = argmaxRows(await m.forward(split.inputs));
  const ortPred = argmaxRows(await onnx.forward(split.inputs));
  return {
    a: accuracy(petraPred, split.target),
    b: accuracy(ortPred, split.target),
    same: petraPred.filter((p, i) => p === ortPred[i]).length / petraPred.length,
  };
}

test.serial(
  'OnnxModel.benchmark reports like the lab, and compare() measures petra against onnxruntime on this host',
  async (t) => {
    using model = await trainedModel(FAMILIES[1]!);
    using onnx = await OnnxModel.fromModel(model);
    t.deepEqual(onnx.inputs, [{ name: 'image', dtype: 'float32', shape: [1, 16, 16] }]);
    const report = await onnx.benchmark({ batchSizes: [1, 8], timeCapMs: 150, warmupMs: 20 });
    t.deepEqual(
      report.batches.map((b) => b.batchSize),
      [1, 8],
    );
    for (const b of report.batches) {
      t.true(b.medianMs > 0 && b.ciLowMs <= b.medianMs && b.medianMs <= b.ciHighMs + 1e-9);
      t.true(b.throughput > 0);
      t.true(b.iterations >= 5);
    }
    t.is(report.runtime.name, 'onnxruntime-node');
    t.truthy(report.host.cpu);
    const c = await compare(model, onnx, { rounds: 4, iterationsPerRound: 10, batchSize: 4 });
    t.true(c.ratio > 0 && Number.isFinite(c.ratio));
    t.true(c.ci[0] <= c.ratio && c.ratio <= c.ci[1]);
    t.true(['faster', 'same', 'slower'].includes(c.verdict));
    await t.throwsAsync(onnx.benchmark({ cudaGraph: true }), { instanceOf: ConfigError });
  },
);

test.serial('petra bench model.pt model.onnx measures both and compares them (JSON)', async (t) => {
  using model = await trainedModel(FAMILIES[0]!);
  const pt = join(dir, 'mlp.pt');
  const onnxFile = join(dir, 'mlp.onnx');
  await model.save(pt);
  await saveOnnx(model, onnxFile);
  const out = await captureStdout(() =>
    runBenchCommand([pt, onnxFile], { device: 'cpu', batch: '2', timeCap: '100', json: true }),
  );
  const r = JSON.parse(out) as {
    models: { path: string; kind: string; report: { batches: { batchSize: number; medianMs: number }[] } }[];
    comparisons: { baseline: string; candidate: string; batchSize: number; ratio: number; verdict: string }[];
  };
  t.deepEqual(
    r.models.map((m) => m.kind),
    ['petra', 'onnx'],
  );
  for (const m of r.models)
    t.deepEqual(
      m.report.batches.map((b) => b.batchSize),
      [2],
    );
  t.is(r.comparisons.length, 1);
  t.is(r.comparisons[0]!.candidate, onnxFile);
  t.true(r.comparisons[0]!.ratio > 0);
  // One ONNX model alone prints the lab's table.
  const text = await captureStdout(() => runBenchCommand(onnxFile, { device: 'cpu', batch: '1', timeCap: '100' }));
  t.regex(text, /onnxruntime-node .* threads/);
  t.regex(text, /^1\s+\d/m);
  await t.throwsAsync(runBenchCommand(onnxFile, { device: 'cuda:0', timeCap: '100' }), {
    instanceOf: ConfigError,
    message: /CPU provider/,
  });
});

test.serial(
  'petra export --format onnx|torchscript writes model.onnx / model.torchscript.pt beside model.pt; an intmm plan is refused with its reason',
  async (t) => {
    const f = FAMILIES[1]!;
    using model = await trainedModel(f);
    const q = await quantize(model, {
      mode: 'static',
      backend: 'qnnpack',
      calibration: { data: f.data(128, 3), batches: 2 },
    });
    using qm = q.model;
    // A one-trial study file holding the quantized candidate.
    const file = join(dir, 'studies', 'interop.sqlite');
    StudyFile.create(file, (sf) => {
      const study = sf.storage.createStudy({ name: 'interop', objectives: [], constraints: [], userAttrs: {} });
      sf.set('meta', {
        version: 1,
        config: { task: 'custom' },
        baseline: { record: { key: 'baseline' }, measurements: {} },
        objectives: [],
        constraints: [],
      });
      for (const slot of [0, 1]) {
        const trial = sf.storage.createTrial(study.id, {
          generation: 0,
          slot,
          genome: { stages: [] },
          key: `k${slot}`,
        });
        sf.storage.finishTrial(study.id, trial.number, {
          state: 'complete',
          values: [],
          userAttrs: { modelFile: `interop.models/trial-${trial.number}.pt` },
        });
      }
    }).close();
    mkdirSync(dirname(trialModelFile(file, 0)), { recursive: true });
    await qm.save(trialModelFile(file, 0));
    // Trial 1: an int8 plan of engine intmm, which ONNX export refuses.
    const intmm = await quantize(model, { mode: 'dynamic', backend: 'intmm' });
    await intmm.model.save(trialModelFile(file, 1));
    intmm.model.dispose();

    const r = await exportTrialAs(file, '0', { out: join(dir, 'export'), format: 'onnx' });
    for (const p of [r.model, r.spec, r.lineage, r.onnx!, r.onnxReport!]) t.true(existsSync(p), p);
    t.true(r.report!.int8.static.length > 0);
    t.deepEqual(JSON.parse(readFileSync(r.onnxReport!, 'utf8')), JSON.parse(JSON.stringify(r.report)));
    using onnx = await OnnxModel.load(r.onnx!);
    const x = f.data(16, 5).inputs;
    using back = await Model.load(r.model);
    const ref = await back.forward(x);
    const got = await onnx.forward(x);
    t.deepEqual(got.shape, ref.shape);
    // --format torchscript: model.torchscript.pt, checked when written, runs through TorchScriptModel like petra.
    const ts = await exportTrialAs(file, '0', { out: join(dir, 'export-ts'), format: 'torchscript' });
    for (const p of [ts.model, ts.spec, ts.lineage, ts.torchscript!, ts.torchscriptReport!]) t.true(existsSync(p), p);
    t.true(ts.scriptReport!.check!.maxAbsDiff <= 1e-5);
    t.deepEqual(ts.scriptReport!.int8.static.sort(), r.report!.int8.static.sort());
    {
      using script = TorchScriptModel.load(ts.torchscript!);
      t.true(maxAbsDiff(script.native.forward(x), ref) <= 1e-5);
    }
    // petra bench reads the exported file's input shapes from the spec it carries (no --input).
    const bench = JSON.parse(
      await captureStdout(() =>
        runBenchCommand([ts.model, ts.torchscript!], { device: 'cpu', batch: '4', timeCap: '100', json: true }),
      ),
    ) as { models: { kind: string }[]; comparisons: unknown[] };
    t.deepEqual(
      bench.models.map((m) => m.kind),
      ['petra', 'torchscript'],
    );
    t.is(bench.comparisons.length, 1);
    const refused = join(dir, 'export-intmm');
    for (const format of ['onnx', 'torchscript']) {
      await t.throwsAsync(exportTrialAs(file, '1', { out: refused, format }), {
        instanceOf: ConfigError,
        message: /intmm/,
      });
      for (const f of ['model.pt', 'spec.json', 'lineage.json', 'model.onnx', 'model.torchscript.pt'])
        t.false(existsSync(join(refused, f)), `${format}: ${f} left behind`);
    }
    await t.throwsAsync(exportTrialAs(file, '0', { out: refused, format: 'onnx', opset: 18 }), {
      instanceOf: ConfigError,
      message: /13\.\.17/,
    });
    await t.throwsAsync(exportTrialAs(file, '0', { format: 'tflite' }), {
      instanceOf: ConfigError,
      message: /unknown format/,
    });
  },
);

test.serial(
  "Fashion-MNIST (1 epoch): exported float and int8 models keep petra's test accuracy within 0.5 pt",
  async (t) => {
    const data = loadFashionMnist({ limitTrain: 3000, limitTest: 1000 });
    using model = Model.build(smallCnn({ inputShape: [1, 28, 28], classes: 10, widths: [16, 32], hidden: 64 }), {
      device: 'cpu',
      seed: 1,
    });
    await train(
      model,
      { train: data.train },
      { epochs: 1, optimizer: 'sgd', lr: 0.05, momentum: 0.9, batchSize: 64, seed: 1 },
    );
    const variants: [string, Model][] = [['float', model]];
    const owned: Model[] = [];
    for (const backend of ['qnnpack', 'onednn'] as const) {
      const q = await quantize(model, { mode: 'static', backend, calibration: { data: data.train, batches: 8 } });
      owned.push(q.model);
      variants.push([`static int8 (${backend})`, q.model]);
    }
    try {
      for (const [name, m] of variants) {
        const { a, b, same } = await bothAccuracies(m, data.test);
        t.log(
          `${name}: petra ${(100 * a).toFixed(2)}%, onnxruntime ${(100 * b).toFixed(2)}%, same top-1 on ${(100 * same).toFixed(2)}%`,
        );
        t.true(a > 0.6, `${name} learned something (${a})`);
        t.true(Math.abs(a - b) <= 0.005, `${name}: accuracy ${a} vs ${b}`);
      }
    } finally {
      for (const m of owned) m.dispose();
    }
  },
);

test.serial(
  "UCR GunPoint, InceptionTime: exported float, static and dynamic int8 models keep petra's test accuracy within 0.5 pt",
  async (t) => {
    const data = loadUcr({ dir: UCR_DIR, name: 'GunPoint', normalize: 'per-series' });
    using model = Model.build(inceptionTime({ inputShape: [1, 150], depth: 3, filters: 8, classes: 2 }), {
      device: 'cpu',
      seed: 1,
    });
    await train(model, { train: data.train }, { epochs: 15, optimizer: 'adam', lr: 3e-3, batchSize: 16, seed: 1 });
    const owned: Model[] = [];
    const variants: [string, Model][] = [['float', model]];
    owned.push(
      (await quantize(model, { mode: 'static', backend: 'qnnpack', calibration: { data: data.train } })).model,
    );
    variants.push(['static int8 (qnnpack)', owned[0]!]);
    owned.push((await quantize(model, { mode: 'dynamic' })).model);
    variants.push(['dynamic int8', owned[1]!]);
    try {
      for (const [name, m] of variants) {
        const { a, b } = await bothAccuracies(m, data.test);
        t.log(
          `${name}: petra ${(100 * a).toFixed(2)}%, onnxruntime ${(100 * b).toFixed(2)}% (${data.test.target.shape[0]} series)`,
        );
        t.true(Math.abs(a - b) <= 0.005, `${name}: accuracy ${a} vs ${b}`);
      }
    } finally {
      for (const m of owned) m.dispose();
    }
  },
);
