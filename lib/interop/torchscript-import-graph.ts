/**
 * TorchScript import, the interpreter: `Importer` walks the described forward graph once, in order, keeping an
 * abstract value per TorchScript value id, folding `prim::If` on statically known conditions and dispatching every
 * other node to its handler (torchscript-import-ops.ts). Handlers emit petra nodes (with their weights) through
 * `Importer.emit`; an op no handler takes, or one a handler rejects, is recorded as an `UnsupportedOp`.
 *
 * The handler table (torchscript-import-ops.ts) is given to the constructor: the handler files import `Importer` and
 * `Handler` from here, and this file imports none of them, so the interpreter and its handlers form no import cycle.
 */
import type { NativeTorchScriptGraph, NativeTorchScriptNode } from '../runtime/binding.js';
import type { TensorData } from '../data/types.js';
import type { GraphNode, OpName } from '../graph/types.js';
import {
  describeVal,
  filled,
  fromConstant,
  hasUnknown,
  isObj,
  isT,
  td,
  UNKNOWN,
  Unsupported,
  unsupported,
  type Const,
  type GruInfo,
  type Tensor,
  type Val,
} from './torchscript-import-values.js';

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

// ---------------------------------------------------------------------------------------------------------------
// The interpreter
// ---------------------------------------------------------------------------------------------------------------

export interface Emitted {
  node: GraphNode;
  from: string;
  location: string;
  shape: number[];
}

export class Importer {
  readonly nodes: Emitted[] = [];
  readonly weights: Record<string, TensorData> = {};
  readonly unsupported: UnsupportedOp[] = [];
  readonly statics: Record<string, number> = {};
  readonly notes = new Set<string>();
  readonly env = new Map<number, Val>();
  readonly uses = new Map<number, number>();
  readonly names = new Set<string>();
  readonly byName = new Map<string, Emitted>();

  /** `handlers`: what runs each node kind (torchscript-import-ops.ts's HANDLERS). */
  constructor(
    readonly graph: NativeTorchScriptGraph,
    readonly inputs: Tensor[],
    private readonly handlers: Readonly<Record<string, Handler>>,
  ) {
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
    let base = hint
      .replace(/^self\./, '')
      .replace(/[^A-Za-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '');
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

  emit(
    node: NativeTorchScriptNode,
    op: OpName,
    inputs: Tensor[],
    attrs: Record<string, unknown>,
    shape: number[],
    params: Record<string, TensorData> = {},
    weight?: Const,
  ): Tensor {
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
      return unsupported(
        `${what}: the GRU's stacked final states (layers × directions, N, H) have no petra value; use h[-1] (or cat(h[-2], h[-1]) when bidirectional)`,
      );
    }
    if (isT(v, 'gruLastDir'))
      return unsupported(`${what}: one direction of a bidirectional GRU's final state alone; use cat(h[-2], h[-1])`);
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
      this.notes.add(
        `the GRU ${other} is used both as a sequence and by its last state: petra holds two GRU nodes (${other}, ${t.ref}) with the same weights`,
      );
    }
    g.nodes[output] = t.ref;
    return t;
  }

  run(nodes: NativeTorchScriptNode[]): void {
    for (const node of nodes) this.step(node);
  }

  step(node: NativeTorchScriptNode): void {
    const args = node.inputs.map((id) => this.get(id));
    const set = (vals: Val[]): void =>
      node.outputs.forEach((o, i) => this.env.set(o.id, i < vals.length ? vals[i]! : UNKNOWN));
    if (node.kind === 'prim::Constant') {
      set([fromConstant(node.value, node.outputs[0]?.name ?? 'constant')]);
      return;
    }
    if (node.kind === 'prim::If') {
      this.branch(node, args[0]!);
      return;
    }
    const handler = Object.hasOwn(this.handlers, node.kind) ? this.handlers[node.kind] : undefined;
    if (handler && args.some((a) => hasUnknown(a))) {
      set(node.outputs.map(() => UNKNOWN)); // a supported op on a value already reported where it came from
      return;
    }
    try {
      if (!handler) unsupported('');
      const out = handler!(this, node, args);
      set(out);
      // In-place ops (aten::add_, relu_, …): later readers of the mutated operand see the result.
      if (
        /^aten::[a-z0-9_]*[a-z0-9]_$/.test(node.kind) &&
        node.inputs.length > 0 &&
        out[0] !== undefined &&
        isObj(out[0])
      ) {
        this.env.set(node.inputs[0]!, out[0]);
      }
    } catch (error) {
      if (!(error instanceof Unsupported)) throw error;
      this.unsupported.push({
        op: node.kind,
        location: node.location,
        reason: error.message,
        ...(node.module ? { module: node.module } : {}),
      });
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
        op: node.kind,
        location: node.location,
        reason: `a branch on ${describeVal(cond)}, which is only known at run time`,
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

  count(kind: string): void {
    this.statics[kind] = (this.statics[kind] ?? 0) + 1;
  }
}

export type Handler = (im: Importer, node: NativeTorchScriptNode, args: Val[]) => Val[];
