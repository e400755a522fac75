/**
 * Fully connected layers: linear, its low-rank factorization (lowrank_linear) and its int8 form (qlinear). They
 * apply to the last dimension, so whatever leads it (time, positions) passes through.
 */
import { halfPrecision, linearAttrs, opt, quantAttrs, req } from './attrs.js';
import type { ChannelFlow, Dims } from './channels.js';
import { fmt } from './geometry.js';
import { ConfigError } from '../../core/errors.js';
import type { NodeOf, OpFamily, ShapeContext } from './types.js';
import type { LinearAttrs } from '../types.js';

/** U [out, rank], S [rank], Vh [rank, in·k…] and the bias of a low-rank layer (in: its input size times the kernel area). */
export function lowrankTensors(o: number, i: number, r: number, bias: boolean | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = { U: [o, r], S: [r], Vh: [r, i] };
  if (bias !== false) out.bias = [o];
  return out;
}

function linearShape(n: NodeOf<'linear' | 'qlinear' | 'lowrank_linear'>, c: ShapeContext): number[] {
  const x = c.x;
  const last = x[x.length - 1]!;
  if (last !== n.attrs.inFeatures) {
    throw new ConfigError(
      `'${n.op}' applies to the last dimension: expected inFeatures = ${last} (input ${fmt(x)}), got ${n.attrs.inFeatures}`,
      `${c.path}.attrs.inFeatures`,
    );
  }
  return [...x.slice(0, -1), n.attrs.outFeatures];
}

const linearParams = (a: LinearAttrs): number => a.outFeatures * a.inFeatures + (a.bias === false ? 0 : a.outFeatures);

/** The input's last dimension is consumed, the output's is a fresh channel space; leading dimensions pass through. */
function linearChannels(P: ChannelFlow, n: NodeOf<'linear' | 'lowrank_linear'>, ins: Dims[]): Dims {
  const x = ins[0]!;
  const last = x.length - 1;
  const kept = x.slice(0, last).map((d) => [...d]);
  let out: number[];
  if (n.op === 'lowrank_linear') {
    P.member(x[last]!, n.name, 'Vh', 1, 'in');
    out = P.newSpace(n.name, n.attrs.outFeatures);
    P.member(out, n.name, 'U', 0, 'out');
  } else {
    P.member(x[last]!, n.name, 'weight', 1, 'in');
    out = P.newSpace(n.name, n.attrs.outFeatures);
    P.member(out, n.name, 'weight', 0, 'out');
  }
  if (n.attrs.bias !== false) P.member(out, n.name, 'bias', 0, 'out');
  return [...kept, out];
}

const UNARY = { minInputs: 1, maxInputs: 1 } as const;

export const DENSE_OPS: OpFamily<'linear' | 'lowrank_linear' | 'qlinear'> = {
  linear: {
    attrs: { ...linearAttrs, ...halfPrecision },
    ...UNARY,
    shape: linearShape,
    parameters: (n) => linearParams(n.attrs),
    tensors: (n) => {
      const out: Record<string, number[]> = { weight: [n.attrs.outFeatures, n.attrs.inFeatures] };
      if (n.attrs.bias !== false) out.bias = [n.attrs.outFeatures];
      return out;
    },
    channels: linearChannels,
    resize: (n, shape) => ({
      ...n,
      attrs: { ...n.attrs, outFeatures: shape('weight')[0]!, inFeatures: shape('weight')[1]! },
    }),
  },
  lowrank_linear: {
    attrs: { inFeatures: req('posInt'), outFeatures: req('posInt'), rank: req('posInt'), bias: opt('bool') },
    ...UNARY,
    shape: linearShape,
    parameters: (n) => {
      const { inFeatures, outFeatures, rank } = n.attrs;
      return outFeatures * rank + rank + rank * inFeatures + (n.attrs.bias === false ? 0 : outFeatures);
    },
    tensors: (n) => lowrankTensors(n.attrs.outFeatures, n.attrs.inFeatures, n.attrs.rank, n.attrs.bias),
    channels: linearChannels,
    resize: (n, shape) => ({ ...n, attrs: { ...n.attrs, outFeatures: shape('U')[0]!, inFeatures: shape('Vh')[1]! } }),
  },
  qlinear: {
    attrs: { ...linearAttrs, ...quantAttrs },
    ...UNARY,
    shape: linearShape,
    weights: (n) => linearParams(n.attrs),
    channels: (P, n, ins) => {
      // int8 layers are not sliced: prune before quantizing.
      const x = ins[0]!;
      const why = `quantized layer '${n.name}' is not pruned`;
      const last = x.length - 1;
      P.fixAll(x[last]!, why);
      return [...x.slice(0, last).map((d) => [...d]), P.newSpace(n.name, n.attrs.outFeatures, why)];
    },
    quantAware: 'ownParams',
  },
};
