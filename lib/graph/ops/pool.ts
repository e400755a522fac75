/**
 * Pooling over the spatial or time dimensions: max / average with a window, adaptive max / average to a fixed size.
 * Channels pass through; the pooled positions are mixed.
 */
import { ConfigError } from '../../core/errors.js';
import { describe, opt, req, scalar1d, type AttrRules } from './attrs.js';
import { mixer, untracked, type ChannelFlow, type Dims } from './channels.js';
import { convOut, pair } from './geometry.js';
import type { NodeOf, OpFamily, ShapeContext } from './types.js';

type WindowOp = 'maxpool1d' | 'maxpool2d' | 'avgpool1d' | 'avgpool2d';
type AdaptiveOp = 'adaptiveavgpool1d' | 'adaptiveavgpool2d' | 'adaptivemaxpool1d' | 'adaptivemaxpool2d';

const windowAttrs: AttrRules = { kernelSize: req('posInt2'), stride: opt('posInt2'), padding: opt('nonNegInt2') };
const adaptiveAttrs: AttrRules = { outputSize: req('posInt2') };
const UNARY = { minInputs: 1, maxInputs: 1 } as const;

/** PyTorch pads a pooling window by at most half its size. */
function padding(a: Record<string, unknown>, p: string): void {
  const k = pair(a.kernelSize as number | [number, number]);
  const pad = pair((a.padding as number | [number, number] | undefined) ?? 0);
  if (pad[0] > Math.floor(k[0] / 2) || pad[1] > Math.floor(k[1] / 2)) {
    throw new ConfigError(
      `padding ${describe(a.padding)} must be at most half the kernel size ${describe(a.kernelSize)}`,
      `${p}.attrs.padding`,
    );
  }
}
const padding1d = (a: Record<string, unknown>, p: string): void => {
  padding(a, p);
  scalar1d(a, p);
};

function window1dShape(n: NodeOf<'maxpool1d' | 'avgpool1d'>, c: ShapeContext): number[] {
  const x = c.x;
  c.rank(2, '[C, L]');
  const k = n.attrs.kernelSize as number;
  const s = (n.attrs.stride as number | undefined) ?? k;
  return c.positive([x[0]!, convOut(x[1]!, k, s, (n.attrs.padding as number | undefined) ?? 0, 1)], 'kernelSize');
}

function window2dShape(n: NodeOf<'maxpool2d' | 'avgpool2d'>, c: ShapeContext): number[] {
  const x = c.x;
  c.rank(3, '[C, H, W]');
  const k = pair(n.attrs.kernelSize);
  const s = pair(n.attrs.stride ?? n.attrs.kernelSize);
  const pd = pair(n.attrs.padding ?? 0);
  return c.positive([x[0]!, convOut(x[1]!, k[0], s[0], pd[0], 1), convOut(x[2]!, k[1], s[1], pd[1], 1)], 'kernelSize');
}

function adaptive1dShape(n: NodeOf<'adaptiveavgpool1d' | 'adaptivemaxpool1d'>, c: ShapeContext): number[] {
  c.rank(2, '[C, L]');
  return [c.x[0]!, n.attrs.outputSize as number];
}

function adaptive2dShape(n: NodeOf<'adaptiveavgpool2d' | 'adaptivemaxpool2d'>, c: ShapeContext): number[] {
  c.rank(3, '[C, H, W]');
  const o = pair(n.attrs.outputSize);
  return [c.x[0]!, o[0], o[1]];
}

function poolChannels(P: ChannelFlow, n: NodeOf<WindowOp | AdaptiveOp>, ins: Dims[], outShape: number[]): Dims {
  const x = ins[0]!;
  x.slice(1).forEach(mixer(P, n));
  return [[...x[0]!], ...untracked(outShape.slice(1))];
}

const window = (check: (a: Record<string, unknown>, p: string) => void) => ({
  attrs: windowAttrs,
  ...UNARY,
  check,
  channels: poolChannels,
});
const adaptive = { attrs: adaptiveAttrs, ...UNARY, channels: poolChannels };

// Max pooling commutes with the affine map to int8 codes, and petra's quantized adaptive average pooling requantizes
// to its input's parameters: those run on int8 values and keep them int8.
export const POOL_OPS: OpFamily<WindowOp | AdaptiveOp> = {
  maxpool1d: { ...window(padding1d), shape: window1dShape, quantAware: 'keepsParams' },
  maxpool2d: { ...window(padding), shape: window2dShape, quantAware: 'keepsParams' },
  avgpool1d: { ...window(padding1d), shape: window1dShape },
  avgpool2d: { ...window(padding), shape: window2dShape },
  adaptiveavgpool1d: { ...adaptive, check: scalar1d, shape: adaptive1dShape, quantAware: 'keepsParams' },
  adaptiveavgpool2d: { ...adaptive, shape: adaptive2dShape, quantAware: 'keepsParams' },
  adaptivemaxpool1d: { ...adaptive, check: scalar1d, shape: adaptive1dShape },
  adaptivemaxpool2d: { ...adaptive, shape: adaptive2dShape },
};
