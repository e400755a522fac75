import test from 'ava';
import {
  buildDependencyGraph,
  memberIndices,
  tensorShapes,
  type ChannelGroup,
  type DependencyGraph,
} from '../../lib/compress/depgraph.js';
import { cnn1d, gruSequenceClassifier, inceptionTime, mlp, resnetCifar, smallCnn } from '../../lib/graph/builders.js';
import { SPEC_FORMAT, type GraphNode, type ModelSpec } from '../../lib/graph/types.js';

function group(g: DependencyGraph, name: string): ChannelGroup {
  const found = g.groups.find((x) => x.name === name);
  if (!found) throw new Error(`no group ${name}; have ${g.groups.map((x) => x.name).join(' | ')}`);
  return found;
}

/** member → "tensor dim role first+count@offset×block" for compact assertions */
const fmt = (gr: ChannelGroup): string[] =>
  gr.members.map((m) => `${m.tensor} ${m.dim} ${m.role} ${m.first}+${m.count}@${m.offset}x${m.block}`);

function spec(input: number[], nodes: GraphNode[], classes: number): ModelSpec {
  return {
    format: SPEC_FORMAT,
    inputs: [{ name: 'x', shape: input, dtype: 'float32' }],
    nodes,
    output: nodes[nodes.length - 1]!.name,
    task: { kind: 'classification', classes },
  };
}

/** Every member's indices stay inside its tensor, and each group channel has at least one producer slice. */
function checkConsistent(t: import('ava').ExecutionContext, s: ModelSpec, g: DependencyGraph): void {
  const shapes = tensorShapes(s);
  for (const gr of g.groups) {
    const produced = new Uint8Array(gr.size);
    for (const m of gr.members) {
      const shape = shapes.get(m.tensor);
      t.truthy(shape, `${m.tensor} is a known tensor`);
      t.true(m.first >= 0 && m.first + m.count <= gr.size, `${gr.name}: ${m.tensor} channels within the group`);
      t.true(m.offset + m.count * m.block <= shape![m.dim]!, `${gr.name}: ${m.tensor} indices within dim ${m.dim}`);
      if (m.role === 'out') produced.fill(1, m.first, m.first + m.count);
    }
    t.true(
      produced.every((p) => p === 1),
      `${gr.name}: every channel has a producer`,
    );
  }
}

test('MLP: one group per hidden layer (linear rows, BN, next layer columns); the head is the output', (t) => {
  const s = mlp({ inputShape: [4, 5], hidden: [16, 8], classes: 3, batchnorm: true });
  const g = buildDependencyGraph(s);
  t.deepEqual(
    g.groups.map((x) => [x.name, x.size]),
    [
      ['fc1', 16],
      ['fc2', 8],
    ],
  );
  t.deepEqual(fmt(group(g, 'fc1')), [
    'fc1.weight 0 out 0+16@0x1',
    'fc1_bn.weight 0 norm 0+16@0x1',
    'fc1_bn.bias 0 norm 0+16@0x1',
    'fc1_bn.running_mean 0 stat 0+16@0x1',
    'fc1_bn.running_var 0 stat 0+16@0x1',
    'fc2.weight 1 in 0+16@0x1',
  ]);
  t.deepEqual(g.nonPrunable, [{ node: 'head', reason: "its channels are the model output ('head')" }]);
  checkConsistent(t, s, g);
});

test('smallCnn: flatten → linear maps each conv channel to a block of H·W columns', (t) => {
  const s = smallCnn({ inputShape: [3, 16, 16], classes: 10, widths: [8, 12], hidden: 20 });
  const g = buildDependencyGraph(s);
  t.deepEqual(
    g.groups.map((x) => [x.name, x.size]),
    [
      ['block1_conv', 8],
      ['block2_conv', 12],
      ['fc1', 20],
    ],
  );
  const fc1In = group(g, 'block2_conv').members.find((m) => m.tensor === 'fc1.weight' && m.dim === 1)!;
  t.like(fc1In, { role: 'in', first: 0, count: 12, offset: 0, block: 16 }); // 4×4 map after two pools
  t.deepEqual(
    memberIndices(fc1In, 2),
    Array.from({ length: 16 }, (_, i) => 32 + i),
  );
  t.deepEqual(memberIndices(fc1In, 12), []);
  t.deepEqual(fmt(group(g, 'fc1')), [
    'fc1.weight 0 out 0+20@0x1',
    'fc1.bias 0 out 0+20@0x1',
    'head.weight 1 in 0+20@0x1',
  ]);
  checkConsistent(t, s, g);
});

