/**
 * The op registry: one descriptor per op of the graph language (see ./types.ts for what a descriptor holds and who
 * reads it). Its type lists every `OpName`, so an op added to lib/graph/types.ts without a descriptor — or without an
 * entry in the exporters' tables — does not compile. Adding an op: its attributes in types.ts (OpAttrs, OP_NAMES),
 * one descriptor in the family file here, one lowering in lib/interop/onnx-ops.ts and in torchscript-ops.ts, and
 * one builder in native/graph_module.cc's table.
 */
import { CONV_OPS } from './conv.js';
import { DENSE_OPS } from './dense.js';
import { ELEMENTWISE_OPS } from './elementwise.js';
import { JOIN_OPS } from './join.js';
import { NORM_OPS } from './norm.js';
import { POOL_OPS } from './pool.js';
import { SEQUENCE_OPS } from './sequence.js';
import type { OpFamily, OpDescriptor } from './types.js';
import type { OpName } from '../types.js';

export const OPS: OpFamily<OpName> = {
  ...CONV_OPS,
  ...DENSE_OPS,
  ...NORM_OPS,
  ...ELEMENTWISE_OPS,
  ...POOL_OPS,
  ...JOIN_OPS,
  ...SEQUENCE_OPS,
};

/**
 * The descriptor of `op`, typed for a node of any op. (The registry's per-op types cannot follow a node whose op is
 * only known at run time; the registry's own type guarantees the descriptor matches the op.)
 */
export function opDescriptor(op: OpName): OpDescriptor {
  return OPS[op] as OpDescriptor;
}

export { kernelArea } from './conv.js';
export { perDim, pair, fmt, convOut } from './geometry.js';
export type { NodeOf, OpDescriptor, OpFamily, ShapeContext } from './types.js';
export type { ChannelFlow, Dims, MemberRole } from './channels.js';
