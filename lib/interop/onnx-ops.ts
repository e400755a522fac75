/**
 * How each op of the graph language lowers to ONNX: one entry per op in a table whose type lists every OpName, so a
 * new op without an ONNX lowering does not compile. Each lowering reads its node's input values from the Exporter,
 * writes ONNX nodes and initializers through it, and records its output value (float, int8 codes, or both). The
 * order of writes is the order of the graph's nodes and initializers: keep it when editing (exports are compared
 * byte for byte).
 */
import { perDim } from '../graph/ops/geometry.js';
import type { NodeOf } from '../graph/ops/types.js';
import type { GraphNode, OpName, QuantAttrs } from '../graph/types.js';
import { convPads, type Exporter, type Quant } from './onnx-exporter.js';
import type { OnnxGraph } from './onnx-proto.js';

/** What every lowering gets: the exporter, its node's name and shapes, its first input as float, and how to finish. */
export interface OnnxStep {
  readonly ex: Exporter;
  readonly g: OnnxGraph;
  /** The node's name: the name of its output value and the stem of its ONNX names. */
  readonly n: string;
  /** Per-sample output shape. */
  readonly shape: number[];
  /** Per-sample shape of the first input; `rank` counts the batch too. */
  readonly inShape: number[];
  readonly rank: number;
  /** The first input's float tensor (dequantized codes for an int8 value; written on first use). */
  x(): string;
  /** Records the node's output as the float tensor `float`. */
  done(float: string): void;
}

type Lowering<K extends OpName> = (s: OnnxStep, node: NodeOf<K>) => void;

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces, and the longer lowerings (GRU, int8 layers)
// ---------------------------------------------------------------------------------------------------------------

/** Rows of a [3H, …] GRU tensor from PyTorch's gate order (r, z, n) to ONNX's (z, r, h). */
function gruGates(data: Float32Array, hidden: number): Float32Array {
  const cols = data.length / (3 * hidden);
  const out = new Float32Array(data.length);
  const block = hidden * cols;
  out.set(data.subarray(block, 2 * block), 0); // z
  out.set(data.subarray(0, block), block); // r
  out.set(data.subarray(2 * block, 3 * block), 2 * block); // n
  return out;
}

/** Half-open bins of PyTorch's adaptive pooling: [floor(i·L/o), ceil((i+1)·L/o)). */
function adaptiveBins(length: number, out: number): [number, number][] {
  return Array.from(
    { length: out },
    (_, i) => [Math.floor((i * length) / out), Math.ceil(((i + 1) * length) / out)] as [number, number],
  );
}