test('ResNet-20: residual adds merge each stage into one group; inner block convs are their own groups', (t) => {
  const s = resnetCifar({ depth: 20, classes: 10 });
  const g = buildDependencyGraph(s);
  t.is(g.groups.length, 3 + 9);
  const stage1 = group(g, 'stem_conv+layer1_0_conv2+layer1_1_conv2+layer1_2_conv2');
  t.is(stage1.size, 16);
  // Everything that reads the stage-1 stream: three conv1s and, at the stage change, conv1 and the projection.
  t.deepEqual(
    stage1.members.filter((m) => m.role === 'in').map((m) => m.tensor),
    [
      'layer1_0_conv1.weight',
      'layer1_1_conv1.weight',
      'layer1_2_conv1.weight',
      'layer2_0_conv1.weight',
      'layer2_0_shortcut_conv.weight',
    ],
  );
  t.deepEqual(
    stage1.members.filter((m) => m.role === 'norm' && m.param === 'weight').map((m) => m.node),
    ['stem_bn', 'layer1_0_bn2', 'layer1_1_bn2', 'layer1_2_bn2'],
  );
  const stage2 = group(g, 'layer2_0_conv2+layer2_0_shortcut_conv+layer2_1_conv2+layer2_2_conv2');
  t.is(stage2.size, 32);
  t.true(stage2.members.some((m) => m.tensor === 'layer2_0_shortcut_bn.weight'));
  const stage3 = group(g, 'layer3_0_conv2+layer3_0_shortcut_conv+layer3_1_conv2+layer3_2_conv2');
  t.true(stage3.members.some((m) => m.tensor === 'fc.weight' && m.dim === 1 && m.count === 64));
  t.is(group(g, 'layer2_1_conv1').size, 32);
  t.deepEqual(
    g.nonPrunable.map((n) => n.node),
    ['fc'],
  );
  checkConsistent(t, s, g);
});

test('InceptionTime: concat places each branch at its offset; the residual add merges a module with its shortcut', (t) => {
  const s = inceptionTime({
    inputShape: [3, 32],
    depth: 3,
    filters: 4,
    kernelSizes: [9, 5, 3],
    bottleneck: 6,
    targets: 1,
  });
  const g = buildDependencyGraph(s);
  // Module 0: four independent branch groups, laid side by side in the BN and in module 1's readers.
  const branches = ['inception0_conv_k9', 'inception0_conv_k5', 'inception0_conv_k3', 'inception0_pool_conv'];
  branches.forEach((b, i) => {
    const gr = group(g, b);
    t.is(gr.size, 4);
    t.like(
      gr.members.find((m) => m.tensor === 'inception0_bn.weight'),
      { first: 0, count: 4, offset: 4 * i, block: 1 },
    );
    t.like(
      gr.members.find((m) => m.tensor === 'inception1_bottleneck.weight'),
      { dim: 1, first: 0, count: 4, offset: 4 * i },
    );
    t.like(
      gr.members.find((m) => m.tensor === 'inception1_pool_conv.weight'),
      { dim: 1, first: 0, count: 4, offset: 4 * i },
    );
  });
  t.is(group(g, 'inception0_bottleneck').size, 6);
  // Module 2 + residual0: one group of 16 channels; branch k of module 2 covers group channels 4k..4k+3.
  const res = group(g, 'inception2_conv_k9+inception2_conv_k5+inception2_conv_k3+inception2_pool_conv+residual0_conv');
  t.is(res.size, 16);
  t.like(
    res.members.find((m) => m.tensor === 'inception2_conv_k5.weight'),
    { dim: 0, first: 4, count: 4, offset: 0 },
  );
  t.like(
    res.members.find((m) => m.tensor === 'inception2_pool_conv.weight'),
    { dim: 0, first: 12, count: 4, offset: 0 },
  );
  t.like(
    res.members.find((m) => m.tensor === 'residual0_conv.weight' && m.dim === 0),
    { first: 0, count: 16, offset: 0 },
  );
  t.like(
    res.members.find((m) => m.tensor === 'head.weight'),
    { dim: 1, first: 0, count: 16, offset: 0 },
  );
  // The input series feeds the residual conv: its columns are not a channel group.
  t.false(g.groups.some((gr) => gr.members.some((m) => m.tensor === 'residual0_conv.weight' && m.dim === 1)));
  checkConsistent(t, s, g);
});

