/**
 * Graph-spec validation, shape inference, topological order and parameter counting — all pure TypeScript,
 * so a bad spec is rejected with a precise `ConfigError.path` before native/ ever sees it.
 */
import { ConfigError } from '../errors.js';
import { OP_NAMES, SPEC_FORMAT } from './types.js';
import type { GraphInput, GraphNode, ModelSpec, OpName } from './types.js';

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Size limits, so a hostile or mistyped spec is a ConfigError here instead of an out-of-range cast, a multi-gigabyte
 * allocation or an endless build in native/: integer attributes and dimensions fit an int32 (1e20 would be undefined
 * behaviour in the native int64 cast), per-sample tensors and weights stay within 2^28 elements (1 GiB of float32;
 * the built-in models are below 2^20), and a GRU has at most 1024 layers (each layer is four native tensors).
 */
export const SPEC_LIMITS = {
  maxInt: 2 ** 31 - 1,
  maxSampleElements: 2 ** 28,
  maxWeights: 2 ** 28,
  maxGruLayers: 1024,
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Attribute schemas
// ---------------------------------------------------------------------------------------------------------------

type AttrKind =
  | 'posInt' // integer ≥ 1
  | 'int' // any integer
  | 'bool'
  | 'posNum' // finite number > 0
  | 'unitInterval' // 0 ≤ x ≤ 1
  | 'dropoutP' // 0 ≤ p < 1
  | 'padding1d' // integer ≥ 0 or 'same'
  | 'posInt2' // integer ≥ 1 or [int ≥ 1, int ≥ 1]
  | 'nonNegInt2' // integer ≥ 0 or pair
  | 'padding2d' // nonNegInt2 or 'same'
  | 'posIntArray' // non-empty array of integers ≥ 1
  | 'gruOutput' // 'last' | 'sequence'
  | 'zeroPoint' // integer in [0, 255]
  | 'engine' // 'onednn' | 'qnnpack' | 'intmm'
  | 'computeDtype' // 'float16' | 'bfloat16'
  | 'recurrence' // 'auto' | 'fused' | 'linear_dynamic'
  | 'weightBits' // 7 | 8
  | 'label'; // a short string (≤ 200 characters), e.g. the CPU a model was quantized on

interface AttrRule { kind: AttrKind; required: boolean }
interface OpRule { attrs: Record<string, AttrRule>; minInputs: number; maxInputs: number }

const req = (kind: AttrKind): AttrRule => ({ kind, required: true });
const opt = (kind: AttrKind): AttrRule => ({ kind, required: false });
const UNARY = { minInputs: 1, maxInputs: 1 };
const poolRule: OpRule = { attrs: { kernelSize: req('posInt2'), stride: opt('posInt2'), padding: opt('nonNegInt2') }, ...UNARY };
const adaptiveRule: OpRule = { attrs: { outputSize: req('posInt2') }, ...UNARY };
const bnRule: OpRule = { attrs: { numFeatures: req('posInt'), eps: opt('posNum'), momentum: opt('unitInterval') }, ...UNARY };
const noAttrs: OpRule = { attrs: {}, ...UNARY };

const conv1dAttrs: Record<string, AttrRule> = {
  inChannels: req('posInt'), outChannels: req('posInt'), kernelSize: req('posInt'), stride: opt('posInt'),
  padding: opt('padding1d'), dilation: opt('posInt'), groups: opt('posInt'), bias: opt('bool'), fakeQuant: opt('bool'), fakeQuantBits: opt('weightBits'),
};
const conv2dAttrs: Record<string, AttrRule> = {
  inChannels: req('posInt'), outChannels: req('posInt'), kernelSize: req('posInt2'), stride: opt('posInt2'),
  padding: opt('padding2d'), dilation: opt('posInt'), groups: opt('posInt'), bias: opt('bool'), fakeQuant: opt('bool'), fakeQuantBits: opt('weightBits'),
};
const quantAttrs: Record<string, AttrRule> = {
  dynamic: opt('bool'), perChannel: opt('bool'), relu: opt('bool'), inScale: opt('posNum'), inZeroPoint: opt('zeroPoint'),
  outScale: opt('posNum'), outZeroPoint: opt('zeroPoint'), engine: opt('engine'), weightBits: opt('weightBits'), quantizedOn: opt('label'),
};
const linearAttrs: Record<string, AttrRule> = { inFeatures: req('posInt'), outFeatures: req('posInt'), bias: opt('bool'), fakeQuant: opt('bool'), fakeQuantBits: opt('weightBits') };
/** Float layers with weights may run in half precision (attrs.dtype); int8 layers have their own precision rules. */
const halfPrecision: Record<string, AttrRule> = { dtype: opt('computeDtype') };

const OP_RULES: { [K in OpName]: OpRule } = {
  conv1d: { attrs: { ...conv1dAttrs, ...halfPrecision }, ...UNARY },
  conv2d: { attrs: { ...conv2dAttrs, ...halfPrecision }, ...UNARY },
  batchnorm1d: bnRule,
  batchnorm2d: bnRule,
  linear: { attrs: { ...linearAttrs, ...halfPrecision }, ...UNARY },
  relu: noAttrs,
  gelu: noAttrs,
  sigmoid: noAttrs,
  tanh: noAttrs,
  maxpool1d: poolRule,
  maxpool2d: poolRule,
  avgpool1d: poolRule,
  avgpool2d: poolRule,
  adaptiveavgpool1d: adaptiveRule,
  adaptiveavgpool2d: adaptiveRule,
  adaptivemaxpool1d: adaptiveRule,
  adaptivemaxpool2d: adaptiveRule,
  add: { attrs: { outScale: opt('posNum'), outZeroPoint: opt('zeroPoint'), relu: opt('bool') }, minInputs: 2, maxInputs: Infinity },
  concat: { attrs: { dim: opt('int'), outScale: opt('posNum'), outZeroPoint: opt('zeroPoint') }, minInputs: 2, maxInputs: Infinity },
  flatten: { attrs: { startDim: opt('int') }, ...UNARY },
  dropout: { attrs: { p: req('dropoutP') }, ...UNARY },
  embedding: { attrs: { numEmbeddings: req('posInt'), embeddingDim: req('posInt') }, ...UNARY },
  gru: {
    attrs: {
      inputSize: req('posInt'), hiddenSize: req('posInt'), numLayers: opt('posInt'), bidirectional: opt('bool'),
      output: opt('gruOutput'), ...halfPrecision,
    },
    ...UNARY,
  },
  layernorm: { attrs: { normalizedShape: req('posIntArray'), eps: opt('posNum') }, ...UNARY },
  lowrank_linear: { attrs: { inFeatures: req('posInt'), outFeatures: req('posInt'), rank: req('posInt'), bias: opt('bool') }, ...UNARY },
  lowrank_conv1d: { attrs: { ...conv1dAttrs, ...halfPrecision, rank: req('posInt') }, ...UNARY },
  lowrank_conv2d: { attrs: { ...conv2dAttrs, ...halfPrecision, rank: req('posInt') }, ...UNARY },
  qlinear: { attrs: { ...linearAttrs, ...quantAttrs }, ...UNARY },
  qconv1d: { attrs: { ...conv1dAttrs, ...quantAttrs }, ...UNARY },
  qconv2d: { attrs: { ...conv2dAttrs, ...quantAttrs }, ...UNARY },
  qgru: {
    attrs: {
      inputSize: req('posInt'), hiddenSize: req('posInt'), numLayers: opt('posInt'), bidirectional: opt('bool'),
      output: opt('gruOutput'), dynamic: opt('bool'), perChannel: opt('bool'), engine: opt('engine'),
      recurrence: opt('recurrence'), weightBits: opt('weightBits'), quantizedOn: opt('label'),
    },
    ...UNARY,
  },
};

const isConvOp = (op: OpName): op is 'conv1d' | 'conv2d' | 'lowrank_conv1d' | 'lowrank_conv2d' =>
  op === 'conv1d' || op === 'conv2d' || op === 'lowrank_conv1d' || op === 'lowrank_conv2d';

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= SPEC_LIMITS.maxInt;
/** An integer outside int32 range: reported with the limit rather than as "not an integer". */
const isHugeInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) > SPEC_LIMITS.maxInt;
/** `every` that also visits holes of sparse arrays (`[1, , 3].every(f)` skips the hole and would say true). */
const everyIndex = (v: unknown[], el: (x: unknown) => boolean): boolean => Array.from(v).every(el);
const isPosInt = (v: unknown): v is number => isInt(v) && v >= 1;
const isNonNegInt = (v: unknown): v is number => isInt(v) && v >= 0;
const isPair = (v: unknown, el: (x: unknown) => boolean): boolean => Array.isArray(v) && v.length === 2 && everyIndex(v, el);

