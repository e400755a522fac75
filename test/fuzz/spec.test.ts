/**
 * Fuzzing graph-spec validation: any JSON value, hostile layer chains and mutated built-in models give a validated
 * spec (which validates again to itself and stays within SPEC_LIMITS) or a ConfigError whose path names the place.
 */
import test from 'ava';
import fc from 'fast-check';
import { ConfigError } from '../../lib/core/errors.js';
import { SPEC_LIMITS, inferShapes, parameterCount, validateSpec } from '../../lib/graph/validate.js';
import { SPEC_FORMAT, type ModelSpec } from '../../lib/graph/types.js';
import { attempt, check, checkConfigPath, fuzz, runCases, Tally, type Case, type Outcome } from './fuzz-helpers.js';
import { builtinSpecs, chainSpec, jsonMutation, mutateJson } from './spec-gen.js';

const PATH_RE = /^(spec|format|name|inputs|nodes|output|task)(\b|\[|\.)/;

/** A validated spec is a fixed point, has positive per-sample shapes and stays within the limits. */
function checkValid(s: ModelSpec): void {
  check(JSON.stringify(validateSpec(s)) === JSON.stringify(s), 'validateSpec is not idempotent');
  const shapes = inferShapes(s);
  for (const [name, shape] of shapes) {
    check(
      shape.every((d) => Number.isInteger(d) && d >= 1),
      `${name}: shape [${shape}]`,
    );
    check(shape.reduce((a, b) => a * b, 1) <= SPEC_LIMITS.maxSampleElements, `${name}: too many elements`);
  }
  check(parameterCount(s) <= SPEC_LIMITS.maxWeights, 'too many parameters');
}

function checkOutcome(out: Outcome<ModelSpec>): void {
  if (out.ok) {
    checkValid(out.value);
    return;
  }
  check(out.error instanceof ConfigError, `${out.error.name}: ${out.error.message}`);
  checkConfigPath(out.error);
  check(
    PATH_RE.test((out.error as ConfigError).path!),
    `path '${(out.error as ConfigError).path}' names no place in the spec`,
  );
}

test('any JSON value (or JS value with NaN/holes): a valid spec or a ConfigError with a path', (t) => {
  const tally = new Tally();
  // mostly a valid field, sometimes any JSON in its place
  const field = <T>(valid: T, depth: number) =>
    fc.oneof({ weight: 5, arbitrary: fc.constant(valid) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: depth }) });
  const specLike = fc.record({
    format: field(SPEC_FORMAT, 1),
    inputs: field([{ name: 'x', shape: [4], dtype: 'float32' }], 3),
    nodes: field([{ name: 'h', op: 'linear', inputs: ['x'], attrs: { inFeatures: 4, outFeatures: 2 } }], 4),
    output: field('h', 1),
    task: field({ kind: 'classification', classes: 2 }, 2),
  });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        specLike,
        fc.anything({ maxDepth: 3, withNullPrototype: true, withSparseArray: true }),
      ),
      (v) => {
        checkOutcome(tally.add(attempt(() => validateSpec(v))));
      },
    ),
    fuzz(800),
  );
  tally.assertBoth(t);
});

test('hostile layer chains (0/huge channels, kernel > input, groups, NaN attrs, unknown ops): valid or a ConfigError naming the node', (t) => {
  const tally = new Tally();
  fc.assert(
    fc.property(chainSpec, ({ spec, brokenAt }) => {
      const out = tally.add(attempt(() => validateSpec(spec)));
      checkOutcome(out);
      if (brokenAt) check(!out.ok, `the chain failed (${brokenAt}) but the full spec validated`);
      if (!out.ok && /^nodes\[\d+\]/.test((out.error as ConfigError).path!)) {
        const i = Number(/^nodes\[(\d+)\]/.exec((out.error as ConfigError).path!)![1]);
        check(i < (spec.nodes as unknown[]).length, 'path names a node that does not exist');
      }
    }),
    fuzz(1500),
  );
  tally.assertBoth(t);
});

test('JSON mutations of the built-in models: valid or a ConfigError with a path', (t) => {
  const tally = new Tally();
  const seeds = builtinSpecs().map((s) => JSON.parse(JSON.stringify(s)) as unknown);
  fc.assert(
    fc.property(fc.nat(seeds.length - 1), fc.array(jsonMutation, { minLength: 1, maxLength: 3 }), (k, muts) => {
      const spec = muts.reduce((s, m) => mutateJson(s, m), seeds[k]);
      checkOutcome(tally.add(attempt(() => validateSpec(JSON.parse(JSON.stringify(spec) ?? 'null')))));
    }),
    fuzz(700),
  );
  tally.assertBoth(t);
});