test('InceptionTime default depth 6: two residual groups, and the second reads the first through its shortcut', (t) => {
  const s = inceptionTime({ inputShape: [1, 64], classes: 4 });
  const g = buildDependencyGraph(s);
  const r0 = g.groups.find((x) => x.sources.includes('residual0_conv'))!;
  const r1 = g.groups.find((x) => x.sources.includes('residual1_conv'))!;
  t.is(r0.size, 128);
  t.is(r1.size, 128);
  t.true(r0.members.some((m) => m.tensor === 'residual1_conv.weight' && m.dim === 1 && m.count === 128));
  t.true(r0.members.some((m) => m.tensor === 'inception3_bottleneck.weight' && m.dim === 1));
  // Module 0 reads a 1-channel input directly (no bottleneck): its branches read the input, which is fixed.
  t.false(g.groups.some((gr) => gr.sources.includes('inception0_bottleneck')));
  checkConsistent(t, s, g);
});

test('GRU classifier: embeddings are pruned through the concat into the GRU input weights; the GRU is not', (t) => {
  const s = gruSequenceClassifier({
    seqLen: 7,
    categorical: [
      { name: 'mcc', cardinality: 20, embeddingDim: 6 },
      { name: 'city', cardinality: 9, embeddingDim: 3 },
    ],
    numericFeatures: 2,
    hiddenSize: 8,
    bidirectional: true,
    headHidden: 5,
    classes: 3,
  });
  const g = buildDependencyGraph(s);
  t.deepEqual(
    g.groups.map((x) => [x.name, x.size]),
    [
      ['mcc_embedding', 6],
      ['city_embedding', 3],
      ['fc1', 5],
    ],
  );
  t.deepEqual(fmt(group(g, 'city_embedding')), [
    'city_embedding.weight 1 out 0+3@0x1',
    'gru.weight_ih_l0 1 in 0+3@6x1',
    'gru.weight_ih_l0_reverse 1 in 0+3@6x1',
  ]);
  t.deepEqual(
    g.nonPrunable.map((n) => n.node),
    ['gru', 'head'],
  );
  t.regex(g.nonPrunable[0]!.reason, /GRU 'gru' hidden size/);
  checkConsistent(t, s, g);
});

test('cnn1d: one group per conv block, global pool → flatten → head columns', (t) => {
  const s = cnn1d({ inputShape: [2, 30], widths: [8, 16, 8], classes: 2 });
  const g = buildDependencyGraph(s);
  t.deepEqual(
    g.groups.map((x) => [x.name, x.size]),
    [
      ['block1_conv', 8],
      ['block2_conv', 16],
      ['block3_conv', 8],
    ],
  );
  t.like(
    group(g, 'block3_conv').members.find((m) => m.tensor === 'head.weight'),
    { dim: 1, count: 8, block: 1 },
  );
  checkConsistent(t, s, g);
});

