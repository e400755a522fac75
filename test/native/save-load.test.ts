import test from 'ava';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../lib/runtime/model.js';
import { train } from '../../lib/runtime/train.js';
import { gruSequenceClassifier, resnetCifar } from '../../lib/graph/builders.js';
import { floatTensor, intTensor } from '../helpers/tiny.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-save-'));

test('a trained ResNet round-trips through save/load with identical outputs', async (t) => {
  using model = Model.build(resnetCifar({ depth: 8, classes: 10 }), { seed: 5 });
  const x = floatTensor([8, 3, 32, 32], 9);
  const y = intTensor([8], 10, 4);
  await train(model, { train: { inputs: [x], target: y } }, { epochs: 2, batchSize: 4 }); // moves BN running stats too
  const before = await model.forward(x);
  const path = join(dir, 'resnet8.pt');
  await model.save(path);
  t.true(statSync(path).size > model.parameterCount * 4);
  using loaded = await Model.load(path);
  t.deepEqual(loaded.spec, model.spec);
  const after = await loaded.forward(x);
  t.deepEqual(Array.from(after.data), Array.from(before.data));
});

test('a GRU model with several inputs round-trips too', async (t) => {
  const spec = gruSequenceClassifier({
    seqLen: 6,
    categorical: [{ name: 'mcc', cardinality: 20, embeddingDim: 4 }],
    numericFeatures: 2,
    hiddenSize: 8,
    classes: 3,
  });
  using model = Model.build(spec, { seed: 2 });
  const inputs = [intTensor([5, 6], 20), floatTensor([5, 6, 2])];
  const path = join(dir, 'gru.pt');
  await model.save(path);
  using loaded = await Model.load(path);
  t.deepEqual(Array.from((await loaded.forward(inputs)).data), Array.from((await model.forward(inputs)).data));
});

test('clone() is an independent copy', async (t) => {
  using model = Model.build(resnetCifar({ depth: 8, classes: 10 }), { seed: 5 });
  using copy = model.clone();
  const x = floatTensor([2, 3, 32, 32], 1);
  t.deepEqual(Array.from((await copy.forward(x)).data), Array.from((await model.forward(x)).data));
  await train(
    copy,
    { train: { inputs: [floatTensor([8, 3, 32, 32])], target: intTensor([8], 10) } },
    { epochs: 1, batchSize: 4 },
  );
  t.notDeepEqual(Array.from((await copy.forward(x)).data), Array.from((await model.forward(x)).data));
});

test('the same seed builds the same weights; another seed does not', async (t) => {
  const spec = resnetCifar({ depth: 8, classes: 10 });
  using a = Model.build(spec, { seed: 11 });
  using b = Model.build(spec, { seed: 11 });
  using c = Model.build(spec, { seed: 12 });
  const x = floatTensor([2, 3, 32, 32], 1);
  const [oa, ob, oc] = await Promise.all([a.forward(x), b.forward(x), c.forward(x)]);
  t.deepEqual(Array.from(oa.data), Array.from(ob.data));
  t.notDeepEqual(Array.from(oa.data), Array.from(oc.data));
});
