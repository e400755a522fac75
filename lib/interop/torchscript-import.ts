/**
 * Import a TorchScript module (traced or scripted) as a petra graph spec plus weights.
 *
 * native/torchscript_import.cc loads the module, freezes it in eval mode (parameters become constants, submodule
 * calls are inlined, `self.training` branches fold) and describes the forward graph. This file walks that graph once,
 * in order, as a small abstract interpreter: shape checks, `if` on input ranks, list building, `x.size(0)` and the
 * like are evaluated statically against the given per-sample input shapes (the batch size stays symbolic), and every
 * tensor op becomes a petra node:
 *
 * | TorchScript                                              | petra                                               |
 * |----------------------------------------------------------|-----------------------------------------------------|
 * | aten::conv1d / conv2d / _convolution (not transposed)     | conv1d / conv2d (padding numbers or 'same')         |
 * | aten::batch_norm (eval, running statistics)               | batchnorm1d / batchnorm2d (eps, momentum)           |
 * | aten::linear, addmm(b, x, Wᵀ), matmul(x, W) [+ add(b)]    | linear                                              |
 * | aten::relu / gelu (exact) / sigmoid / tanh (+ in-place)   | relu / gelu / sigmoid / tanh                        |
 * | aten::max_pool1d/2d, avg_pool1d/2d, adaptive_*_pool1d/2d  | maxpool*, avgpool*, adaptive*pool*                  |
 * | aten::add (two tensors, alpha 1), aten::cat               | add, concat                                         |
 * | aten::flatten, view / reshape that flatten, squeeze(-1)   | flatten                                             |
 * | aten::mean over the trailing spatial dims                 | adaptiveavgpool1d/2d(1) (+ flatten)                 |
 * | aten::dropout / feature_dropout                           | dropout                                             |
 * | aten::embedding (int64 input)                             | embedding                                           |
 * | aten::gru (batch_first, zero initial state)               | gru: h[-1] / out[:, -1] / cat(h[-2], h[-1]) → 'last', out → 'sequence' |
 * | aten::layer_norm                                          | layernorm                                           |
 * | contiguous, clone, detach, full slices, in-place variants | (nothing: the same value)                           |
 *
 * Anything else that touches a tensor — and `if` / loops whose condition depends on data — is unsupported: one
 * `TorchScriptImportError` (a ConfigError) lists every such op with its Python source location. `importTorchScript`
 * then builds the petra model, copies the weights in, and runs both on the same random input: the outputs must agree
 * to `tolerance` (default 1e-5) or it throws a NumericError with the difference.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { binding, type NativeTorchScriptConstant, type NativeTorchScriptGraph, type NativeTorchScriptNode } from '../binding.js';
import type { TensorData } from '../data/types.js';
import { ConfigError, NumericError } from '../errors.js';
import { TorchScriptModel } from '../lab/benchmark.js';
import { Model } from '../model.js';
import type { GraphNode, InputDtype, ModelSpec, OpName } from '../spec/types.js';
import { SPEC_FORMAT } from '../spec/types.js';
import { validateSpec } from '../spec/validate.js';

export interface TorchScriptImportOptions {
  /**
   * Per-sample shape of each forward() input (no batch dimension): `[3, 32, 32]`, or one shape per input. TorchScript
   * files do not record it; `petra search --model x.pt` takes it from the data.
   */
  inputShape: number[] | number[][];
  /** Per input; default: 'int64' for an input that feeds an embedding, else 'float32'. */
  inputDtype?: InputDtype | InputDtype[];
  /** What the output means; default classification with as many classes as output columns (regression for one). */
  task?: ModelSpec['task'];
  /** The spec's name; default `torchscript <file> <sha256 prefix>` (so a changed file is a different model). */
  name?: string;
  /** Where the imported model lives (default 'cpu'). */
  device?: string;
  /** Largest |petra − TorchScript| allowed on the check input (default 1e-5). */
  tolerance?: number;
  /** Rows of the random check input (default 4) and its seed (default 1). */
  checkBatch?: number;
  seed?: number;
}

export interface ImportedNode {
  /** The petra node's name and op. */
  name: string;
  op: OpName;
  /** The TorchScript op(s) it came from and the first one's source location. */
  from: string;
  location: string;
}

export interface TorchScriptImportReport {
  file: string;
  nodes: ImportedNode[];
  /** TorchScript ops evaluated statically or dropped as no-ops, by kind. */
  static: Record<string, number>;
  /** Things that are equivalent at inference but differ in training (e.g. an embedding's padding_idx). */
  notes: string[];
  parameters: number;
  /** Present when the model was checked against TorchScript. */
  check?: { samples: number; maxAbsDiff: number; tolerance: number };
}

export interface TorchScriptSpec {
  spec: ModelSpec;
  /** Every parameter and buffer of the spec's model by name (`<node>.weight`, `<gru>.weight_ih_l0`, …). */
  weights: Record<string, TensorData>;
  report: TorchScriptImportReport;
}

export interface TorchScriptImport extends TorchScriptSpec {
  model: Model;
  maxAbsDiff: number;
}

export interface UnsupportedOp {
  op: string;
  /** file:line:col of the Python source ('' when the file was saved without debug information). */
  location: string;
  reason: string;
  /** The submodule it was inlined from ('layer2.downsample'), when the graph records it. */
  module?: string;
  /** The source line, when the Python file is readable here. */
  code?: string;
}