// ------------------------------------------------------------------------------------------------ explicit cases

const base = (shape: unknown[] = [3, 8, 8], dtype = 'float32') => ({
  format: SPEC_FORMAT,
  inputs: [{ name: 'x', shape, dtype }],
});
/** input [C, H, W] → one layer → flatten → linear head of 2 classes; `inFeatures` of the head from `flat`. */
function oneLayer(
  op: string,
  attrs: Record<string, unknown>,
  shape: unknown[] = [3, 8, 8],
  flat = 1,
  extra: object = {},
): unknown {
  return {
    ...base(shape),
    nodes: [
      { name: 'l', op, inputs: ['x'], attrs },
      { name: 'f', op: 'flatten', inputs: ['l'] },
      { name: 'h', op: 'linear', inputs: ['f'], attrs: { inFeatures: flat, outFeatures: 2 } },
    ],
    output: 'h',
    task: { kind: 'classification', classes: 2 },
    ...extra,
  };
}
const conv2d = (a: Record<string, unknown>, shape?: unknown[]) =>
  oneLayer('conv2d', { inChannels: 3, outChannels: 4, kernelSize: 3, ...a }, shape);
const chain = (n: number, cyclic: boolean) => ({
  ...base([4]),
  nodes: [
    ...Array.from({ length: n }, (_, i) => ({
      name: `r${i}`,
      op: 'relu',
      inputs: [i === 0 ? (cyclic ? `r${n - 1}` : 'x') : `r${i - 1}`],
    })),
    { name: 'o', op: 'add', inputs: ['x', `r${n - 1}`] },
  ],
  output: 'o',
  task: { kind: 'regression', targets: 4 },
});
const c = (id: string, input: unknown, expect: RegExp | 'ok'): Case<unknown> => ({
  id,
  input,
  expect,
  error: ConfigError,
});