test('depthwise convs couple in and out; other grouped convs and adds with an input are not prunable', (t) => {
  const s = spec(
    [4, 10],
    [
      { name: 'a', op: 'conv1d', inputs: ['x'], attrs: { inChannels: 4, outChannels: 8, kernelSize: 3, padding: 1 } },
      {
        name: 'dw',
        op: 'conv1d',
        inputs: ['a'],
        attrs: { inChannels: 8, outChannels: 8, kernelSize: 3, padding: 1, groups: 8 },
      },
      { name: 'b', op: 'conv1d', inputs: ['dw'], attrs: { inChannels: 8, outChannels: 6, kernelSize: 1 } },
      { name: 'grp', op: 'conv1d', inputs: ['b'], attrs: { inChannels: 6, outChannels: 6, kernelSize: 1, groups: 2 } },
      { name: 'c', op: 'conv1d', inputs: ['grp'], attrs: { inChannels: 6, outChannels: 4, kernelSize: 1 } },
      { name: 'res', op: 'add', inputs: ['c', 'x'], attrs: {} },
      { name: 'gap', op: 'adaptiveavgpool1d', inputs: ['res'], attrs: { outputSize: 1 } },
      { name: 'flat', op: 'flatten', inputs: ['gap'], attrs: {} },
      { name: 'head', op: 'linear', inputs: ['flat'], attrs: { inFeatures: 4, outFeatures: 2 } },
    ],
    2,
  );
  const g = buildDependencyGraph(s);
  t.deepEqual(
    g.groups.map((x) => x.name),
    ['a'],
  );
  t.deepEqual(fmt(group(g, 'a')), [
    'a.weight 0 out 0+8@0x1',
    'a.bias 0 out 0+8@0x1',
    'dw.weight 0 out 0+8@0x1',
    'dw.bias 0 out 0+8@0x1',
    'b.weight 1 in 0+8@0x1',
  ]);
  const reasons = Object.fromEntries(g.nonPrunable.map((n) => [n.node, n.reason]));
  t.regex(reasons.b!, /grouped conv 'grp'/);
  t.regex(reasons.grp!, /grouped conv 'grp'/);
  t.regex(reasons.c!, /adds it to a non-prunable value/);
  t.regex(reasons.head!, /model output/);
});

test('lowrank layers: U rows produce, Vh columns consume (k per channel for convs); layernorm over one dim follows', (t) => {
  const s = spec(
    [3, 12],
    [
      {
        name: 'c1',
        op: 'lowrank_conv1d',
        inputs: ['x'],
        attrs: { inChannels: 3, outChannels: 6, kernelSize: 3, padding: 1, rank: 2 },
      },
      {
        name: 'c2',
        op: 'lowrank_conv1d',
        inputs: ['c1'],
        attrs: { inChannels: 6, outChannels: 5, kernelSize: 3, padding: 1, rank: 2, bias: false },
      },
      { name: 'ln', op: 'layernorm', inputs: ['c2'], attrs: { normalizedShape: [12] } },
      { name: 'flat', op: 'flatten', inputs: ['ln'], attrs: {} },
      { name: 'fc', op: 'lowrank_linear', inputs: ['flat'], attrs: { inFeatures: 60, outFeatures: 7, rank: 3 } },
      { name: 'ln2', op: 'layernorm', inputs: ['fc'], attrs: { normalizedShape: [7] } },
      { name: 'head', op: 'linear', inputs: ['ln2'], attrs: { inFeatures: 7, outFeatures: 2 } },
    ],
    2,
  );
  const g = buildDependencyGraph(s);
  t.deepEqual(fmt(group(g, 'c1')), ['c1.U 0 out 0+6@0x1', 'c1.bias 0 out 0+6@0x1', 'c2.Vh 1 in 0+6@0x3']);
  t.deepEqual(fmt(group(g, 'c2')), ['c2.U 0 out 0+5@0x1', 'fc.Vh 1 in 0+5@0x12']);
  t.deepEqual(fmt(group(g, 'fc')), [
    'fc.U 0 out 0+7@0x1',
    'fc.bias 0 out 0+7@0x1',
    'ln2.weight 0 norm 0+7@0x1',
    'ln2.bias 0 norm 0+7@0x1',
    'head.weight 1 in 0+7@0x1',
  ]);
  checkConsistent(t, s, g);
});

