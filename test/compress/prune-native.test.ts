// Pruning on real LibTorch models: the pruned model is the zeroed-channel model, physically smaller, savable.
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDependencyGraph } from '../../lib/compress/depgraph.js';
import { applyPrunePlan, planPrune, prune, zeroChannels } from '../../lib/compress/prune.js';
import { decompose } from '../../lib/compress/lowrank.js';
import type { TensorData } from '../../lib/data/types.js';
import { ConfigError } from '../../lib/core/errors.js';
import { Model } from '../../lib/runtime/model.js';
import { cnn1d, gruSequenceClassifier, inceptionTime, mlp, resnetCifar, smallCnn } from '../../lib/graph/builders.js';
import type { ModelSpec } from '../../lib/graph/types.js';
import { parameterCount } from '../../lib/graph/validate.js';
import { train } from '../../lib/runtime/train.js';
import { blobs, floatTensor, intTensor } from '../helpers/tiny.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-prune-'));

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

interface Family {
  name: string;
  spec: ModelSpec;
  inputs: TensorData[];
  target: TensorData;
}

const families: Family[] = [
  {
    name: 'MLP + BN',
    spec: mlp({ inputShape: [12], hidden: [32, 16], classes: 3, batchnorm: true }),
    inputs: [floatTensor([16, 12], 1)],
    target: intTensor([16], 3, 2),
  },
  {
    name: 'smallCnn',
    spec: smallCnn({ inputShape: [3, 16, 16], classes: 4, widths: [8, 16], hidden: 24 }),
    inputs: [floatTensor([16, 3, 16, 16], 3)],
    target: intTensor([16], 4, 4),
  },
  {
    name: 'ResNet-8',
    spec: resnetCifar({ depth: 8, classes: 10, inputShape: [3, 16, 16] }),
    inputs: [floatTensor([16, 3, 16, 16], 5)],
    target: intTensor([16], 10, 6),
  },
  {
    name: 'InceptionTime',
    spec: inceptionTime({
      inputShape: [2, 32],
      depth: 3,
      filters: 8,
      kernelSizes: [9, 5, 3],
      bottleneck: 8,
      targets: 2,
    }),
    inputs: [floatTensor([16, 2, 32], 7)],
    target: floatTensor([16, 2], 8),
  },
  {
    name: 'GRU classifier',
    spec: gruSequenceClassifier({
      seqLen: 6,
      categorical: [
        { name: 'mcc', cardinality: 20, embeddingDim: 8 },
        { name: 'city', cardinality: 7, embeddingDim: 4 },
      ],
      numericFeatures: 3,
      hiddenSize: 8,
      headHidden: 12,
      classes: 3,
    }),
    inputs: [intTensor([16, 6], 20, 9), intTensor([16, 6], 7, 10), floatTensor([16, 6, 3], 11)],
    target: intTensor([16], 3, 12),
  },
  {
    name: 'cnn1d',
    spec: cnn1d({ inputShape: [2, 24], widths: [8, 16, 8], targets: 1 }),
    inputs: [floatTensor([16, 2, 24], 13)],
    target: floatTensor([16, 1], 14),
  },
];

for (const f of families) {
  test(`${f.name}: before fine-tuning, the pruned model equals the original with those channels zeroed`, async (t) => {
    using model = Model.build(f.spec, { seed: 1 });
    // One epoch moves BN γ/β and running statistics away from their identity defaults.
    await train(
      model,
      { train: { inputs: f.inputs, target: f.target } },
      { epochs: 1, batchSize: 8, optimizer: 'adam', lr: 1e-2 },
    );
    const graph = buildDependencyGraph(model.spec);
    const plan = await planPrune(model, { criterion: 'l1', ratio: 0.5 }, graph);
    t.deepEqual(Object.keys(plan.remove).sort(), graph.groups.map((g) => g.name).sort());
    using pruned = applyPrunePlan(model, plan, graph);
    using zeroed = zeroChannels(model, plan, graph);
    t.is(pruned.parameterCount, parameterCount(pruned.spec));
    t.true(pruned.parameterCount < model.parameterCount);
    const a = await pruned.forward(f.inputs);
    const b = await zeroed.forward(f.inputs);
    const full = await model.forward(f.inputs);
    const diff = maxAbsDiff(a.data, b.data);
    t.log(
      `max |pruned − zeroed| = ${diff.toExponential(2)} (outputs up to ${maxAbs(b.data).toFixed(2)}); params ${model.parameterCount} → ${pruned.parameterCount}`,
    );
    t.true(diff < 1e-5);
    t.true(maxAbsDiff(a.data, full.data) > 1e-4, 'pruning did change the function');
  });
}