export const SPEC_CASES: readonly Case<unknown>[] = [
  c('spec-null', null, /^spec: spec must be an object, got null/),
  c('spec-array', [], /^spec: spec must be an object/),
  c(
    'spec-wrong-format',
    { ...(oneLayer('relu', {}, [4], 4) as object), format: 'petra.graph/2' },
    /^format: expected format/,
  ),
  c(
    'spec-no-inputs',
    { ...(oneLayer('relu', {}, [4], 4) as object), inputs: [] },
    /^inputs: inputs must be a non-empty array/,
  ),
  c(
    'spec-input-dim-zero',
    oneLayer('relu', {}, [0], 0),
    /^inputs\[0\]\.shape\[0\]: dimension must be a positive integer, got 0/,
  ),
  c(
    'spec-input-dim-negative',
    oneLayer('relu', {}, [-3], 3),
    /^inputs\[0\]\.shape\[0\]: dimension must be a positive integer, got -3/,
  ),
  c(
    'spec-input-dim-1e10',
    oneLayer('relu', {}, [1e10], 1),
    /^inputs\[0\]\.shape\[0\]: dimension must be at most 2147483647/,
  ),
  c(
    'spec-input-dim-nan',
    oneLayer('relu', {}, [NaN], 1),
    /^inputs\[0\]\.shape\[0\]: dimension must be a positive integer, got null/,
  ),
  // eslint-disable-next-line no-sparse-arrays
  c(
    'spec-input-shape-hole',
    oneLayer('relu', {}, [4, , 2], 8),
    /^inputs\[0\]\.shape\[1\]: dimension must be a positive integer, got undefined/,
  ),
  c(
    'spec-input-too-many-elements',
    oneLayer('relu', {}, [65536, 65536], 1),
    /^inputs\[0\]\.shape: per-sample shape \[65536, 65536\] has 4294967296 elements/,
  ),
  c(
    'spec-input-bad-dtype',
    {
      ...base([4], 'float64'),
      nodes: [{ name: 'r', op: 'relu', inputs: ['x'] }],
      output: 'r',
      task: { kind: 'regression', targets: 4 },
    },
    /^inputs\[0\]\.dtype/,
  ),
  c(
    'spec-duplicate-node',
    {
      ...base([4]),
      nodes: [
        { name: 'r', op: 'relu', inputs: ['x'] },
        { name: 'r', op: 'relu', inputs: ['x'] },
      ],
      output: 'r',
      task: { kind: 'regression', targets: 4 },
    },
    /^nodes\[1\]\.name: duplicate node name 'r'/,
  ),
  c(
    'spec-node-named-like-input',
    {
      ...base([4]),
      nodes: [{ name: 'x', op: 'relu', inputs: ['x'] }],
      output: 'x',
      task: { kind: 'regression', targets: 4 },
    },
    /^nodes\[0\]\.name: node name 'x' clashes/,
  ),
  c('spec-unknown-op', oneLayer('softmax2', {}, [4], 4), /^nodes\[0\]\.op: unknown op "softmax2"/),
  c(
    'spec-dangling-input',
    {
      ...base([4]),
      nodes: [{ name: 'r', op: 'relu', inputs: ['ghost'] }],
      output: 'r',
      task: { kind: 'regression', targets: 4 },
    },
    /^nodes\[0\]\.inputs\[0\]: references 'ghost'/,
  ),
  c(
    'spec-self-loop',
    {
      ...base([4]),
      nodes: [{ name: 'r', op: 'add', inputs: ['x', 'r'] }],
      output: 'r',
      task: { kind: 'regression', targets: 4 },
    },
    /^nodes\[0\]\.inputs\[1\]: node 'r' takes itself as input/,
  ),
  c(
    'spec-two-cycle',
    {
      ...base([4]),
      nodes: [
        { name: 'a', op: 'add', inputs: ['x', 'b'] },
        { name: 'b', op: 'relu', inputs: ['a'] },
      ],
      output: 'b',
      task: { kind: 'regression', targets: 4 },
    },
    /^nodes\[0\]\.inputs: graph has a cycle: a -> b -> a$/,
  ),
  c('spec-20000-node-cycle', chain(20_000, true), /^nodes\[\d+\]\.inputs: graph has a cycle: .* -> … \(20000 nodes\)/),
  c('spec-20000-node-chain-ok', chain(20_000, false), 'ok'),
  c(
    'spec-add-200000-inputs-ok',
    {
      ...base([4]),
      nodes: [{ name: 'o', op: 'add', inputs: new Array(200_000).fill('x') }],
      output: 'o',
      task: { kind: 'regression', targets: 4 },
    },
    'ok',
  ),
  c(
    'spec-conv-zero-channels',
    conv2d({ outChannels: 0 }),
    /^nodes\[0\]\.attrs\.outChannels: must be a positive integer, got 0/,
  ),
  c(
    'spec-conv-1e9-channels',
    oneLayer('conv2d', { inChannels: 3, outChannels: 1e9, kernelSize: 1 }, [3, 1, 1], 1e9),
    /^nodes\[0\]: per-sample shape \[1000000000, 1, 1\] has 1000000000 elements, more than the limit/,
  ),
  c(
    'spec-conv-1e8-channels-weights',
    oneLayer('conv2d', { inChannels: 3, outChannels: 1e8, kernelSize: 3 }, [3, 3, 3], 1e8),
    /^nodes\[0\]\.attrs: 'conv2d' would hold 2800000000 weights, more than the limit/,
  ),
  c(
    'spec-conv-1e20-channels',
    conv2d({ outChannels: 1e20 }),
    /^nodes\[0\]\.attrs\.outChannels: must be at most 2147483647/,
  ),
  c(
    'spec-conv-in-channels-mismatch',
    conv2d({ inChannels: 5 }),
    /^nodes\[0\]\.attrs\.inChannels: 'conv2d' expects inChannels = 3/,
  ),
  c(
    'spec-conv-kernel-larger-than-input',
    conv2d({ kernelSize: 9 }),
    /^nodes\[0\]\.attrs\.kernelSize: output shape \[4, 0, 0\] is empty .* kernel too large/,
  ),
  c(
    'spec-conv-groups-not-dividing',
    conv2d({ groups: 2 }),
    /^nodes\[0\]\.attrs\.groups: groups \(2\) must divide inChannels \(3\)/,
  ),
  c(
    'spec-qconv-groups-not-dividing',
    oneLayer('qconv2d', { inChannels: 3, outChannels: 4, kernelSize: 3, groups: 3 }, [3, 8, 8], 144),
    /^nodes\[0\]\.attrs\.groups: groups \(3\) must divide outChannels \(4\)/,
  ),
  c(
    'spec-lowrank-conv-groups',
    oneLayer('lowrank_conv2d', { inChannels: 4, outChannels: 4, kernelSize: 3, rank: 2, groups: 2 }, [4, 8, 8], 144),
    /^nodes\[0\]\.attrs\.groups: a low-rank conv must have groups 1/,
  ),
  c(
    'spec-conv-same-with-stride',
    conv2d({ padding: 'same', stride: 2 }),
    /^nodes\[0\]\.attrs\.padding: padding 'same' requires stride 1/,
  ),
  c(
    'spec-conv-kernel-pair-with-nan',
    conv2d({ kernelSize: [3, NaN] }),
    /^nodes\[0\]\.attrs\.kernelSize: must be a positive integer or a pair/,
  ),
  c(
    'spec-conv-kernel-infinity',
    conv2d({ kernelSize: Infinity }),
    /^nodes\[0\]\.attrs\.kernelSize: must be a positive integer/,
  ),
  c(
    'spec-conv-kernel-fraction',
    conv2d({ kernelSize: 1.5 }),
    /^nodes\[0\]\.attrs\.kernelSize: must be a positive integer/,
  ),
  c(
    'spec-conv-kernel-string',
    conv2d({ kernelSize: '3' }),
    /^nodes\[0\]\.attrs\.kernelSize: must be a positive integer/,
  ),
  c(
    'spec-pool-kernel-larger-than-input',
    oneLayer('maxpool2d', { kernelSize: 9 }, [3, 8, 8], 1),
    /^nodes\[0\]\.attrs\.kernelSize: output shape \[3, 0, 0\] is empty/,
  ),
  c(
    'spec-pool-padding-over-half',
    oneLayer('maxpool1d', { kernelSize: 2, padding: 2 }, [3, 8], 1),
    /^nodes\[0\]\.attrs\.padding: padding 2 must be at most half/,
  ),
  c(
    'spec-batchnorm-eps-nan',
    oneLayer('batchnorm2d', { numFeatures: 3, eps: NaN }, [3, 2, 2], 12),
    /^nodes\[0\]\.attrs\.eps: must be a positive finite number, got null/,
  ),
  c('spec-dropout-p-one', oneLayer('dropout', { p: 1 }, [4], 4), /^nodes\[0\]\.attrs\.p: must be a number in \[0, 1\)/),
  c(
    'spec-dropout-p-nan',
    oneLayer('dropout', { p: NaN }, [4], 4),
    /^nodes\[0\]\.attrs\.p: must be a number in \[0, 1\)/,
  ),
  c(
    'spec-attr-constructor',
    JSON.parse(
      '{"format":"petra.graph/1","inputs":[{"name":"x","shape":[4],"dtype":"float32"}],"nodes":[{"name":"l","op":"linear","inputs":["x"],"attrs":{"inFeatures":4,"outFeatures":2,"constructor":{"a":1}}}],"output":"l","task":{"kind":"classification","classes":2}}',
    ),
    /^nodes\[0\]\.attrs\.constructor: unknown attribute 'constructor'/,
  ),
  c(
    'spec-attr-proto',
    JSON.parse(
      '{"format":"petra.graph/1","inputs":[{"name":"x","shape":[4],"dtype":"float32"}],"nodes":[{"name":"l","op":"linear","inputs":["x"],"attrs":{"inFeatures":4,"outFeatures":2,"__proto__":{"bias":false}}}],"output":"l","task":{"kind":"classification","classes":2}}',
    ),
    /^nodes\[0\]\.attrs\.__proto__: unknown attribute '__proto__'/,
  ),
  c(
    'spec-linear-1e9-out',
    {
      ...base([4]),
      nodes: [{ name: 'l', op: 'linear', inputs: ['x'], attrs: { inFeatures: 4, outFeatures: 1e9 } }],
      output: 'l',
      task: { kind: 'regression', targets: 1e9 },
    },
    /^nodes\[0\]: per-sample shape \[1000000000\] has 1000000000 elements/,
  ),
  c(
    'spec-linear-1e5-by-1e5',
    {
      ...base([1e5]),
      nodes: [{ name: 'l', op: 'linear', inputs: ['x'], attrs: { inFeatures: 1e5, outFeatures: 1e5 } }],
      output: 'l',
      task: { kind: 'regression', targets: 1e5 },
    },
    /^nodes\[0\]\.attrs: 'linear' would hold 10000100000 weights/,
  ),
  c(
    'spec-embedding-1e8-rows',
    {
      ...base([5], 'int64'),
      nodes: [
        { name: 'e', op: 'embedding', inputs: ['x'], attrs: { numEmbeddings: 1e8, embeddingDim: 8 } },
        { name: 'f', op: 'flatten', inputs: ['e'] },
        { name: 'h', op: 'linear', inputs: ['f'], attrs: { inFeatures: 40, outFeatures: 2 } },
      ],
      output: 'h',
      task: { kind: 'classification', classes: 2 },
    },
    /^nodes\[0\]\.attrs: 'embedding' would hold 800000000 weights/,
  ),
  c(
    'spec-total-weights-over-limit',
    {
      ...base([8192]),
      nodes: [
        { name: 'a', op: 'linear', inputs: ['x'], attrs: { inFeatures: 8192, outFeatures: 8192 } },
        { name: 'b', op: 'linear', inputs: ['a'], attrs: { inFeatures: 8192, outFeatures: 8192 } },
        { name: 'c', op: 'linear', inputs: ['b'], attrs: { inFeatures: 8192, outFeatures: 8192 } },
        { name: 'd', op: 'linear', inputs: ['c'], attrs: { inFeatures: 8192, outFeatures: 8192 } },
        { name: 'e', op: 'linear', inputs: ['d'], attrs: { inFeatures: 8192, outFeatures: 2 } },
      ],
      output: 'e',
      task: { kind: 'classification', classes: 2 },
    },
    /^nodes: the model would hold \d+ weights/,
  ),
  c(
    'spec-gru-1e6-layers',
    {
      ...base([5, 3]),
      nodes: [{ name: 'g', op: 'gru', inputs: ['x'], attrs: { inputSize: 3, hiddenSize: 1, numLayers: 1e6 } }],
      output: 'g',
      task: { kind: 'regression', targets: 1 },
    },
    /^nodes\[0\]\.attrs\.numLayers: at most 1024 layers/,
  ),
  c(
    'spec-adaptive-pool-2^30',
    oneLayer('adaptiveavgpool1d', { outputSize: 2 ** 30 }, [3, 8], 1),
    /^nodes\[0\]: per-sample shape \[3, 1073741824\] has 3221225472 elements/,
  ),
  c(
    'spec-concat-dim-out-of-range',
    {
      ...base([4]),
      nodes: [{ name: 'c', op: 'concat', inputs: ['x', 'x'], attrs: { dim: 2 } }],
      output: 'c',
      task: { kind: 'regression', targets: 8 },
    },
    /^nodes\[0\]\.attrs\.dim: dim 2 is out of range/,
  ),
  c(
    'spec-int64-into-conv',
    oneLayer('conv1d', { inChannels: 3, outChannels: 2, kernelSize: 1 }, [3, 4], 8, {
      inputs: [{ name: 'x', shape: [3, 4], dtype: 'int64' }],
    }),
    /^nodes\[0\]\.inputs\[0\]: int64 input 'x' can only feed an embedding/,
  ),
  c(
    'spec-task-one-class',
    { ...(oneLayer('relu', {}, [4], 4) as object), task: { kind: 'classification', classes: 1 } },
    /^task\.classes: classes must be an integer ≥ 2/,
  ),
  c(
    'spec-output-is-input',
    { ...(oneLayer('relu', {}, [4], 4) as object), output: 'x' },
    /^output: output 'x' is an input/,
  ),
  c(
    'spec-unused-node',
    {
      ...base([4]),
      nodes: [
        { name: 'r', op: 'relu', inputs: ['x'] },
        { name: 's', op: 'relu', inputs: ['x'] },
      ],
      output: 'r',
      task: { kind: 'regression', targets: 4 },
    },
    /^nodes\[1\]: node\(s\) not used by output 'r': s/,
  ),
  c(
    'spec-output-width-mismatch',
    oneLayer('relu', {}, [4], 4, { task: { kind: 'classification', classes: 3 } }),
    /^output: output 'h' has per-sample shape \[2\] but task classification needs \[3\]/,
  ),
];

test('explicit hostile specs give the documented ConfigError (test/README.md)', (t) => {
  runCases(
    t,
    SPEC_CASES,
    (s) => validateSpec(s),
    (v) => checkValid(v),
  );
});
