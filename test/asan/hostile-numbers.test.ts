import test from 'ava';
import { binding } from '../../lib/runtime/binding.js';
import { ConfigError, ShapeError } from '../../lib/core/errors.js';
import { benchmark } from '../../lib/lab/benchmark.js';
import { Model } from '../../lib/runtime/model.js';
import { mlp } from '../../lib/graph/builders.js';
import { SPEC_FORMAT } from '../../lib/graph/types.js';
import { train } from '../../lib/runtime/train.js';

// Numbers that reached a C++ cast to int64_t (undefined behaviour for NaN, ±Infinity and |x| ≥ 2^63) or a signed
// overflow, found by scripts/asan.sh's UBSan run (float-cast-overflow, signed-integer-overflow). Each must now be
// a typed error. In a normal build the old code mostly "worked" by accident (x86 turns such casts into INT64_MIN);
// under scripts/asan.sh a regression aborts the worker.

const model = Model.build(mlp({ inputShape: [4], hidden: [8], classes: 2 }), { seed: 1 });
const split = {
  inputs: [{ data: new Float32Array(16), shape: [4, 4] }],
  target: { data: new Int32Array(4), shape: [4] },
};

test('public API: shapes, train seeds and benchmark iterations beyond int64 are typed errors', async (t) => {
  for (const shape of [[Infinity], [1e20, 4]]) {
    await t.throwsAsync(
      model.forward({ data: new Float32Array(4), shape }),
      { instanceOf: ConfigError },
      String(shape),
    );
  }
  // 2^32 · 2^32 overflows int64 (and wrapped to 0, matching an empty array)
  await t.throwsAsync(model.forward({ data: new Float32Array(0), shape: [2 ** 32, 2 ** 32] }), {
    instanceOf: ShapeError,
    message: /more than 2\^63/,
  });
  // lib/runtime/train.ts sends seed × 100003 + epoch: 1e15 becomes 1.00003e20
  await t.throwsAsync(train(model, { train: split }, { epochs: 1, seed: 1e15 }), {
    instanceOf: ConfigError,
    message: /seed/,
  });
  await t.throwsAsync(benchmark(model, { maxIterations: Infinity, timeCapMs: 10 }), {
    instanceOf: ConfigError,
    message: /maxIterations/,
  });
});

test('raw binding: NaN / Infinity options and unvalidated spec attributes are ConfigErrors', async (t) => {
  const b = binding();
  const native = model.native;
  // (these calls throw synchronously, before a promise exists: `async () =>` turns that into a rejection)
  const ds = b.createDataset(split, 'cpu');
  t.teardown(() => ds.dispose());
  await t.throwsAsync(async () => b.benchmarkModel(native, { warmupIterations: NaN, timeCapMs: 10 }), {
    instanceOf: ConfigError,
  });
  const trainer = b.createTrainer(native, { optimizer: 'sgd', lr: 0.1 });
  t.teardown(() => trainer.dispose());
  await t.throwsAsync(async () => trainer.trainEpoch(ds, { batchSize: Infinity, seed: 1 }), {
    instanceOf: ConfigError,
  });
  await t.throwsAsync(async () => trainer.trainEpoch(ds, { batchSize: 2, seed: 1e30 }), { instanceOf: ConfigError });
  await t.throwsAsync(async () => b.evaluate(native, ds, { batchSize: NaN }), { instanceOf: ConfigError });
  for (const kernelSize of [1e20, NaN, -Infinity]) {
    for (const op of ['conv1d', 'qconv1d']) {
      const spec = {
        format: SPEC_FORMAT,
        inputs: [{ name: 'x', shape: [2, 8], dtype: 'float32' }],
        nodes: [
          { name: 'c', op, inputs: ['x'], attrs: { inChannels: 2, outChannels: 2, kernelSize } },
          { name: 'f', op: 'flatten', inputs: ['c'] },
        ],
        output: 'f',
        task: { kind: 'classification', classes: 2 },
      };
      // validateSpec would refuse these; the native side must refuse them on its own too
      t.throws(
        () => b.buildModel(spec as never, JSON.stringify(spec), 'cpu', 1),
        { instanceOf: ConfigError },
        `${op} ${kernelSize}`,
      );
    }
  }
});

test.after.always(() => model.dispose());