const KIND_TEXT: Record<AttrKind, string> = {
  posInt: 'a positive integer',
  int: 'an integer',
  bool: 'a boolean',
  posNum: 'a positive finite number',
  unitInterval: 'a number in [0, 1]',
  dropoutP: 'a number in [0, 1)',
  padding1d: "a non-negative integer or 'same'",
  posInt2: 'a positive integer or a pair of positive integers',
  nonNegInt2: 'a non-negative integer or a pair of them',
  padding2d: "a non-negative integer, a pair of them, or 'same'",
  posIntArray: 'a non-empty array of positive integers',
  gruOutput: "'last' or 'sequence'",
  zeroPoint: 'an integer in [0, 255]',
  engine: "'onednn', 'qnnpack' or 'intmm'",
  computeDtype: "'float16' or 'bfloat16'",
  recurrence: "'auto', 'fused' or 'linear_dynamic'",
  weightBits: '7 or 8',
  label: 'a string of at most 200 characters',
};

/** Kinds whose numbers are integers (and so limited to int32). */
const INT_KINDS = new Set<AttrKind>(['posInt', 'int', 'padding1d', 'posInt2', 'nonNegInt2', 'padding2d', 'posIntArray', 'zeroPoint']);

function checkAttr(kind: AttrKind, v: unknown): boolean {
  switch (kind) {
    case 'posInt': return isPosInt(v);
    case 'int': return isInt(v);
    case 'bool': return typeof v === 'boolean';
    case 'posNum': return typeof v === 'number' && Number.isFinite(v) && v > 0;
    case 'unitInterval': return typeof v === 'number' && v >= 0 && v <= 1;
    case 'dropoutP': return typeof v === 'number' && v >= 0 && v < 1;
    case 'padding1d': return isNonNegInt(v) || v === 'same';
    case 'posInt2': return isPosInt(v) || isPair(v, isPosInt);
    case 'nonNegInt2': return isNonNegInt(v) || isPair(v, isNonNegInt);
    case 'padding2d': return isNonNegInt(v) || isPair(v, isNonNegInt) || v === 'same';
    case 'posIntArray': return Array.isArray(v) && v.length > 0 && everyIndex(v, isPosInt);
    case 'gruOutput': return v === 'last' || v === 'sequence';
    case 'zeroPoint': return isInt(v) && v >= 0 && v <= 255;
    case 'engine': return v === 'onednn' || v === 'qnnpack' || v === 'intmm';
    case 'computeDtype': return v === 'float16' || v === 'bfloat16';
    case 'recurrence': return v === 'auto' || v === 'fused' || v === 'linear_dynamic';
    case 'weightBits': return v === 7 || v === 8;
    case 'label': return typeof v === 'string' && v.length <= 200;
  }
}

