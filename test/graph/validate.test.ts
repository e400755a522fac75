import test from 'ava';
import { ConfigError } from '../../lib/core/errors.js';
import { inferShapes, parameterCount, topologicalOrder, validateSpec } from '../../lib/graph/validate.js';
import type { ModelSpec } from '../../lib/graph/types.js';

/** input x [1, 8, 8] → conv(1→4, k3, pad1) → bn → relu → pool → flatten → linear(64→3) */
function base(): ModelSpec {
  return {
    format: 'petra.graph/1',
    inputs: [{ name: 'x', shape: [1, 8, 8], dtype: 'float32' }],
    nodes: [
      {
        name: 'conv',
        op: 'conv2d',
        inputs: ['x'],
        attrs: { inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1 },
      },
      { name: 'bn', op: 'batchnorm2d', inputs: ['conv'], attrs: { numFeatures: 4 } },
      { name: 'relu', op: 'relu', inputs: ['bn'], attrs: {} },
      { name: 'pool', op: 'maxpool2d', inputs: ['relu'], attrs: { kernelSize: 2 } },
      { name: 'flat', op: 'flatten', inputs: ['pool'], attrs: { startDim: 1 } },
      { name: 'fc', op: 'linear', inputs: ['flat'], attrs: { inFeatures: 64, outFeatures: 3 } },
    ],
    output: 'fc',
    task: { kind: 'classification', classes: 3 },
  };
}

/** Deep-copies base(), applies `edit` to a loosely typed copy, and returns the ConfigError thrown by validateSpec. */
function fails(t: import('ava').ExecutionContext, edit: (s: any) => void, path: string, msg?: RegExp): ConfigError {
  const s: any = structuredClone(base());
  edit(s);
  const err = t.throws(() => validateSpec(s), { instanceOf: ConfigError });
  t.is(err?.path, path, err?.message);
  if (msg) t.regex(err!.message, msg);
  return err as ConfigError;
}

test('a valid spec passes and infers shapes', (t) => {
  const s = validateSpec(base());
  const shapes = inferShapes(s);
  t.deepEqual(shapes.get('conv'), [4, 8, 8]);
  t.deepEqual(shapes.get('pool'), [4, 4, 4]);
  t.deepEqual(shapes.get('flat'), [64]);
  t.deepEqual(shapes.get('fc'), [3]);
  // conv 1*4*9+4, bn 8, fc 64*3+3
  t.is(parameterCount(s), 40 + 8 + 195);
});

test('validateSpec returns a copy and leaves the input untouched', (t) => {
  const raw = base();
  const s = validateSpec(raw);
  t.not(s, raw);
  t.deepEqual(s, raw);
});

test('structural errors carry paths', (t) => {
  t.throws(() => validateSpec(null), { instanceOf: ConfigError });
  fails(
    t,
    (s) => {
      s.format = 'petra.graph/0';
    },
    'format',
  );
  fails(
    t,
    (s) => {
      s.inputs = [];
    },
    'inputs',
  );
  fails(
    t,
    (s) => {
      s.inputs[0].shape = [1, 0, 8];
    },
    'inputs[0].shape[1]',
  );
  fails(
    t,
    (s) => {
      s.inputs[0].shape = [1, 2.5, 8];
    },
    'inputs[0].shape[1]',
  );
  fails(
    t,
    (s) => {
      s.inputs[0].dtype = 'float16';
    },
    'inputs[0].dtype',
  );
  fails(
    t,
    (s) => {
      s.inputs.push({ name: 'x', shape: [1], dtype: 'float32' });
    },
    'inputs[1].name',
    /duplicate/,
  );
  fails(
    t,
    (s) => {
      s.nodes[2].name = 'bn';
    },
    'nodes[2].name',
    /duplicate/,
  );
  fails(
    t,
    (s) => {
      s.nodes[2].name = 'x';
    },
    'nodes[2].name',
    /clashes/,
  );
  fails(
    t,
    (s) => {
      s.nodes[2].name = 'layer.1';
    },
    'nodes[2].name',
  );
  fails(
    t,
    (s) => {
      s.nodes[2].name = '1relu';
    },
    'nodes[2].name',
  );
  fails(
    t,
    (s) => {
      s.nodes[2].op = 'swish';
    },
    'nodes[2].op',
    /unknown op/,
  );
});