/** The module uses ops petra has no node for; `unsupported` lists each one (also in the message). */
export class TorchScriptImportError extends ConfigError {
  readonly unsupported: readonly UnsupportedOp[];
  constructor(file: string, unsupported: UnsupportedOp[]) {
    const lines = unsupported.map((u) =>
      `  ${u.op}${u.module ? ` (in ${u.module})` : ''} at ${u.location || '(unknown location)'}${u.code ? `  \`${u.code}\`` : ''}${u.reason ? `: ${u.reason}` : ''}`);
    super(
      `'${file}' cannot be imported: ${unsupported.length} op(s) petra has no node for\n${lines.join('\n')}\n` +
      'petra imports conv1d/2d, batch_norm, linear, relu/gelu/sigmoid/tanh, max/avg/adaptive pooling, add, cat, flatten, ' +
      'mean over spatial dims, dropout, embedding, GRU and layer_norm',
      'model',
    );
    this.name = 'TorchScriptImportError';
    this.unsupported = unsupported;
  }
}

/** True when `path` is a zip archive (TorchScript files are; petra spec JSON is not). */
export function isTorchScriptFile(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.readUInt32LE(0) === 0x04034b50;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Abstract values
// ---------------------------------------------------------------------------------------------------------------

/** An int known only at run time (the batch size, or arithmetic on it). Equal when the expressions are. */
interface Sym { t: 'sym'; expr: string }
/** A petra value: a graph input or a node's output, with its per-sample shape. */
interface Tensor { t: 'tensor'; ref: string; shape: number[]; dtype: InputDtype }
/** A constant tensor (a weight), named by the module attribute it came from. */
interface Const { t: 'const'; name: string; shape: number[]; data: Float32Array | Int32Array; dtype: string }
/** torch.zeros(...) — accepted as a GRU's initial state. */
interface Zeros { t: 'zeros'; size: Val[] }
interface GruInfo {
  input: Tensor; params: Const[]; numLayers: number; bidirectional: boolean; hidden: number;
  /** The aten::gru node itself (its name hint, module and location). */
  node: NativeTorchScriptNode; nodes: { last?: string; sequence?: string };
}
/** aten::gru's outputs, and one direction of the last layer's final state (h[-2] / h[-1] of a bidirectional GRU). */
interface Gru { t: 'gru'; part: 'seq' | 'h'; gru: GruInfo }
interface GruLastDir { t: 'gruLastDir'; gru: GruInfo; dir: 0 | 1 }
interface Opaque { t: 'opaque'; what: string }
/** The result of an unsupported op: anything computed from it is unknown too (and not reported again). */
interface Unknown { t: 'unknown' }
type Obj = Sym | Tensor | Const | Zeros | Gru | GruLastDir | Opaque | Unknown;
type Val = number | boolean | string | null | Val[] | Obj;

const BATCH: Sym = { t: 'sym', expr: 'batch' };
const UNKNOWN: Unknown = { t: 'unknown' };
const isObj = (v: Val): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isT = <K extends Obj['t']>(v: Val, t: K): v is Extract<Obj, { t: K }> => isObj(v) && v.t === t;

/** Thrown inside a handler: the op is unsupported for this reason. */
class Unsupported extends Error {}
const unsupported = (reason: string): never => { throw new Unsupported(reason); };

function hasUnknown(v: Val, depth = 0): boolean {
  if (depth > 8) return false;
  if (Array.isArray(v)) return v.some((x) => hasUnknown(x, depth + 1));
  return isT(v, 'unknown');
}

function describeVal(v: Val): string {
  if (Array.isArray(v)) return `[${v.map(describeVal).join(', ')}]`;
  if (!isObj(v)) return JSON.stringify(v);
  switch (v.t) {
    case 'sym': return v.expr;
    case 'tensor': return `tensor [N, ${v.shape.join(', ')}]`;
    case 'const': return `constant ${v.name} [${v.shape.join(', ')}]`;
    default: return v.t;
  }
}

function fromConstant(c: NativeTorchScriptConstant | undefined, name: string): Val {
  if (c === undefined) return UNKNOWN;
  if (c === null || typeof c === 'number' || typeof c === 'boolean' || typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((x, i) => fromConstant(x, `${name}.${i}`));
  if (c.kind === 'tensor') {
    if (!c.data) return { t: 'opaque', what: `${c.dtype} tensor constant` };
    return { t: 'const', name, shape: c.shape, data: c.data, dtype: c.dtype };
  }
  return { t: 'opaque', what: c.type };
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers on values
// ---------------------------------------------------------------------------------------------------------------

function int(v: Val, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return unsupported(`${what} must be a constant integer, got ${describeVal(v)}`);
}
function num(v: Val, what: string): number {
  if (typeof v === 'number') return v;
  return unsupported(`${what} must be a constant number, got ${describeVal(v)}`);
}
function bool(v: Val, what: string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return unsupported(`${what} must be a constant boolean, got ${describeVal(v)}`);
}
function ints(v: Val, what: string): number[] {
  if (typeof v === 'number') return [int(v, what)];
  if (!Array.isArray(v)) return unsupported(`${what} must be a list of constant integers, got ${describeVal(v)}`);
  return v.map((x, i) => int(x, `${what}[${i}]`));
}
function constArg(v: Val, what: string): Const {
  if (isT(v, 'const')) return v;
  return unsupported(`${what} must be a constant tensor (a module parameter), got ${describeVal(v)}`);
}
function optConst(v: Val, what: string): Const | undefined {
  return v === null ? undefined : constArg(v, what);
}
/** Normalizes a dim of a tensor whose full rank (batch included) is `rank`. */
function dimOf(d: number, rank: number, what: string): number {
  const out = d < 0 ? d + rank : d;
  if (out < 0 || out >= rank) unsupported(`${what} ${d} is out of range for a rank-${rank} tensor`);
  return out;
}
const prod = (xs: number[]): number => xs.reduce((a, b) => a * b, 1);
const sameShape = (a: number[], b: number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

function equal(a: Val, b: Val): boolean | undefined {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return false;
    if (a.length !== b.length) return false;
    let all: boolean | undefined = true;
    for (let i = 0; i < a.length; i++) {
      const e = equal(a[i]!, b[i]!);
      if (e === false) return false;
      if (e === undefined) all = undefined;
    }
    return all;
  }
  if (isT(a, 'sym') || isT(b, 'sym')) {
    if (isT(a, 'sym') && isT(b, 'sym') && a.expr === b.expr) return true;
    return undefined;
  }
  if (isObj(a) || isObj(b)) return undefined;
  return a === b;
}

function transpose2d(c: Const): Const {
  if (c.shape.length !== 2) return unsupported(`transposing constant ${c.name} of rank ${c.shape.length}`);
  const [r, k] = c.shape as [number, number];
  const out = new Float32Array(r * k);
  for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) out[j * r + i] = c.data[i * k + j]!;
  return { ...c, shape: [k, r], data: out };
}

const td = (c: Const): TensorData => ({ data: c.data instanceof Float32Array ? c.data : Float32Array.from(c.data), shape: [...c.shape] });
const filled = (n: number, value: number): TensorData => ({ data: new Float32Array(n).fill(value), shape: [n] });

// ---------------------------------------------------------------------------------------------------------------
// The interpreter
// ---------------------------------------------------------------------------------------------------------------

interface Emitted { node: GraphNode; from: string; location: string; shape: number[] }

class Importer {
  readonly nodes: Emitted[] = [];
  readonly weights: Record<string, TensorData> = {};
  readonly unsupported: UnsupportedOp[] = [];
  readonly statics: Record<string, number> = {};
  readonly notes = new Set<string>();
  readonly env = new Map<number, Val>();
  readonly uses = new Map<number, number>();
  readonly names = new Set<string>();
  readonly byName = new Map<string, Emitted>();

  constructor(readonly graph: NativeTorchScriptGraph, readonly inputs: Tensor[]) {
    this.countUses(graph.nodes);
    for (const id of graph.outputs) this.uses.set(id, (this.uses.get(id) ?? 0) + 1);
    for (const t of inputs) this.names.add(t.ref);
  }

  private countUses(nodes: NativeTorchScriptNode[]): void {
    for (const n of nodes) {
      for (const id of n.inputs) this.uses.set(id, (this.uses.get(id) ?? 0) + 1);
      for (const b of n.blocks ?? []) {
        this.countUses(b.nodes);
        for (const id of b.outputs) this.uses.set(id, (this.uses.get(id) ?? 0) + 1);
      }
    }
  }

  get(id: number): Val {
    const v = this.env.get(id);
    return v === undefined ? UNKNOWN : v;
  }

  uniqueName(hint: string): string {
    let base = hint.replace(/^self\./, '').replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
    if (!base || !/^[A-Za-z_]/.test(base)) base = `n_${base}`;
    let name = base;
    for (let k = 2; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  /** A name for a node: the weight's module path (`layer1.conv1.weight` → layer1_conv1), else module path + op. */
  hintFor(node: NativeTorchScriptNode, op: string, weight?: Const): string {
    if (weight && /^self\./.test(weight.name)) return weight.name.replace(/\.(weight|_flat_weights)(\.\d+)?$/, '');
    if (!node.module) return op;
    // An op of a module named after it (self.relu, self.maxpool, self.avgpool, self.drop): the module's name alone.
    const last = node.module.split('.').pop()!.toLowerCase();
    return op.includes(last) || last.includes(op) ? node.module : `${node.module}_${op}`;
  }

  emit(node: NativeTorchScriptNode, op: OpName, inputs: Tensor[], attrs: Record<string, unknown>, shape: number[],
    params: Record<string, TensorData> = {}, weight?: Const): Tensor {
    const name = this.uniqueName(this.hintFor(node, op, weight));
    const g = { name, op, inputs: inputs.map((t) => t.ref), attrs } as GraphNode;
    const e: Emitted = { node: g, from: node.kind, location: node.location, shape };
    this.nodes.push(e);
    this.byName.set(name, e);
    for (const [p, value] of Object.entries(params)) this.weights[`${name}.${p}`] = value;
    return { t: 'tensor', ref: name, shape, dtype: 'float32' };
  }

  /** A value used as a tensor: GRU outputs become petra gru nodes here. */
  tensor(node: NativeTorchScriptNode, v: Val, what: string): Tensor {
    if (isT(v, 'tensor')) return v;
    if (isT(v, 'gru')) {
      if (v.part === 'seq') return this.gruNode(node, v.gru, 'sequence');
      return unsupported(`${what}: the GRU's stacked final states (layers × directions, N, H) have no petra value; use h[-1] (or cat(h[-2], h[-1]) when bidirectional)`);
    }
    if (isT(v, 'gruLastDir')) return unsupported(`${what}: one direction of a bidirectional GRU's final state alone; use cat(h[-2], h[-1])`);
    if (isT(v, 'const')) return unsupported(`${what} is a constant tensor (${v.name}), not computed from the input`);
    return unsupported(`${what} must be a tensor computed from the input, got ${describeVal(v)}`);
  }

  gruNode(node: NativeTorchScriptNode, g: GruInfo, output: 'last' | 'sequence'): Tensor {
    const dirs = g.bidirectional ? 2 : 1;
    const T = g.input.shape[0]!;
    const shape = output === 'last' ? [g.hidden * dirs] : [T, g.hidden * dirs];
    const existing = g.nodes[output];
    if (existing) return { t: 'tensor', ref: existing, shape, dtype: 'float32' };
    const params: Record<string, TensorData> = {};
    const perCell = g.params.length / (g.numLayers * dirs);
    for (let l = 0; l < g.numLayers; l++) {
      for (let d = 0; d < dirs; d++) {
        const base = (l * dirs + d) * perCell;
        const suffix = `l${l}${d === 1 ? '_reverse' : ''}`;
        params[`weight_ih_${suffix}`] = td(g.params[base]!);
        params[`weight_hh_${suffix}`] = td(g.params[base + 1]!);
        const gates = g.params[base]!.shape[0]!;
        params[`bias_ih_${suffix}`] = perCell === 4 ? td(g.params[base + 2]!) : filled(gates, 0);
        params[`bias_hh_${suffix}`] = perCell === 4 ? td(g.params[base + 3]!) : filled(gates, 0);
      }
    }
    const attrs: Record<string, unknown> = { inputSize: g.input.shape[1], hiddenSize: g.hidden, output };
    if (g.numLayers !== 1) attrs.numLayers = g.numLayers;
    if (g.bidirectional) attrs.bidirectional = true;
    const t = this.emit(g.node, 'gru', [g.input], attrs, shape, params, g.params[0]);
    const other = g.nodes.last ?? g.nodes.sequence;
    if (other) {
      this.notes.add(`the GRU ${other} is used both as a sequence and by its last state: petra holds two GRU nodes (${other}, ${t.ref}) with the same weights`);
    }
    g.nodes[output] = t.ref;
    return t;
  }

  run(nodes: NativeTorchScriptNode[]): void {
    for (const node of nodes) this.step(node);
  }

  step(node: NativeTorchScriptNode): void {
    const args = node.inputs.map((id) => this.get(id));
    const set = (vals: Val[]): void => node.outputs.forEach((o, i) => this.env.set(o.id, i < vals.length ? vals[i]! : UNKNOWN));
    if (node.kind === 'prim::Constant') {
      set([fromConstant(node.value, node.outputs[0]?.name ?? 'constant')]);
      return;
    }
    if (node.kind === 'prim::If') {
      this.branch(node, args[0]!);
      return;
    }
    const handler = Object.hasOwn(HANDLERS, node.kind) ? HANDLERS[node.kind] : undefined;
    if (handler && args.some((a) => hasUnknown(a))) {
      set(node.outputs.map(() => UNKNOWN)); // a supported op on a value already reported where it came from
      return;
    }
    try {
      if (!handler) unsupported('');
      const out = handler!(this, node, args);
      set(out);
      // In-place ops (aten::add_, relu_, …): later readers of the mutated operand see the result.
      if (/^aten::[a-z0-9_]*[a-z0-9]_$/.test(node.kind) && node.inputs.length > 0 && out[0] !== undefined && isObj(out[0])) {
        this.env.set(node.inputs[0]!, out[0]);
      }
    } catch (error) {
      if (!(error instanceof Unsupported)) throw error;
      this.unsupported.push({ op: node.kind, location: node.location, reason: error.message, ...(node.module ? { module: node.module } : {}) });
      set(node.outputs.map(() => UNKNOWN));
    }
  }

  private branch(node: NativeTorchScriptNode, cond: Val): void {
    const blocks = node.blocks ?? [];
    if (hasUnknown(cond)) {
      node.outputs.forEach((o) => this.env.set(o.id, UNKNOWN));
      return;
    }
    if (typeof cond !== 'boolean' || blocks.length !== 2) {
      this.unsupported.push({
        op: node.kind, location: node.location, reason: `a branch on ${describeVal(cond)}, which is only known at run time`,
        ...(node.module ? { module: node.module } : {}),
      });
      node.outputs.forEach((o) => this.env.set(o.id, UNKNOWN));
      return;
    }
    this.count('prim::If');
    const block = blocks[cond ? 0 : 1]!;
    this.run(block.nodes);
    node.outputs.forEach((o, i) => this.env.set(o.id, this.get(block.outputs[i]!)));
  }

  count(kind: string): void { this.statics[kind] = (this.statics[kind] ?? 0) + 1; }
}

