/**
 * What the graph language knows about one op, written once per op in lib/graph/ops/<family>.ts and collected in the
 * registry (lib/graph/ops/index.ts), whose type has one entry per `OpName`: an op without a descriptor does not
 * compile. validate.ts reads the attributes, input counts, cross-attribute checks, shape rules and weight counts;
 * lib/compress reads the tensors, channel rules and resizing; lib/compress/int8-bias.ts and the TorchScript exporter
 * read `quantAware`. How an op lowers to ONNX and to TorchScript lives in each exporter's own table keyed by op
 * (lib/interop/onnx-ops.ts, lib/interop/torchscript-ops.ts) — that code speaks the exporter's graph writer, which
 * lib/graph must not import — and how it runs natively in the builder table of native/graph_module.cc.
 */
import type { AttrRules } from './attrs.js';
import type { ChannelFlow, Dims } from './channels.js';
import type { GraphNode, OpName } from '../types.js';

/** The node type of one op (or of a union of ops). */
export type NodeOf<K extends OpName> = Extract<GraphNode, { op: K }>;

/** What a shape rule gets besides the node: its inputs' shapes and the ways to fail with the node's path. */
export interface ShapeContext {
  /** Per-sample shapes of the node's inputs (no batch dimension); `x` is the first. */
  readonly ins: number[][];
  readonly x: number[];
  /** The node's path in the spec, e.g. `nodes[3]`, for errors about other attributes or inputs. */
  readonly path: string;
  /** Fails unless the first input has rank `r` (`what` names the expected layout, e.g. '[C, L]'). */
  rank(r: number, what: string): void;
  /** Fails: the input gives `expected` for attribute `attr`, which says `actual`. */
  mismatch(attr: string, expected: number | string, actual: number | string): never;
  /** `out`, or a failure at `attrs.<attr>` when a dimension came out empty (a kernel larger than its input). */
  positive(out: number[], attr: string): number[];
}

export interface OpDescriptor<K extends OpName = OpName> {
  /** Attribute schema: names, kinds, required or not (their order is the order errors list them in). */
  readonly attrs: AttrRules;
  readonly minInputs: number;
  readonly maxInputs: number;
  /** Rules that involve more than one attribute (run after each attribute passed its kind). */
  check?(attrs: Record<string, unknown>, path: string): void;
  /** Whether the op reads int64 token ids (embedding); every other op reads float32. */
  readonly readsTokens?: boolean;
  /** Per-sample output shape from the input shapes; fails through `c` on a mismatch. */
  shape(node: NodeOf<K>, c: ShapeContext): number[];
  /** Trainable parameters, as PyTorch counts them (running statistics are buffers and not counted). 0 when absent. */
  parameters?(node: NodeOf<K>): number;
  /** Weight elements native/ allocates, where that differs from `parameters` (int8 layers' weight buffers). */
  weights?(node: NodeOf<K>): number;
  /** Shapes of the parameters and channel-indexed buffers the node owns, by param name (`weight`, `U`, …). */
  tensors?(node: NodeOf<K>): Record<string, number[]>;
  /** How channels flow through the op (lib/compress/depgraph.ts): the output's channel atoms from the inputs'. */
  channels(flow: ChannelFlow, node: NodeOf<K>, ins: Dims[], outShape: number[]): Dims;
  /** The node's attributes read back from its pruned tensor shapes; absent: pruning leaves the node as it is. */
  resize?(node: NodeOf<K>, shape: (param: string) => number[]): GraphNode;
  /**
   * How the op treats an int8 (quint8) input in petra's graph — native/graph_module.cc's builder table must say the
   * same. 'keepsParams': it runs on the codes and its output keeps the input's scale and zero point; 'ownParams': it
   * runs on the codes and its output has its own parameters (static int8 layers) or is float (dynamic ones). Absent:
   * the input is dequantized first — except that add and concat join int8 inputs when attrs.outScale is set.
   */
  readonly quantAware?: 'keepsParams' | 'ownParams';
}

/** The descriptors of a family of ops, one per op. */
export type OpFamily<K extends OpName> = { readonly [P in K]: OpDescriptor<P> };