test('attribute type, range and unknown-attribute errors', (t) => {
  fails(
    t,
    (s) => {
      s.nodes[0].attrs.kernelSize = 0;
    },
    'nodes[0].attrs.kernelSize',
  );
  fails(
    t,
    (s) => {
      s.nodes[0].attrs.kernelSize = '3';
    },
    'nodes[0].attrs.kernelSize',
  );
  fails(
    t,
    (s) => {
      delete s.nodes[0].attrs.outChannels;
    },
    'nodes[0].attrs.outChannels',
    /missing/,
  );
  fails(
    t,
    (s) => {
      s.nodes[0].attrs.bias = 1;
    },
    'nodes[0].attrs.bias',
  );
  fails(
    t,
    (s) => {
      s.nodes[0].attrs.padding = -1;
    },
    'nodes[0].attrs.padding',
  );
  fails(
    t,
    (s) => {
      s.nodes[0].attrs.kernelSz = 3;
    },
    'nodes[0].attrs.kernelSz',
    /unknown attribute/,
  );
  fails(
    t,
    (s) => {
      s.nodes[2].attrs = { inplace: true };
    },
    'nodes[2].attrs.inplace',
  );
  fails(
    t,
    (s) => {
      s.nodes[0].attrs.groups = 3;
    },
    'nodes[0].attrs.groups',
    /divide/,
  );
  fails(
    t,
    (s) => {
      s.nodes[0].attrs.stride = 2;
      s.nodes[0].attrs.padding = 'same';
    },
    'nodes[0].attrs.padding',
    /same/,
  );
  fails(
    t,
    (s) => {
      s.nodes[1].attrs.momentum = 2;
    },
    'nodes[1].attrs.momentum',
  );
  fails(
    t,
    (s) => {
      s.nodes[3].attrs.padding = 2;
    },
    'nodes[3].attrs.padding',
    /half/,
  );
  fails(
    t,
    (s) => {
      s.nodes.splice(5, 0, { name: 'drop', op: 'dropout', inputs: ['flat'], attrs: { p: 1 } });
      s.nodes[6].inputs = ['drop'];
    },
    'nodes[5].attrs.p',
  );
  fails(
    t,
    (s) => {
      s.nodes[1].attrs = 'none';
    },
    'nodes[1].attrs',
  );
});

test('attribute-less ops may omit attrs', (t) => {
  const s: any = structuredClone(base());
  delete s.nodes[2].attrs;
  t.deepEqual(validateSpec(s).nodes[2]!.attrs, {});
});

test('arity and references', (t) => {
  fails(
    t,
    (s) => {
      s.nodes[2].inputs = ['bn', 'conv'];
    },
    'nodes[2].inputs',
    /exactly 1/,
  );
  fails(
    t,
    (s) => {
      s.nodes[2].inputs = [];
    },
    'nodes[2].inputs',
  );
  fails(
    t,
    (s) => {
      s.nodes.splice(5, 0, { name: 'sum', op: 'add', inputs: ['flat'], attrs: {} });
    },
    'nodes[5].inputs',
    /at least 2/,
  );
  fails(
    t,
    (s) => {
      s.nodes.splice(5, 0, { name: 'cat', op: 'concat', inputs: ['flat'], attrs: {} });
    },
    'nodes[5].inputs',
    /at least 2/,
  );
  fails(
    t,
    (s) => {
      s.nodes[2].inputs = ['bn2'];
    },
    'nodes[2].inputs[0]',
    /bn2/,
  );
  fails(
    t,
    (s) => {
      s.nodes[2].inputs = [3];
    },
    'nodes[2].inputs[0]',
  );
});

test('cycles are reported with the cycle', (t) => {
  const err = fails(
    t,
    (s) => {
      s.nodes[0].inputs = ['relu'];
    },
    'nodes[0].inputs',
    /cycle/,
  );
  t.regex(err.message, /conv -> bn -> relu -> conv/);
  fails(
    t,
    (s) => {
      s.nodes[2].inputs = ['relu'];
    },
    'nodes[2].inputs[0]',
    /cycle/,
  );
});