/** diag(S)·Vh of a lowrank_* node: the first factor. */
function lowrankFirst(ex: Exporter, n: string, r: number): Float32Array {
  const S = ex.tensor(`${n}.S`);
  const Vh = ex.tensor(`${n}.Vh`);
  const cols = Vh.length / r;
  const out = new Float32Array(Vh.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = Vh[i * cols + j]! * S[i]!;
  return out;
}

/** Adaptive pooling over the trailing dims `spatial` (per sample, no channel): global, uniform windows or bins. */
function adaptivePool(
  ex: Exporter,
  x: string,
  spatial: number[],
  outSize: number[],
  max: boolean,
  out: string,
): string {
  const g = ex.g;
  if (outSize.every((o) => o === 1)) return g.op(max ? 'GlobalMaxPool' : 'GlobalAveragePool', [x], {}, out);
  if (spatial.every((l, i) => l % outSize[i]! === 0)) {
    const kernel = spatial.map((l, i) => l / outSize[i]!);
    return g.op(max ? 'MaxPool' : 'AveragePool', [x], { kernel_shape: kernel, strides: kernel }, out);
  }
  // Uneven bins: separable, one axis at a time (the mean over a rectangle is the mean of row means of equal width).
  let y = x;
  spatial.forEach((length, d) => {
    const axis = 2 + d;
    const parts = adaptiveBins(length, outSize[d]!).map(([s, e]) => {
      const slice = g.op(
        'Slice',
        [y, g.ints(`${out}_start`, [s]), g.ints(`${out}_end`, [e]), g.ints(`${out}_axes`, [axis])],
        {},
        `${out}_bin`,
      );
      return g.op(max ? 'ReduceMax' : 'ReduceMean', [slice], { axes: [axis], keepdims: 1 }, `${out}_binpool`);
    });
    y = g.op('Concat', parts, { axis }, d === spatial.length - 1 ? out : `${out}_axis${d}`);
  });
  return y;
}

/** GRU (float or dynamic int8) as one ONNX GRU per layer, batch-first in and out. */
function gru(ex: Exporter, node: NodeOf<'gru' | 'qgru'>, input: string): string {
  const g = ex.g;
  const n = node.name;
  const a = node.attrs;
  const H = a.hiddenSize;
  const layers = a.numLayers ?? 1;
  const dirs = a.bidirectional ? 2 : 1;
  const int8 = node.op === 'qgru';
  const perChannel = int8 && (node.attrs as QuantAttrs).perChannel !== false;
  let seq = g.op('Transpose', [input], { perm: [1, 0, 2] }, `${n}_time_major`); // [T, B, in]
  let hn = '';
  let y = '';
  for (let l = 0; l < layers; l++) {
    const inSize = l === 0 ? a.inputSize : H * dirs;
    const suffixes = dirs === 2 ? [`_l${l}`, `_l${l}_reverse`] : [`_l${l}`];
    let W: string;
    let R: string;
    const biases = new Float32Array(dirs * 6 * H);
    if (int8) {
      // Dequantized in the graph: int8 codes + per-channel scales, rows reordered to z, r, h.
      const deq = (kind: 'ih' | 'hh', cols: number): string => {
        const parts = suffixes.map((s) => {
          const codes = gruGates(ex.tensor(`${n}.w_${kind}${s}`), H);
          const sc = ex.tensor(`${n}.w_${kind}_scale${s}`);
          const scales = perChannel && sc.length > 1 ? gruGates(sc, H) : sc;
          const w = ex.int8Weight(`${n}.w_${kind}${s}`, [3 * H, cols], codes, scales, perChannel);
          return g.op('Unsqueeze', [w, g.ints(`${n}_axis0`, [0])], {}, `${n}.W_${kind}${s}`);
        });
        return parts.length === 1 ? parts[0]! : g.op('Concat', parts, { axis: 0 }, `${n}.W_${kind}_l${l}`);
      };
      W = deq('ih', inSize);
      R = deq('hh', H);
      suffixes.forEach((s, d) => {
        biases.set(gruGates(ex.tensor(`${n}.b_ih${s}`), H), d * 6 * H);
        biases.set(gruGates(ex.tensor(`${n}.b_hh${s}`), H), d * 6 * H + 3 * H);
      });
      // petra quantizes each layer's input per tensor at run time for its input projection.
      const [xq, xs, xz] = g.node('DynamicQuantizeLinear', [seq], {}, { outStem: `${n}_l${l}_in_q`, count: 3 });
      seq = g.op('DequantizeLinear', [xq!, xs!, xz!], {}, `${n}_l${l}_in_dq`);
    } else {
      const wih = new Float32Array(dirs * 3 * H * inSize);
      const whh = new Float32Array(dirs * 3 * H * H);
      suffixes.forEach((s, d) => {
        wih.set(gruGates(ex.tensor(`${n}.weight_ih${s}`), H), d * 3 * H * inSize);
        whh.set(gruGates(ex.tensor(`${n}.weight_hh${s}`), H), d * 3 * H * H);
        biases.set(gruGates(ex.tensor(`${n}.bias_ih${s}`), H), d * 6 * H);
        biases.set(gruGates(ex.tensor(`${n}.bias_hh${s}`), H), d * 6 * H + 3 * H);
      });
      W = g.constant(`${n}.W_l${l}`, 'float32', [dirs, 3 * H, inSize], wih);
      R = g.constant(`${n}.R_l${l}`, 'float32', [dirs, 3 * H, H], whh);
    }
    const B = g.constant(`${n}.B_l${l}`, 'float32', [dirs, 6 * H], biases);
    [y, hn] = g.node(
      'GRU',
      [seq, W, R, B],
      {
        hidden_size: H,
        direction: dirs === 2 ? 'bidirectional' : 'forward',
        linear_before_reset: 1,
      },
      { outStem: `${n}_l${l}`, count: 2 },
    ) as [string, string];
    // Y: [T, dirs, B, H] → [T, B, dirs·H] for the next layer.
    if (l < layers - 1) {
      seq = g.op(
        'Reshape',
        [g.op('Transpose', [y], { perm: [0, 2, 1, 3] }), g.ints(`${n}_shape3`, [0, 0, -1])],
        {},
        `${n}_l${l}_seq`,
      );
    }
  }
  if ((a.output ?? 'last') === 'last') {
    // Y_h: [dirs, B, H] → [B, dirs·H] (forward state, then backward: petra's cat(h[-2], h[-1])).
    return g.op('Reshape', [g.op('Transpose', [hn], { perm: [1, 0, 2] }), g.ints(`${n}_shape2`, [0, -1])], {}, n);
  }
  return g.op('Reshape', [g.op('Transpose', [y], { perm: [2, 0, 1, 3] }), g.ints(`${n}_shape3`, [0, 0, -1])], {}, n);
}

function quantLayer(
  ex: Exporter,
  node: NodeOf<'qlinear' | 'qconv1d' | 'qconv2d'>,
  rank: number,
  shape: number[],
): void {
  const g = ex.g;
  const n = node.name;
  const a = node.attrs;
  const perChannel = a.perChannel !== false;
  const codes = ex.tensor(`${n}.qweight`);
  const wscale = ex.tensor(`${n}.wscale`);
  const biasData = ex.tensor(`${n}.bias`);
  const out =
    node.op === 'qlinear' ? (a as { outFeatures: number }).outFeatures : (a as { outChannels: number }).outChannels;
  const dims = node.op === 'qconv2d' ? 2 : 1;
  const wdims =
    node.op === 'qlinear'
      ? [out, (a as { inFeatures: number }).inFeatures]
      : [
          out,
          (a as { inChannels: number }).inChannels / ((a as { groups?: number }).groups ?? 1),
          ...perDim((a as { kernelSize: number | [number, number] }).kernelSize, dims, 1),
        ];
  if (a.dynamic) {
    // quantized::linear_dynamic: per-tensor uint8 activations chosen from the batch's range at run time, int8 ×
    // uint8 products summed exactly, scaled by s_x·s_w and the float bias added — onnxruntime's own dynamic int8
    // format (DynamicQuantizeLinear → MatMulInteger → Cast → Mul → Add), which it fuses into one int8 kernel.
    const inF = (a as { inFeatures: number }).inFeatures;
    const [xq, xs, xz] = g.node(
      'DynamicQuantizeLinear',
      [ex.float(node.inputs[0]!)],
      {},
      { outStem: `${n}_in_q`, count: 3 },
    );
    const wt = g.constant(
      `${n}.weight_int8_t`,
      'int8',
      [inF, out],
      Float32Array.from({ length: inF * out }, (_, k) => codes[(k % out) * inF + Math.floor(k / out)]!),
    );
    const perCol = perChannel && wscale.length > 1;
    const wz = perCol
      ? g.constant(`${n}.weight_zero_point`, 'int8', [out], new Int8Array(out))
      : g.scalar(`${n}.weight_zero_point`, 'int8', 0);
    const acc = g.op('MatMulInteger', [xq!, wt, xz!, wz], {}, `${n}_int32`);
    const ws = perCol
      ? g.constant(`${n}.weight_scale`, 'float32', [out], wscale)
      : g.scalar(`${n}.weight_scale`, 'float32', wscale[0]!);
    const scale = g.op('Mul', [xs!, ws], {}, `${n}_scale`);
    const y = g.op('Mul', [g.op('Cast', [acc], { to: 1 }, `${n}_acc`), scale], {}, `${n}_scaled`);
    const biased = g.op(
      'Add',
      [y, g.constant(`${n}.bias`, 'float32', [out], biasData)],
      {},
      a.relu ? `${n}_linear` : n,
    );
    ex.set(n, { float: a.relu ? g.op('Relu', [biased], {}, n) : biased, shape });
    ex.int8.dynamic.push(n);
    return;
  }
  // Static: the input's codes are those of an int8 producer (its own parameters) or the calibrated quantization.
  const v = ex.values.get(node.inputs[0]!)!;
  const inQ = v.q ?? ex.quantize(ex.float(node.inputs[0]!), a.inScale ?? 1, a.inZeroPoint ?? 0, `${n}_in`);
  const xf = v.q ? ex.float(node.inputs[0]!) : ex.dequantize(inQ, `${n}_in`);
  const bias = ex.int8Bias(`${n}.bias`, biasData, inQ.scale, wscale);
  const w = ex.int8Weight(`${n}.weight`, wdims, codes, wscale, perChannel);
  let y =
    node.op === 'qlinear'
      ? ex.linear(xf, rank, { name: w }, bias, `${n}_float`)
      : g.op('Conv', [xf, w, bias], ex.convAttrs(node as never, dims), `${n}_float`);
  if (a.relu) y = g.op('Relu', [y], {}, `${n}_relu`);
  ex.set(n, { q: ex.quantize(y, a.outScale ?? 1, a.outZeroPoint ?? 0, n), shape });
  ex.int8.static.push(n);
}

// ---------------------------------------------------------------------------------------------------------------
// Lowerings
// ---------------------------------------------------------------------------------------------------------------

function conv(s: OnnxStep, node: NodeOf<'conv1d' | 'conv2d'>): void {
  const { ex, n } = s;
  const dims = node.op === 'conv2d' ? 2 : 1;
  const a = node.attrs;
  const kernel = perDim(a.kernelSize, dims, 1);
  const w = ex.weight(`${n}.weight`, [a.outChannels, a.inChannels / (a.groups ?? 1), ...kernel]);
  const inputs = [s.x(), w];
  if (a.bias !== false) inputs.push(ex.weight(`${n}.bias`, [a.outChannels]));
  s.done(s.g.op('Conv', inputs, ex.convAttrs(node as never, dims), n));
}

function batchnorm(s: OnnxStep, node: NodeOf<'batchnorm1d' | 'batchnorm2d'>): void {
  const c = node.attrs.numFeatures;
  const p = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => s.ex.weight(`${s.n}.${k}`, [c]));
  s.done(s.g.op('BatchNormalization', [s.x(), ...p], { epsilon: node.attrs.eps ?? 1e-5 }, s.n));
}

