import test from 'ava';
import { ConfigError } from '../../lib/core/errors.js';
import { cnn1d, gruSequenceClassifier, inceptionTime, mlp, resnetCifar, smallCnn } from '../../lib/graph/builders.js';
import { inferShapes, parameterCount, validateSpec } from '../../lib/graph/validate.js';
import type { ModelSpec } from '../../lib/graph/types.js';

function outShape(s: ModelSpec): number[] | undefined {
  return inferShapes(s).get(s.output);
}

test('mlp: flattens multi-dim input, batchnorm, dropout, regression head', (t) => {
  const s = mlp({
    inputShape: [1, 4, 4],
    hidden: [32, 16],
    classes: 3,
    activation: 'gelu',
    dropout: 0.1,
    batchnorm: true,
  });
  t.is(s.nodes[0]!.op, 'flatten');
  t.deepEqual(outShape(s), [3]);
  // fc1 16*32 (no bias, BN follows) + bn 64; fc2 32*16 + bn 32; head 16*3+3
  t.is(parameterCount(s), 512 + 64 + 512 + 32 + 51);
  const r = mlp({ inputShape: [10], hidden: [], targets: 2 });
  t.deepEqual(r.task, { kind: 'regression', targets: 2 });
  t.is(parameterCount(r), 22);
  t.deepEqual(validateSpec(r), r);
  t.throws(() => mlp({ inputShape: [10], hidden: [0], classes: 2 }), {
    instanceOf: ConfigError,
    message: /hidden\[0\]/,
  });
});

test('smallCnn for Fashion-MNIST [1,28,28]: shapes and hand-checked parameter count', (t) => {
  const s = smallCnn({ inputShape: [1, 28, 28], classes: 10 });
  const sh = inferShapes(s);
  t.deepEqual(sh.get('block1_pool'), [32, 14, 14]);
  t.deepEqual(sh.get('block2_pool'), [64, 7, 7]);
  t.deepEqual(sh.get('flatten'), [3136]);
  t.deepEqual(outShape(s), [10]);
  // conv1 1*32*9 = 288, bn1 64, conv2 32*64*9 = 18432, bn2 128, fc1 3136*128+128 = 401536, head 128*10+10 = 1290
  t.is(parameterCount(s), 288 + 64 + 18432 + 128 + 401536 + 1290);
  t.is(parameterCount(s), 421738);
});

test('resnet20: 272,474 parameters with projection shortcuts (269,722 + 2,752)', (t) => {
  const s = resnetCifar({ depth: 20, classes: 10 });
  t.is(parameterCount(s), 272474);
  const sh = inferShapes(s);
  t.deepEqual(sh.get('layer1_2_relu'), [16, 32, 32]);
  t.deepEqual(sh.get('layer2_0_add'), [32, 16, 16]);
  t.deepEqual(sh.get('layer3_2_relu'), [64, 8, 8]);
  t.deepEqual(outShape(s), [10]);
  t.truthy(s.nodes.find((n) => n.name === 'layer2_0_shortcut_conv'));
  t.falsy(s.nodes.find((n) => n.name === 'layer1_0_shortcut_conv'));
  t.is(s.nodes.filter((n) => n.op === 'conv2d').length, 19 + 2);
});

test('resnetCifar: all depths, width multiplier and other inputs', (t) => {
  for (const depth of [8, 14, 20, 32, 44, 56] as const) {
    const s = resnetCifar({ depth, classes: 100 });
    t.deepEqual(outShape(s), [100]);
    t.is(s.nodes.filter((n) => n.op === 'add').length, ((depth - 2) / 6) * 3);
  }
  const wide = resnetCifar({ depth: 8, classes: 10, widthMultiplier: 2, inputShape: [1, 28, 28] });
  t.deepEqual(inferShapes(wide).get('pool'), [128, 1, 1]);
  t.deepEqual(inferShapes(wide).get('layer3_0_add'), [128, 7, 7]);
  t.throws(() => resnetCifar({ depth: 18 as 20, classes: 10 }), { instanceOf: ConfigError });
});

