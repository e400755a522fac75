import test from 'ava';
import { Model } from '../../lib/runtime/model.js';
import { inferShapes } from '../../lib/graph/validate.js';
import { SPEC_FORMAT, type GraphNode, type ModelSpec } from '../../lib/graph/types.js';
import { cnn1d, gruSequenceClassifier, inceptionTime, mlp, resnetCifar, smallCnn } from '../../lib/graph/builders.js';
import { floatTensor, intTensor } from '../helpers/tiny.js';

function specOf(inputShape: number[], nodes: GraphNode[], outWidth: number): ModelSpec {
  return {
    format: SPEC_FORMAT,
    inputs: [{ name: 'x', shape: inputShape, dtype: 'float32' }],
    nodes,
    output: nodes[nodes.length - 1]!.name,
    task: { kind: 'classification', classes: outWidth },
  };
}

// Each op ends in a flatten + linear head so the spec is a valid classifier; the check is the op's own output shape.
const cases: { title: string; input: number[]; body: GraphNode[] }[] = [
  {
    title: 'conv1d',
    input: [3, 20],
    body: [
      {
        name: 'op',
        op: 'conv1d',
        inputs: ['x'],
        attrs: { inChannels: 3, outChannels: 5, kernelSize: 3, stride: 2, padding: 1 },
      },
    ],
  },
  {
    title: 'conv1d same',
    input: [3, 20],
    body: [
      {
        name: 'op',
        op: 'conv1d',
        inputs: ['x'],
        attrs: { inChannels: 3, outChannels: 4, kernelSize: 5, padding: 'same' },
      },
    ],
  },
  {
    title: 'conv2d',
    input: [3, 9, 9],
    body: [
      {
        name: 'op',
        op: 'conv2d',
        inputs: ['x'],
        attrs: { inChannels: 3, outChannels: 6, kernelSize: 3, stride: 2, padding: 1, groups: 3 },
      },
    ],
  },
  {
    title: 'batchnorm1d',
    input: [4, 10],
    body: [{ name: 'op', op: 'batchnorm1d', inputs: ['x'], attrs: { numFeatures: 4 } }],
  },
  {
    title: 'batchnorm2d',
    input: [4, 5, 5],
    body: [{ name: 'op', op: 'batchnorm2d', inputs: ['x'], attrs: { numFeatures: 4 } }],
  },
  {
    title: 'linear',
    input: [7],
    body: [{ name: 'op', op: 'linear', inputs: ['x'], attrs: { inFeatures: 7, outFeatures: 3 } }],
  },
  ...(['relu', 'gelu', 'sigmoid', 'tanh'] as const).map((op) => ({
    title: op,
    input: [6],
    body: [{ name: 'op', op, inputs: ['x'], attrs: {} }] as GraphNode[],
  })),
  {
    title: 'maxpool1d',
    input: [2, 12],
    body: [{ name: 'op', op: 'maxpool1d', inputs: ['x'], attrs: { kernelSize: 3 } }],
  },
  {
    title: 'avgpool1d',
    input: [2, 12],
    body: [{ name: 'op', op: 'avgpool1d', inputs: ['x'], attrs: { kernelSize: 2, stride: 1 } }],
  },
  {
    title: 'maxpool2d',
    input: [2, 8, 8],
    body: [{ name: 'op', op: 'maxpool2d', inputs: ['x'], attrs: { kernelSize: 2 } }],
  },
  {
    title: 'avgpool2d',
    input: [2, 8, 8],
    body: [{ name: 'op', op: 'avgpool2d', inputs: ['x'], attrs: { kernelSize: 3, stride: 1, padding: 1 } }],
  },
  {
    title: 'adaptiveavgpool1d',
    input: [2, 13],
    body: [{ name: 'op', op: 'adaptiveavgpool1d', inputs: ['x'], attrs: { outputSize: 4 } }],
  },
  {
    title: 'adaptivemaxpool1d',
    input: [2, 13],
    body: [{ name: 'op', op: 'adaptivemaxpool1d', inputs: ['x'], attrs: { outputSize: 1 } }],
  },
  {
    title: 'adaptiveavgpool2d',
    input: [2, 7, 7],
    body: [{ name: 'op', op: 'adaptiveavgpool2d', inputs: ['x'], attrs: { outputSize: [2, 3] } }],
  },
  {
    title: 'adaptivemaxpool2d',
    input: [2, 7, 7],
    body: [{ name: 'op', op: 'adaptivemaxpool2d', inputs: ['x'], attrs: { outputSize: 1 } }],
  },
  {
    title: 'add',
    input: [5],
    body: [
      { name: 'a', op: 'relu', inputs: ['x'], attrs: {} },
      { name: 'op', op: 'add', inputs: ['a', 'x'], attrs: {} },
    ],
  },
  {
    title: 'concat',
    input: [3, 4],
    body: [
      { name: 'a', op: 'tanh', inputs: ['x'], attrs: {} },
      { name: 'op', op: 'concat', inputs: ['a', 'x'], attrs: { dim: 1 } },
    ],
  },
  { title: 'flatten', input: [2, 3, 4], body: [{ name: 'op', op: 'flatten', inputs: ['x'], attrs: { startDim: 2 } }] },
  { title: 'dropout', input: [8], body: [{ name: 'op', op: 'dropout', inputs: ['x'], attrs: { p: 0.5 } }] },
  {
    title: 'layernorm',
    input: [3, 6],
    body: [{ name: 'op', op: 'layernorm', inputs: ['x'], attrs: { normalizedShape: [6] } }],
  },
  {
    title: 'gru last',
    input: [9, 4],
    body: [{ name: 'op', op: 'gru', inputs: ['x'], attrs: { inputSize: 4, hiddenSize: 6, numLayers: 2 } }],
  },
  {
    title: 'gru bidirectional sequence',
    input: [9, 4],
    body: [
      {
        name: 'op',
        op: 'gru',
        inputs: ['x'],
        attrs: { inputSize: 4, hiddenSize: 3, bidirectional: true, output: 'sequence' },
      },
    ],
  },
];