test('output and reachability', (t) => {
  fails(
    t,
    (s) => {
      s.output = 'nope';
    },
    'output',
  );
  fails(
    t,
    (s) => {
      s.output = 'x';
    },
    'output',
    /input/,
  );
  fails(
    t,
    (s) => {
      s.nodes.push({ name: 'extra', op: 'relu', inputs: ['fc'], attrs: {} });
    },
    'nodes[6]',
    /extra/,
  );
  const err = fails(
    t,
    (s) => {
      s.nodes.push(
        { name: 'a', op: 'relu', inputs: ['fc'], attrs: {} },
        { name: 'b', op: 'relu', inputs: ['a'], attrs: {} },
      );
    },
    'nodes',
  );
  t.regex(err.message, /a, b/);
  fails(
    t,
    (s) => {
      s.inputs.push({ name: 'y', shape: [3], dtype: 'float32' });
    },
    'inputs[1]',
    /not used/,
  );
});

test('task checks', (t) => {
  fails(
    t,
    (s) => {
      s.task = { kind: 'ranking' };
    },
    'task.kind',
  );
  fails(
    t,
    (s) => {
      s.task.classes = 1;
    },
    'task.classes',
  );
  fails(
    t,
    (s) => {
      s.task = { kind: 'regression', targets: 0 };
    },
    'task.targets',
  );
  fails(
    t,
    (s) => {
      s.task.classes = 5;
    },
    'output',
    /\[3\].*\[5\]/,
  );
  fails(
    t,
    (s) => {
      s.task = { kind: 'regression', targets: 1 };
    },
    'output',
  );
});

test('shape mismatches name the node and expected vs actual', (t) => {
  let err = fails(
    t,
    (s) => {
      s.nodes[0].attrs.inChannels = 3;
    },
    'nodes[0].attrs.inChannels',
  );
  t.regex(err.message, /inChannels = 1/);
  fails(
    t,
    (s) => {
      s.nodes[1].attrs.numFeatures = 8;
    },
    'nodes[1].attrs.numFeatures',
    /numFeatures = 4/,
  );
  err = fails(
    t,
    (s) => {
      s.nodes[5].attrs.inFeatures = 65;
    },
    'nodes[5].attrs.inFeatures',
  );
  t.regex(err.message, /inFeatures = 64/);
  fails(
    t,
    (s) => {
      s.nodes[3].attrs.kernelSize = 16;
    },
    'nodes[3].attrs.kernelSize',
    /empty/,
  );
  fails(
    t,
    (s) => {
      s.nodes[4].attrs.startDim = 0;
    },
    'nodes[4].attrs.startDim',
  );
  fails(
    t,
    (s) => {
      s.nodes[4].attrs.startDim = 4;
    },
    'nodes[4].attrs.startDim',
  );
  fails(
    t,
    (s) => {
      s.nodes[0].op = 'conv1d';
    },
    'nodes[0].inputs[0]',
    /rank 2/,
  );
  fails(
    t,
    (s) => {
      s.nodes[1].op = 'batchnorm1d';
    },
    'nodes[1].inputs[0]',
  );
});

test('flatten startDim counts the batch dim and may be negative', (t) => {
  const s = base();
  s.nodes[4] = { name: 'flat', op: 'flatten', inputs: ['pool'], attrs: { startDim: 2 } };
  s.nodes[5] = { name: 'fc', op: 'linear', inputs: ['flat'], attrs: { inFeatures: 16, outFeatures: 3 } };
  s.nodes.push({ name: 'flat2', op: 'flatten', inputs: ['fc'], attrs: { startDim: -2 } });
  s.output = 'flat2';
  s.task = { kind: 'classification', classes: 12 };
  const shapes = inferShapes(s);
  t.deepEqual(shapes.get('flat'), [4, 16]);
  t.deepEqual(shapes.get('fc'), [4, 3]);
  t.deepEqual(shapes.get('flat2'), [12]);
  validateSpec(s);
});

