// Low-rank factorization on real LibTorch models: exact at full rank, smaller below it, ranks truncated after training.
import test from 'ava';
import { decompose, truncateRanks } from '../../lib/compress/lowrank.js';
import { prune } from '../../lib/compress/prune.js';
import type { TensorData } from '../../lib/data/types.js';
import { ConfigError } from '../../lib/core/errors.js';
import { Model } from '../../lib/runtime/model.js';
import { cnn1d, inceptionTime, mlp, resnetCifar, smallCnn } from '../../lib/graph/builders.js';
import type { ModelSpec } from '../../lib/graph/types.js';
import { parameterCount } from '../../lib/graph/validate.js';
import { train } from '../../lib/runtime/train.js';
import { blobs, floatTensor } from '../helpers/tiny.js';

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

const families: { name: string; spec: ModelSpec; x: TensorData }[] = [
  { name: 'MLP', spec: mlp({ inputShape: [12], hidden: [24, 16], classes: 3 }), x: floatTensor([8, 12], 1) },
  {
    name: 'smallCnn (conv2d + linear)',
    spec: smallCnn({ inputShape: [3, 16, 16], classes: 4, widths: [8, 16], hidden: 24 }),
    x: floatTensor([4, 3, 16, 16], 2),
  },
  {
    name: 'ResNet-8 (strided and 1×1 convs)',
    spec: resnetCifar({ depth: 8, classes: 10, inputShape: [3, 16, 16] }),
    x: floatTensor([4, 3, 16, 16], 3),
  },
  {
    name: 'cnn1d (conv1d, same padding)',
    spec: cnn1d({ inputShape: [2, 24], widths: [8, 16, 8], targets: 1 }),
    x: floatTensor([4, 2, 24], 4),
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
    x: floatTensor([4, 2, 32], 5),
  },
];

for (const f of families) {
  test(`${f.name}: at full rank the decomposed model equals the original`, async (t) => {
    using model = Model.build(f.spec, { seed: 1 });
    const { model: low, report } = await decompose(model, {
      rule: 'fixed_ratio',
      threshold: 1,
      skipUnprofitable: false,
    });
    using _ = low;
    const dense = f.spec.nodes.filter((n) => n.op === 'linear' || n.op === 'conv1d' || n.op === 'conv2d');
    t.is(low.spec.nodes.filter((n) => n.op.startsWith('lowrank_')).length, dense.length);
    t.true(report.layers.every((l) => l.rank === l.fullRank && !l.skipped));
    t.is(low.parameterCount, parameterCount(low.spec));
    const diff = maxAbsDiff((await low.forward(f.x)).data, (await model.forward(f.x)).data);
    t.log(`max |decomposed − original| = ${diff.toExponential(2)}`);
    t.true(diff < 1e-4);
  });
}

test('energy / explained-variance ranks shrink the model; unprofitable layers (the small head) stay dense', async (t) => {
  using model = Model.build(mlp({ inputShape: [64], hidden: [64, 64], classes: 3 }), { seed: 2 });
  const { model: low, report } = await decompose(model, { rule: 'explained_variance', threshold: 0.6, roundTo: 4 });
  using _ = low;
  const head = report.layers.find((l) => l.name === 'head')!;
  t.regex(head.skipped!, /would not cut parameters/);
  t.is(low.spec.nodes.find((n) => n.name === 'head')!.op, 'linear');
  for (const l of report.layers.filter((x) => !x.skipped)) {
    t.true(l.rank < l.fullRank && l.rank % 4 === 0, `${l.name} rank ${l.rank}`);
    t.true(l.paramsAfter < l.paramsBefore);
  }
  t.is(report.parametersAfter, low.parameterCount);
  t.true(report.parametersAfter < report.parametersBefore);
  const { report: e } = await decompose(model, { rule: 'energy', threshold: 0.6, layers: ['fc1'] });
  t.deepEqual(
    e.layers.map((l) => l.name),
    ['fc1'],
  );
  t.true(
    e.layers[0]!.rank >= report.layers.find((l) => l.name === 'fc1')!.rank,
    'energy (|S|) keeps at least as many as explained variance (S²)',
  );
  const out = await low.forward(floatTensor([3, 64], 1));
  t.true(Array.from(out.data).every(Number.isFinite));
});