/** Sigmoid, Tanh: the ONNX op of the same name. */
const unary =
  (opType: string) =>
  (s: OnnxStep): void =>
    s.done(s.g.op(opType, [s.x()], {}, s.n));

/** kernel_shape, strides and pads of a max or average pooling window. */
function windowAttrs(node: NodeOf<'maxpool1d' | 'maxpool2d' | 'avgpool1d' | 'avgpool2d'>): Record<string, number[]> {
  const dims = node.op.endsWith('2d') ? 2 : 1;
  const a = node.attrs;
  const kernel = perDim(a.kernelSize, dims, 1);
  return {
    kernel_shape: kernel,
    strides: a.stride === undefined ? kernel : perDim(a.stride, dims, 1),
    pads: convPads(a.padding, kernel, 1),
  };
}

function maxPool(s: OnnxStep, node: NodeOf<'maxpool1d' | 'maxpool2d'>): void {
  const { ex, n } = s;
  const v = ex.values.get(node.inputs[0]!)!;
  const y = s.g.op('MaxPool', [ex.float(node.inputs[0]!)], windowAttrs(node), v.q ? `${n}_float` : n);
  // Max commutes with the affine map to codes: pooling an int8 value keeps its parameters.
  if (v.q) ex.set(n, { q: ex.quantize(y, v.q.scale, v.q.zp, n), shape: s.shape });
  else s.done(y);
}

