// Pure-TS parts of pruning and low-rank: selection, rounding, scores on given tensors, the pruned spec, rank rules.
import test from 'ava';
import { buildDependencyGraph, tensorShapes } from '../../lib/compress/depgraph.js';
import {
  channelScores,
  keptCount,
  prunedSpec,
  selectChannels,
  snapKept,
  type PrunePlan,
} from '../../lib/compress/prune.js';
import { selectRank } from '../../lib/compress/lowrank.js';
import { formatReport, parameterReduction, type PruneReport } from '../../lib/compress/report.js';
import type { TensorData } from '../../lib/data/types.js';
import { ConfigError } from '../../lib/core/errors.js';
import { cnn1d, gruSequenceClassifier, inceptionTime, mlp, resnetCifar, smallCnn } from '../../lib/graph/builders.js';
import type { ModelSpec } from '../../lib/graph/types.js';
import { parameterCount } from '../../lib/graph/validate.js';

const half = (spec: ModelSpec): PrunePlan => {
  const g = buildDependencyGraph(spec);
  return {
    remove: Object.fromEntries(
      g.groups.map((gr) => [gr.name, Array.from({ length: Math.floor(gr.size / 2) }, (_, i) => 2 * i + 1)]),
    ),
  };
};

test('snapKept / keptCount: multiples of roundTo or the whole group, never 0', (t) => {
  t.is(keptCount(16, 0.5), 8);
  t.is(keptCount(10, 0.3), 7);
  t.is(keptCount(3, 0.9), 1);
  t.is(keptCount(64, 0.5, 8), 32);
  t.is(keptCount(20, 0.5, 8), 8); // 10 → nearest of {8, 16, 20}
  t.is(keptCount(20, 0.3, 8), 16); // 14 → 16
  t.is(keptCount(6, 0.5, 8), 6); // smaller than roundTo: keep the group whole
  t.is(snapKept(0, 40, 16), 16);
  t.is(snapKept(12, 40, 8), 16); // tie 8 / 16 → larger
  t.is(snapKept(0, 5, 1), 1);
});

test('layerwise selection drops the lowest scores of each group; global compares mean-normalized scores', (t) => {
  const s = mlp({ inputShape: [4], hidden: [4, 6], classes: 2 });
  const g = buildDependencyGraph(s);
  const scores = [Float64Array.from([4, 1, 3, 2]), Float64Array.from([10, 60, 20, 50, 30, 40])];
  t.deepEqual(selectChannels(g, scores, { ratio: 0.5 }).remove, { fc1: [1, 3], fc2: [0, 2, 4] });
  // Normalized: fc1 [1.6, .4, 1.2, .8], fc2 [2/7, 12/7, 4/7, 10/7, 6/7, 8/7]; lowest 5 of 10: .29 .4 .57 .8 .86
  t.deepEqual(selectChannels(g, scores, { ratio: 0.5, scope: 'global' }).remove, { fc1: [1, 3], fc2: [0, 2, 4] });
  t.deepEqual(selectChannels(g, scores, { ratio: 0.3, scope: 'global' }).remove, { fc1: [1], fc2: [0, 2] });
  // Global never empties a group even when all its channels score lowest.
  const skewed = [Float64Array.from([1, 1, 1, 1]), Float64Array.from([1, 100, 100, 100, 100, 100])];
  const plan = selectChannels(g, skewed, { ratio: 0.9, scope: 'global' });
  t.true(plan.remove.fc1!.length <= 3);
  t.true(plan.remove.fc2!.length <= 5);
  // roundTo applies to global too.
  const big = buildDependencyGraph(mlp({ inputShape: [4], hidden: [32, 32], classes: 2 }));
  const r = selectChannels(
    big,
    [Float64Array.from({ length: 32 }, (_, i) => i), Float64Array.from({ length: 32 }, (_, i) => 100 + i)],
    { ratio: 0.4, scope: 'global', roundTo: 8 },
  );
  for (const list of Object.values(r.remove)) t.is((32 - list.length) % 8, 0);
});

const tensor = (shape: number[], values: number[]): TensorData => ({ data: Float32Array.from(values), shape });