test('truncateRanks keeps the top singular directions: right after an SVD it equals decomposing at that rank', async (t) => {
  using model = Model.build(smallCnn({ inputShape: [3, 16, 16], classes: 4, widths: [8, 16], hidden: 24 }), {
    seed: 3,
  });
  const { model: full } = await decompose(model, { rule: 'fixed_ratio', threshold: 1, skipUnprofitable: false });
  using _f = full;
  const { model: cut, report } = await truncateRanks(full, { rule: 'rank', threshold: 3 });
  using _c = cut;
  const { model: direct } = await decompose(model, { rule: 'rank', threshold: 3, skipUnprofitable: false });
  using _d = direct;
  t.is(report.mode, 'truncate');
  t.true(report.layers.every((l) => l.rank === Math.min(3, l.rankBefore)));
  t.deepEqual(cut.spec, direct.spec);
  const x = floatTensor([4, 3, 16, 16], 6);
  const diff = maxAbsDiff((await cut.forward(x)).data, (await direct.forward(x)).data);
  t.log(`max |truncated − decomposed at rank 3| = ${diff.toExponential(2)}`);
  t.true(diff < 1e-4);
  t.is(cut.parameterCount, report.parametersAfter);
});

test('after training, truncation reads the trained |S| (order and sign do not matter)', async (t) => {
  const data = blobs(256, 16);
  using model = Model.build(mlp({ inputShape: [16], hidden: [32], classes: 2 }), { seed: 4 });
  const { model: low } = await decompose(model, {
    rule: 'fixed_ratio',
    threshold: 1,
    layers: ['fc1'],
    skipUnprofitable: false,
  });
  using _l = low;
  await train(
    low,
    { train: data },
    { epochs: 2, batchSize: 32, optimizer: 'adam', lr: 1e-2, regularization: { hoyer: 1 } },
  );
  const s = Array.from(low.native.tensors(['fc1.S'])['fc1.S']!.data);
  const { model: cut, report } = await truncateRanks(low, { rule: 'explained_variance', threshold: 0.9 });
  using _c = cut;
  const r = report.layers[0]!.rank;
  t.true(r >= 1 && r <= 16);
  const kept = Array.from(cut.native.tensors(['fc1.S'])['fc1.S']!.data);
  const top = [...s]
    .map(Math.abs)
    .sort((a, b) => b - a)
    .slice(0, r);
  t.deepEqual(
    kept.map(Math.abs).sort((a, b) => b - a),
    top,
  );
  // The truncated model still runs and pruning works on it too.
  const { model: pruned } = await prune(cut, { criterion: 'l1', ratio: 0.5 });
  using _p = pruned;
  t.deepEqual((await pruned.forward(data.inputs[0]!)).shape, [256, 2]);
});

test('bad low-rank options are ConfigErrors', async (t) => {
  using model = Model.build(mlp({ inputShape: [8], hidden: [8], classes: 2 }), { seed: 1 });
  await t.throwsAsync(decompose(model, { rule: 'rank', threshold: 0 }), {
    instanceOf: ConfigError,
    message: /positive integer rank/,
  });
  await t.throwsAsync(decompose(model, { rule: 'energy', threshold: 1.5 }), {
    instanceOf: ConfigError,
    message: /0 < threshold ≤ 1/,
  });
  await t.throwsAsync(decompose(model, { rule: 'fixed_ratio', threshold: 0.5, layers: ['nope'] }), {
    instanceOf: ConfigError,
    message: /no node named 'nope'/,
  });
  await t.throwsAsync(decompose(model, { rule: 'fixed_ratio', threshold: 0.5, layers: ['fc1_relu'] }), {
    instanceOf: ConfigError,
    message: /relu/,
  });
  await t.throwsAsync(truncateRanks(model, { rule: 'rank', threshold: 2, layers: ['fc1'] }), {
    instanceOf: ConfigError,
    message: /lowrank/,
  });
  await t.throwsAsync(decompose(model, { rule: 'svd' as 'rank', threshold: 2 }), {
    instanceOf: ConfigError,
    message: /unknown rule/,
  });
});