type Handler = (im: Importer, node: NativeTorchScriptNode, args: Val[]) => Val[];

/** Ops evaluated statically: they compute Python values (ints, lists, bools) or pass a value through. */
const STATIC: Record<string, Handler> = {
  'prim::ListConstruct': (_im, _n, a) => [[...a]],
  'prim::TupleConstruct': (_im, _n, a) => [[...a]],
  'prim::ListUnpack': (_im, n, a) => {
    const l = a[0];
    if (!Array.isArray(l) || l.length !== n.outputs.length) return unsupported(`unpacking ${describeVal(l ?? null)}`);
    return l;
  },
  'prim::TupleUnpack': (im, n, a) => STATIC['prim::ListUnpack']!(im, n, a),
  'prim::TupleIndex': (_im, _n, a) => {
    const l = a[0];
    if (!Array.isArray(l)) return unsupported('indexing a non-tuple');
    const i = int(a[1]!, 'index');
    return [l[i < 0 ? i + l.length : i] ?? unsupported(`index ${i} out of range`)];
  },
  'aten::__getitem__': (im, n, a) => {
    if (!Array.isArray(a[0])) return unsupported('indexing something other than a list');
    return STATIC['prim::TupleIndex']!(im, n, a);
  },
  'aten::len': (_im, _n, a) => [Array.isArray(a[0]) ? a[0].length : unsupported('len() of a non-list')],
  'aten::append': (_im, _n, a) => {
    if (!Array.isArray(a[0])) return unsupported('append to a non-list');
    a[0].push(a[1]!);
    return [a[0]];
  },
  'aten::list': (_im, _n, a) => [Array.isArray(a[0]) ? [...a[0]] : unsupported('list() of a non-list')],
  'aten::dim': (im, n, a) => {
    const v = a[0]!;
    if (isT(v, 'zeros')) return [v.size.length];
    if (isT(v, 'gru')) return [3];
    return [im.tensor(n, v, 'dim()').shape.length + 1];
  },
  'aten::size': (im, n, a) => {
    const v = a[0]!;
    let full: Val[];
    if (isT(v, 'zeros')) full = v.size;
    else if (isT(v, 'gru')) {
      const g = v.gru;
      const dirs = g.bidirectional ? 2 : 1;
      full = v.part === 'seq' ? [BATCH, g.input.shape[0]!, g.hidden * dirs] : [g.numLayers * dirs, BATCH, g.hidden];
    } else full = [BATCH, ...im.tensor(n, v, 'size()').shape];
    if (a.length === 1) return [full];
    return [full[dimOf(int(a[1]!, 'dim'), full.length, 'dim')]!];
  },
  'prim::dtype': () => [{ t: 'opaque', what: 'dtype' }],
  'prim::device': () => [{ t: 'opaque', what: 'device' }],
  'prim::layout': () => [{ t: 'opaque', what: 'layout' }],
  'prim::Uninitialized': () => [null],
  'prim::unchecked_cast': (_im, _n, a) => [a[0]!],
  'aten::Int': (_im, _n, a) => [a[0]!],
  'aten::Float': (_im, _n, a) => [a[0]!],
  'aten::ScalarImplicit': (_im, _n, a) => [a[0]!],
  'prim::NumToTensor': (_im, _n, a) => [a[0]!],
  'aten::format': () => [''],
  'aten::warn': () => [],
  'aten::__is__': (_im, _n, a) => [a[0] === null && a[1] === null ? true : a[0] === null || a[1] === null ? false : unsupported('`is` on two values')],
  'aten::__isnot__': (im, n, a) => [!(STATIC['aten::__is__']!(im, n, a)[0] as boolean)],
  'aten::__not__': (_im, _n, a) => [!bool(a[0]!, 'operand')],
  'aten::__and__': (_im, _n, a) => [bool(a[0]!, 'operand') && bool(a[1]!, 'operand')],
  'aten::__or__': (_im, _n, a) => [bool(a[0]!, 'operand') || bool(a[1]!, 'operand')],
  'aten::eq': (_im, _n, a) => [equal(a[0]!, a[1]!) ?? unsupported(`comparing ${describeVal(a[0]!)} with ${describeVal(a[1]!)}, known only at run time`)],
  'aten::ne': (_im, _n, a) => {
    const e = equal(a[0]!, a[1]!);
    return [e === undefined ? unsupported(`comparing ${describeVal(a[0]!)} with ${describeVal(a[1]!)}, known only at run time`) : !e];
  },
  'aten::zeros': (_im, _n, a) => {
    if (!Array.isArray(a[0])) return unsupported('zeros() with a size that is not a list');
    return [{ t: 'zeros', size: a[0] }];
  },
  'prim::RaiseException': (_im, _n, a) => unsupported(`the module raises here for the given input shape${typeof a[0] === 'string' && a[0] ? `: ${a[0]}` : ''}`),
};
for (const [op, f] of [['lt', (x: number, y: number) => x < y], ['le', (x: number, y: number) => x <= y], ['gt', (x: number, y: number) => x > y], ['ge', (x: number, y: number) => x >= y]] as const) {
  STATIC[`aten::${op}`] = (_im, _n, a) => [typeof a[0] === 'number' && typeof a[1] === 'number'
    ? f(a[0], a[1]) : unsupported(`comparing ${describeVal(a[0]!)} with ${describeVal(a[1]!)}, known only at run time`)];
}

