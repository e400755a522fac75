/**
 * Graph-spec validation, shape inference, topological order and parameter counting — all pure TypeScript,
 * so a bad spec is rejected with a precise `ConfigError.path` before native/ ever sees it. What each op accepts,
 * what shape it makes and what it weighs is in its descriptor (lib/graph/ops/); this file is the engine that reads them.
 */
import { ConfigError } from '../core/errors.js';
import { SPEC_LIMITS } from './limits.js';
import { checkAttr, describe, INT_KINDS, isHugeInt, isInt, isPosInt, KIND_TEXT } from './ops/attrs.js';
import { fmt } from './ops/geometry.js';
import { opDescriptor } from './ops/index.js';
import type { ShapeContext } from './ops/types.js';
import { OP_NAMES, SPEC_FORMAT } from './types.js';
import type { GraphInput, GraphNode, ModelSpec, OpName } from './types.js';

export { SPEC_LIMITS } from './limits.js';
export { perDim } from './ops/geometry.js';

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

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
      throw new ConfigError(
        'shape must be a non-empty array of positive integers (per sample, no batch dim)',
        `${p}.shape`,
      );
    }
    Array.from(inp.shape as unknown[]).forEach((d: unknown, j: number) => {
      // Array.from: holes become undefined, not skipped
      if (isHugeInt(d))
        throw new ConfigError(
          `dimension must be at most ${SPEC_LIMITS.maxInt}, got ${describe(d)}`,
          `${p}.shape[${j}]`,
        );
      if (!isPosInt(d))
        throw new ConfigError(`dimension must be a positive integer, got ${describe(d)}`, `${p}.shape[${j}]`);
    });
    if (inp.dtype !== 'float32' && inp.dtype !== 'int64') {
      throw new ConfigError(`dtype must be 'float32' or 'int64', got ${describe(inp.dtype)}`, `${p}.dtype`);
    }
    inputs.push({ name: inp.name, shape: [...(inp.shape as number[])], dtype: inp.dtype });
  });

  // nodes
  if (!Array.isArray(raw.nodes) || raw.nodes.length === 0)
    throw new ConfigError('nodes must be a non-empty array', 'nodes');
  const nodes: GraphNode[] = [];
  const nodeNames = new Set<string>();
  raw.nodes.forEach((n: unknown, i: number) => {
    const p = `nodes[${i}]`;
    if (!isRecord(n)) throw new ConfigError('node must be an object', p);
    if (typeof n.name !== 'string' || !NAME_RE.test(n.name)) {
      throw new ConfigError(
        `node name must match ${NAME_RE} (it becomes a parameter prefix), got ${describe(n.name)}`,
        `${p}.name`,
      );
    }
    if (inputNames.has(n.name)) throw new ConfigError(`node name '${n.name}' clashes with an input name`, `${p}.name`);
    if (nodeNames.has(n.name)) throw new ConfigError(`duplicate node name '${n.name}'`, `${p}.name`);
    nodeNames.add(n.name);
    if (typeof n.op !== 'string' || !(OP_NAMES as readonly string[]).includes(n.op)) {
      throw new ConfigError(`unknown op ${describe(n.op)}; known ops: ${OP_NAMES.join(', ')}`, `${p}.op`);
    }
    const op = n.op as OpName;
    const rule = opDescriptor(op);
    if (!Array.isArray(n.inputs)) throw new ConfigError('inputs must be an array of names', `${p}.inputs`);
    Array.from(n.inputs as unknown[]).forEach((s: unknown, j: number) => {
      if (typeof s !== 'string')
        throw new ConfigError(`input reference must be a string, got ${describe(s)}`, `${p}.inputs[${j}]`);
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
        if (r.required)
          throw new ConfigError(`missing required attribute '${key}' (${KIND_TEXT[r.kind]})`, `${p}.attrs.${key}`);
        continue;
      }
      const huge = INT_KINDS.has(r.kind) && (isHugeInt(v) || (Array.isArray(v) && v.some(isHugeInt)));
      if (huge)
        throw new ConfigError(
          `must be at most ${SPEC_LIMITS.maxInt} in absolute value, got ${describe(v)}`,
          `${p}.attrs.${key}`,
        );
      if (!checkAttr(r.kind, v))
        throw new ConfigError(`must be ${KIND_TEXT[r.kind]}, got ${describe(v)}`, `${p}.attrs.${key}`);
    }
    rule.check?.(attrs, p);
    nodes.push({ name: n.name, op, inputs: [...(n.inputs as string[])], attrs: structuredClone(attrs) } as GraphNode);
  });

  // references
  nodes.forEach((n, i) => {
    n.inputs.forEach((ref, j) => {
      if (!inputNames.has(ref) && !nodeNames.has(ref)) {
        throw new ConfigError(`references '${ref}', which is neither a node nor an input`, `nodes[${i}].inputs[${j}]`);
      }
      if (ref === n.name)
        throw new ConfigError(`node '${n.name}' takes itself as input (cycle)`, `nodes[${i}].inputs[${j}]`);
    });
  });

  // output
  if (typeof raw.output !== 'string') throw new ConfigError('output must be a node name', 'output');
  if (!nodeNames.has(raw.output)) {
    throw new ConfigError(
      inputNames.has(raw.output)
        ? `output '${raw.output}' is an input; it must be a node`
        : `output '${raw.output}' is not a node`,
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
    if (!isPosInt(task.targets))
      throw new ConfigError(`targets must be a positive integer, got ${describe(task.targets)}`, 'task.targets');
    outTask = { kind: 'regression', targets: task.targets };
  } else {
    throw new ConfigError(
      `task.kind must be 'classification' or 'regression', got ${describe(task.kind)}`,
      'task.kind',
    );
  }

  const spec: ModelSpec = { format: SPEC_FORMAT, inputs, nodes, output: raw.output, task: outTask };
  if (typeof raw.name === 'string') spec.name = raw.name;

  topologicalOrder(spec); // throws on cycles
  checkReachability(spec);
  return spec;
}