function describe(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s;
  } catch {
    return String(v);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------------------------
// Structure
// ---------------------------------------------------------------------------------------------------------------

/** Checks everything but shapes; returns a normalized deep copy (missing `attrs` of attribute-less ops become {}). */
function checkStructure(raw: unknown): ModelSpec {
  if (!isRecord(raw)) throw new ConfigError(`spec must be an object, got ${describe(raw)}`, 'spec');
  if (raw.format !== SPEC_FORMAT) {
    throw new ConfigError(`expected format '${SPEC_FORMAT}', got ${describe(raw.format)}`, 'format');
  }
  if (raw.name !== undefined && typeof raw.name !== 'string') throw new ConfigError('name must be a string', 'name');

  // inputs
  if (!Array.isArray(raw.inputs) || raw.inputs.length === 0) {
    throw new ConfigError('inputs must be a non-empty array', 'inputs');
  }
  const inputs: GraphInput[] = [];
  const inputNames = new Set<string>();
  raw.inputs.forEach((inp: unknown, i: number) => {
    const p = `inputs[${i}]`;
    if (!isRecord(inp)) throw new ConfigError('input must be an object', p);
    if (typeof inp.name !== 'string' || !NAME_RE.test(inp.name)) {
      throw new ConfigError(`input name must match ${NAME_RE}, got ${describe(inp.name)}`, `${p}.name`);
    }
    if (inputNames.has(inp.name)) throw new ConfigError(`duplicate input name '${inp.name}'`, `${p}.name`);
    inputNames.add(inp.name);
    if (!Array.isArray(inp.shape) || inp.shape.length === 0) {
      throw new ConfigError('shape must be a non-empty array of positive integers (per sample, no batch dim)', `${p}.shape`);
    }
    Array.from(inp.shape as unknown[]).forEach((d: unknown, j: number) => { // Array.from: holes become undefined, not skipped
      if (isHugeInt(d)) throw new ConfigError(`dimension must be at most ${SPEC_LIMITS.maxInt}, got ${describe(d)}`, `${p}.shape[${j}]`);
      if (!isPosInt(d)) throw new ConfigError(`dimension must be a positive integer, got ${describe(d)}`, `${p}.shape[${j}]`);
    });
    if (inp.dtype !== 'float32' && inp.dtype !== 'int64') {
      throw new ConfigError(`dtype must be 'float32' or 'int64', got ${describe(inp.dtype)}`, `${p}.dtype`);
    }
    inputs.push({ name: inp.name, shape: [...(inp.shape as number[])], dtype: inp.dtype });
  });

  // nodes
  if (!Array.isArray(raw.nodes) || raw.nodes.length === 0) throw new ConfigError('nodes must be a non-empty array', 'nodes');
  const nodes: GraphNode[] = [];
  const nodeNames = new Set<string>();
  raw.nodes.forEach((n: unknown, i: number) => {
    const p = `nodes[${i}]`;
    if (!isRecord(n)) throw new ConfigError('node must be an object', p);
    if (typeof n.name !== 'string' || !NAME_RE.test(n.name)) {
      throw new ConfigError(`node name must match ${NAME_RE} (it becomes a parameter prefix), got ${describe(n.name)}`, `${p}.name`);
    }
    if (inputNames.has(n.name)) throw new ConfigError(`node name '${n.name}' clashes with an input name`, `${p}.name`);
    if (nodeNames.has(n.name)) throw new ConfigError(`duplicate node name '${n.name}'`, `${p}.name`);
    nodeNames.add(n.name);
    if (typeof n.op !== 'string' || !(OP_NAMES as readonly string[]).includes(n.op)) {
      throw new ConfigError(`unknown op ${describe(n.op)}; known ops: ${OP_NAMES.join(', ')}`, `${p}.op`);
    }
    const op = n.op as OpName;
    const rule = OP_RULES[op];
    if (!Array.isArray(n.inputs)) throw new ConfigError('inputs must be an array of names', `${p}.inputs`);
    Array.from(n.inputs as unknown[]).forEach((s: unknown, j: number) => {
      if (typeof s !== 'string') throw new ConfigError(`input reference must be a string, got ${describe(s)}`, `${p}.inputs[${j}]`);
    });
    const nIn = n.inputs.length;
    if (nIn < rule.minInputs || nIn > rule.maxInputs) {
      const want = rule.maxInputs === rule.minInputs ? `exactly ${rule.minInputs}` : `at least ${rule.minInputs}`;
      throw new ConfigError(`op '${op}' takes ${want} input(s), got ${nIn}`, `${p}.inputs`);
    }
    let attrs: unknown = n.attrs;
    if (attrs === undefined && Object.values(rule.attrs).every((r) => !r.required)) attrs = {};
    if (!isRecord(attrs)) throw new ConfigError(`attrs must be an object`, `${p}.attrs`);
    for (const key of Object.keys(attrs)) {
      // hasOwn, not `in`: 'constructor', 'toString' or '__proto__' are inherited by every object and are not attributes.
      if (!Object.hasOwn(rule.attrs, key)) {
        const known = Object.keys(rule.attrs);
        throw new ConfigError(
          `unknown attribute '${key}' for op '${op}'${known.length ? ` (known: ${known.join(', ')})` : ' (it takes none)'}`,
          `${p}.attrs.${key}`,
        );
      }
    }
    for (const [key, r] of Object.entries(rule.attrs)) {
      const v = attrs[key];
      if (v === undefined) {
        if (r.required) throw new ConfigError(`missing required attribute '${key}' (${KIND_TEXT[r.kind]})`, `${p}.attrs.${key}`);
        continue;
      }
      const huge = INT_KINDS.has(r.kind) && (isHugeInt(v) || (Array.isArray(v) && v.some(isHugeInt)));
      if (huge) throw new ConfigError(`must be at most ${SPEC_LIMITS.maxInt} in absolute value, got ${describe(v)}`, `${p}.attrs.${key}`);
      if (!checkAttr(r.kind, v)) throw new ConfigError(`must be ${KIND_TEXT[r.kind]}, got ${describe(v)}`, `${p}.attrs.${key}`);
    }
    checkOpSemantics(op, attrs, p);
    nodes.push({ name: n.name, op, inputs: [...(n.inputs as string[])], attrs: structuredClone(attrs) } as GraphNode);
  });

  // references
  nodes.forEach((n, i) => {
    n.inputs.forEach((ref, j) => {
      if (!inputNames.has(ref) && !nodeNames.has(ref)) {
        throw new ConfigError(`references '${ref}', which is neither a node nor an input`, `nodes[${i}].inputs[${j}]`);
      }
      if (ref === n.name) throw new ConfigError(`node '${n.name}' takes itself as input (cycle)`, `nodes[${i}].inputs[${j}]`);
    });
  });

  // output
  if (typeof raw.output !== 'string') throw new ConfigError('output must be a node name', 'output');
  if (!nodeNames.has(raw.output)) {
    throw new ConfigError(
      inputNames.has(raw.output) ? `output '${raw.output}' is an input; it must be a node` : `output '${raw.output}' is not a node`,
      'output',
    );
  }

  // task
  const task = raw.task;
  if (!isRecord(task)) throw new ConfigError('task must be an object', 'task');
  let outTask: ModelSpec['task'];
  if (task.kind === 'classification') {
    if (!isInt(task.classes) || task.classes < 2) {
      throw new ConfigError(`classes must be an integer ≥ 2, got ${describe(task.classes)}`, 'task.classes');
    }
    outTask = { kind: 'classification', classes: task.classes };
  } else if (task.kind === 'regression') {
    if (!isPosInt(task.targets)) throw new ConfigError(`targets must be a positive integer, got ${describe(task.targets)}`, 'task.targets');
    outTask = { kind: 'regression', targets: task.targets };
  } else {
    throw new ConfigError(`task.kind must be 'classification' or 'regression', got ${describe(task.kind)}`, 'task.kind');
  }

  const spec: ModelSpec = { format: SPEC_FORMAT, inputs, nodes, output: raw.output, task: outTask };
  if (typeof raw.name === 'string') spec.name = raw.name;

  topologicalOrder(spec); // throws on cycles
  checkReachability(spec);
  return spec;
}

/** Attribute constraints that involve more than one attribute. */
function checkOpSemantics(op: OpName, a: Record<string, unknown>, p: string): void {
  if (op === 'lowrank_conv1d' || op === 'lowrank_conv2d') {
    if (a.groups !== undefined && a.groups !== 1) {
      throw new ConfigError(`a low-rank conv must have groups 1, got ${describe(a.groups)}`, `${p}.attrs.groups`);
    }
  }
  // qconv too: native/quantize.cc sizes the int8 weight as in / groups and would build a wrong layer silently.
  if (isConvOp(op) || op === 'qconv1d' || op === 'qconv2d') {
    const groups = (a.groups as number | undefined) ?? 1;
    const cin = a.inChannels as number;
    const cout = a.outChannels as number;
    if (cin % groups !== 0) throw new ConfigError(`groups (${groups}) must divide inChannels (${cin})`, `${p}.attrs.groups`);
    if (cout % groups !== 0) throw new ConfigError(`groups (${groups}) must divide outChannels (${cout})`, `${p}.attrs.groups`);
    if (a.padding === 'same') {
      const s = a.stride ?? 1;
      if (!(s === 1 || (Array.isArray(s) && s.every((x) => x === 1)))) {
        throw new ConfigError(`padding 'same' requires stride 1, got ${describe(s)}`, `${p}.attrs.padding`);
      }
    }
  }
  if ((op === 'gru' || op === 'qgru') && ((a.numLayers as number | undefined) ?? 1) > SPEC_LIMITS.maxGruLayers) {
    throw new ConfigError(`at most ${SPEC_LIMITS.maxGruLayers} layers, got ${describe(a.numLayers)}`, `${p}.attrs.numLayers`);
  }
  if (op.startsWith('maxpool') || op.startsWith('avgpool')) {
    const k = pair(a.kernelSize as number | [number, number]);
    const pad = pair((a.padding as number | [number, number] | undefined) ?? 0);
    if (pad[0] > Math.floor(k[0] / 2) || pad[1] > Math.floor(k[1] / 2)) {
      throw new ConfigError(`padding ${describe(a.padding)} must be at most half the kernel size ${describe(a.kernelSize)}`, `${p}.attrs.padding`);
    }
  }
  if ((op.endsWith('1d')) && op !== 'batchnorm1d') {
    for (const key of ['kernelSize', 'stride', 'padding', 'outputSize']) {
      if (Array.isArray(a[key])) throw new ConfigError(`a 1d op takes a single integer, got ${describe(a[key])}`, `${p}.attrs.${key}`);
    }
  }
}

const pair = (v: number | [number, number]): [number, number] => (Array.isArray(v) ? v : [v, v]);

/** The smallest vocabulary among the embeddings that read input `name` (its token ids must stay below it), if any. */
export function tokenBound(spec: ModelSpec, name: string): number | undefined {
  const sizes = spec.nodes.filter((n) => n.op === 'embedding' && n.inputs.includes(name)).map((n) => (n.attrs as { numEmbeddings: number }).numEmbeddings);
  return sizes.length ? Math.min(...sizes) : undefined;
}

/**
 * A kernel/stride/padding/output-size attribute as one value per spatial dim (1 or 2): a scalar repeats, a pair gives
 * its first value to a 1-d op; `fallback` when the attribute is absent.
 */
export function perDim(v: number | [number, number] | undefined, dims: number, fallback: number): number[] {
  if (Array.isArray(v)) return dims === 1 ? [v[0]] : [...v];
  return Array.from({ length: dims }, () => v ?? fallback);
}

function checkReachability(spec: ModelSpec): void {
  const byName = new Map(spec.nodes.map((n) => [n.name, n] as const));
  const seen = new Set<string>();
  const stack = [spec.output];
  while (stack.length) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const n = byName.get(name);
    if (n) for (const r of n.inputs) stack.push(r); // not push(...inputs): a node with 10^5 inputs overflows the call stack
  }
  const unusedNodes = spec.nodes.map((n, i) => [n.name, i] as const).filter(([name]) => !seen.has(name));
  if (unusedNodes.length) {
    const i = unusedNodes[0]![1];
    throw new ConfigError(
      `node(s) not used by output '${spec.output}': ${unusedNodes.map(([n]) => n).join(', ')}`,
      unusedNodes.length === 1 ? `nodes[${i}]` : 'nodes',
    );
  }
  const unusedInputs = spec.inputs.map((inp, i) => [inp.name, i] as const).filter(([name]) => !seen.has(name));
  if (unusedInputs.length) {
    throw new ConfigError(
      `input(s) not used by output '${spec.output}': ${unusedInputs.map(([n]) => n).join(', ')}`,
      `inputs[${unusedInputs[0]![1]}]`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------------------

/**
 * The nodes in an order where every node comes after the nodes it reads (Kahn's algorithm, stable: ties keep
 * the spec's order). Throws `ConfigError` naming the cycle if there is one.
 */
export function topologicalOrder(spec: ModelSpec): GraphNode[] {
  const index = new Map(spec.nodes.map((n, i) => [n.name, i] as const));
  const indeg = spec.nodes.map((n) => n.inputs.filter((r) => index.has(r)).length);
  const consumers: number[][] = spec.nodes.map(() => []);
  spec.nodes.forEach((n, i) => {
    for (const r of n.inputs) {
      const j = index.get(r);
      if (j !== undefined) consumers[j]!.push(i);
    }
  });
  const ready: number[] = [];
  indeg.forEach((d, i) => { if (d === 0) ready.push(i); });
  const order: GraphNode[] = [];
  while (ready.length) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    order.push(spec.nodes[i]!);
    for (const c of consumers[i]!) {
      indeg[c]! -= 1;
      if (indeg[c] === 0) ready.push(c);
    }
  }
  if (order.length < spec.nodes.length) {
    const cycle = findCycle(spec, index);
    const at = index.get(cycle[0]!)!;
    // A long cycle is shortened, so the message stays readable (and small) for a hostile spec.
    const shown = cycle.length > 12 ? `${cycle.slice(0, 10).join(' -> ')} -> … (${cycle.length - 1} nodes)` : cycle.join(' -> ');
    throw new ConfigError(`graph has a cycle: ${shown}`, `nodes[${at}].inputs`);
  }
  return order;
}

function findCycle(spec: ModelSpec, index: Map<string, number>): string[] {
  // Iterative DFS (a recursive one overflows the call stack on a cycle through ~10^4 nodes).
  const state = new Map<string, 1 | 2>(); // 1 = on stack, 2 = done
  for (const root of spec.nodes) {
    if (state.has(root.name)) continue;
    const path: string[] = [root.name];
    const next: number[] = [0]; // per path entry: the next input to look at
    state.set(root.name, 1);
    while (path.length) {
      const name = path[path.length - 1]!;
      const inputs = spec.nodes[index.get(name)!]!.inputs;
      const k = next[next.length - 1]!;
      if (k >= inputs.length) {
        path.pop();
        next.pop();
        state.set(name, 2);
        continue;
      }
      next[next.length - 1] = k + 1;
      const r = inputs[k]!;
      if (!index.has(r)) continue;
      const st = state.get(r);
      // path: ... r ... name, and name reads r: data flows r -> ... -> name -> r. The DFS walks edges against data
      // flow; report in data-flow order.
      if (st === 1) return [...path.slice(path.indexOf(r)), r].reverse();
      if (st === undefined) {
        state.set(r, 1);
        path.push(r);
        next.push(0);
      }
    }
  }
  return [];
}

/** Validates a spec (parsed JSON or an object) and returns it typed. Throws `ConfigError` with a `path`. */
export function validateSpec(spec: unknown): ModelSpec {
  const s = checkStructure(spec);
  const shapes = infer(s);
  checkWeights(s);
  const out = shapes.get(s.output)!;
  const want = s.task.kind === 'classification' ? s.task.classes : s.task.targets;
  if (out.length !== 1 || out[0] !== want) {
    throw new ConfigError(
      `output '${s.output}' has per-sample shape ${fmt(out)} but task ${s.task.kind} needs ${fmt([want])}`,
      'output',
    );
  }
  return s;
}

/** Weight elements a node allocates natively: its parameters, or for int8 layers the int8 weight buffers. */
function nodeWeightCount(n: GraphNode): number {
  switch (n.op) {
    case 'qlinear': return nodeParameterCount({ ...n, op: 'linear' } as GraphNode);
    case 'qconv1d': return nodeParameterCount({ ...n, op: 'conv1d' } as GraphNode);
    case 'qconv2d': return nodeParameterCount({ ...n, op: 'conv2d' } as GraphNode);
    case 'qgru': return nodeParameterCount({ ...n, op: 'gru' } as GraphNode);
    default: return nodeParameterCount(n);
  }
}

/** Rejects a spec whose weights would not fit SPEC_LIMITS.maxWeights before native/ allocates them. */
function checkWeights(spec: ModelSpec): void {
  let total = 0;
  spec.nodes.forEach((n, i) => {
    const w = nodeWeightCount(n);
    if (w > SPEC_LIMITS.maxWeights) {
      throw new ConfigError(`'${n.op}' would hold ${w} weights, more than the limit of ${SPEC_LIMITS.maxWeights}`, `nodes[${i}].attrs`);
    }
    total += w;
  });
  if (total > SPEC_LIMITS.maxWeights) {
    throw new ConfigError(`the model would hold ${total} weights, more than the limit of ${SPEC_LIMITS.maxWeights}`, 'nodes');
  }
}

/**
 * Per-sample output shape of every input and node (no batch dimension). Validates the structure first;
 * throws `ConfigError` with the node's path and expected vs actual shapes on a mismatch.
 */
export function inferShapes(spec: ModelSpec): Map<string, number[]> {
  return infer(checkStructure(spec));
}

/** Trainable parameter count, exactly as PyTorch's `sum(p.numel() for p in m.parameters())` would report it. */
export function parameterCount(spec: ModelSpec): number {
  let total = 0;
  for (const n of spec.nodes) total += nodeParameterCount(n);
  return total;
}

/** Trainable parameters owned by one node (running statistics are buffers and not counted). */
export function nodeParameterCount(n: GraphNode): number {
  switch (n.op) {
    case 'lowrank_linear': {
      const { inFeatures, outFeatures, rank } = n.attrs;
      return outFeatures * rank + rank + rank * inFeatures + (n.attrs.bias === false ? 0 : outFeatures);
    }
    case 'lowrank_conv1d':
    case 'lowrank_conv2d': {
      const a = n.attrs;
      const k = n.op === 'lowrank_conv2d' ? pair(n.attrs.kernelSize) : [n.attrs.kernelSize, 1];
      const r = a.rank;
      return a.outChannels * r + r + r * a.inChannels * k[0]! * k[1]! + (a.bias === false ? 0 : a.outChannels);
    }
    case 'conv1d':
    case 'conv2d': {
      const a = n.attrs;
      const k = n.op === 'conv2d' ? pair(n.attrs.kernelSize) : [n.attrs.kernelSize, 1];
      const w = a.outChannels * (a.inChannels / (a.groups ?? 1)) * k[0]! * k[1]!;
      return w + (a.bias === false ? 0 : a.outChannels);
    }
    case 'linear':
      return n.attrs.outFeatures * n.attrs.inFeatures + (n.attrs.bias === false ? 0 : n.attrs.outFeatures);
    case 'batchnorm1d':
    case 'batchnorm2d':
      return 2 * n.attrs.numFeatures;
    case 'embedding':
      return n.attrs.numEmbeddings * n.attrs.embeddingDim;
    case 'gru': {
      const { inputSize, hiddenSize: h } = n.attrs;
      const layers = n.attrs.numLayers ?? 1;
      const dirs = n.attrs.bidirectional ? 2 : 1;
      let total = 0;
      for (let l = 0; l < layers; l++) {
        const inp = l === 0 ? inputSize : h * dirs;
        total += dirs * (3 * h * (inp + h) + 6 * h);
      }
      return total;
    }
    case 'layernorm':
      return 2 * n.attrs.normalizedShape.reduce((a, b) => a * b, 1);
    default:
      return 0;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Shape inference
// ---------------------------------------------------------------------------------------------------------------

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

function convOut(len: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((len + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/** A per-sample tensor (input or node output) larger than SPEC_LIMITS.maxSampleElements is rejected. */
function checkElements(shape: readonly number[], path: string): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > SPEC_LIMITS.maxSampleElements) {
    throw new ConfigError(`per-sample shape ${fmt(shape)} has ${n} elements, more than the limit of ${SPEC_LIMITS.maxSampleElements}`, path);
  }
}

function infer(spec: ModelSpec): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const int64 = new Set<string>();
  spec.inputs.forEach((inp, i) => checkElements(inp.shape, `inputs[${i}].shape`));
  for (const inp of spec.inputs) {
    shapes.set(inp.name, [...inp.shape]);
    if (inp.dtype === 'int64') int64.add(inp.name);
  }
  const index = new Map(spec.nodes.map((n, i) => [n.name, i] as const));
  for (const n of topologicalOrder(spec)) {
    const p = `nodes[${index.get(n.name)}]`;
    const ins = n.inputs.map((r) => shapes.get(r)!);
    n.inputs.forEach((r, j) => {
      if (int64.has(r) && n.op !== 'embedding') {
        throw new ConfigError(`int64 input '${r}' can only feed an embedding, not '${n.op}'`, `${p}.inputs[${j}]`);
      }
      if (!int64.has(r) && n.op === 'embedding') {
        throw new ConfigError(`embedding needs an int64 input, but '${r}' is float32`, `${p}.inputs[${j}]`);
      }
    });
    const out = nodeShape(n, ins, p);
    checkElements(out, `${p}`);
    shapes.set(n.name, out);
  }
  return shapes;
}

function nodeShape(n: GraphNode, ins: number[][], p: string): number[] {
  const x = ins[0]!;
  const rank = (r: number, what: string): void => {
    if (x.length !== r) {
      throw new ConfigError(`'${n.op}' expects a per-sample ${what} (rank ${r}), got ${fmt(x)}`, `${p}.inputs[0]`);
    }
  };
  const mismatch = (attr: string, expected: number | string, actual: number | string): never => {
    throw new ConfigError(`'${n.op}' expects ${attr} = ${expected} but the input ${fmt(x)} gives ${actual}`, `${p}.attrs.${attr}`);
  };
  const positive = (out: number[], attr: string): number[] => {
    if (out.some((d) => d < 1)) {
      throw new ConfigError(`output shape ${fmt(out)} is empty for input ${fmt(x)}: kernel too large for the input`, `${p}.attrs.${attr}`);
    }
    return out;
  };
  switch (n.op) {
    case 'conv1d':
    case 'qconv1d':
    case 'lowrank_conv1d': {
      rank(2, '[C, L]');
      const a = n.attrs;
      if (x[0] !== a.inChannels) mismatch('inChannels', x[0]!, a.inChannels);
      const d = a.dilation ?? 1;
      const len = a.padding === 'same' ? x[1]! : convOut(x[1]!, a.kernelSize, a.stride ?? 1, a.padding ?? 0, d);
      return positive([a.outChannels, len], 'kernelSize');
    }
    case 'conv2d':
    case 'qconv2d':
    case 'lowrank_conv2d': {
      rank(3, '[C, H, W]');
      const a = n.attrs;
      if (x[0] !== a.inChannels) mismatch('inChannels', x[0]!, a.inChannels);
      const k = pair(a.kernelSize);
      const s = pair(a.stride ?? 1);
      const d = a.dilation ?? 1;
      if (a.padding === 'same') return [a.outChannels, x[1]!, x[2]!];
      const pd = pair(a.padding ?? 0);
      return positive([a.outChannels, convOut(x[1]!, k[0], s[0], pd[0], d), convOut(x[2]!, k[1], s[1], pd[1], d)], 'kernelSize');
    }
    case 'batchnorm1d':
      if (x.length !== 1 && x.length !== 2) {
        throw new ConfigError(`'batchnorm1d' expects a per-sample [C] or [C, L], got ${fmt(x)}`, `${p}.inputs[0]`);
      }
      if (x[0] !== n.attrs.numFeatures) mismatch('numFeatures', x[0]!, n.attrs.numFeatures);
      return [...x];
    case 'batchnorm2d':
      rank(3, '[C, H, W]');
      if (x[0] !== n.attrs.numFeatures) mismatch('numFeatures', x[0]!, n.attrs.numFeatures);
      return [...x];
    case 'linear':
    case 'qlinear':
    case 'lowrank_linear': {
      const last = x[x.length - 1]!;
      if (last !== n.attrs.inFeatures) {
        throw new ConfigError(
          `'${n.op}' applies to the last dimension: expected inFeatures = ${last} (input ${fmt(x)}), got ${n.attrs.inFeatures}`,
          `${p}.attrs.inFeatures`,
        );
      }
      return [...x.slice(0, -1), n.attrs.outFeatures];
    }
    case 'relu':
    case 'gelu':
    case 'sigmoid':
    case 'tanh':
    case 'dropout':
      return [...x];
    case 'maxpool1d':
    case 'avgpool1d': {
      rank(2, '[C, L]');
      const k = n.attrs.kernelSize as number;
      const s = (n.attrs.stride as number | undefined) ?? k;
      return positive([x[0]!, convOut(x[1]!, k, s, (n.attrs.padding as number | undefined) ?? 0, 1)], 'kernelSize');
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      rank(3, '[C, H, W]');
      const k = pair(n.attrs.kernelSize);
      const s = pair(n.attrs.stride ?? n.attrs.kernelSize);
      const pd = pair(n.attrs.padding ?? 0);
      return positive([x[0]!, convOut(x[1]!, k[0], s[0], pd[0], 1), convOut(x[2]!, k[1], s[1], pd[1], 1)], 'kernelSize');
    }
    case 'adaptiveavgpool1d':
    case 'adaptivemaxpool1d':
      rank(2, '[C, L]');
      return [x[0]!, n.attrs.outputSize as number];
    case 'adaptiveavgpool2d':
    case 'adaptivemaxpool2d': {
      rank(3, '[C, H, W]');
      const o = pair(n.attrs.outputSize);
      return [x[0]!, o[0], o[1]];
    }
    case 'add':
      ins.forEach((s, j) => {
        if (s.length !== x.length || s.some((d, k) => d !== x[k])) {
          throw new ConfigError(`'add' needs equal shapes: inputs[0] is ${fmt(x)}, inputs[${j}] is ${fmt(s)}`, `${p}.inputs[${j}]`);
        }
      });
      return [...x];
    case 'concat': {
      const full = x.length + 1; // batch counts as dim 0
      const raw = n.attrs.dim ?? 1;
      const dim = raw < 0 ? raw + full : raw;
      if (dim < 1 || dim >= full) {
        throw new ConfigError(
          `dim ${raw} is out of range for per-sample rank ${x.length} (batch is dim 0; valid: 1..${full - 1} or -${full - 1}..-1)`,
          `${p}.attrs.dim`,
        );
      }
      const k = dim - 1;
      let total = 0;
      ins.forEach((s, j) => {
        if (s.length !== x.length || s.some((d, i) => i !== k && d !== x[i])) {
          throw new ConfigError(
            `'concat' along dim ${raw} needs equal shapes except that dim: inputs[0] is ${fmt(x)}, inputs[${j}] is ${fmt(s)}`,
            `${p}.inputs[${j}]`,
          );
        }
        total += s[k]!;
      });
      const out = [...x];
      out[k] = total;
      return out;
    }
    case 'flatten': {
      const full = x.length + 1;
      const raw = n.attrs.startDim ?? 1;
      const sd = raw < 0 ? raw + full : raw;
      if (sd < 1 || sd >= full) {
        throw new ConfigError(
          `startDim ${raw} is out of range for per-sample rank ${x.length} (batch is dim 0 and cannot be flattened)`,
          `${p}.attrs.startDim`,
        );
      }
      const k = sd - 1;
      return [...x.slice(0, k), x.slice(k).reduce((a, b) => a * b, 1)];
    }
    case 'embedding':
      return [...x, n.attrs.embeddingDim];
    case 'gru':
    case 'qgru': {
      rank(2, '[T, inputSize]');
      if (x[1] !== n.attrs.inputSize) mismatch('inputSize', x[1]!, n.attrs.inputSize);
      const hd = n.attrs.hiddenSize * (n.attrs.bidirectional ? 2 : 1);
      return (n.attrs.output ?? 'last') === 'last' ? [hd] : [x[0]!, hd];
    }
    case 'layernorm': {
      const ns = n.attrs.normalizedShape;
      const tail = x.slice(x.length - ns.length);
      if (ns.length > x.length || tail.some((d, i) => d !== ns[i])) {
        throw new ConfigError(
          `normalizedShape ${fmt(ns)} must match the trailing dimensions of the input ${fmt(x)}`,
          `${p}.attrs.normalizedShape`,
        );
      }
      return [...x];
    }
  }
}
