import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../lib/runtime/model.js';
import { evaluate, train } from '../../lib/runtime/train.js';
import { normalizeForQuantization, quantize } from '../../lib/compress/quantize.js';
import { modelSize } from '../../lib/lab/size.js';
import { ConfigError } from '../../lib/core/errors.js';
import { gruSequenceClassifier, inceptionTime, mlp, resnetCifar, smallCnn } from '../../lib/graph/builders.js';
import { loadFashionMnist } from '../../lib/data/idx.js';
import { blobs, floatTensor, intTensor } from '../helpers/tiny.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-quant-'));
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

test.serial(
  'static int8 on the Fashion-MNIST CNN loses ≤ 1 point, runs real int8 kernels and saves ~4× smaller',
  async (t) => {
    const ds = loadFashionMnist({ limitTrain: 20000, limitTest: 5000 });
    using model = Model.build(smallCnn({ inputShape: [1, 28, 28], classes: 10 }), { seed: 1 });
    await train(model, { train: ds.train }, { epochs: 1, lr: 0.05, seed: 1 });
    const fp32 = await evaluate(model, ds.test);
    const { model: q, report } = await quantize(model, { mode: 'static', calibration: { data: ds.train, batches: 8 } });
    using _q = q;
    const int8 = await evaluate(q, ds.test);
    t.log(`accuracy fp32 ${(fp32.accuracy! * 100).toFixed(2)}% → int8 ${(int8.accuracy! * 100).toFixed(2)}%`);
    t.true(fp32.accuracy! - int8.accuracy! <= 0.01);
    t.deepEqual(
      report.layers.map((l) => l.kind),
      ['int8', 'int8', 'int8', 'int8'],
    );
    t.deepEqual(report.foldedBatchNorms, ['block1_bn', 'block2_bn']);
    t.deepEqual(report.fusedRelu, ['block1_relu', 'block2_relu', 'fc1_relu']);
    t.true(
      q
        .parameters()
        .filter((p) => p.name.endsWith('.qweight'))
        .every((p) => p.dtype === 'Char'),
      'weights are stored as int8',
    );
    const [a, b] = [await modelSize(model), await modelSize(q)];
    t.log(`file ${a.fileBytes} → ${b.fileBytes} bytes`);
    t.true(b.fileBytes < a.fileBytes / 3.5);
    const path = join(dir, 'cnn-int8.pt');
    await q.save(path);
    using back = await Model.load(path);
    const x = ds.test.inputs[0]!;
    t.deepEqual(Array.from((await back.forward(x)).data), Array.from((await q.forward(x)).data));
    t.is(
      model.spec.nodes.length,
      smallCnn({ inputShape: [1, 28, 28], classes: 10 }).nodes.length,
      'the input model is untouched',
    );
  },
);

test('dynamic int8: linear and GRU layers quantized, outputs close to float; static leaves the GRU float with the reason', async (t) => {
  using model = Model.build(mlp({ inputShape: [32], hidden: [64, 64], classes: 4 }), { seed: 2 });
  const { model: q, report } = await quantize(model, { mode: 'dynamic' });
  using _q = q;
  t.true(report.layers.every((l) => l.kind === 'int8'));
  const x = floatTensor([16, 32], 3);
  t.true(maxAbsDiff((await q.forward(x)).data, (await model.forward(x)).data) < 0.05);
  const gru = gruSequenceClassifier({
    seqLen: 8,
    categorical: [{ name: 'mcc', cardinality: 20, embeddingDim: 4 }],
    numericFeatures: 2,
    hiddenSize: 16,
    classes: 3,
  });
  using g = Model.build(gru, { seed: 1 });
  const { model: gq, report: gr } = await quantize(g, { mode: 'dynamic' });
  using _gq = gq;
  t.deepEqual(
    gr.layers.map((l) => `${l.name}:${l.kind}`),
    ['mcc_embedding:fp32', 'gru:int8', 'head:int8'],
  );
  const inputs = [intTensor([4, 8], 20), floatTensor([4, 8, 2])];
  const [fo, qo] = [await g.forward(inputs), await gq.forward(inputs)];
  t.deepEqual(qo.shape, [4, 3]);
  t.log(`GRU classifier: max |int8 − fp32| ${maxAbsDiff(fo.data, qo.data).toFixed(4)}`);
  t.true(maxAbsDiff(fo.data, qo.data) < 0.05);
  const path = join(dir, 'gru-int8.pt');
  await gq.save(path);
  using back = await Model.load(path);
  t.deepEqual(Array.from((await back.forward(inputs)).data), Array.from(qo.data));
  const { model: sq, report: sr } = await quantize(g, {
    mode: 'static',
    calibration: { data: { inputs, target: intTensor([4], 3) }, batches: 1 },
  });
  using _sq = sq;
  const gruLayer = sr.layers.find((l) => l.name.includes('gru'))!;
  t.is(gruLayer.kind, 'fp32');
  t.regex(gruLayer.reason!, /dynamic/);
});

