import test from 'ava';
import { ConfigError } from '../../lib/core/errors.js';
import { inferShapes, nodeParameterCount, parameterCount, validateSpec } from '../../lib/graph/validate.js';
import { SPEC_FORMAT, type GraphNode, type ModelSpec } from '../../lib/graph/types.js';

function spec(input: number[], nodes: GraphNode[], classes = 3): ModelSpec {
  return {
    format: SPEC_FORMAT,
    inputs: [{ name: 'x', shape: input, dtype: 'float32' }],
    nodes,
    output: nodes[nodes.length - 1]!.name,
    task: { kind: 'classification', classes },
  };
}

const lrLinear = (): ModelSpec =>
  spec(
    [10],
    [
      { name: 'fc', op: 'lowrank_linear', inputs: ['x'], attrs: { inFeatures: 10, outFeatures: 6, rank: 4 } },
      {
        name: 'head',
        op: 'lowrank_linear',
        inputs: ['fc'],
        attrs: { inFeatures: 6, outFeatures: 3, rank: 2, bias: false },
      },
    ],
  );

const lrConv2d = (): ModelSpec =>
  spec(
    [3, 8, 8],
    [
      {
        name: 'conv',
        op: 'lowrank_conv2d',
        inputs: ['x'],
        attrs: { inChannels: 3, outChannels: 8, kernelSize: 3, stride: 2, padding: 1, rank: 5 },
      },
      { name: 'flat', op: 'flatten', inputs: ['conv'], attrs: {} },
      { name: 'head', op: 'linear', inputs: ['flat'], attrs: { inFeatures: 8 * 4 * 4, outFeatures: 3 } },
    ],
  );

const lrConv1d = (): ModelSpec =>
  spec(
    [4, 20],
    [
      {
        name: 'conv',
        op: 'lowrank_conv1d',
        inputs: ['x'],
        attrs: { inChannels: 4, outChannels: 6, kernelSize: 5, padding: 'same', rank: 3, bias: false },
      },
      { name: 'flat', op: 'flatten', inputs: ['conv'], attrs: {} },
      { name: 'head', op: 'linear', inputs: ['flat'], attrs: { inFeatures: 6 * 20, outFeatures: 3 } },
    ],
  );

test('lowrank_linear: shapes like linear, parameters U + S + Vh + bias', (t) => {
  const s = validateSpec(lrLinear());
  t.deepEqual(inferShapes(s).get('fc'), [6]);
  t.is(nodeParameterCount(s.nodes[0]!), 6 * 4 + 4 + 4 * 10 + 6);
  t.is(nodeParameterCount(s.nodes[1]!), 3 * 2 + 2 + 2 * 6);
  t.is(parameterCount(s), 74 + 20);
});

test('lowrank_conv2d: shapes like conv2d, Vh spans in·k·k', (t) => {
  const s = validateSpec(lrConv2d());
  t.deepEqual(inferShapes(s).get('conv'), [8, 4, 4]);
  t.is(nodeParameterCount(s.nodes[0]!), 8 * 5 + 5 + 5 * 3 * 9 + 8);
});

test('lowrank_conv1d: same padding keeps the length', (t) => {
  const s = validateSpec(lrConv1d());
  t.deepEqual(inferShapes(s).get('conv'), [6, 20]);
  t.is(nodeParameterCount(s.nodes[0]!), 6 * 3 + 3 + 3 * 4 * 5);
});

function fails(
  t: import('ava').ExecutionContext,
  s: ModelSpec,
  edit: (n: Record<string, unknown>) => void,
  path: string,
  msg?: RegExp,
): void {
  const copy = structuredClone(s);
  edit(copy.nodes[0]!.attrs as unknown as Record<string, unknown>);
  const err = t.throws(() => validateSpec(copy), { instanceOf: ConfigError });
  t.is(err?.path, path, err?.message);
  if (msg) t.regex(err!.message, msg);
}

test('lowrank attrs are checked', (t) => {
  fails(
    t,
    lrLinear(),
    (a) => {
      delete a.rank;
    },
    'nodes[0].attrs.rank',
    /missing required/,
  );
  fails(
    t,
    lrLinear(),
    (a) => {
      a.rank = 0;
    },
    'nodes[0].attrs.rank',
    /positive integer/,
  );
  fails(
    t,
    lrLinear(),
    (a) => {
      a.inFeatures = 9;
    },
    'nodes[0].attrs.inFeatures',
    /lowrank_linear/,
  );
  fails(
    t,
    lrConv2d(),
    (a) => {
      a.groups = 3;
    },
    'nodes[0].attrs.groups',
    /groups 1/,
  );
  fails(
    t,
    lrConv2d(),
    (a) => {
      a.inChannels = 2;
    },
    'nodes[0].attrs.inChannels',
  );
  fails(
    t,
    lrConv1d(),
    (a) => {
      a.kernelSize = [3, 3];
    },
    'nodes[0].attrs.kernelSize',
  );
  fails(
    t,
    lrConv1d(),
    (a) => {
      a.stride = 2;
    },
    'nodes[0].attrs.padding',
    /same/,
  );
  // groups: 1 is accepted explicitly
  const ok = structuredClone(lrConv2d());
  (ok.nodes[0]!.attrs as { groups?: number }).groups = 1;
  t.notThrows(() => validateSpec(ok));
});

test('a rank above min(out, in·kernel) is allowed (pruning a factorized layer can shrink out or in below its rank)', (t) => {
  const s = structuredClone(lrLinear());
  (s.nodes[0]!.attrs as { rank: number }).rank = 9;
  t.notThrows(() => validateSpec(s));
});