/** The smallest vocabulary among the embeddings that read input `name` (its token ids must stay below it), if any. */
export function tokenBound(spec: ModelSpec, name: string): number | undefined {
  const sizes = spec.nodes
    .filter((n) => n.op === 'embedding' && n.inputs.includes(name))
    .map((n) => (n.attrs as { numEmbeddings: number }).numEmbeddings);
  return sizes.length ? Math.min(...sizes) : undefined;
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
  indeg.forEach((d, i) => {
    if (d === 0) ready.push(i);
  });
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
    const shown =
      cycle.length > 12 ? `${cycle.slice(0, 10).join(' -> ')} -> … (${cycle.length - 1} nodes)` : cycle.join(' -> ');
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
  const weights = opDescriptor(n.op).weights;
  return weights ? weights(n) : nodeParameterCount(n);
}

/** Rejects a spec whose weights would not fit SPEC_LIMITS.maxWeights before native/ allocates them. */
function checkWeights(spec: ModelSpec): void {
  let total = 0;
  spec.nodes.forEach((n, i) => {
    const w = nodeWeightCount(n);
    if (w > SPEC_LIMITS.maxWeights) {
      throw new ConfigError(
        `'${n.op}' would hold ${w} weights, more than the limit of ${SPEC_LIMITS.maxWeights}`,
        `nodes[${i}].attrs`,
      );
    }
    total += w;
  });
  if (total > SPEC_LIMITS.maxWeights) {
    throw new ConfigError(
      `the model would hold ${total} weights, more than the limit of ${SPEC_LIMITS.maxWeights}`,
      'nodes',
    );
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
  return opDescriptor(n.op).parameters?.(n) ?? 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Shape inference
// ---------------------------------------------------------------------------------------------------------------

/** A per-sample tensor (input or node output) larger than SPEC_LIMITS.maxSampleElements is rejected. */
function checkElements(shape: readonly number[], path: string): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > SPEC_LIMITS.maxSampleElements) {
    throw new ConfigError(
      `per-sample shape ${fmt(shape)} has ${n} elements, more than the limit of ${SPEC_LIMITS.maxSampleElements}`,
      path,
    );
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
    const tokens = opDescriptor(n.op).readsTokens === true;
    n.inputs.forEach((r, j) => {
      if (int64.has(r) && !tokens) {
        throw new ConfigError(`int64 input '${r}' can only feed an embedding, not '${n.op}'`, `${p}.inputs[${j}]`);
      }
      if (!int64.has(r) && tokens) {
        throw new ConfigError(`${n.op} needs an int64 input, but '${r}' is float32`, `${p}.inputs[${j}]`);
      }
    });
    const out = nodeShape(n, ins, p);
    checkElements(out, `${p}`);
    shapes.set(n.name, out);
  }
  return shapes;
}

/** The node's output shape by its op's rule, which fails through a context that knows the node's path. */
function nodeShape(n: GraphNode, ins: number[][], p: string): number[] {
  const x = ins[0]!;
  const c: ShapeContext = {
    ins,
    x,
    path: p,
    rank: (r, what) => {
      if (x.length !== r) {
        throw new ConfigError(`'${n.op}' expects a per-sample ${what} (rank ${r}), got ${fmt(x)}`, `${p}.inputs[0]`);
      }
    },
    mismatch: (attr, expected, actual) => {
      throw new ConfigError(
        `'${n.op}' expects ${attr} = ${expected} but the input ${fmt(x)} gives ${actual}`,
        `${p}.attrs.${attr}`,
      );
    },
    positive: (out, attr) => {
      if (out.some((d) => d < 1)) {
        throw new ConfigError(
          `output shape ${fmt(out)} is empty for input ${fmt(x)}: kernel too large for the input`,
          `${p}.attrs.${attr}`,
        );
      }
      return out;
    },
  };
  return opDescriptor(n.op).shape(n, c);
}