for (const c of cases) {
  test(`op ${c.title}: native forward matches the inferred shape`, async (t) => {
    // TS shape inference sizes the head; if native/ computed another shape for the op, the head's linear would fail.
    const probe = specOf(c.input, [...c.body, { name: 'head_flat', op: 'flatten', inputs: ['op'], attrs: {} }], 2);
    const flat = inferShapes({ ...probe, output: 'head_flat' } as ModelSpec).get('head_flat')!;
    const spec = specOf(
      c.input,
      [
        ...c.body,
        { name: 'head_flat', op: 'flatten', inputs: ['op'], attrs: {} },
        { name: 'head', op: 'linear', inputs: ['head_flat'], attrs: { inFeatures: flat[0]!, outFeatures: 2 } },
      ],
      2,
    );
    const expected = inferShapes(spec).get('op')!;
    using model = Model.build(spec, { seed: 3 });
    const out = await model.forward(floatTensor([4, ...c.input], 2));
    t.deepEqual(out.shape, [4, 2]);
    t.true(Array.from(out.data).every(Number.isFinite));
    t.true(expected.length > 0);
  });
}

test('embedding feeds from int64 inputs', async (t) => {
  const spec: ModelSpec = {
    format: SPEC_FORMAT,
    inputs: [{ name: 'codes', shape: [5], dtype: 'int64' }],
    nodes: [
      { name: 'emb', op: 'embedding', inputs: ['codes'], attrs: { numEmbeddings: 10, embeddingDim: 3 } },
      { name: 'flat', op: 'flatten', inputs: ['emb'], attrs: {} },
      { name: 'out', op: 'linear', inputs: ['flat'], attrs: { inFeatures: 15, outFeatures: 2 } },
    ],
    output: 'out',
    task: { kind: 'classification', classes: 2 },
  };
  using model = Model.build(spec);
  const out = await model.forward(intTensor([6, 5], 10));
  t.deepEqual(out.shape, [6, 2]);
});

const builders: { title: string; spec: () => ModelSpec; inputs: () => ReturnType<typeof floatTensor>[] }[] = [
  {
    title: 'mlp',
    spec: () => mlp({ inputShape: [1, 28, 28], hidden: [128], classes: 10 }),
    inputs: () => [floatTensor([3, 1, 28, 28])],
  },
  {
    title: 'smallCnn',
    spec: () => smallCnn({ inputShape: [1, 28, 28], classes: 10 }),
    inputs: () => [floatTensor([3, 1, 28, 28])],
  },
  { title: 'resnet8', spec: () => resnetCifar({ depth: 8, classes: 10 }), inputs: () => [floatTensor([2, 3, 32, 32])] },
  {
    title: 'resnet20 x0.5',
    spec: () => resnetCifar({ depth: 20, widthMultiplier: 0.5, classes: 10 }),
    inputs: () => [floatTensor([2, 3, 32, 32])],
  },
  {
    title: 'inceptionTime',
    spec: () => inceptionTime({ inputShape: [3, 64], classes: 4, depth: 3, filters: 8 }),
    inputs: () => [floatTensor([2, 3, 64])],
  },
  {
    title: 'inceptionTime regressor',
    spec: () => inceptionTime({ inputShape: [1, 50], targets: 1, depth: 3, filters: 8 }),
    inputs: () => [floatTensor([2, 1, 50])],
  },
  { title: 'cnn1d', spec: () => cnn1d({ inputShape: [1, 150], classes: 2 }), inputs: () => [floatTensor([2, 1, 150])] },
  {
    title: 'gruSequenceClassifier',
    spec: () =>
      gruSequenceClassifier({
        seqLen: 12,
        categorical: [
          { name: 'mcc', cardinality: 50, embeddingDim: 8 },
          { name: 'hour', cardinality: 24, embeddingDim: 4 },
        ],
        numericFeatures: 2,
        hiddenSize: 16,
        classes: 4,
      }),
    inputs: () => [intTensor([2, 12], 50), intTensor([2, 12], 24), floatTensor([2, 12, 2])],
  },
];

for (const b of builders) {
  test(`builder ${b.title}: native parameter count equals the spec's and forward runs`, async (t) => {
    const { parameterCount } = await import('../../lib/graph/validate.js');
    const spec = b.spec();
    using model = Model.build(spec, { seed: 1 });
    t.is(model.parameterCount, parameterCount(spec));
    const out = await model.forward(b.inputs());
    const width = spec.task.kind === 'classification' ? spec.task.classes : spec.task.targets;
    t.deepEqual(out.shape, [2 + (b.title === 'mlp' || b.title === 'smallCnn' ? 1 : 0), width]);
  });
}