test('channel scores: l1/l2 over producer rows, consumer columns and BN γ, reduced across tensors', (t) => {
  const s = mlp({ inputShape: [2], hidden: [3], classes: 2, batchnorm: true });
  const g = buildDependencyGraph(s);
  const tensors = {
    'fc1.weight': tensor([3, 2], [1, -1, 0, 2, 3, 0]), // rows: l1 2, 2, 3
    'fc1_bn.weight': tensor([3], [1, -4, 0.5]),
    'fc1_bn.bias': tensor([3], [100, 100, 100]), // β does not count for magnitude
    'head.weight': tensor([2, 3], [1, 0, 0, -1, 0, 2]), // columns: l1 2, 0, 2
  };
  const l1 = channelScores(s, g, tensors, 'l1', { reduce: 'sum' })[0]!;
  t.deepEqual(Array.from(l1), [2 + 1 + 2, 2 + 4 + 0, 3 + 0.5 + 2]);
  const mean = channelScores(s, g, tensors, 'l1')[0]!;
  t.deepEqual(Array.from(mean), [5 / 3, 6 / 3, 5.5 / 3]);
  const max = channelScores(s, g, tensors, 'l2', { reduce: 'max' })[0]!;
  t.deepEqual(
    Array.from(max).map((x) => +x.toFixed(6)),
    [+Math.SQRT2.toFixed(6), 4, 3],
  );
  const bn = channelScores(s, g, tensors, 'bn_scale')[0]!;
  t.deepEqual(Array.from(bn), [1, 4, 0.5]);
  const a = channelScores(s, g, {}, 'random', { seed: 3 })[0]!;
  const b = channelScores(s, g, {}, 'random', { seed: 3 })[0]!;
  t.deepEqual(Array.from(a), Array.from(b));
  t.notDeepEqual(Array.from(a), Array.from(channelScores(s, g, {}, 'random', { seed: 4 })[0]!));
});

test('bn_scale falls back to l1 for groups without batch norm; taylor sums the given scores', (t) => {
  const s = mlp({ inputShape: [2], hidden: [2], classes: 2 });
  const g = buildDependencyGraph(s);
  const tensors = {
    'fc1.weight': tensor([2, 2], [1, 1, 0, 3]),
    'fc1.bias': tensor([2], [0, -1]),
    'head.weight': tensor([2, 2], [1, 0, 1, 0]),
  };
  t.deepEqual(Array.from(channelScores(s, g, tensors, 'bn_scale', { reduce: 'sum' })[0]!), [2 + 0 + 2, 3 + 1 + 0]);
  t.deepEqual(Array.from(channelScores(s, g, tensors, 'taylor', { reduce: 'sum' })[0]!), [2 + 0 + 2, 3 - 1 + 0]);
});

// Every builder: halving every group gives a valid spec whose tensors are exactly the sliced ones.
const builders: [string, ModelSpec][] = [
  ['mlp', mlp({ inputShape: [3, 4], hidden: [16, 8], classes: 3, batchnorm: true })],
  ['smallCnn', smallCnn({ inputShape: [3, 16, 16], classes: 10 })],
  ['resnet20', resnetCifar({ depth: 20, classes: 10 })],
  ['inceptionTime', inceptionTime({ inputShape: [3, 40], classes: 5 })],
  [
    'gru',
    gruSequenceClassifier({
      seqLen: 6,
      categorical: [{ name: 'mcc', cardinality: 20, embeddingDim: 8 }],
      numericFeatures: 3,
      hiddenSize: 8,
      bidirectional: true,
      headHidden: 6,
      classes: 3,
    }),
  ],
  ['cnn1d', cnn1d({ inputShape: [2, 30], targets: 1 })],
];

for (const [name, spec] of builders) {
  test(`prunedSpec on ${name}: valid spec, smaller, slices match the new tensor shapes`, (t) => {
    const g = buildDependencyGraph(spec);
    const plan = half(spec);
    const { spec: next, slices, touched } = prunedSpec(spec, g, plan);
    t.true(parameterCount(next) < parameterCount(spec));
    const oldShapes = tensorShapes(spec);
    const newShapes = tensorShapes(next);
    for (const [tensorName, shape] of newShapes) {
      const sl = slices[tensorName];
      const expected = [...oldShapes.get(tensorName)!];
      for (const { dim, index } of sl ?? []) {
        expected[dim] = index.length;
        t.true(
          index.every((v, i) => i === 0 || v > index[i - 1]!),
          'indices ascending',
        );
      }
      t.deepEqual(shape, expected, tensorName);
    }
    // Every group ends with size − ⌊size/2⌋ channels.
    const after = new Map(buildDependencyGraph(next).groups.map((x) => [x.name, x.size]));
    for (const gr of g.groups) t.is(after.get(gr.name), gr.size - Math.floor(gr.size / 2), gr.name);
    t.true(touched.length > 0);
    t.deepEqual(next.task, spec.task);
  });
}

test('ResNet-20 at ratio 0.5: every conv width halves (stage groups included), the head keeps its outputs', (t) => {
  const spec = resnetCifar({ depth: 20, classes: 10 });
  const { spec: next } = prunedSpec(spec, buildDependencyGraph(spec), half(spec));
  for (const n of next.nodes) {
    if (n.op !== 'conv2d') continue;
    const old = spec.nodes.find((m) => m.name === n.name)!;
    if (old.op !== 'conv2d') continue;
    t.is(n.attrs.outChannels, old.attrs.outChannels / 2, n.name);
    if (n.name !== 'stem_conv') t.is(n.attrs.inChannels, old.attrs.inChannels / 2, n.name);
  }
  const fc = next.nodes.find((n) => n.name === 'fc')!;
  t.deepEqual(fc.attrs, { inFeatures: 32, outFeatures: 10 });
  // Roughly a quarter of the conv parameters are left.
  t.true(parameterCount(next) < 0.3 * parameterCount(spec));
});