/** aten::add/sub/mul/floordiv on Python numbers (a symbolic int stays symbolic). */
function arithmetic(op: string, a: Val, b: Val): Val {
  if (typeof a === 'number' && typeof b === 'number') {
    switch (op) {
      case 'add': return a + b;
      case 'sub': return a - b;
      case 'mul': return a * b;
      case 'floordiv': return Math.floor(a / b);
      case 'div': return a / b;
    }
  }
  return { t: 'sym', expr: `(${describeVal(a)} ${op} ${describeVal(b)})` };
}
const isScalar = (v: Val): boolean => typeof v === 'number' || isT(v, 'sym');

/** Identity ops: the same value comes out. */
const PASS: Handler = (_im, _n, a) => [a[0]!];

function activation(op: 'relu' | 'gelu' | 'sigmoid' | 'tanh'): Handler {
  return (im, n, a) => {
    if (op === 'gelu' && a.length > 1 && a[1] !== 'none') unsupported(`gelu(approximate='${String(a[1])}'): petra's gelu is the exact (erf) form`);
    const x = im.tensor(n, a[0]!, 'input');
    return [im.emit(n, op, [x], {}, [...x.shape])];
  };
}

function conv(im: Importer, n: NativeTorchScriptNode, xv: Val, wv: Val, bv: Val, strideV: Val, paddingV: Val, dilationV: Val, groupsV: Val): Val[] {
  const w = constArg(wv, 'weight');
  const b = optConst(bv, 'bias');
  const x = im.tensor(n, xv, 'input');
  const d = w.shape.length - 2;
  if (d !== 1 && d !== 2) return unsupported(`a ${d}-d convolution`);
  if (x.shape.length !== d + 1) return unsupported(`conv${d}d on a per-sample [${x.shape.join(', ')}] input`);
  const groups = int(groupsV, 'groups');
  const expand = (v: number[], what: string): number[] => {
    if (v.length === 1) return new Array<number>(d).fill(v[0]!);
    if (v.length !== d) unsupported(`${what} [${v.join(', ')}] for a ${d}-d convolution`);
    return v;
  };
  const stride = expand(ints(strideV, 'stride'), 'stride');
  const dilation = expand(ints(dilationV, 'dilation'), 'dilation');
  if (dilation.some((v) => v !== dilation[0])) unsupported(`dilation [${dilation.join(', ')}]: petra's conv2d takes one dilation for both dims`);
  const same = paddingV === 'same';
  const padding = same ? new Array<number>(d).fill(0) : paddingV === 'valid' ? new Array<number>(d).fill(0) : expand(ints(paddingV, 'padding'), 'padding');
  const inChannels = w.shape[1]! * groups;
  if (x.shape[0] !== inChannels) unsupported(`the input has ${x.shape[0]} channels, the weight expects ${inChannels}`);
  const kernel = w.shape.slice(2);
  const spatial = x.shape.slice(1).map((len, i) =>
    same ? len : Math.floor((len + 2 * padding[i]! - dilation[i]! * (kernel[i]! - 1) - 1) / stride[i]!) + 1);
  if (spatial.some((s) => s < 1)) unsupported(`the kernel is larger than the input [${x.shape.join(', ')}]`);
  const one = (v: number[]): number | number[] => (v.every((e) => e === v[0]) ? v[0]! : v);
  const attrs: Record<string, unknown> = { inChannels, outChannels: w.shape[0], kernelSize: d === 1 ? kernel[0] : one(kernel) };
  if (stride.some((s) => s !== 1)) attrs.stride = d === 1 ? stride[0] : one(stride);
  if (same) attrs.padding = 'same';
  else if (padding.some((p) => p !== 0)) attrs.padding = d === 1 ? padding[0] : one(padding);
  if (dilation[0] !== 1) attrs.dilation = dilation[0];
  if (groups !== 1) attrs.groups = groups;
  if (!b) attrs.bias = false;
  const params: Record<string, TensorData> = { weight: td(w) };
  if (b) params.bias = td(b);
  return [im.emit(n, d === 1 ? 'conv1d' : 'conv2d', [x], attrs, [w.shape[0]!, ...spatial], params, w)];
}

function linear(im: Importer, n: NativeTorchScriptNode, xv: Val, w: Const, b: Const | undefined): Val[] {
  const x = im.tensor(n, xv, 'input');
  if (w.shape.length !== 2) return unsupported(`a linear weight of shape [${w.shape.join(', ')}]`);
  const [out, inF] = w.shape as [number, number];
  if (x.shape.at(-1) !== inF) return unsupported(`the input's last dim is ${x.shape.at(-1)}, the weight expects ${inF}`);
  const params: Record<string, TensorData> = { weight: td(w) };
  if (b) params.bias = td(b);
  const attrs: Record<string, unknown> = { inFeatures: inF, outFeatures: out };
  if (!b) attrs.bias = false;
  return [im.emit(n, 'linear', [x], attrs, [...x.shape.slice(0, -1), out], params, w)];
}

