/** Normalizations: batchnorm1d / batchnorm2d over the channel dimension, layernorm over the trailing dimensions. */
import { ConfigError } from '../../core/errors.js';
import { opt, req, type AttrRules } from './attrs.js';
import { passThrough, type ChannelFlow, type Dims } from './channels.js';
import { fmt } from './geometry.js';
import type { NodeOf, OpFamily } from './types.js';
import type { GraphNode } from '../types.js';

const bnAttrs: AttrRules = { numFeatures: req('posInt'), eps: opt('posNum'), momentum: opt('unitInterval') };
const UNARY = { minInputs: 1, maxInputs: 1 } as const;

function bnTensors(node: NodeOf<'batchnorm1d' | 'batchnorm2d'>): Record<string, number[]> {
  const c = node.attrs.numFeatures;
  return { weight: [c], bias: [c], running_mean: [c], running_var: [c] };
}

/** The affine weight and bias follow the channel; the running statistics are sliced along (never scored). */
function bnChannels(P: ChannelFlow, n: NodeOf<'batchnorm1d' | 'batchnorm2d'>, ins: Dims[]): Dims {
  const x = ins[0]!;
  for (const p of ['weight', 'bias']) P.member(x[0]!, n.name, p, 0, 'norm');
  for (const p of ['running_mean', 'running_var']) P.member(x[0]!, n.name, p, 0, 'stat');
  return passThrough(x);
}

const resizeBn = (n: NodeOf<'batchnorm1d' | 'batchnorm2d'>, shape: (param: string) => number[]): GraphNode => ({
  ...n,
  attrs: { ...n.attrs, numFeatures: shape('weight')[0]! },
});

export const NORM_OPS: OpFamily<'batchnorm1d' | 'batchnorm2d' | 'layernorm'> = {
  batchnorm1d: {
    attrs: bnAttrs,
    ...UNARY,
    shape: (n, c) => {
      const x = c.x;
      if (x.length !== 1 && x.length !== 2) {
        throw new ConfigError(`'batchnorm1d' expects a per-sample [C] or [C, L], got ${fmt(x)}`, `${c.path}.inputs[0]`);
      }
      if (x[0] !== n.attrs.numFeatures) c.mismatch('numFeatures', x[0]!, n.attrs.numFeatures);
      return [...x];
    },
    parameters: (n) => 2 * n.attrs.numFeatures,
    tensors: bnTensors,
    channels: bnChannels,
    resize: resizeBn,
  },
  batchnorm2d: {
    attrs: bnAttrs,
    ...UNARY,
    shape: (n, c) => {
      c.rank(3, '[C, H, W]');
      if (c.x[0] !== n.attrs.numFeatures) c.mismatch('numFeatures', c.x[0]!, n.attrs.numFeatures);
      return [...c.x];
    },
    parameters: (n) => 2 * n.attrs.numFeatures,
    tensors: bnTensors,
    channels: bnChannels,
    resize: resizeBn,
  },
  layernorm: {
    attrs: { normalizedShape: req('posIntArray'), eps: opt('posNum') },
    ...UNARY,
    shape: (n, c) => {
      const x = c.x;
      const ns = n.attrs.normalizedShape;
      const tail = x.slice(x.length - ns.length);
      if (ns.length > x.length || tail.some((d, i) => d !== ns[i])) {
        throw new ConfigError(
          `normalizedShape ${fmt(ns)} must match the trailing dimensions of the input ${fmt(x)}`,
          `${c.path}.attrs.normalizedShape`,
        );
      }
      return [...x];
    },
    parameters: (n) => 2 * n.attrs.normalizedShape.reduce((a, b) => a * b, 1),
    tensors: (n) => {
      const ns = n.attrs.normalizedShape;
      return { weight: [...ns], bias: [...ns] };
    },
    // Over one dimension its weight and bias follow that dimension's channels; over several, those cannot shrink.
    channels: (P, n, ins) => {
      const x = ins[0]!;
      const k = n.attrs.normalizedShape.length;
      if (k === 1) {
        for (const p of ['weight', 'bias']) P.member(x[x.length - 1]!, n.name, p, 0, 'norm');
      } else {
        for (const d of x.slice(x.length - k)) P.fixAll(d, `layernorm '${n.name}' normalizes over ${k} dimensions`);
      }
      return passThrough(x);
    },
    resize: (n, shape) => ({ ...n, attrs: { ...n.attrs, normalizedShape: shape('weight') } }),
  },
};
