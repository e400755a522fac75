import test from 'ava';
import { Model } from '../../lib/runtime/model.js';
import { DeviceData } from '../../lib/runtime/device-data.js';
import { train } from '../../lib/runtime/train.js';
import { ConfigError, ShapeError } from '../../lib/core/errors.js';
import { mlp, smallCnn } from '../../lib/graph/builders.js';
import type { ModelSpec } from '../../lib/graph/types.js';
import { blobs, floatTensor, intTensor } from '../helpers/tiny.js';

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

test('derive with the same spec and no recipes copies every tensor', async (t) => {
  using model = Model.build(smallCnn({ inputShape: [1, 28, 28], classes: 10 }), { seed: 1 });
  using copy = Model.fromNative(model.spec, model.native.derive(model.spec, JSON.stringify(model.spec), {}));
  const x = floatTensor([3, 1, 28, 28]);
  t.deepEqual(Array.from((await copy.forward(x)).data), Array.from((await model.forward(x)).data));
});

test('SVD recipes turn a linear layer into lowrank_linear; at full rank the outputs agree to 1e-4', async (t) => {
  using model = Model.build(mlp({ inputShape: [20], hidden: [16], classes: 3 }), { seed: 2 });
  const spec = structuredClone(model.spec) as ModelSpec;
  const i = spec.nodes.findIndex((n) => n.name === 'fc1');
  spec.nodes[i] = {
    name: 'fc1',
    op: 'lowrank_linear',
    inputs: spec.nodes[i]!.inputs,
    attrs: { inFeatures: 20, outFeatures: 16, rank: 16 },
  };
  const recipes = Object.fromEntries(
    (['U', 'S', 'Vh'] as const).map((part) => [`fc1.${part}`, { svd: { source: 'fc1.weight', part, rank: 16 } }]),
  );
  using low = Model.fromNative(
    spec,
    model.native.derive(spec, JSON.stringify(spec), { ...recipes, 'fc1.bias': { source: 'fc1.bias' } }),
  );
  const x = floatTensor([5, 20], 3);
  t.true(maxAbsDiff((await low.forward(x)).data, (await model.forward(x)).data) < 1e-4);
  const sv = model.native.singularValues(['fc1.weight'])['fc1.weight']!;
  t.is(sv.length, 16);
  t.true(Array.from(sv).every((v, k) => k === 0 || v <= sv[k - 1]!));
});

test('slices and explicit data recipes; a wrong shape or unknown tensor is a typed error', async (t) => {
  using model = Model.build(mlp({ inputShape: [6], hidden: [8], classes: 2 }), { seed: 3 });
  const spec = structuredClone(model.spec) as ModelSpec;
  const fc1 = spec.nodes.find((n) => n.name === 'fc1')!;
  (fc1.attrs as { outFeatures: number }).outFeatures = 4;
  const head = spec.nodes.find((n) => n.name === 'head')!;
  (head.attrs as { inFeatures: number }).inFeatures = 4;
  const keep = new Int32Array([0, 2, 5, 7]);
  using small = Model.fromNative(
    spec,
    model.native.derive(spec, JSON.stringify(spec), {
      'fc1.weight': { source: 'fc1.weight', slices: [{ dim: 0, index: keep }] },
      'fc1.bias': { source: 'fc1.bias', slices: [{ dim: 0, index: keep }] },
      'head.weight': { source: 'head.weight', slices: [{ dim: 1, index: keep }] },
    }),
  );
  t.is(small.parameterCount, 6 * 4 + 4 + 4 * 2 + 2);
  const w = small.native.tensors(['fc1.weight'])['fc1.weight']!;
  const full = model.native.tensors(['fc1.weight'])['fc1.weight']!;
  t.deepEqual(Array.from(w.data.slice(6, 12)), Array.from(full.data.slice(12, 18)));
  t.throws(() => model.native.derive(spec, '{}', {}), { instanceOf: ShapeError });
  t.throws(() => model.native.derive(model.spec, '{}', { 'fc1.weight': { source: 'nope.weight' } }), {
    instanceOf: ConfigError,
  });
});

test('Taylor scores: one non-negative tensor per parameter, and the model is left untouched', async (t) => {
  using model = Model.build(smallCnn({ inputShape: [1, 28, 28], classes: 10 }), { seed: 1 });
  const x = floatTensor([64, 1, 28, 28], 4);
  const before = await model.forward(x);
  using data = DeviceData.from({ inputs: [x], target: intTensor([64], 10, 5) });
  const scores = await model.native.taylorScores(data.native, { batches: 2, batchSize: 32 });
  const params = model.parameters().filter((p) => !p.buffer);
  t.deepEqual(Object.keys(scores).sort(), params.map((p) => p.name).sort());
  for (const p of params) {
    t.deepEqual(scores[p.name]!.shape, p.shape);
    t.true(Array.from(scores[p.name]!.data).every((v) => v >= 0));
  }
  t.true(Array.from(scores['block1_conv.weight']!.data).some((v) => v > 0));
  t.deepEqual(Array.from((await model.forward(x)).data), Array.from(before.data));
});

test('orthogonality and Hoyer regularizers change training of factorized layers', async (t) => {
  const spec: ModelSpec = {
    format: 'petra.graph/1',
    inputs: [{ name: 'x', shape: [8], dtype: 'float32' }],
    nodes: [
      { name: 'fc', op: 'lowrank_linear', inputs: ['x'], attrs: { inFeatures: 8, outFeatures: 8, rank: 8 } },
      { name: 'act', op: 'relu', inputs: ['fc'], attrs: {} },
      { name: 'head', op: 'linear', inputs: ['act'], attrs: { inFeatures: 8, outFeatures: 2 } },
    ],
    output: 'head',
    task: { kind: 'classification', classes: 2 },
  };
  const data = blobs(256, 8);
  const run = async (regularization?: { hoyer?: number; orthogonality?: number }) => {
    using m = Model.build(spec, { seed: 1 });
    await train(
      m,
      { train: data },
      { epochs: 3, batchSize: 32, optimizer: 'adam', lr: 1e-2, ...(regularization ? { regularization } : {}) },
    );
    const s = m.native.tensors(['fc.S'])['fc.S']!.data;
    const l1 = Array.from(s).reduce((a, v) => a + Math.abs(v), 0);
    const l2 = Math.sqrt(Array.from(s).reduce((a, v) => a + v * v, 0));
    return l1 / l2;
  };
  const plain = await run();
  const sparse = await run({ hoyer: 5, orthogonality: 1 });
  t.log(`Hoyer ratio ‖S‖₁/‖S‖₂: plain ${plain.toFixed(3)}, regularized ${sparse.toFixed(3)}`);
  t.true(sparse < plain, 'the Hoyer term makes the singular values sparser');
});