function pool(kind: 'max' | 'avg', d: 1 | 2): Handler {
  return (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    if (x.shape.length !== d + 1) unsupported(`${kind}_pool${d}d on a per-sample [${x.shape.join(', ')}] input`);
    const expand = (v: number[], what: string): number[] => (v.length === 1 ? new Array<number>(d).fill(v[0]!) : v.length === d ? v : unsupported(`${what} [${v.join(', ')}]`));
    const k = expand(ints(a[1]!, 'kernel_size'), 'kernel_size');
    const sRaw = ints(a[2]!, 'stride');
    const s = sRaw.length === 0 ? k : expand(sRaw, 'stride');
    const p = expand(ints(a[3]!, 'padding'), 'padding');
    if (kind === 'max') {
      const dil = expand(ints(a[4]!, 'dilation'), 'dilation');
      if (dil.some((v) => v !== 1)) unsupported(`max pooling with dilation [${dil.join(', ')}]`);
      if (bool(a[5]!, 'ceil_mode')) unsupported('ceil_mode=True (petra pools round down)');
    } else {
      if (bool(a[4]!, 'ceil_mode')) unsupported('ceil_mode=True (petra pools round down)');
      if (!bool(a[5]!, 'count_include_pad') && p.some((v) => v !== 0)) unsupported('count_include_pad=False with padding');
      if (d === 2 && a[6] !== undefined && a[6] !== null) unsupported('divisor_override');
    }
    if (p.some((v, i) => v > Math.floor(k[i]! / 2))) unsupported('padding larger than half the kernel');
    const spatial = x.shape.slice(1).map((len, i) => Math.floor((len + 2 * p[i]! - k[i]!) / s[i]!) + 1);
    if (spatial.some((v) => v < 1)) unsupported(`the pooling window is larger than the input [${x.shape.join(', ')}]`);
    const one = (v: number[]): number | number[] => (d === 1 || v.every((e) => e === v[0]) ? v[0]! : v);
    const attrs: Record<string, unknown> = { kernelSize: one(k) };
    if (s.some((v, i) => v !== k[i])) attrs.stride = one(s);
    if (p.some((v) => v !== 0)) attrs.padding = one(p);
    return [im.emit(n, `${kind}pool${d}d` as OpName, [x], attrs, [x.shape[0]!, ...spatial])];
  };
}

function adaptive(kind: 'avg' | 'max', d: 1 | 2): Handler {
  return (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    if (x.shape.length !== d + 1) unsupported(`adaptive_${kind}_pool${d}d on a per-sample [${x.shape.join(', ')}] input`);
    const raw = Array.isArray(a[1]) ? a[1] : [a[1]!];
    const size = (raw.length === 1 ? new Array<Val>(d).fill(raw[0]!) : raw).map((v, i) => (v === null ? x.shape[i + 1]! : int(v, 'output_size')));
    if (size.length !== d) unsupported(`output_size ${describeVal(a[1]!)}`);
    const t = im.emit(n, `adaptive${kind}pool${d}d` as OpName, [x], { outputSize: d === 1 || size[0] === size[1] ? size[0] : size }, [x.shape[0]!, ...size]);
    return kind === 'max' ? [t, { t: 'opaque', what: 'pooling indices' }] : [t];
  };
}

function flattenTo(im: Importer, n: NativeTorchScriptNode, x: Tensor, startDim: number): Tensor {
  // startDim counts the batch as dim 0; flattening from the last dim is the identity.
  if (startDim >= x.shape.length) return x;
  const shape = [...x.shape.slice(0, startDim - 1), prod(x.shape.slice(startDim - 1))];
  return im.emit(n, 'flatten', [x], startDim === 1 ? {} : { startDim }, shape);
}