test('prune() on ResNet-20: stage widths halve, the input model is untouched, the report adds up', async (t) => {
  using model = Model.build(resnetCifar({ depth: 20, classes: 10 }), { seed: 2 });
  const x = floatTensor([2, 3, 32, 32], 3);
  const before = await model.forward(x);
  const { model: small, report } = await prune(model, { criterion: 'l2', ratio: 0.5, reduce: 'max' });
  using _ = small;
  t.deepEqual(Array.from((await model.forward(x)).data), Array.from(before.data));
  t.is(report.operator, 'prune');
  t.is(report.parametersBefore, model.parameterCount);
  t.is(report.parametersAfter, small.parameterCount);
  t.true(report.parametersAfter < 0.3 * report.parametersBefore);
  t.is(report.groups.length, 12);
  for (const g of report.groups) t.is(g.after, g.before / 2, g.name);
  t.true(report.layersTouched.includes('layer2_0_shortcut_conv'));
  t.deepEqual(
    report.nonPrunable.map((n) => n.node),
    ['fc'],
  );
  const conv = small.spec.nodes.find((n) => n.name === 'layer3_2_conv2')!;
  t.like(conv.attrs, { inChannels: 32, outChannels: 32 });
  const out = await small.forward(x);
  t.deepEqual(out.shape, [2, 10]);
  t.true(Array.from(out.data).every(Number.isFinite));
});

test('global scope with roundTo 8 keeps multiples of 8; random is seeded', async (t) => {
  using model = Model.build(resnetCifar({ depth: 8, classes: 10, widthMultiplier: 2 }), { seed: 4 });
  const { model: a, report } = await prune(model, { criterion: 'bn_scale', ratio: 0.5, scope: 'global', roundTo: 8 });
  using _a = a;
  for (const g of report.groups) t.true(g.after % 8 === 0 || g.after === g.before, `${g.name}: ${g.after}`);
  const total = (key: 'before' | 'after') => report.groups.reduce((s, g) => s + g[key], 0);
  t.true(Math.abs(total('after') / total('before') - 0.5) < 0.1);
  const r1 = await prune(model, { criterion: 'random', ratio: 0.3, seed: 7 });
  const r2 = await prune(model, { criterion: 'random', ratio: 0.3, seed: 7 });
  using m1 = r1.model;
  using m2 = r2.model;
  const x = floatTensor([2, 3, 32, 32], 1);
  t.deepEqual(Array.from((await m1.forward(x)).data), Array.from((await m2.forward(x)).data));
});

test('a pruned model saves and loads with identical outputs', async (t) => {
  using model = Model.build(smallCnn({ inputShape: [3, 16, 16], classes: 4, widths: [8, 16], hidden: 24 }), {
    seed: 5,
  });
  const { model: small } = await prune(model, { criterion: 'l1', ratio: 0.5 });
  using _ = small;
  const path = join(dir, 'pruned.pt');
  await small.save(path);
  using loaded = await Model.load(path);
  t.deepEqual(loaded.spec, small.spec);
  const x = floatTensor([3, 3, 16, 16], 2);
  t.deepEqual(Array.from((await loaded.forward(x)).data), Array.from((await small.forward(x)).data));
});