test('a linear on [T, F] keeps time untracked; flatten of [T, F] interleaves channels (stride F)', (t) => {
  const s = spec(
    [4, 3],
    [
      { name: 'fc', op: 'linear', inputs: ['x'], attrs: { inFeatures: 3, outFeatures: 5 } },
      { name: 'act', op: 'gelu', inputs: ['fc'], attrs: {} },
      { name: 'flat', op: 'flatten', inputs: ['act'], attrs: {} },
      { name: 'head', op: 'linear', inputs: ['flat'], attrs: { inFeatures: 20, outFeatures: 2 } },
    ],
    2,
  );
  const g = buildDependencyGraph(s);
  const gr = group(g, 'fc');
  const head = gr.members.filter((m) => m.tensor === 'head.weight');
  t.deepEqual(
    head.map((m) => [m.first, m.count, m.offset, m.block]),
    [
      [0, 5, 0, 1],
      [0, 5, 5, 1],
      [0, 5, 10, 1],
      [0, 5, 15, 1],
    ],
  );
  checkConsistent(t, s, g);
});

test('concat along the channel dim feeding an add couples a wide producer to the concat pieces', (t) => {
  const s = spec(
    [2, 8],
    [
      { name: 'p', op: 'conv1d', inputs: ['x'], attrs: { inChannels: 2, outChannels: 3, kernelSize: 1 } },
      { name: 'q', op: 'conv1d', inputs: ['x'], attrs: { inChannels: 2, outChannels: 5, kernelSize: 1 } },
      { name: 'cat', op: 'concat', inputs: ['p', 'q'], attrs: { dim: 1 } },
      { name: 'w', op: 'conv1d', inputs: ['x'], attrs: { inChannels: 2, outChannels: 8, kernelSize: 1 } },
      { name: 'sum', op: 'add', inputs: ['cat', 'w'], attrs: {} },
      { name: 'gap', op: 'adaptivemaxpool1d', inputs: ['sum'], attrs: { outputSize: 1 } },
      { name: 'flat', op: 'flatten', inputs: ['gap'], attrs: {} },
      { name: 'head', op: 'linear', inputs: ['flat'], attrs: { inFeatures: 8, outFeatures: 2 } },
    ],
    2,
  );
  const g = buildDependencyGraph(s);
  t.is(g.groups.length, 1);
  const gr = g.groups[0]!;
  t.is(gr.name, 'p+q+w');
  t.is(gr.size, 8);
  t.like(
    gr.members.find((m) => m.tensor === 'q.weight'),
    { first: 3, count: 5, offset: 0 },
  );
  t.like(
    gr.members.find((m) => m.tensor === 'w.weight'),
    { first: 0, count: 8, offset: 0 },
  );
});

test('quantized layers are pruning barriers (prune before quantizing)', (t) => {
  const s = spec(
    [6],
    [
      { name: 'fc1', op: 'linear', inputs: ['x'], attrs: { inFeatures: 6, outFeatures: 8 } },
      { name: 'q', op: 'qlinear', inputs: ['fc1'], attrs: { inFeatures: 8, outFeatures: 5, dynamic: true } },
      { name: 'fc2', op: 'linear', inputs: ['q'], attrs: { inFeatures: 5, outFeatures: 4 } },
      { name: 'head', op: 'linear', inputs: ['fc2'], attrs: { inFeatures: 4, outFeatures: 2 } },
    ],
    2,
  );
  const g = buildDependencyGraph(s);
  t.deepEqual(
    g.groups.map((x) => x.name),
    ['fc2'],
  );
  t.deepEqual(
    g.nonPrunable.map((n) => [n.node, n.reason]),
    [
      ['fc1', "quantized layer 'q' is not pruned"],
      ['q', "quantized layer 'q' is not pruned"],
      ['head', "its channels are the model output ('head')"],
    ],
  );
});