const TENSOR_OPS: Record<string, Handler> = {
  'aten::_convolution': (im, n, a) => {
    if (bool(a[6]!, 'transposed')) unsupported('a transposed convolution');
    return conv(im, n, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[8]!);
  },
  // Traced convolutions with string padding ('same' / 'valid').
  'aten::_convolution_mode': (im, n, a) => conv(im, n, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!),
  'aten::conv1d': (im, n, a) => conv(im, n, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!),
  'aten::conv2d': (im, n, a) => conv(im, n, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!),
  'aten::batch_norm': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const w = optConst(a[1]!, 'weight');
    const b = optConst(a[2]!, 'bias');
    if (a[3] === null || a[4] === null) unsupported('batch norm without running statistics (track_running_stats=False)');
    const mean = constArg(a[3]!, 'running_mean');
    const varc = constArg(a[4]!, 'running_var');
    if (bool(a[5]!, 'training')) unsupported('batch norm in training mode');
    const c = mean.shape[0]!;
    if (x.shape[0] !== c) unsupported(`the input has ${x.shape[0]} channels, the batch norm ${c}`);
    const op: OpName = x.shape.length === 3 ? 'batchnorm2d' : x.shape.length <= 2 ? 'batchnorm1d' : unsupported(`batch norm on a per-sample rank-${x.shape.length} input`);
    const attrs: Record<string, unknown> = { numFeatures: c };
    const eps = num(a[7]!, 'eps');
    if (Math.abs(eps - 1e-5) > 1e-12) attrs.eps = eps;
    if (typeof a[6] === 'number' && Math.abs(a[6] - 0.1) > 1e-12) attrs.momentum = a[6];
    if (!w || !b) im.notes.add('a batch norm without affine parameters imports with weight 1 and bias 0 (petra\'s are always affine, so fine-tuning may train them)');
    return [im.emit(n, op, [x], attrs, [...x.shape], {
      weight: w ? td(w) : filled(c, 1), bias: b ? td(b) : filled(c, 0), running_mean: td(mean), running_var: td(varc),
    }, w ?? mean)];
  },
  'aten::linear': (im, n, a) => linear(im, n, a[0]!, constArg(a[1]!, 'weight'), optConst(a[2]!, 'bias')),
  'aten::addmm': (im, n, a) => {
    // Old traces of nn.Linear: addmm(bias, x, weight.t(), beta=1, alpha=1).
    if ((a[3] !== undefined && num(a[3], 'beta') !== 1) || (a[4] !== undefined && num(a[4], 'alpha') !== 1)) unsupported('addmm with beta or alpha ≠ 1');
    const bias = constArg(a[0]!, 'bias');
    const x = im.tensor(n, a[1]!, 'input');
    if (x.shape.length !== 1) unsupported('addmm on a per-sample input that is not a vector');
    return linear(im, n, x, transpose2d(constArg(a[2]!, 'mat2')), bias);
  },
  'aten::matmul': (im, n, a) => {
    const w = constArg(a[1]!, 'the second operand');
    if (w.shape.length !== 2) unsupported('matmul with a constant that is not a matrix');
    return linear(im, n, a[0]!, transpose2d(w), undefined);
  },
  'aten::t': (_im, _n, a) => [transpose2d(constArg(a[0]!, 'operand'))],
  'aten::transpose': (_im, _n, a) => {
    const c = constArg(a[0]!, 'operand');
    const dims = [int(a[1]!, 'dim0'), int(a[2]!, 'dim1')].map((d) => (d < 0 ? d + c.shape.length : d)).sort();
    if (c.shape.length !== 2 || dims[0] !== 0 || dims[1] !== 1) unsupported('transpose of a tensor');
    return [transpose2d(c)];
  },
  'aten::relu': activation('relu'),
  'aten::gelu': activation('gelu'),
  'aten::sigmoid': activation('sigmoid'),
  'aten::tanh': activation('tanh'),
  'aten::max_pool1d': pool('max', 1),
  'aten::max_pool2d': pool('max', 2),
  'aten::avg_pool1d': pool('avg', 1),
  'aten::avg_pool2d': pool('avg', 2),
  'aten::adaptive_avg_pool1d': adaptive('avg', 1),
  'aten::adaptive_avg_pool2d': adaptive('avg', 2),
  'aten::adaptive_max_pool1d': adaptive('max', 1),
  'aten::adaptive_max_pool2d': adaptive('max', 2),
  'aten::add': (im, n, a) => {
    if (isScalar(a[0]!) && isScalar(a[1]!)) return [arithmetic('add', a[0]!, a[1]!)];
    if (a[2] !== undefined && num(a[2], 'alpha') !== 1) unsupported('add with alpha ≠ 1');
    // x @ W + b (a matmul trace of nn.Linear): fold the bias into the bias-free linear.
    if (isT(a[0]!, 'tensor') && isT(a[1]!, 'const')) {
      const producer = im.byName.get(a[0].ref);
      const b = a[1];
      const single = (im.uses.get(n.inputs[0]!) ?? 0) === 1;
      if (producer && producer.node.op === 'linear' && producer.node.attrs.bias === false && single &&
          b.shape.length === 1 && b.shape[0] === producer.node.attrs.outFeatures) {
        delete (producer.node.attrs as { bias?: boolean }).bias;
        im.weights[`${producer.node.name}.bias`] = td(b);
        producer.from += ` + ${n.kind}`;
        return [a[0]];
      }
      return unsupported('adding a constant tensor');
    }
    const x = im.tensor(n, a[0]!, 'input');
    const y = im.tensor(n, a[1]!, 'other');
    if (!sameShape(x.shape, y.shape)) unsupported(`add of [${x.shape.join(', ')}] and [${y.shape.join(', ')}] (petra adds equal shapes, no broadcasting)`);
    return [im.emit(n, 'add', [x, y], {}, [...x.shape])];
  },
  'aten::sub': (_im, _n, a) => (isScalar(a[0]!) && isScalar(a[1]!) ? [arithmetic('sub', a[0]!, a[1]!)] : unsupported('subtraction of tensors')),
  'aten::mul': (_im, _n, a) => (isScalar(a[0]!) && isScalar(a[1]!) ? [arithmetic('mul', a[0]!, a[1]!)] : unsupported('multiplication of tensors')),
  'aten::floordiv': (_im, _n, a) => (isScalar(a[0]!) && isScalar(a[1]!) ? [arithmetic('floordiv', a[0]!, a[1]!)] : unsupported('floor division of tensors')),
  'aten::neg': (_im, _n, a) => (typeof a[0] === 'number' ? [-a[0]] : unsupported('negation of a tensor')),
  'aten::cat': (im, n, a) => {
    const list = a[0];
    if (!Array.isArray(list) || list.length === 0) return unsupported('cat of something other than a list of tensors');
    const dimRaw = int(a[1] ?? 0, 'dim');
    // cat(h[-2], h[-1]) of a bidirectional GRU: its last state, forward then reverse — petra's gru 'last'.
    if (list.length === 2 && isT(list[0]!, 'gruLastDir') && isT(list[1]!, 'gruLastDir') && list[0].gru === list[1].gru &&
        list[0].dir === 0 && list[1].dir === 1 && (dimRaw === 1 || dimRaw === -1)) {
      return [im.gruNode(n, list[0].gru, 'last')];
    }
    const xs = list.map((v, i) => im.tensor(n, v, `tensors[${i}]`));
    const rank = xs[0]!.shape.length + 1;
    const dim = dimOf(dimRaw, rank, 'dim');
    if (dim === 0) unsupported('cat along the batch dimension');
    const shape = [...xs[0]!.shape];
    for (const x of xs.slice(1)) {
      if (x.shape.length !== shape.length || x.shape.some((v, i) => i !== dim - 1 && v !== shape[i])) unsupported('cat of tensors whose other dims differ');
      shape[dim - 1]! += x.shape[dim - 1]!;
    }
    return [im.emit(n, 'concat', xs, dim === 1 ? {} : { dim }, shape)];
  },
  'aten::flatten': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const rank = x.shape.length + 1;
    const start = dimOf(int(a[1]!, 'start_dim'), rank, 'start_dim');
    const end = dimOf(int(a[2]!, 'end_dim'), rank, 'end_dim');
    if (start === end) return [x];
    if (start === 0) unsupported('flatten including the batch dimension');
    if (end !== rank - 1) unsupported(`flatten(${start}, ${end}) that keeps trailing dims (petra flattens to the end)`);
    return [flattenTo(im, n, x, start)];
  },
  'aten::view': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const size = Array.isArray(a[1]) ? a[1] : unsupported('a view to a size that is not a list');
    if (size.length === 0) unsupported('a view to a scalar');
    const first = size[0]!;
    const rest = size.slice(1).map((v, i) => int(v, `size[${i + 1}]`));
    const total = prod(x.shape);
    const firstIsBatch = isT(first, 'sym') && first.expr === 'batch';
    if (!firstIsBatch && !(first === -1 && !rest.includes(-1))) unsupported(`a view to ${describeVal(size)} that does not keep the batch dimension`);
    const known = prod(rest.filter((v) => v !== -1));
    const target = rest.map((v) => (v === -1 ? total / known : v));
    if (prod(target) !== total || target.some((v) => !Number.isInteger(v))) unsupported(`a view of [N, ${x.shape.join(', ')}] to ${describeVal(size)}`);
    if (sameShape(target, x.shape)) return [x];
    for (let k = 0; k < x.shape.length; k++) {
      if (sameShape(target, [...x.shape.slice(0, k), prod(x.shape.slice(k))])) return [flattenTo(im, n, x, k + 1)];
    }
    return unsupported(`a view of [N, ${x.shape.join(', ')}] to [N, ${target.join(', ')}], which is not a flatten`);
  },
  'aten::reshape': (im, n, a) => TENSOR_OPS['aten::view']!(im, n, a),
  'aten::squeeze': (im, n, a) => {
    const v = a[0]!;
    if (isT(v, 'gru') && v.part === 'h' && a.length > 1) {
      const g = v.gru;
      if (int(a[1]!, 'dim') === 0 && g.numLayers * (g.bidirectional ? 2 : 1) === 1) return [im.gruNode(n, g, 'last')];
    }
    const x = im.tensor(n, v, 'input');
    const rank = x.shape.length + 1;
    if (a.length < 2) {
      if (!x.shape.includes(1)) return [x];
      return unsupported('squeeze() of every size-1 dim');
    }
    const d = dimOf(int(a[1]!, 'dim'), rank, 'dim');
    if (d === 0) unsupported('squeeze of the batch dimension');
    if (x.shape[d - 1] !== 1) return [x];
    if (d === rank - 1 && rank >= 3) return [flattenTo(im, n, x, rank - 2)];
    return unsupported(`squeeze(${d}) of [N, ${x.shape.join(', ')}] (petra squeezes only the last dim, as a flatten)`);
  },
  'aten::mean': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const rank = x.shape.length + 1;
    if (a.length < 3) unsupported('mean over all elements');
    const dims = ints(a[1]!, 'dim').map((d) => dimOf(d, rank, 'dim')).sort((p, q) => p - q);
    const keep = bool(a[2]!, 'keepdim');
    if (a[3] !== undefined && a[3] !== null) unsupported('mean with a dtype');
    const spatial = rank === 3 ? [2] : rank === 4 ? [2, 3] : [];
    if (spatial.length === 0 || !sameShape(dims, spatial)) unsupported(`mean over dims [${dims.join(', ')}] of [N, ${x.shape.join(', ')}] (petra averages the trailing spatial dims of [N, C, L] or [N, C, H, W])`);
    const pooled = im.emit(n, rank === 3 ? 'adaptiveavgpool1d' : 'adaptiveavgpool2d', [x], { outputSize: 1 }, [x.shape[0]!, ...spatial.map(() => 1)]);
    return [keep ? pooled : flattenTo(im, n, pooled, 1)];
  },
  'aten::dropout': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const p = num(a[1]!, 'p');
    if (p === 0) return [x];
    return [im.emit(n, 'dropout', [x], { p }, [...x.shape])];
  },
  'aten::feature_dropout': (im, n, a) => {
    im.notes.add('Dropout2d/Dropout1d (channel dropout) imports as element-wise dropout: the same at inference, different when fine-tuning');
    return TENSOR_OPS['aten::dropout']!(im, n, a);
  },
  'aten::embedding': (im, n, a) => {
    const w = constArg(a[0]!, 'weight');
    const idx = im.tensor(n, a[1]!, 'indices');
    if (idx.dtype !== 'int64') unsupported('embedding indices must be an int64 input of the model');
    if (typeof a[2] === 'number' && a[2] !== -1) im.notes.add(`the embedding ${w.name.replace(/^self\./, '')} has padding_idx ${a[2]}: petra's embedding has none (the same output; that row is trained when fine-tuning)`);
    return [im.emit(n, 'embedding', [idx], { numEmbeddings: w.shape[0], embeddingDim: w.shape[1] }, [...idx.shape, w.shape[1]!], { weight: td(w) }, w)];
  },
  'aten::gru': (im, n, a) => {
    if (!Array.isArray(a[2])) return unsupported('a GRU over a packed sequence');
    const x = im.tensor(n, a[0]!, 'input');
    const hx = a[1]!;
    if (hx !== null && !isT(hx, 'zeros')) unsupported('a GRU with a given initial state (petra starts from zeros)');
    const params = a[2].map((p, i) => constArg(p, `params[${i}]`));
    const hasBiases = bool(a[3]!, 'has_biases');
    const numLayers = int(a[4]!, 'num_layers');
    if (bool(a[6]!, 'train')) unsupported('a GRU in training mode');
    const bidirectional = bool(a[7]!, 'bidirectional');
    if (!bool(a[8]!, 'batch_first')) unsupported('a GRU with batch_first=False (petra\'s GRU is batch-first)');
    const dirs = bidirectional ? 2 : 1;
    if (params.length !== numLayers * dirs * (hasBiases ? 4 : 2)) unsupported(`${params.length} GRU parameters for ${numLayers} layer(s)`);
    if (!hasBiases) im.notes.add('a GRU without biases imports with zero biases (petra\'s GRU has them, so fine-tuning may train them)');
    if (num(a[5]!, 'dropout') !== 0) im.notes.add('GRU dropout between layers is not kept (petra\'s GRU has none; inference is unchanged)');
    if (x.shape.length !== 2) unsupported(`a GRU on a per-sample [${x.shape.join(', ')}] input (it needs [T, features])`);
    const hidden = params[1]!.shape[1]!;
    if (params[0]!.shape[1] !== x.shape[1]) unsupported(`the GRU expects ${params[0]!.shape[1]} input features, the input has ${x.shape[1]}`);
    const info: GruInfo = { input: x, params, numLayers, bidirectional, hidden, node: n, nodes: {} };
    return [{ t: 'gru', part: 'seq', gru: info }, { t: 'gru', part: 'h', gru: info }];
  },
  'aten::select': (im, n, a) => {
    const v = a[0]!;
    const dim = int(a[1]!, 'dim');
    const index = int(a[2]!, 'index');
    if (isT(v, 'gru')) {
      const g = v.gru;
      const dirs = g.bidirectional ? 2 : 1;
      if (v.part === 'h' && dim === 0) {
        const total = g.numLayers * dirs;
        const i = index < 0 ? index + total : index;
        if (!g.bidirectional && i === total - 1) return [im.gruNode(n, g, 'last')];
        if (g.bidirectional && i >= total - 2) return [{ t: 'gruLastDir', gru: g, dir: i === total - 2 ? 0 : 1 }];
        return unsupported(`h[${index}]: the final state of a layer below the last`);
      }
      if (v.part === 'seq' && (dim === 1 || dim === -2) && !g.bidirectional) {
        const T = g.input.shape[0]!;
        if (index === -1 || index === T - 1) return [im.gruNode(n, g, 'last')];
      }
      return unsupported(`selecting [${dim}][${index}] of a GRU output (petra has the last step's state and the whole sequence)`);
    }
    return unsupported(`indexing a tensor (select dim ${dim}, index ${index})`);
  },
  'aten::slice': (im, n, a) => {
    const v = a[0]!;
    const full = isT(v, 'gru') ? (STATIC['aten::size']!(im, n, [v])[0] as Val[]) : [BATCH, ...im.tensor(n, v, 'input').shape];
    const dim = dimOf(int(a[1] ?? 0, 'dim'), full.length, 'dim');
    const start = a[2] === null || a[2] === undefined ? 0 : int(a[2], 'start');
    const end = a[3] === null || a[3] === undefined ? Infinity : num(a[3], 'end');
    const step = a[4] === undefined ? 1 : int(a[4], 'step');
    const size = full[dim]!;
    const coversAll = start === 0 && step === 1 && (end >= Number.MAX_SAFE_INTEGER || (typeof size === 'number' && end >= size));
    if (coversAll) return [v];
    return unsupported(`slicing [${start}:${end === Infinity ? '' : end}:${step}] along dim ${dim}`);
  },
  'aten::layer_norm': (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    const shape = ints(a[1]!, 'normalized_shape');
    if (!sameShape(shape, x.shape.slice(x.shape.length - shape.length))) unsupported(`normalized_shape [${shape.join(', ')}] does not match the input's trailing dims`);
    const w = optConst(a[2]!, 'weight');
    const b = optConst(a[3]!, 'bias');
    const size = prod(shape);
    if (!w || !b) im.notes.add('a layer norm without affine parameters imports with weight 1 and bias 0');
    const attrs: Record<string, unknown> = { normalizedShape: shape };
    const eps = num(a[4]!, 'eps');
    if (Math.abs(eps - 1e-5) > 1e-12) attrs.eps = eps;
    const reshape = (t: TensorData): TensorData => ({ data: t.data, shape: [...shape] });
    return [im.emit(n, 'layernorm', [x], attrs, [...x.shape], {
      weight: w ? reshape(td(w)) : reshape(filled(size, 1)), bias: b ? reshape(td(b)) : reshape(filled(size, 0)),
    }, w)];
  },
  'aten::contiguous': PASS,
  'aten::clone': PASS,
  'aten::detach': PASS,
};
// In-place variants behave like their functional forms; Importer.step rebinds the mutated operand.
for (const op of ['relu', 'sigmoid', 'tanh', 'add', 'dropout', 'feature_dropout']) TENSOR_OPS[`aten::${op}_`] = TENSOR_OPS[`aten::${op}`]!;