function avgPool(s: OnnxStep, node: NodeOf<'avgpool1d' | 'avgpool2d'>): void {
  s.done(s.g.op('AveragePool', [s.x()], { ...windowAttrs(node), count_include_pad: 1 }, s.n));
}

function adaptive(
  s: OnnxStep,
  node: NodeOf<'adaptiveavgpool1d' | 'adaptiveavgpool2d' | 'adaptivemaxpool1d' | 'adaptivemaxpool2d'>,
): void {
  const { ex, n } = s;
  const dims = node.op.endsWith('2d') ? 2 : 1;
  const max = node.op.startsWith('adaptivemax');
  const v = ex.values.get(node.inputs[0]!)!;
  const keepQuant = !max && v.q !== undefined; // quantized adaptive average pooling requantizes to the same parameters
  const outSize = perDim(node.attrs.outputSize, dims, 1);
  const y = adaptivePool(ex, ex.float(node.inputs[0]!), s.inShape.slice(1), outSize, max, keepQuant ? `${n}_float` : n);
  if (keepQuant) ex.set(n, { q: ex.quantize(y, v.q!.scale, v.q!.zp, n), shape: s.shape });
  else s.done(y);
}

function add(s: OnnxStep, node: NodeOf<'add'>): void {
  const { ex, g, n } = s;
  const a = node.attrs;
  if (a.outScale === undefined) {
    let sum = ex.float(node.inputs[0]!);
    node.inputs.slice(1).forEach((i, k) => {
      sum = g.op('Add', [sum, ex.float(i)], {}, k === node.inputs.length - 2 ? n : `${n}_partial`);
    });
    s.done(sum);
    return;
  }
  // quantized::add: float inputs are first quantized at the output's parameters; every partial sum is requantized.
  const outScale = a.outScale;
  const outZp = a.outZeroPoint ?? 0;
  const term = (name: string): string => {
    const v = ex.values.get(name)!;
    return v.q
      ? ex.float(name)
      : ex.dequantize(ex.quantize(ex.float(name), outScale, outZp, `${n}_${name}`), `${n}_${name}`);
  };
  let sum = term(node.inputs[0]!);
  let q: Quant | undefined;
  node.inputs.slice(1).forEach((name, k) => {
    if (q) sum = ex.dequantize(q, `${n}_partial`);
    let y = g.op('Add', [sum, term(name)], {}, `${n}_float`);
    if (a.relu && k === node.inputs.length - 2) y = g.op('Relu', [y], {}, `${n}_relu`);
    q = ex.quantize(y, outScale, outZp, n);
  });
  ex.set(n, { q: q!, shape: s.shape });
}

