import test from 'ava';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  DataError,
  DeviceError,
  DisposedError,
  DtypeError,
  NumericError,
  PetraError,
  ShapeError,
} from '../../lib/core/errors.js';
import { Model } from '../../lib/runtime/model.js';
import { train, evaluate } from '../../lib/runtime/train.js';
import { mlp } from '../../lib/graph/builders.js';
import { loadFashionMnist } from '../../lib/data/idx.js';
import { blobs, floatTensor, intTensor } from '../helpers/tiny.js';

const tinySpec = () => mlp({ inputShape: [4], hidden: [8], classes: 2 });

test('an invalid spec is a ConfigError naming the offending path', (t) => {
  const spec = tinySpec();
  (spec.nodes[1]!.attrs as { inFeatures: number }).inFeatures = -3;
  const err = t.throws(() => Model.build(spec), { instanceOf: ConfigError });
  t.regex(err!.path ?? '', /^nodes\[1\]\.attrs/);
  t.throws(() => Model.build({ format: 'nope' }), { instanceOf: ConfigError });
});

test('a wrongly shaped input is a ShapeError that names the input and both shapes', async (t) => {
  using model = Model.build(tinySpec());
  const err = await t.throwsAsync(model.forward(floatTensor([3, 5])), { instanceOf: ShapeError });
  t.regex(err!.message, /input 'x' must be \[N, 4\].*\[3, 5\]/);
  await t.throwsAsync(model.forward({ data: new Float32Array(7), shape: [2, 4] }), { instanceOf: ShapeError });
});

test('a wrong dtype is a DtypeError, for inputs and for targets', async (t) => {
  using model = Model.build(tinySpec());
  await t.throwsAsync(model.forward(intTensor([3, 4], 5)), { instanceOf: DtypeError });
  const data = blobs(16, 4);
  const floatLabels = { inputs: data.inputs, target: floatTensor([16]) };
  await t.throwsAsync(train(model, { train: floatLabels }, { epochs: 1 }), { instanceOf: DtypeError });
  const badLabels = { inputs: data.inputs, target: { data: new Int32Array(16).fill(7), shape: [16] } };
  await t.throwsAsync(evaluate(model, badLabels), { instanceOf: DataError, message: /labels must lie in \[0, 2\)/ });
});

test('a NaN loss is a NumericError', async (t) => {
  using model = Model.build(tinySpec(), { seed: 1 });
  const data = blobs(64, 4);
  (data.inputs[0]!.data as Float32Array)[5] = Number.NaN;
  const err = await t.throwsAsync(train(model, { train: data }, { epochs: 1, batchSize: 16 }), {
    instanceOf: NumericError,
  });
  t.regex(err!.message, /NaN/);
});

test('an unknown or unavailable device is a DeviceError', (t) => {
  t.throws(() => Model.build(tinySpec(), { device: 'tpu:0' }), { instanceOf: DeviceError });
  t.throws(() => Model.build(tinySpec(), { device: 'cuda:99' }), { instanceOf: DeviceError });
});

test('bad data files are DataErrors, not crashes', async (t) => {
  const dir = tmpdir();
  t.throws(() => loadFashionMnist({ dir: join(dir, 'no-such-dir') }), { instanceOf: DataError });
  const junk = join(dir, `petra-junk-${process.pid}.pt`);
  writeFileSync(junk, 'this is not a model');
  await t.throwsAsync(Model.load(junk), { instanceOf: DataError });
  await t.throwsAsync(Model.load(join(dir, 'missing-model.pt')), { instanceOf: DataError });
});

test('use after dispose is a DisposedError; dispose is idempotent', async (t) => {
  const model = Model.build(tinySpec());
  model.dispose();
  model.dispose();
  t.true(model.disposed);
  t.throws(() => model.parameterCount, { instanceOf: DisposedError });
  await t.throwsAsync(async () => model.forward(floatTensor([1, 4])), { instanceOf: DisposedError });
});

test('every error is a PetraError with a code and no C++ backtrace', async (t) => {
  using model = Model.build(tinySpec());
  const err = await t.throwsAsync(model.forward(floatTensor([2, 9])));
  t.true(err instanceof PetraError);
  t.regex((err as PetraError).code, /^ERR_PETRA_/);
  t.notRegex(err!.message, /Exception raised from|frame #/);
});