function seqSpec(): ModelSpec {
  return {
    format: 'petra.graph/1',
    inputs: [
      { name: 'cat', shape: [10], dtype: 'int64' },
      { name: 'num', shape: [10, 3], dtype: 'float32' },
      { name: 'img', shape: [2, 12, 12], dtype: 'float32' },
    ],
    nodes: [
      { name: 'emb', op: 'embedding', inputs: ['cat'], attrs: { numEmbeddings: 50, embeddingDim: 5 } },
      { name: 'cat2', op: 'concat', inputs: ['emb', 'num'], attrs: { dim: -1 } },
      { name: 'ln', op: 'layernorm', inputs: ['cat2'], attrs: { normalizedShape: [8] } },
      {
        name: 'gru',
        op: 'gru',
        inputs: ['ln'],
        attrs: { inputSize: 8, hiddenSize: 6, numLayers: 2, bidirectional: true, output: 'sequence' },
      },
      { name: 'gru2', op: 'gru', inputs: ['gru'], attrs: { inputSize: 12, hiddenSize: 4 } },
      {
        name: 'c1',
        op: 'conv2d',
        inputs: ['img'],
        attrs: { inChannels: 2, outChannels: 4, kernelSize: [3, 5], stride: 2, padding: [1, 0], dilation: 1 },
      },
      {
        name: 'c2',
        op: 'conv2d',
        inputs: ['img'],
        attrs: { inChannels: 2, outChannels: 2, kernelSize: 3, padding: 'same', groups: 2, bias: false },
      },
      { name: 'ap', op: 'adaptivemaxpool2d', inputs: ['c1'], attrs: { outputSize: [2, 1] } },
      { name: 'avg', op: 'avgpool2d', inputs: ['c2'], attrs: { kernelSize: 3, stride: 3 } },
      { name: 'apool', op: 'adaptiveavgpool2d', inputs: ['avg'], attrs: { outputSize: [2, 1] } },
      { name: 'imgcat', op: 'concat', inputs: ['ap', 'apool'], attrs: { dim: 1 } },
      { name: 'imgflat', op: 'flatten', inputs: ['imgcat'], attrs: {} },
      { name: 'fimg', op: 'linear', inputs: ['imgflat'], attrs: { inFeatures: 12, outFeatures: 4, bias: false } },
      { name: 'sum', op: 'add', inputs: ['gru2', 'fimg', 'fimg'], attrs: {} },
      { name: 'act', op: 'gelu', inputs: ['sum'], attrs: {} },
      { name: 'out', op: 'linear', inputs: ['act'], attrs: { inFeatures: 4, outFeatures: 2 } },
    ],
    output: 'out',
    task: { kind: 'regression', targets: 2 },
  };
}

test('shape inference through embedding, concat, layernorm, gru, grouped/same conv, pools', (t) => {
  const s = validateSpec(seqSpec());
  const sh = inferShapes(s);
  t.deepEqual(sh.get('emb'), [10, 5]);
  t.deepEqual(sh.get('cat2'), [10, 8]);
  t.deepEqual(sh.get('gru'), [10, 12]);
  t.deepEqual(sh.get('gru2'), [4]);
  // H: floor((12 + 2 - 2 - 1)/2) + 1 = 6; W: floor((12 - 4 - 1)/2) + 1 = 4
  t.deepEqual(sh.get('c1'), [4, 6, 4]);
  t.deepEqual(sh.get('c2'), [2, 12, 12]);
  t.deepEqual(sh.get('avg'), [2, 4, 4]);
  t.deepEqual(sh.get('imgcat'), [6, 2, 1]);
  t.deepEqual(sh.get('out'), [2]);
  const gru1 = 2 * (3 * 6 * (8 + 6) + 6 * 6) + 2 * (3 * 6 * (12 + 6) + 6 * 6);
  const gru2 = 3 * 4 * (12 + 4) + 6 * 4;
  const expected = 50 * 5 + 16 + gru1 + gru2 + (4 * 2 * 15 + 4) + 2 * 1 * 9 + 12 * 4 + (4 * 2 + 2);
  t.is(parameterCount(s), expected);
});