const HANDLERS: Record<string, Handler> = { ...STATIC, ...TENSOR_OPS };
// Static ops count as such in the report (tensor ops become nodes).
for (const kind of Object.keys(STATIC)) {
  const f = STATIC[kind]!;
  HANDLERS[kind] = (im, n, a) => { im.count(kind); return f(im, n, a); };
}
for (const kind of ['aten::contiguous', 'aten::clone', 'aten::detach', 'aten::t', 'aten::transpose']) {
  const f = TENSOR_OPS[kind]!;
  HANDLERS[kind] = (im, n, a) => { im.count(kind); return f(im, n, a); };
}

// ---------------------------------------------------------------------------------------------------------------
// From a described graph to a spec
// ---------------------------------------------------------------------------------------------------------------

function normalizeShapes(shape: number[] | number[][], count: number, file: string): number[][] {
  const shapes = shape.length > 0 && Array.isArray(shape[0]) ? (shape as number[][]) : [shape as number[]];
  if (shapes.length !== count) {
    throw new ConfigError(`'${file}' takes ${count} input(s), ${shapes.length} input shape(s) were given`, 'inputShape');
  }
  shapes.forEach((s, i) => {
    if (!Array.isArray(s) || s.length === 0 || s.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new ConfigError(`input shape ${JSON.stringify(s)} is not a per-sample shape of positive integers (no batch dim), e.g. [3, 32, 32]`, `inputShape[${i}]`);
    }
  });
  return shapes;
}

/** int64 for inputs that feed an embedding's indices directly. */
function guessDtypes(graph: NativeTorchScriptGraph): InputDtype[] {
  const intIds = new Set<number>();
  const visit = (nodes: NativeTorchScriptNode[]): void => {
    for (const n of nodes) {
      if (n.kind === 'aten::embedding' && n.inputs[1] !== undefined) intIds.add(n.inputs[1]);
      for (const b of n.blocks ?? []) visit(b.nodes);
    }
  };
  visit(graph.nodes);
  return graph.inputs.map((v) => (intIds.has(v.id) ? 'int64' : 'float32'));
}

/** Adds the Python source line of an unsupported op when its file is readable here. */
function withSourceLine(u: UnsupportedOp): UnsupportedOp {
  const m = /^(.*):(\d+):\d+$/.exec(u.location);
  if (!m) return u;
  try {
    const line = readFileSync(m[1]!, 'utf8').split('\n')[Number(m[2]) - 1]?.trim();
    return line ? { ...u, code: line.length > 120 ? `${line.slice(0, 117)}...` : line } : u;
  } catch {
    return u;
  }
}

function fileTag(path: string): string {
  return `${basename(path)} sha256:${createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 12)}`;
}

