/**
 * Generators of hostile graph specs for the fuzz tests: chains of 1–4 layers whose attributes are mostly consistent
 * with the incoming shape (so many specs validate and reach native/) and sometimes hostile (0, negative, 1e9, 1e20,
 * NaN, Infinity, fractions, strings, arrays, objects), plus JSON-tree mutations of the built-in models.
 */
import fc from 'fast-check';
import { inferShapes } from '../../lib/graph/validate.js';
import { cnn1d, gruSequenceClassifier, inceptionTime, mlp, resnetCifar, smallCnn } from '../../lib/graph/builders.js';
import { SPEC_FORMAT, type ModelSpec } from '../../lib/graph/types.js';

const AUTO = 'auto' as const;
type Choice = typeof AUTO | { v: unknown };

/** Values no attribute should accept in that place (plus a few that some accept). */
export const HOSTILE_VALUES: readonly unknown[] = [
  0,
  -1,
  -7,
  1e9,
  2 ** 31,
  1e20,
  NaN,
  Infinity,
  -Infinity,
  1.5,
  '4',
  '',
  null,
  true,
  [2, 2],
  [],
  [0, 1],
  [3, NaN],
  'same',
  {},
];
const choice: fc.Arbitrary<Choice> = fc.oneof(
  { weight: 10, arbitrary: fc.constant(AUTO) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 9 }).map((v) => ({ v })) },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_VALUES).map((v) => ({ v })) },
);

const OPS = [
  'conv1d',
  'conv2d',
  'qconv1d',
  'qconv2d',
  'lowrank_conv1d',
  'lowrank_conv2d',
  'linear',
  'qlinear',
  'lowrank_linear',
  'batchnorm1d',
  'batchnorm2d',
  'maxpool1d',
  'maxpool2d',
  'avgpool1d',
  'avgpool2d',
  'adaptiveavgpool1d',
  'adaptiveavgpool2d',
  'adaptivemaxpool1d',
  'adaptivemaxpool2d',
  'relu',
  'gelu',
  'sigmoid',
  'tanh',
  'flatten',
  'dropout',
  'layernorm',
  'gru',
  'qgru',
  'embedding',
  'add',
  'concat',
  'nonsense_op',
] as const;
type FuzzOp = (typeof OPS)[number];

/** Attribute names per op: required ones get a value consistent with the input when AUTO; optional ones are left out. */
const REQUIRED: Partial<Record<FuzzOp, readonly string[]>> = {
  conv1d: ['inChannels', 'outChannels', 'kernelSize'],
  conv2d: ['inChannels', 'outChannels', 'kernelSize'],
  qconv1d: ['inChannels', 'outChannels', 'kernelSize'],
  qconv2d: ['inChannels', 'outChannels', 'kernelSize'],
  lowrank_conv1d: ['inChannels', 'outChannels', 'kernelSize', 'rank'],
  lowrank_conv2d: ['inChannels', 'outChannels', 'kernelSize', 'rank'],
  linear: ['inFeatures', 'outFeatures'],
  qlinear: ['inFeatures', 'outFeatures'],
  lowrank_linear: ['inFeatures', 'outFeatures', 'rank'],
  batchnorm1d: ['numFeatures'],
  batchnorm2d: ['numFeatures'],
  maxpool1d: ['kernelSize'],
  maxpool2d: ['kernelSize'],
  avgpool1d: ['kernelSize'],
  avgpool2d: ['kernelSize'],
  adaptiveavgpool1d: ['outputSize'],
  adaptiveavgpool2d: ['outputSize'],
  adaptivemaxpool1d: ['outputSize'],
  adaptivemaxpool2d: ['outputSize'],
  dropout: ['p'],
  layernorm: ['normalizedShape'],
  gru: ['inputSize', 'hiddenSize'],
  qgru: ['inputSize', 'hiddenSize'],
  embedding: ['numEmbeddings', 'embeddingDim'],
};
const OPTIONAL: Partial<Record<FuzzOp, readonly string[]>> = {
  conv1d: ['stride', 'padding', 'dilation', 'groups', 'bias'],
  conv2d: ['stride', 'padding', 'dilation', 'groups', 'bias'],
  qconv1d: ['stride', 'padding', 'groups', 'relu', 'inScale', 'outScale', 'dynamic', 'engine'],
  qconv2d: ['stride', 'padding', 'groups', 'perChannel'],
  lowrank_conv1d: ['groups', 'padding'],
  lowrank_conv2d: ['stride', 'padding'],
  linear: ['bias', 'dtype'],
  qlinear: ['dynamic', 'engine', 'inZeroPoint'],
  batchnorm1d: ['eps', 'momentum'],
  batchnorm2d: ['eps'],
  maxpool1d: ['stride', 'padding'],
  maxpool2d: ['stride', 'padding'],
  avgpool1d: ['padding'],
  avgpool2d: ['stride'],
  flatten: ['startDim'],
  concat: ['dim'],
  gru: ['numLayers', 'bidirectional', 'output'],
  qgru: ['numLayers', 'recurrence'],
  layernorm: ['eps'],
  relu: ['bogus', 'constructor', '__proto__'],
};