function concat(s: OnnxStep, node: NodeOf<'concat'>): void {
  const { ex, g, n } = s;
  const a = node.attrs;
  const full = s.rank;
  const raw = a.dim ?? 1;
  const axis = raw < 0 ? raw + full : raw;
  if (a.outScale === undefined) {
    s.done(
      g.op(
        'Concat',
        node.inputs.map((i) => ex.float(i)),
        { axis },
        n,
      ),
    );
    return;
  }
  const outScale = a.outScale;
  const outZp = a.outZeroPoint ?? 0;
  const ins = node.inputs.map((i) => ex.values.get(i)!);
  if (ins.every((v) => v.q && Math.fround(v.q.scale) === Math.fround(outScale) && v.q.zp === outZp)) {
    // Every branch already carries the concat's parameters: the codes concatenate as they are (petra copies bytes).
    const u8 = g.op(
      'Concat',
      ins.map((v) => v.q!.u8),
      { axis },
      `${n}_q`,
    );
    ex.set(n, { q: { u8, scale: outScale, zp: outZp, ...ex.qparams(outScale, outZp) }, shape: s.shape });
    return;
  }
  const y = g.op(
    'Concat',
    node.inputs.map((i) => ex.float(i)),
    { axis },
    `${n}_float`,
  );
  ex.set(n, { q: ex.quantize(y, outScale, outZp, n), shape: s.shape });
}