test('inceptionTime: univariate and multivariate, residuals, regression', (t) => {
  const s = inceptionTime({ inputShape: [1, 150], classes: 2 });
  const sh = inferShapes(s);
  t.deepEqual(sh.get('inception0_concat'), [128, 150]);
  t.falsy(s.nodes.find((n) => n.name === 'inception0_bottleneck'));
  t.truthy(s.nodes.find((n) => n.name === 'inception1_bottleneck'));
  t.deepEqual(sh.get('residual1_add'), [128, 150]);
  t.deepEqual(outShape(s), [2]);
  // module0: convs 32*(39+19+9) + pool conv 32 + bn 256 = 2432; modules 1-5: bottleneck 4096 + convs 32*32*67
  // + pool conv 4096 + bn 256 = 77056; residual0 128 + 256; residual1 16384 + 256; head 258
  t.is(parameterCount(s), 2432 + 5 * 77056 + 384 + 16640 + 258);

  const m = inceptionTime({
    inputShape: [6, 100],
    targets: 1,
    depth: 3,
    filters: 8,
    kernelSizes: [9, 5, 3],
    bottleneck: 4,
    residual: true,
  });
  t.deepEqual(m.task, { kind: 'regression', targets: 1 });
  t.truthy(m.nodes.find((n) => n.name === 'inception0_bottleneck'));
  t.deepEqual(inferShapes(m).get('residual0_add'), [32, 100]);
  const nr = inceptionTime({ inputShape: [6, 100], classes: 4, residual: false });
  t.falsy(nr.nodes.some((n) => n.op === 'add'));
  t.throws(() => inceptionTime({ inputShape: [1, 50], classes: 2, kernelSizes: [40, 20, 10] }), {
    instanceOf: ConfigError,
    message: /kernelSizes\[0\]/,
  });
});

test('gruSequenceClassifier: int64 inputs, concat on last dim, GRU last state', (t) => {
  const s = gruSequenceClassifier({
    seqLen: 32,
    categorical: [
      { name: 'mcc', cardinality: 100, embeddingDim: 8 },
      { name: 'hour', cardinality: 24, embeddingDim: 4 },
    ],
    numericFeatures: 2,
    hiddenSize: 16,
    numLayers: 2,
    bidirectional: true,
    headHidden: 10,
    classes: 4,
  });
  t.deepEqual(
    s.inputs.map((i) => [i.name, i.dtype]),
    [
      ['mcc', 'int64'],
      ['hour', 'int64'],
      ['numeric', 'float32'],
    ],
  );
  const sh = inferShapes(s);
  t.deepEqual(sh.get('features'), [32, 14]);
  t.deepEqual(sh.get('gru'), [32]);
  t.deepEqual(outShape(s), [4]);
  const gru = 2 * (3 * 16 * (14 + 16) + 96) + 2 * (3 * 16 * (32 + 16) + 96);
  t.is(parameterCount(s), 800 + 96 + gru + (32 * 10 + 10) + (10 * 4 + 4));

  const only = gruSequenceClassifier({ seqLen: 5, categorical: [], numericFeatures: 3, hiddenSize: 4, classes: 2 });
  t.falsy(only.nodes.some((n) => n.op === 'concat'));
  t.throws(() => gruSequenceClassifier({ seqLen: 5, categorical: [], numericFeatures: 0, hiddenSize: 4, classes: 2 }), {
    instanceOf: ConfigError,
  });
  t.throws(
    () =>
      gruSequenceClassifier({
        seqLen: 5,
        categorical: [{ name: 'numeric', cardinality: 3, embeddingDim: 2 }],
        numericFeatures: 1,
        hiddenSize: 4,
        classes: 2,
      }),
    { instanceOf: ConfigError },
  );
});

test('cnn1d: GunPoint-shaped classifier and regression variant', (t) => {
  const s = cnn1d({ inputShape: [1, 150], classes: 2 });
  const sh = inferShapes(s);
  t.deepEqual(sh.get('block3_relu'), [64, 150]);
  t.deepEqual(outShape(s), [2]);
  t.is(parameterCount(s), 64 * 7 + 128 + 64 * 128 * 5 + 256 + 128 * 64 * 3 + 128 + 64 * 2 + 2);
  const r = cnn1d({ inputShape: [3, 40], targets: 1, widths: [8, 8], kernelSize: 3 });
  t.deepEqual(outShape(r), [1]);
  t.throws(() => cnn1d({ inputShape: [1, 10], classes: 2, kernelSize: 4 }), { instanceOf: ConfigError });
});