/** The AUTO value of a required attribute, from the current per-sample shape and a small random number. */
function autoValue(op: FuzzOp, name: string, x: readonly number[], small: number): unknown {
  switch (name) {
    case 'inChannels':
    case 'numFeatures':
      return x[0] ?? 1;
    case 'inFeatures':
      return x[x.length - 1] ?? 1;
    case 'inputSize':
      return x[1] ?? x[0] ?? 1;
    case 'outChannels':
    case 'outFeatures':
    case 'hiddenSize':
    case 'embeddingDim':
      return 1 + (small % 6);
    case 'kernelSize':
      return op.endsWith('pool1d') || op.endsWith('pool2d') ? 1 + (small % 2) : 1 + (small % 3);
    case 'rank':
      return 1 + (small % 2);
    case 'outputSize':
      return 1 + (small % 3);
    case 'p':
      return 0.25;
    case 'normalizedShape':
      return [x[x.length - 1] ?? 1];
    case 'numEmbeddings':
      return 10;
    default:
      return 1;
  }
}

export interface ChainLayer {
  op: FuzzOp;
  attrs: Record<string, Choice>;
  optional: Record<string, Choice>;
  small: number;
}
const layer: fc.Arbitrary<ChainLayer> = fc.constantFrom(...OPS).chain((op) =>
  fc.record({
    op: fc.constant(op),
    attrs: fc.record(Object.fromEntries((REQUIRED[op] ?? []).map((n) => [n, choice]))) as fc.Arbitrary<
      Record<string, Choice>
    >,
    // optional attributes: present only when not AUTO
    optional: fc.record(Object.fromEntries((OPTIONAL[op] ?? []).map((n) => [n, choice])), {
      requiredKeys: [],
    }) as fc.Arbitrary<Record<string, Choice>>,
    small: fc.nat(100),
  }),
);

const inputShape = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 1, max: 6 })).map((s) => s as number[]) },
  {
    weight: 4,
    arbitrary: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 12 })).map((s) => s as number[]),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 }))
      .map((s) => s as number[]),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown[]>([0], [-1], [1e9], [], [2 ** 16, 2 ** 16], [3, 1.5], [NaN], ['4'], [2 ** 31]),
  },
);

export interface ChainSpec {
  spec: Record<string, unknown>;
  /** Whether building the chain already hit a ConfigError (the full spec must then fail validation too). */
  brokenAt?: string;
}

const task = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 2, max: 4 }).map((classes) => ({ kind: 'classification', classes })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 2 }).map((targets) => ({ kind: 'regression', targets })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      { kind: 'classification', classes: 1 },
      { kind: 'regression', targets: 0 },
      { kind: 'x' },
      null,
      { kind: 'classification', classes: 1e9 },
    ),
  },
);