function flatten(s: OnnxStep, node: NodeOf<'flatten'>): void {
  const { ex, g, n } = s;
  const raw = node.attrs.startDim ?? 1;
  const sd = raw < 0 ? raw + s.rank : raw;
  const v = ex.values.get(node.inputs[0]!)!;
  const reshape = (t: string, out: string): string =>
    sd === 1
      ? g.op('Flatten', [t], { axis: 1 }, out)
      : g.op('Reshape', [t, g.ints(`${n}_shape`, [...Array.from({ length: sd }, () => 0), -1])], {}, out);
  // Flattening int8 codes keeps their parameters.
  if (v.q) ex.set(n, { q: { ...v.q, u8: reshape(v.q.u8, `${n}_q`) }, shape: s.shape });
  else s.done(reshape(ex.float(node.inputs[0]!), n));
}

function lowrankConv(s: OnnxStep, node: NodeOf<'lowrank_conv1d' | 'lowrank_conv2d'>): void {
  const { ex, g, n } = s;
  const dims = node.op === 'lowrank_conv2d' ? 2 : 1;
  const a = node.attrs;
  const kernel = perDim(a.kernelSize, dims, 1);
  const w1 = ex.weight(`${n}.SVh`, [a.rank, a.inChannels, ...kernel], lowrankFirst(ex, n, a.rank));
  const h = g.op('Conv', [s.x(), w1], ex.convAttrs(node as never, dims, { groups: 1 }), `${n}_v`);
  const w2 = ex.weight(`${n}.U`, [a.outChannels, a.rank, ...kernel.map(() => 1)]);
  const inputs = [h, w2];
  if (a.bias !== false) inputs.push(ex.weight(`${n}.bias`, [a.outChannels]));
  s.done(g.op('Conv', inputs, { kernel_shape: kernel.map(() => 1) }, n));
}

function quantized(s: OnnxStep, node: NodeOf<'qlinear' | 'qconv1d' | 'qconv2d'>): void {
  quantLayer(s.ex, node, s.rank, s.shape);
}