test('static int8 runs ResNet (residual adds) and InceptionTime (concat, same padding) close to float', async (t) => {
  for (const [spec, input] of [
    [resnetCifar({ depth: 8, classes: 10 }), floatTensor([32, 3, 32, 32], 1)],
    [inceptionTime({ inputShape: [2, 64], classes: 3, depth: 3, filters: 8 }), floatTensor([32, 2, 64], 2)],
  ] as const) {
    using model = Model.build(spec, { seed: 1 });
    await train(model, { train: { inputs: [input], target: intTensor([32], 3, 4) } }, { epochs: 1, batchSize: 8 }); // real BN statistics
    const { model: q, report } = await quantize(model, {
      mode: 'static',
      calibration: { data: { inputs: [input], target: intTensor([32], 3, 4) }, batches: 4, batchSize: 8 },
    });
    using _q = q;
    t.true(report.layers.filter((l) => l.kind === 'int8').length >= 3, `${spec.name}: int8 layers`);
    const [a, b] = [await model.forward(input), await q.forward(input)];
    const scale = Math.max(...Array.from(a.data).map(Math.abs));
    t.log(
      `${spec.name}: max |int8 − fp32| ${maxAbsDiff(a.data, b.data).toFixed(4)} (outputs up to ${scale.toFixed(3)})`,
    );
    t.true(maxAbsDiff(a.data, b.data) < 0.15 * scale + 0.05);
  }
});

test('BatchNorm after a concat of convs (InceptionTime) folds into each conv at its channel offset; the blocks stay int8', async (t) => {
  const spec = inceptionTime({ inputShape: [2, 64], classes: 3, depth: 3, filters: 8 });
  using model = Model.build(spec, { seed: 1 });
  const input = floatTensor([32, 2, 64], 2);
  await train(model, { train: { inputs: [input], target: intTensor([32], 3, 4) } }, { epochs: 1, batchSize: 8 }); // real BN statistics
  const normalized = normalizeForQuantization(model);
  using folded = normalized.model;
  t.deepEqual([...normalized.folded].sort(), ['inception0_bn', 'inception1_bn', 'inception2_bn', 'residual0_bn']);
  t.false(folded.spec.nodes.some((n) => n.op.startsWith('batchnorm')));
  const [a, b] = [await model.forward(input), await folded.forward(input)];
  const scale = Math.max(...Array.from(a.data).map(Math.abs));
  t.true(
    maxAbsDiff(a.data, b.data) <= 1e-4 * Math.max(1, scale),
    `folded float model differs by ${maxAbsDiff(a.data, b.data)}`,
  );
  const { model: q, report } = await quantize(model, {
    mode: 'static',
    calibration: { data: { inputs: [input], target: intTensor([32], 3, 4) }, batches: 4, batchSize: 8 },
  });
  using _q = q;
  t.true(
    report.layers.every((l) => l.kind === 'int8'),
    report.layers
      .filter((l) => l.kind !== 'int8')
      .map((l) => l.name)
      .join(', '),
  );
  const concat = q.spec.nodes.find((n) => n.name === 'inception0_concat')!;
  t.truthy((concat.attrs as { outScale?: number }).outScale, 'the concat joins int8 branches without dequantizing');
});

test('QAT fine-tunes with fake quantization, then converts to int8', async (t) => {
  const data = blobs(512, 16);
  using model = Model.build(mlp({ inputShape: [16], hidden: [32], classes: 2 }), { seed: 1 });
  await train(model, { train: data }, { epochs: 1 });
  const { model: q, report } = await quantize(model, { mode: 'qat', qat: { data, epochs: 2, lr: 1e-3 } });
  using _q = q;
  t.is(report.mode, 'qat');
  t.true(report.layers.every((l) => l.kind === 'int8'));
  t.true((await evaluate(q, data)).accuracy! > 0.95);
});

test('bad inputs: quantizing a quantized model, static without calibration, unknown mode, CUDA backend', async (t) => {
  using model = Model.build(mlp({ inputShape: [8], hidden: [8], classes: 2 }), { seed: 1 });
  const { model: q } = await quantize(model, { mode: 'dynamic' });
  using _q = q;
  await t.throwsAsync(quantize(q, { mode: 'dynamic' }), { instanceOf: ConfigError, message: /already quantized/ });
  await t.throwsAsync(quantize(model, { mode: 'static' }), { instanceOf: ConfigError, message: /calibration/ });
  await t.throwsAsync(quantize(model, { mode: 'bogus' as 'static' }), { instanceOf: ConfigError });
  await t.throwsAsync(quantize(model, { mode: 'dynamic', backend: 'cuda' }), { instanceOf: ConfigError });
});