/** A chain input → layers → [flatten] → linear head, built with `inferShapes` so AUTO attributes fit the input. */
export const chainSpec: fc.Arbitrary<ChainSpec> = fc
  .record({ shape: inputShape, int64: fc.boolean(), layers: fc.array(layer, { minLength: 1, maxLength: 4 }), task })
  .map(({ shape, int64, layers, task: tk }) => {
    const usesEmbedding = layers[0]!.op === 'embedding';
    const inputs = [
      { name: 'x', shape, dtype: usesEmbedding || (int64 && layers[0]!.op === 'relu') ? 'int64' : 'float32' },
    ];
    const nodes: Record<string, unknown>[] = [];
    let cur = 'x';
    let x: number[] = shape.every((d) => typeof d === 'number') ? (shape as number[]) : [1];
    let brokenAt: string | undefined;
    const regressionTask = { kind: 'regression', targets: 1 };
    layers.forEach((l, i) => {
      if (brokenAt) return;
      const attrs: Record<string, unknown> = {};
      // defineProperty: a plain assignment to '__proto__' would set the prototype instead of making a key
      const put = (n: string, v: unknown): void => {
        Object.defineProperty(attrs, n, { value: v, enumerable: true, writable: true, configurable: true });
      };
      for (const [n, c] of Object.entries(l.attrs)) put(n, c === AUTO ? autoValue(l.op, n, x, l.small + i) : c.v);
      for (const [n, c] of Object.entries(l.optional)) if (c !== AUTO) put(n, c.v);
      const name = `n${i}`;
      const ins = l.op === 'add' || l.op === 'concat' ? [cur, cur] : [cur];
      nodes.push({ name, op: l.op, inputs: ins, ...(Object.keys(attrs).length || REQUIRED[l.op] ? { attrs } : {}) });
      cur = name;
      try {
        const shapes = inferShapes({
          format: SPEC_FORMAT,
          inputs,
          nodes,
          output: name,
          task: regressionTask,
        } as unknown as ModelSpec);
        x = shapes.get(name)!;
      } catch (e) {
        brokenAt = (e as Error).message;
      }
    });
    if (!brokenAt) {
      if (x.length > 1) {
        nodes.push({ name: 'flat', op: 'flatten', inputs: [cur] });
        cur = 'flat';
      }
      const width =
        (tk as { classes?: number; targets?: number } | null)?.classes ??
        (tk as { targets?: number } | null)?.targets ??
        2;
      nodes.push({
        name: 'head',
        op: 'linear',
        inputs: [cur],
        attrs: { inFeatures: x.reduce((a, b) => a * b, 1), outFeatures: width },
      });
      cur = 'head';
    }
    return {
      spec: { format: SPEC_FORMAT, name: 'fuzz', inputs, nodes, output: cur, task: tk },
      ...(brokenAt ? { brokenAt } : {}),
    };
  });

/** Small valid specs of the built-in models, the seeds of the JSON-mutation fuzz. */
export function builtinSpecs(): ModelSpec[] {
  return [
    mlp({ inputShape: [6], hidden: [8], classes: 3, batchnorm: true, dropout: 0.1 }),
    smallCnn({ inputShape: [1, 8, 8], classes: 3, widths: [4, 4], hidden: 8 }),
    cnn1d({ inputShape: [2, 16], widths: [4, 4, 4], targets: 1 }),
    inceptionTime({ inputShape: [2, 16], depth: 3, filters: 2, kernelSizes: [5, 3, 1], classes: 2 }),
    gruSequenceClassifier({
      seqLen: 5,
      categorical: [{ name: 'cat', cardinality: 7, embeddingDim: 3 }],
      numericFeatures: 2,
      hiddenSize: 4,
      classes: 2,
    }),
    resnetCifar({ depth: 8, widthMultiplier: 0.25, inputShape: [3, 8, 8], classes: 2 }),
  ];
}

/** Every path (list of keys) in a JSON tree. */
export function jsonPaths(
  v: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => jsonPaths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) jsonPaths(x, [...prefix, k], out);
  return out;
}

export type JsonMutation =
  { kind: 'set'; at: number; value: unknown } | { kind: 'delete'; at: number } | { kind: 'duplicate'; at: number };
export const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      at: fc.nat(),
      value: fc.oneof(
        fc.constantFrom(...HOSTILE_VALUES),
        fc.jsonValue({ maxDepth: 2 }),
        fc.constantFrom('x', 'n0', 'conv1', 'input', 'head', 'linear', 'conv2d', 'constructor'),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }) },
);

/** Applies a mutation to a deep copy of `root` at the `at % paths`-th path. */
export function mutateJson(root: unknown, m: JsonMutation): unknown {
  const copy = structuredClone(root) as Record<string, unknown>;
  const paths = jsonPaths(copy).filter((p) => p.length > 0);
  if (!paths.length) return m.kind === 'set' ? m.value : copy;
  const path = paths[m.at % paths.length]!;
  const parent = path.slice(0, -1).reduce<any>((o, k) => o[k as keyof typeof o], copy);
  const key = path[path.length - 1]!;
  if (m.kind === 'set') parent[key] = m.value;
  else if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(parent[key as number]));
  else parent[`${String(key)}_copy`] = structuredClone(parent[key]);
  return copy;
}