export const ONNX_OPS: { readonly [K in OpName]: Lowering<K> } = {
  conv1d: conv,
  conv2d: conv,
  batchnorm1d: batchnorm,
  batchnorm2d: batchnorm,
  linear: (s, node) => {
    const { ex, n } = s;
    const a = node.attrs;
    const bias = a.bias !== false ? ex.weight(`${n}.bias`, [a.outFeatures]) : undefined;
    const w =
      s.rank === 2
        ? { name: ex.weight(`${n}.weight`, [a.outFeatures, a.inFeatures]) }
        : { data: ex.tensor(`${n}.weight`), out: a.outFeatures, in: a.inFeatures, stem: `${n}.weight` };
    s.done(ex.linear(s.x(), s.rank, w, bias, n));
  },
  relu: (s, node) => {
    const { ex, g, n } = s;
    const v = ex.values.get(node.inputs[0]!)!;
    if (v.q) {
      // ReLU on int8 codes keeps the scale: max(q, zero point)
      const y = g.op('Relu', [ex.float(node.inputs[0]!)], {}, `${n}_float`);
      ex.set(n, { q: ex.quantize(y, v.q.scale, v.q.zp, n), shape: s.shape });
      return;
    }
    s.done(g.op('Relu', [s.x()], {}, n));
  },
  sigmoid: unary('Sigmoid'),
  tanh: unary('Tanh'),
  gelu: (s) => {
    // 0.5·x·(1 + erf(x/√2)), torch's exact GELU
    const g = s.g;
    const xi = s.x();
    const e = g.op('Erf', [g.op('Mul', [xi, g.scalar('inv_sqrt2', 'float32', Math.SQRT1_2)])]);
    const one = g.op('Add', [e, g.scalar('one', 'float32', 1)]);
    s.done(g.op('Mul', [g.op('Mul', [xi, g.scalar('half', 'float32', 0.5)]), one], {}, s.n));
  },
  dropout: (s) => s.done(s.x()), // inference: identity (an int8 input is dequantized, as petra's graph does)
  maxpool1d: maxPool,
  maxpool2d: maxPool,
  avgpool1d: avgPool,
  avgpool2d: avgPool,
  adaptiveavgpool1d: adaptive,
  adaptiveavgpool2d: adaptive,
  adaptivemaxpool1d: adaptive,
  adaptivemaxpool2d: adaptive,
  add,
  concat,
  flatten,
  embedding: (s, node) => {
    const a = node.attrs;
    const w = s.ex.weight(`${s.n}.weight`, [a.numEmbeddings, a.embeddingDim]);
    s.done(s.g.op('Gather', [w, node.inputs[0]!], { axis: 0 }, s.n));
  },
  layernorm: (s, node) => {
    const { ex, n } = s;
    const ns = node.attrs.normalizedShape;
    const count = ns.reduce((p, d) => p * d, 1);
    const w = ex.weight(`${n}.weight`, ns, ex.tensor(`${n}.weight`).subarray(0, count));
    const b = ex.weight(`${n}.bias`, ns);
    s.done(s.g.op('LayerNormalization', [s.x(), w, b], { axis: -ns.length, epsilon: node.attrs.eps ?? 1e-5 }, n));
  },
  gru: (s, node) => s.done(gru(s.ex, node, s.x())),
  qgru: (s, node) => s.done(gru(s.ex, node, s.x())),
  lowrank_linear: (s, node) => {
    const { ex, n } = s;
    const a = node.attrs;
    const first = lowrankFirst(ex, n, a.rank);
    const h = ex.linear(
      s.x(),
      s.rank,
      { data: first, out: a.rank, in: a.inFeatures, stem: `${n}.SVh` },
      undefined,
      `${n}_v`,
    );
    const bias = a.bias !== false ? ex.weight(`${n}.bias`, [a.outFeatures]) : undefined;
    s.done(
      ex.linear(h, s.rank, { data: ex.tensor(`${n}.U`), out: a.outFeatures, in: a.rank, stem: `${n}.U` }, bias, n),
    );
  },
  lowrank_conv1d: lowrankConv,
  lowrank_conv2d: lowrankConv,
  qlinear: quantized,
  qconv1d: quantized,
  qconv2d: quantized,
};

/** Writes one node of the spec (its inputs already written). */
export function lowerNode(ex: Exporter, node: GraphNode): void {
  const inShape = ex.values.get(node.inputs[0]!)!.shape;
  const shape = ex.shapes.get(node.name)!;
  const step: OnnxStep = {
    ex,
    g: ex.g,
    n: node.name,
    shape,
    inShape,
    rank: inShape.length + 1,
    x: () => ex.float(node.inputs[0]!),
    done: (float) => ex.set(node.name, { float, shape }),
  };
  (ONNX_OPS[node.op] as Lowering<OpName>)(step, node);
}
