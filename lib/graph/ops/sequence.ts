/**
 * Sequence ops: embedding (int64 token ids → vectors) and the batch-first GRU, float or dynamic int8 (qgru).
 * A GRU's hidden size is its recurrent state: it is not pruned, but its input columns follow the input's channels.
 */
import { ConfigError } from '../../core/errors.js';
import { SPEC_LIMITS } from '../limits.js';
import { describe, halfPrecision, opt, req, type AttrRules } from './attrs.js';
import { mixer, untracked, type ChannelFlow, type Dims } from './channels.js';
import type { NodeOf, OpFamily, ShapeContext } from './types.js';
import type { GruAttrs } from '../types.js';

const gruAttrs: AttrRules = {
  inputSize: req('posInt'),
  hiddenSize: req('posInt'),
  numLayers: opt('posInt'),
  bidirectional: opt('bool'),
  output: opt('gruOutput'),
};
const UNARY = { minInputs: 1, maxInputs: 1 } as const;

function gruLayers(a: Record<string, unknown>, p: string): void {
  if (((a.numLayers as number | undefined) ?? 1) > SPEC_LIMITS.maxGruLayers) {
    throw new ConfigError(
      `at most ${SPEC_LIMITS.maxGruLayers} layers, got ${describe(a.numLayers)}`,
      `${p}.attrs.numLayers`,
    );
  }
}

function gruShape(n: NodeOf<'gru' | 'qgru'>, c: ShapeContext): number[] {
  const x = c.x;
  c.rank(2, '[T, inputSize]');
  if (x[1] !== n.attrs.inputSize) c.mismatch('inputSize', x[1]!, n.attrs.inputSize);
  const hd = n.attrs.hiddenSize * (n.attrs.bidirectional ? 2 : 1);
  return (n.attrs.output ?? 'last') === 'last' ? [hd] : [x[0]!, hd];
}

function gruParams(a: GruAttrs): number {
  const { inputSize, hiddenSize: h } = a;
  const layers = a.numLayers ?? 1;
  const dirs = a.bidirectional ? 2 : 1;
  let total = 0;
  for (let l = 0; l < layers; l++) {
    const inp = l === 0 ? inputSize : h * dirs;
    total += dirs * (3 * h * (inp + h) + 6 * h);
  }
  return total;
}

/** The time dimension is mixed; the hidden state is a fresh, non-prunable channel space. */
function hiddenChannels(P: ChannelFlow, n: NodeOf<'gru' | 'qgru'>, outShape: number[], why: string): Dims {
  const hidden = P.newSpace(n.name, n.attrs.hiddenSize * (n.attrs.bidirectional ? 2 : 1), why);
  return (n.attrs.output ?? 'last') === 'last' ? [hidden] : [untracked([outShape[0]!])[0]!, hidden];
}

export const SEQUENCE_OPS: OpFamily<'embedding' | 'gru' | 'qgru'> = {
  embedding: {
    attrs: { numEmbeddings: req('posInt'), embeddingDim: req('posInt') },
    ...UNARY,
    readsTokens: true,
    shape: (n, c) => [...c.x, n.attrs.embeddingDim],
    parameters: (n) => n.attrs.numEmbeddings * n.attrs.embeddingDim,
    tensors: (n) => ({ weight: [n.attrs.numEmbeddings, n.attrs.embeddingDim] }),
    channels: (P, n, _ins, outShape) => {
      const out = P.newSpace(n.name, n.attrs.embeddingDim);
      P.member(out, n.name, 'weight', 1, 'out');
      return [...untracked(outShape.slice(0, -1)), out];
    },
    resize: (n, shape) => ({ ...n, attrs: { ...n.attrs, embeddingDim: shape('weight')[1]! } }),
  },
  gru: {
    attrs: { ...gruAttrs, ...halfPrecision },
    ...UNARY,
    check: gruLayers,
    shape: gruShape,
    parameters: (n) => gruParams(n.attrs),
    tensors: (node) => {
      const { inputSize, hiddenSize: h } = node.attrs;
      const dirs = node.attrs.bidirectional ? 2 : 1;
      const out: Record<string, number[]> = {};
      for (let l = 0; l < (node.attrs.numLayers ?? 1); l++) {
        for (const sfx of dirs === 2 ? ['', '_reverse'] : ['']) {
          out[`weight_ih_l${l}${sfx}`] = [3 * h, l === 0 ? inputSize : h * dirs];
          out[`weight_hh_l${l}${sfx}`] = [3 * h, h];
          out[`bias_ih_l${l}${sfx}`] = [3 * h];
          out[`bias_hh_l${l}${sfx}`] = [3 * h];
        }
      }
      return out;
    },
    // The first layer's input columns follow the input's channels.
    channels: (P, n, ins, outShape) => {
      const x = ins[0]!;
      mixer(P, n)(x[0]!);
      const dirs = n.attrs.bidirectional ? 2 : 1;
      P.member(x[1]!, n.name, 'weight_ih_l0', 1, 'in');
      if (dirs === 2) P.member(x[1]!, n.name, 'weight_ih_l0_reverse', 1, 'in');
      return hiddenChannels(P, n, outShape, `GRU '${n.name}' hidden size is not pruned`);
    },
    resize: (n, shape) => ({ ...n, attrs: { ...n.attrs, inputSize: shape('weight_ih_l0')[1]! } }),
  },
  qgru: {
    attrs: {
      ...gruAttrs,
      dynamic: opt('bool'),
      perChannel: opt('bool'),
      engine: opt('engine'),
      recurrence: opt('recurrence'),
      weightBits: opt('weightBits'),
      quantizedOn: opt('label'),
    },
    ...UNARY,
    check: gruLayers,
    shape: gruShape,
    weights: (n) => gruParams(n.attrs),
    tensors: (node) => {
      const { inputSize, hiddenSize: h } = node.attrs;
      const dirs = node.attrs.bidirectional ? 2 : 1;
      const ch = node.attrs.perChannel === false ? 1 : 3 * h;
      const out: Record<string, number[]> = {};
      for (let l = 0; l < (node.attrs.numLayers ?? 1); l++) {
        for (const sfx of dirs === 2 ? ['', '_reverse'] : ['']) {
          out[`w_ih_l${l}${sfx}`] = [3 * h, l === 0 ? inputSize : h * dirs];
          out[`w_hh_l${l}${sfx}`] = [3 * h, h];
          out[`w_ih_scale_l${l}${sfx}`] = [ch];
          out[`w_hh_scale_l${l}${sfx}`] = [ch];
          out[`b_ih_l${l}${sfx}`] = [3 * h];
          out[`b_hh_l${l}${sfx}`] = [3 * h];
        }
      }
      return out;
    },
    channels: (P, n, ins, outShape) => {
      const x = ins[0]!;
      const why = `quantized GRU '${n.name}' is not pruned`;
      P.fixAll(x[1]!, why);
      mixer(P, n)(x[0]!);
      return hiddenChannels(P, n, outShape, why);
    },
  },
};
