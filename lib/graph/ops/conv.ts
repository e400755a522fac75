/**
 * Convolutions: conv1d / conv2d, their low-rank factorizations (lowrank_conv*) and their int8 forms (qconv*).
 * The three kinds share attributes, shape rules and how grouped convs constrain channels; they differ in the
 * tensors they own and so in how pruning reaches them (int8 layers are not pruned: prune before quantizing).
 */
import { ConfigError } from '../../core/errors.js';
import { conv1dAttrs, conv2dAttrs, describe, halfPrecision, quantAttrs, req, scalar1d } from './attrs.js';
import { mixer, untracked, type ChannelFlow, type Dims } from './channels.js';
import { lowrankTensors } from './dense.js';
import { convOut, pair } from './geometry.js';
import type { NodeOf, OpFamily, ShapeContext } from './types.js';
import type { Conv1dAttrs, Conv2dAttrs, GraphNode } from '../types.js';

type Conv1dOp = 'conv1d' | 'qconv1d' | 'lowrank_conv1d';
type Conv2dOp = 'conv2d' | 'qconv2d' | 'lowrank_conv2d';
type FloatConvOp = 'conv1d' | 'conv2d' | 'lowrank_conv1d' | 'lowrank_conv2d';

/** Kernel positions per input channel: k for 1d, kh·kw for 2d, 1 for everything else (linear). */
export function kernelArea(node: GraphNode): number {
  switch (node.op) {
    case 'conv1d':
    case 'lowrank_conv1d':
      return node.attrs.kernelSize;
    case 'conv2d':
    case 'lowrank_conv2d': {
      const k = pair(node.attrs.kernelSize);
      return k[0] * k[1];
    }
    default:
      return 1;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Attribute rules
// ---------------------------------------------------------------------------------------------------------------

function lowrankGroups(a: Record<string, unknown>, p: string): void {
  if (a.groups !== undefined && a.groups !== 1) {
    throw new ConfigError(`a low-rank conv must have groups 1, got ${describe(a.groups)}`, `${p}.attrs.groups`);
  }
}

/** Groups divide both channel counts (qconv too: native/quantize.cc sizes the int8 weight as in / groups); 'same' needs stride 1. */
function convGroups(a: Record<string, unknown>, p: string): void {
  const groups = (a.groups as number | undefined) ?? 1;
  const cin = a.inChannels as number;
  const cout = a.outChannels as number;
  if (cin % groups !== 0)
    throw new ConfigError(`groups (${groups}) must divide inChannels (${cin})`, `${p}.attrs.groups`);
  if (cout % groups !== 0)
    throw new ConfigError(`groups (${groups}) must divide outChannels (${cout})`, `${p}.attrs.groups`);
  if (a.padding === 'same') {
    const s = a.stride ?? 1;
    if (!(s === 1 || (Array.isArray(s) && s.every((x) => x === 1)))) {
      throw new ConfigError(`padding 'same' requires stride 1, got ${describe(s)}`, `${p}.attrs.padding`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Shapes and sizes
// ---------------------------------------------------------------------------------------------------------------

function conv1dShape(n: NodeOf<Conv1dOp>, c: ShapeContext): number[] {
  const x = c.x;
  c.rank(2, '[C, L]');
  const a = n.attrs;
  if (x[0] !== a.inChannels) c.mismatch('inChannels', x[0]!, a.inChannels);
  const d = a.dilation ?? 1;
  const len = a.padding === 'same' ? x[1]! : convOut(x[1]!, a.kernelSize, a.stride ?? 1, a.padding ?? 0, d);
  return c.positive([a.outChannels, len], 'kernelSize');
}

function conv2dShape(n: NodeOf<Conv2dOp>, c: ShapeContext): number[] {
  const x = c.x;
  c.rank(3, '[C, H, W]');
  const a = n.attrs;
  if (x[0] !== a.inChannels) c.mismatch('inChannels', x[0]!, a.inChannels);
  const k = pair(a.kernelSize);
  const s = pair(a.stride ?? 1);
  const d = a.dilation ?? 1;
  if (a.padding === 'same') return [a.outChannels, x[1]!, x[2]!];
  const pd = pair(a.padding ?? 0);
  return c.positive(
    [a.outChannels, convOut(x[1]!, k[0], s[0], pd[0], d), convOut(x[2]!, k[1], s[1], pd[1], d)],
    'kernelSize',
  );
}

/** Weights out·(in/groups)·kh·kw plus the bias; `k` is [k, 1] for 1d. */
function convParams(a: Conv1dAttrs | Conv2dAttrs, k: readonly number[]): number {
  const w = a.outChannels * (a.inChannels / (a.groups ?? 1)) * k[0]! * k[1]!;
  return w + (a.bias === false ? 0 : a.outChannels);
}

function lowrankConvParams(n: NodeOf<'lowrank_conv1d' | 'lowrank_conv2d'>): number {
  const a = n.attrs;
  const k = n.op === 'lowrank_conv2d' ? pair(n.attrs.kernelSize) : [n.attrs.kernelSize, 1];
  const r = a.rank;
  return a.outChannels * r + r + r * a.inChannels * k[0]! * k[1]! + (a.bias === false ? 0 : a.outChannels);
}

function convTensors(node: NodeOf<'conv1d' | 'conv2d'>): Record<string, number[]> {
  const a = node.attrs;
  const k = node.op === 'conv2d' ? pair(node.attrs.kernelSize) : [node.attrs.kernelSize];
  const out: Record<string, number[]> = { weight: [a.outChannels, a.inChannels / (a.groups ?? 1), ...k] };
  if (a.bias !== false) out.bias = [a.outChannels];
  return out;
}

const lowrankConvTensors = (node: NodeOf<'lowrank_conv1d' | 'lowrank_conv2d'>): Record<string, number[]> =>
  lowrankTensors(node.attrs.outChannels, node.attrs.inChannels * kernelArea(node), node.attrs.rank, node.attrs.bias);

// ---------------------------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------------------------

/**
 * A float conv consumes its input channels and produces fresh ones; spatial positions are mixed. A depthwise conv
 * keeps each channel (output c is computed from input c alone); any other grouped conv is not pruned.
 */
function convChannels(P: ChannelFlow, n: NodeOf<FloatConvOp>, ins: Dims[], outShape: number[]): Dims {
  const x = ins[0]!;
  x.slice(1).forEach(mixer(P, n));
  const spatial = untracked(outShape.slice(1));
  const a = n.attrs;
  const groups = a.groups ?? 1;
  if (n.op === 'lowrank_conv1d' || n.op === 'lowrank_conv2d') {
    P.member(x[0]!, n.name, 'Vh', 1, 'in', kernelArea(n));
    const out = P.newSpace(n.name, a.outChannels);
    P.member(out, n.name, 'U', 0, 'out');
    if (a.bias !== false) P.member(out, n.name, 'bias', 0, 'out');
    return [out, ...spatial];
  }
  if (groups === 1) {
    P.member(x[0]!, n.name, 'weight', 1, 'in');
    const out = P.newSpace(n.name, a.outChannels);
    P.member(out, n.name, 'weight', 0, 'out');
    if (a.bias !== false) P.member(out, n.name, 'bias', 0, 'out');
    return [out, ...spatial];
  }
  if (groups === a.inChannels && groups === a.outChannels) {
    // Depthwise: output channel c is computed from input channel c alone, so they are one channel.
    P.member(x[0]!, n.name, 'weight', 0, 'out');
    if (a.bias !== false) P.member(x[0]!, n.name, 'bias', 0, 'out');
    return [[...x[0]!], ...spatial];
  }
  const why = `grouped conv '${n.name}' (groups ${groups}) is not pruned`;
  P.fixAll(x[0]!, why);
  return [P.newSpace(n.name, a.outChannels, why), ...spatial];
}

function quantConvChannels(P: ChannelFlow, n: NodeOf<'qconv1d' | 'qconv2d'>, ins: Dims[], outShape: number[]): Dims {
  const x = ins[0]!;
  const why = `quantized layer '${n.name}' is not pruned`;
  P.fixAll(x[0]!, why);
  x.slice(1).forEach(mixer(P, n));
  return [P.newSpace(n.name, n.attrs.outChannels, why), ...untracked(outShape.slice(1))];
}

// ---------------------------------------------------------------------------------------------------------------
// Resizing after pruning
// ---------------------------------------------------------------------------------------------------------------

function resizeConv(n: NodeOf<'conv1d' | 'conv2d'>, shape: (param: string) => number[]): GraphNode {
  const w = shape('weight');
  const g = n.attrs.groups ?? 1;
  if (g > 1 && g === n.attrs.inChannels && g === n.attrs.outChannels) {
    return { ...n, attrs: { ...n.attrs, inChannels: w[0]!, outChannels: w[0]!, groups: w[0]! } } as GraphNode;
  }
  return { ...n, attrs: { ...n.attrs, outChannels: w[0]!, inChannels: w[1]! * g } } as GraphNode;
}

function resizeLowrankConv(
  n: NodeOf<'lowrank_conv1d' | 'lowrank_conv2d'>,
  shape: (param: string) => number[],
): GraphNode {
  const area =
    n.op === 'lowrank_conv2d'
      ? Array.isArray(n.attrs.kernelSize)
        ? n.attrs.kernelSize[0] * n.attrs.kernelSize[1]
        : n.attrs.kernelSize ** 2
      : n.attrs.kernelSize;
  return { ...n, attrs: { ...n.attrs, outChannels: shape('U')[0]!, inChannels: shape('Vh')[1]! / area } } as GraphNode;
}

// ---------------------------------------------------------------------------------------------------------------
// Descriptors
// ---------------------------------------------------------------------------------------------------------------

const check1d = (a: Record<string, unknown>, p: string): void => {
  convGroups(a, p);
  scalar1d(a, p);
};
const checkLowrank1d = (a: Record<string, unknown>, p: string): void => {
  lowrankGroups(a, p);
  check1d(a, p);
};
const checkLowrank2d = (a: Record<string, unknown>, p: string): void => {
  lowrankGroups(a, p);
  convGroups(a, p);
};
const UNARY = { minInputs: 1, maxInputs: 1 } as const;

export const CONV_OPS: OpFamily<'conv1d' | 'conv2d' | 'lowrank_conv1d' | 'lowrank_conv2d' | 'qconv1d' | 'qconv2d'> = {
  conv1d: {
    attrs: { ...conv1dAttrs, ...halfPrecision },
    ...UNARY,
    check: check1d,
    shape: conv1dShape,
    parameters: (n) => convParams(n.attrs, [n.attrs.kernelSize, 1]),
    tensors: convTensors,
    channels: convChannels,
    resize: resizeConv,
  },
  conv2d: {
    attrs: { ...conv2dAttrs, ...halfPrecision },
    ...UNARY,
    check: convGroups,
    shape: conv2dShape,
    parameters: (n) => convParams(n.attrs, pair(n.attrs.kernelSize)),
    tensors: convTensors,
    channels: convChannels,
    resize: resizeConv,
  },
  lowrank_conv1d: {
    attrs: { ...conv1dAttrs, ...halfPrecision, rank: req('posInt') },
    ...UNARY,
    check: checkLowrank1d,
    shape: conv1dShape,
    parameters: lowrankConvParams,
    tensors: lowrankConvTensors,
    channels: convChannels,
    resize: resizeLowrankConv,
  },
  lowrank_conv2d: {
    attrs: { ...conv2dAttrs, ...halfPrecision, rank: req('posInt') },
    ...UNARY,
    check: checkLowrank2d,
    shape: conv2dShape,
    parameters: lowrankConvParams,
    tensors: lowrankConvTensors,
    channels: convChannels,
    resize: resizeLowrankConv,
  },
  qconv1d: {
    attrs: { ...conv1dAttrs, ...quantAttrs },
    ...UNARY,
    check: check1d,
    shape: conv1dShape,
    weights: (n) => convParams(n.attrs, [n.attrs.kernelSize, 1]),
    channels: quantConvChannels,
    quantAware: 'ownParams',
  },
  qconv2d: {
    attrs: { ...conv2dAttrs, ...quantAttrs },
    ...UNARY,
    check: convGroups,
    shape: conv2dShape,
    weights: (n) => convParams(n.attrs, pair(n.attrs.kernelSize)),
    channels: quantConvChannels,
    quantAware: 'ownParams',
  },
};
