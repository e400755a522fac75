/**
 * TorchScript import, op mapping part 2: the builders shared by several aten ops — activations, convolution,
 * linear, (adaptive) pooling and flatten. Each checks its arguments against the per-sample input shape, works out
 * the petra attrs and output shape, and emits one petra node with its weights. torchscript-import-ops.ts wires
 * them to op names.
 */
import type { NativeTorchScriptNode } from '../runtime/binding.js';
import type { TensorData } from '../data/types.js';
import type { OpName } from '../graph/types.js';
import type { Handler, Importer } from './torchscript-import-graph.js';
import {
  bool,
  constArg,
  describeVal,
  int,
  ints,
  optConst,
  prod,
  td,
  unsupported,
  type Const,
  type Tensor,
  type Val,
} from './torchscript-import-values.js';

export function activation(op: 'relu' | 'gelu' | 'sigmoid' | 'tanh'): Handler {
  return (im, n, a) => {
    if (op === 'gelu' && a.length > 1 && a[1] !== 'none')
      unsupported(`gelu(approximate='${String(a[1])}'): petra's gelu is the exact (erf) form`);
    const x = im.tensor(n, a[0]!, 'input');
    return [im.emit(n, op, [x], {}, [...x.shape])];
  };
}

export function conv(
  im: Importer,
  n: NativeTorchScriptNode,
  xv: Val,
  wv: Val,
  bv: Val,
  strideV: Val,
  paddingV: Val,
  dilationV: Val,
  groupsV: Val,
): Val[] {
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
  if (dilation.some((v) => v !== dilation[0]))
    unsupported(`dilation [${dilation.join(', ')}]: petra's conv2d takes one dilation for both dims`);
  const same = paddingV === 'same';
  const padding = same
    ? new Array<number>(d).fill(0)
    : paddingV === 'valid'
      ? new Array<number>(d).fill(0)
      : expand(ints(paddingV, 'padding'), 'padding');
  const inChannels = w.shape[1]! * groups;
  if (x.shape[0] !== inChannels) unsupported(`the input has ${x.shape[0]} channels, the weight expects ${inChannels}`);
  const kernel = w.shape.slice(2);
  const spatial = x.shape
    .slice(1)
    .map((len, i) =>
      same ? len : Math.floor((len + 2 * padding[i]! - dilation[i]! * (kernel[i]! - 1) - 1) / stride[i]!) + 1,
    );
  if (spatial.some((s) => s < 1)) unsupported(`the kernel is larger than the input [${x.shape.join(', ')}]`);
  const one = (v: number[]): number | number[] => (v.every((e) => e === v[0]) ? v[0]! : v);
  const attrs: Record<string, unknown> = {
    inChannels,
    outChannels: w.shape[0],
    kernelSize: d === 1 ? kernel[0] : one(kernel),
  };
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

export function linear(im: Importer, n: NativeTorchScriptNode, xv: Val, w: Const, b: Const | undefined): Val[] {
  const x = im.tensor(n, xv, 'input');
  if (w.shape.length !== 2) return unsupported(`a linear weight of shape [${w.shape.join(', ')}]`);
  const [out, inF] = w.shape as [number, number];
  if (x.shape.at(-1) !== inF)
    return unsupported(`the input's last dim is ${x.shape.at(-1)}, the weight expects ${inF}`);
  const params: Record<string, TensorData> = { weight: td(w) };
  if (b) params.bias = td(b);
  const attrs: Record<string, unknown> = { inFeatures: inF, outFeatures: out };
  if (!b) attrs.bias = false;
  return [im.emit(n, 'linear', [x], attrs, [...x.shape.slice(0, -1), out], params, w)];
}

export function pool(kind: 'max' | 'avg', d: 1 | 2): Handler {
  return (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    if (x.shape.length !== d + 1) unsupported(`${kind}_pool${d}d on a per-sample [${x.shape.join(', ')}] input`);
    const expand = (v: number[], what: string): number[] =>
      v.length === 1 ? new Array<number>(d).fill(v[0]!) : v.length === d ? v : unsupported(`${what} [${v.join(', ')}]`);
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
      if (!bool(a[5]!, 'count_include_pad') && p.some((v) => v !== 0))
        unsupported('count_include_pad=False with padding');
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

export function adaptive(kind: 'avg' | 'max', d: 1 | 2): Handler {
  return (im, n, a) => {
    const x = im.tensor(n, a[0]!, 'input');
    if (x.shape.length !== d + 1)
      unsupported(`adaptive_${kind}_pool${d}d on a per-sample [${x.shape.join(', ')}] input`);
    const raw = Array.isArray(a[1]) ? a[1] : [a[1]!];
    const size = (raw.length === 1 ? new Array<Val>(d).fill(raw[0]!) : raw).map((v, i) =>
      v === null ? x.shape[i + 1]! : int(v, 'output_size'),
    );
    if (size.length !== d) unsupported(`output_size ${describeVal(a[1]!)}`);
    const t = im.emit(
      n,
      `adaptive${kind}pool${d}d` as OpName,
      [x],
      { outputSize: d === 1 || size[0] === size[1] ? size[0] : size },
      [x.shape[0]!, ...size],
    );
    return kind === 'max' ? [t, { t: 'opaque', what: 'pooling indices' }] : [t];
  };
}

export function flattenTo(im: Importer, n: NativeTorchScriptNode, x: Tensor, startDim: number): Tensor {
  // startDim counts the batch as dim 0; flattening from the last dim is the identity.
  if (startDim >= x.shape.length) return x;
  const shape = [...x.shape.slice(0, startDim - 1), prod(x.shape.slice(startDim - 1))];
  return im.emit(n, 'flatten', [x], startDim === 1 ? {} : { startDim }, shape);
}