test('prunedSpec rejects unknown groups, out-of-range channels and emptying a group', (t) => {
  const spec = mlp({ inputShape: [4], hidden: [3], classes: 2 });
  const g = buildDependencyGraph(spec);
  t.throws(() => prunedSpec(spec, g, { remove: { nope: [0] } }), {
    instanceOf: ConfigError,
    message: /no prunable channel group 'nope'/,
  });
  t.throws(() => prunedSpec(spec, g, { remove: { fc1: [3] } }), { instanceOf: ConfigError, message: /outside 0\.\.2/ });
  t.throws(() => prunedSpec(spec, g, { remove: { fc1: [0, 1, 2] } }), {
    instanceOf: ConfigError,
    message: /all 3 channels/,
  });
});

test('selectRank: explained variance on S², energy on |S|, fixed ratio, absolute rank, roundTo', (t) => {
  const s = [4, 2, 1, 1]; // S² = 16, 4, 1, 1 (total 22); |S| total 8
  t.is(selectRank(s, 'explained_variance', 0.7), 1); // 16/22 = .727
  t.is(selectRank(s, 'explained_variance', 0.9), 2); // 20/22 = .909
  t.is(selectRank(s, 'explained_variance', 1), 4);
  t.is(selectRank(s, 'energy', 0.5), 1); // 4/8
  t.is(selectRank(s, 'energy', 0.7), 2); // 6/8 = .75
  t.is(selectRank(s, 'energy', 0.9), 4); // 7/8 = .875 < .9
  t.is(selectRank(s, 'fixed_ratio', 0.5), 2);
  t.is(selectRank(s, 'fixed_ratio', 0.3), 2); // ⌈1.2⌉
  t.is(selectRank(s, 'rank', 3), 3);
  t.is(selectRank(s, 'rank', 9), 4);
  t.is(selectRank(s, 'explained_variance', 0.7, 4), 4);
  t.is(
    selectRank(
      Array.from({ length: 10 }, (_, i) => 10 - i),
      'rank',
      5,
      4,
    ),
    8,
  );
  t.is(
    selectRank(
      Array.from({ length: 10 }, (_, i) => 10 - i),
      'rank',
      9,
      4,
    ),
    10,
  ); // capped at full rank
  t.is(selectRank([-1, 3, -0.5], 'rank', 1), 1); // order and sign do not matter
  t.is(selectRank([0, 0, 0], 'explained_variance', 0.9), 1);
});

test('reports format and compute the reduction', (t) => {
  const r: PruneReport = {
    operator: 'prune',
    criterion: 'l1',
    ratio: 0.5,
    scope: 'layerwise',
    steps: 1,
    groups: [{ name: 'fc1', before: 8, after: 4 }],
    nonPrunable: [{ node: 'head', reason: 'model output' }],
    parametersBefore: 200,
    parametersAfter: 50,
    layersTouched: ['fc1', 'head'],
  };
  t.is(parameterReduction(r), 0.75);
  t.regex(
    formatReport(r),
    /prune l1 ratio 0\.5 \(layerwise, 1 step\): parameters 200 → 50 \(−75\.0%\)\n {2}fc1: 8 → 4 channels\n {2}head: not pruned/,
  );
  t.regex(
    formatReport({
      operator: 'lowrank',
      mode: 'decompose',
      rule: 'energy',
      threshold: 0.9,
      parametersBefore: 10,
      parametersAfter: 8,
      layers: [
        { name: 'fc', fullRank: 4, rankBefore: 4, rank: 2, paramsBefore: 10, paramsAfter: 8 },
        { name: 'head', fullRank: 2, rankBefore: 2, rank: 2, paramsBefore: 6, paramsAfter: 6, skipped: 'no gain' },
      ],
    }),
    /fc: rank 4 → 2 of 4, params 10 → 8\n {2}head: skipped \(no gain\)/,
  );
});

test('selection never removes every channel a producer owns inside a merged group', (t) => {
  const spec = inceptionTime({
    inputShape: [2, 32],
    depth: 3,
    filters: 4,
    kernelSizes: [9, 5, 3],
    bottleneck: 8,
    targets: 2,
  });
  const g = buildDependencyGraph(spec);
  // Scores that single out one branch: every channel of inception2_conv_k9 (group channels 0..3) scores lowest.
  const scores = g.groups.map((gr) =>
    Float64Array.from({ length: gr.size }, (_, c) => (gr.sources.length > 1 && c < 4 ? 0 : 1 + c)),
  );
  const plan = selectChannels(g, scores, { ratio: 0.5 });
  const merged = g.groups.find((gr) => gr.sources.length > 1)!;
  const removed = plan.remove[merged.name]!;
  t.is(removed.length, 8);
  t.deepEqual(
    removed.filter((c) => c < 4),
    [0, 1, 2],
  ); // one k9 channel survives
  const { spec: next } = prunedSpec(spec, g, plan);
  t.like(next.nodes.find((n) => n.name === 'inception2_conv_k9')!.attrs, { outChannels: 1 });
});