/** Drops nodes (and their weights) the output does not read — e.g. an op whose result only fed a folded bias. */
function reachable(nodes: Emitted[], output: string): Emitted[] {
  const byName = new Map(nodes.map((e) => [e.node.name, e] as const));
  const seen = new Set<string>();
  const stack = [output];
  while (stack.length) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    for (const r of byName.get(name)?.node.inputs ?? []) stack.push(r);
  }
  return nodes.filter((e) => seen.has(e.node.name));
}

/**
 * The spec and weights of a TorchScript module, without building a model (synchronous: `resolveProblem` uses it).
 * Throws TorchScriptImportError listing every unsupported op, ConfigError for a bad shape or output.
 */
export function torchScriptToSpec(path: string, options: TorchScriptImportOptions): TorchScriptSpec {
  const graph = binding().describeTorchScript(path);
  const file = basename(path);
  if (graph.inputs.length === 0) throw new ConfigError(`'${file}': forward() takes no tensor input`, 'model');
  const shapes = normalizeShapes(options.inputShape, graph.inputs.length, file);
  const guessed = guessDtypes(graph);
  const dtypes = options.inputDtype === undefined ? guessed
    : Array.isArray(options.inputDtype) ? options.inputDtype : graph.inputs.map(() => options.inputDtype as InputDtype);
  if (dtypes.length !== graph.inputs.length) throw new ConfigError(`${dtypes.length} input dtype(s) for ${graph.inputs.length} input(s)`, 'inputDtype');
  const used = new Set<string>();
  const inputs: Tensor[] = graph.inputs.map((v, i) => {
    let name = v.name.replace(/\.\d+$/, '').replace(/[^A-Za-z0-9_]+/g, '_') || `input${i}`;
    if (!/^[A-Za-z_]/.test(name)) name = `input_${name}`;
    while (used.has(name)) name = `${name}_${i}`;
    used.add(name);
    return { t: 'tensor', ref: name, shape: [...shapes[i]!], dtype: dtypes[i]! };
  });
  const im = new Importer(graph, inputs);
  graph.inputs.forEach((v, i) => im.env.set(v.id, inputs[i]!));
  im.run(graph.nodes);

  // The output: a tensor, or the first element of a tuple (as TorchScriptModel.forward returns it).
  let out: Val = im.get(graph.outputs[0] ?? -1);
  while (Array.isArray(out) && out.length > 0) out = out[0]!;
  let output: Tensor | undefined;
  if (!hasUnknown(out)) {
    try {
      output = im.tensor({ kind: 'output', inputs: [], outputs: [], location: '' }, out, 'the output');
    } catch (error) {
      if (!(error instanceof Unsupported)) throw error;
      im.unsupported.push({ op: 'return', location: '', reason: error.message });
    }
  }
  if (im.unsupported.length > 0) throw new TorchScriptImportError(file, im.unsupported.map(withSourceLine));
  if (!output || !im.byName.has(output.ref)) throw new ConfigError(`'${file}': the output is not computed by any op petra imports`, 'model');
  if (output.shape.length !== 1) {
    throw new ConfigError(`'${file}': the output is [N, ${output.shape.join(', ')}]; petra models output [N, classes] or [N, targets]`, 'model');
  }
  const width = output.shape[0]!;
  const task: ModelSpec['task'] = options.task ?? (width >= 2 ? { kind: 'classification', classes: width } : { kind: 'regression', targets: width });
  const outWidth = task.kind === 'classification' ? task.classes : task.targets;
  if (outWidth !== width) throw new ConfigError(`'${file}' outputs ${width} values per sample, the task wants ${outWidth}`, 'task');

  const kept = reachable(im.nodes, output.ref);
  const keptNames = new Set(kept.map((e) => e.node.name));
  const weights: Record<string, TensorData> = {};
  for (const [k, v] of Object.entries(im.weights)) if (keptNames.has(k.slice(0, k.indexOf('.')))) weights[k] = v;
  const spec = validateSpec({
    format: SPEC_FORMAT, name: options.name ?? `torchscript ${fileTag(path)}`,
    inputs: inputs.map((t) => ({ name: t.ref, shape: t.shape, dtype: t.dtype })),
    nodes: kept.map((e) => e.node), output: output.ref, task,
  });
  const usedInputs = new Set(kept.flatMap((e) => e.node.inputs));
  const unusedInputs = inputs.filter((t) => !usedInputs.has(t.ref));
  if (unusedInputs.length) throw new ConfigError(`'${file}': input(s) ${unusedInputs.map((t) => t.ref).join(', ')} do not reach the output`, 'model');
  const parameters = Object.values(weights).reduce((s, t) => s + t.data.length, 0);
  return {
    spec, weights,
    report: {
      file: path, nodes: kept.map((e) => ({ name: e.node.name, op: e.node.op, from: e.from, location: e.location })),
      static: im.statics, notes: [...im.notes], parameters,
    },
  };
}

/** Builds `spec` on the device and copies `weights` (every parameter and buffer, by name) into it. */
export function buildWithWeights(spec: ModelSpec, weights: Record<string, TensorData>, options: { device?: string } = {}): Model {
  using scratch = Model.build(spec, { device: options.device ?? 'cpu', seed: 0 });
  const names = scratch.parameters().map((p) => p.name);
  const recipes: Record<string, { data: TensorData }> = {};
  for (const name of names) {
    const w = weights[name];
    if (w) recipes[name] = { data: w };
    else if (!name.endsWith('num_batches_tracked')) throw new ConfigError(`no imported value for the model's tensor '${name}'`, 'model');
  }
  const extra = Object.keys(weights).filter((k) => !names.includes(k));
  if (extra.length) throw new ConfigError(`imported tensor(s) the model does not have: ${extra.join(', ')}`, 'model');
  return Model.fromNative(spec, scratch.native.derive(spec, JSON.stringify(spec), recipes));
}

/** A seeded check input: standard normal floats, or token ids below each input's embedding size. */
function checkInputs(spec: ModelSpec, rows: number, seed: number): TensorData[] {
  let s = (seed >>> 0) || 1;
  const next = (): number => { // xorshift32
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
  return spec.inputs.map((inp) => {
    const n = rows * prod(inp.shape);
    const shape = [rows, ...inp.shape];
    if (inp.dtype === 'int64') {
      const vocab = Math.min(...spec.nodes.filter((x) => x.op === 'embedding' && x.inputs.includes(inp.name))
        .map((x) => (x.attrs as { numEmbeddings: number }).numEmbeddings));
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = Math.floor(next() * vocab);
      return { data, shape };
    }
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    return { data, shape };
  });
}

/** max |a − b| over two outputs of the same shape. */
export function maxAbsDiff(a: TensorData, b: TensorData): number {
  if (a.shape.join('x') !== b.shape.join('x')) return Infinity;
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Runs the TorchScript module and the petra model on the same input; the largest absolute difference. */
export async function compareWithTorchScript(path: string, model: Model, inputs: TensorData[]): Promise<number> {
  using script = TorchScriptModel.load(path);
  const expected = script.native.forward(inputs);
  const got = await model.forward(inputs);
  return maxAbsDiff(expected, got);
}

/**
 * `petra import` / `importTorchScript(path)`: the TorchScript module as a petra spec and model with its weights,
 * checked against TorchScript on a random input (NumericError beyond `tolerance`).
 */
export async function importTorchScript(path: string, options: TorchScriptImportOptions): Promise<TorchScriptImport> {
  const imported = torchScriptToSpec(path, options);
  const model = buildWithWeights(imported.spec, imported.weights, options.device !== undefined ? { device: options.device } : {});
  try {
    const tolerance = options.tolerance ?? 1e-5;
    const rows = options.checkBatch ?? 4;
    const diff = await compareWithTorchScript(path, model, checkInputs(imported.spec, rows, options.seed ?? 1));
    imported.report.check = { samples: rows, maxAbsDiff: diff, tolerance };
    if (!(diff <= tolerance)) {
      throw new NumericError(`the petra model imported from '${basename(path)}' differs from TorchScript by ${diff.toExponential(3)} (tolerance ${tolerance})`);
    }
    return { ...imported, model, maxAbsDiff: diff };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