test('taylor scores from data; iterative steps with fine-tuning end at 1 − ratio', async (t) => {
  const data = blobs(256, 10);
  using model = Model.build(mlp({ inputShape: [10], hidden: [32, 32], classes: 2 }), { seed: 6 });
  await train(model, { train: data }, { epochs: 1, batchSize: 32 });
  const { model: a, report } = await prune(model, { criterion: 'taylor', ratio: 0.5, data, batches: 4, batchSize: 32 });
  using _a = a;
  t.deepEqual(
    report.groups.map((g) => g.after),
    [16, 16],
  );
  const { model: b, report: r2 } = await prune(model, {
    criterion: 'l1',
    ratio: 0.75,
    steps: 2,
    data,
    finetune: { epochs: 1, batchSize: 32 },
  });
  using _b = b;
  t.is(r2.steps, 2);
  t.deepEqual(
    r2.groups.map((g) => g.after),
    [8, 8],
  ); // 32 → 16 → 8
  t.is(b.parameterCount, parameterCount(b.spec));
});

test('prune after decompose: factorized layers shrink through U rows and Vh columns', async (t) => {
  using model = Model.build(mlp({ inputShape: [16], hidden: [32, 32], classes: 4 }), { seed: 8 });
  const { model: low } = await decompose(model, { rule: 'rank', threshold: 8 });
  using _l = low;
  t.deepEqual(
    low.spec.nodes.filter((n) => n.op === 'lowrank_linear').map((n) => n.name),
    ['fc1', 'fc2'],
  );
  const graph = buildDependencyGraph(low.spec);
  const plan = await planPrune(low, { criterion: 'l1', ratio: 0.5 }, graph);
  using pruned = applyPrunePlan(low, plan, graph);
  using zeroed = zeroChannels(low, plan, graph);
  const x = floatTensor([8, 16], 3);
  const diff = maxAbsDiff((await pruned.forward(x)).data, (await zeroed.forward(x)).data);
  t.log(`lowrank MLP: max |pruned − zeroed| = ${diff.toExponential(2)}`);
  t.true(diff < 1e-5);
  t.like(pruned.spec.nodes.find((n) => n.name === 'fc2')!.attrs, { inFeatures: 16, outFeatures: 16, rank: 8 });
});

test('bad options are ConfigErrors', async (t) => {
  using model = Model.build(mlp({ inputShape: [4], hidden: [8], classes: 2 }), { seed: 1 });
  await t.throwsAsync(prune(model, { criterion: 'l1', ratio: 1 }), { instanceOf: ConfigError, message: /ratio/ });
  await t.throwsAsync(prune(model, { criterion: 'l1', ratio: 0 }), { instanceOf: ConfigError });
  await t.throwsAsync(prune(model, { criterion: 'taylor', ratio: 0.5 }), { instanceOf: ConfigError, message: /data/ });
  await t.throwsAsync(prune(model, { criterion: 'l1', ratio: 0.5, roundTo: 3.5 as 4 }), {
    instanceOf: ConfigError,
    message: /roundTo/,
  });
  await t.throwsAsync(prune(model, { criterion: 'l3' as 'l1', ratio: 0.5 }), {
    instanceOf: ConfigError,
    message: /criterion/,
  });
});

test('a model without prunable channels comes back as an equal copy', async (t) => {
  using model = Model.build(mlp({ inputShape: [4], hidden: [], classes: 2 }), { seed: 1 });
  const { model: same, report } = await prune(model, { criterion: 'l1', ratio: 0.5 });
  using _ = same;
  t.deepEqual(report.groups, []);
  t.is(report.parametersAfter, report.parametersBefore);
  t.deepEqual(report.layersTouched, []);
  const x = floatTensor([2, 4], 1);
  t.deepEqual(Array.from((await same.forward(x)).data), Array.from((await model.forward(x)).data));
});