test('dtype and sequence-op shape errors', (t) => {
  const mk = (edit: (s: any) => void): ConfigError => {
    const s: any = structuredClone(seqSpec());
    edit(s);
    return t.throws(() => validateSpec(s), { instanceOf: ConfigError }) as ConfigError;
  };
  t.is(
    mk((s) => {
      s.nodes[1].inputs = ['cat', 'num', 'emb'];
    }).path,
    'nodes[1].inputs[0]',
  ); // int64 into concat
  t.is(
    mk((s) => {
      s.inputs[0].dtype = 'float32';
    }).path,
    'nodes[0].inputs[0]',
  ); // float into embedding
  t.is(
    mk((s) => {
      s.nodes[1].attrs.dim = 1;
    }).path,
    'nodes[1].inputs[1]',
  ); // [10,5] vs [10,3] along dim 1
  t.is(
    mk((s) => {
      s.nodes[1].attrs.dim = 3;
    }).path,
    'nodes[1].attrs.dim',
  );
  t.is(
    mk((s) => {
      s.nodes[1].attrs.dim = 0;
    }).path,
    'nodes[1].attrs.dim',
  );
  t.is(
    mk((s) => {
      s.nodes[2].attrs.normalizedShape = [10, 9];
    }).path,
    'nodes[2].attrs.normalizedShape',
  );
  t.is(
    mk((s) => {
      s.nodes[3].attrs.inputSize = 9;
    }).path,
    'nodes[3].attrs.inputSize',
  );
  t.is(
    mk((s) => {
      s.nodes[3].attrs.output = 'all';
    }).path,
    'nodes[3].attrs.output',
  );
  t.is(
    mk((s) => {
      s.nodes[4].inputs = ['emb2'];
    }).path,
    'nodes[4].inputs[0]',
  );
  const err = mk((s) => {
    s.nodes[13].inputs = ['gru2', 'fimg', 'imgflat'];
  });
  t.is(err.path, 'nodes[13].inputs[2]');
  t.regex(err.message, /\[4\].*\[12\]/);
});

test('topologicalOrder puts producers first and is stable', (t) => {
  const s = base();
  s.nodes.reverse();
  const order = topologicalOrder(s).map((n) => n.name);
  t.deepEqual(order, ['conv', 'bn', 'relu', 'pool', 'flat', 'fc']);
  const order2 = topologicalOrder(seqSpec()).map((n) => n.name);
  for (const n of seqSpec().nodes) {
    for (const r of n.inputs) if (order2.includes(r)) t.true(order2.indexOf(r) < order2.indexOf(n.name));
  }
});

test('conv1d and pools 1d: stride, padding, dilation, default pool stride', (t) => {
  const s: ModelSpec = {
    format: 'petra.graph/1',
    inputs: [{ name: 's', shape: [3, 100], dtype: 'float32' }],
    nodes: [
      {
        name: 'c',
        op: 'conv1d',
        inputs: ['s'],
        attrs: { inChannels: 3, outChannels: 6, kernelSize: 5, stride: 2, padding: 1, dilation: 3, groups: 3 },
      },
      { name: 'p', op: 'maxpool1d', inputs: ['c'], attrs: { kernelSize: 4 } },
      { name: 'a', op: 'avgpool1d', inputs: ['p'], attrs: { kernelSize: 3, stride: 1, padding: 1 } },
      { name: 'bn', op: 'batchnorm1d', inputs: ['a'], attrs: { numFeatures: 6 } },
      { name: 'g', op: 'adaptivemaxpool1d', inputs: ['bn'], attrs: { outputSize: 1 } },
      { name: 'f', op: 'flatten', inputs: ['g'], attrs: {} },
      { name: 'bn2', op: 'batchnorm1d', inputs: ['f'], attrs: { numFeatures: 6 } },
    ],
    output: 'bn2',
    task: { kind: 'regression', targets: 6 },
  };
  const sh = inferShapes(s);
  // floor((100 + 2 - 3*4 - 1)/2) + 1 = 45
  t.deepEqual(sh.get('c'), [6, 45]);
  t.deepEqual(sh.get('p'), [6, 11]);
  t.deepEqual(sh.get('a'), [6, 11]);
  t.deepEqual(sh.get('f'), [6]);
  validateSpec(s);
  t.is(parameterCount(s), 6 * 1 * 5 + 6 + 12 + 12);
});
