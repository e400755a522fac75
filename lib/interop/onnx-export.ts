/**
 * Export a petra model (graph spec + weights) as an ONNX model that onnxruntime runs with the same outputs.
 *
 * - Float ops map one to one (NCHW like petra): Conv, BatchNormalization, Gemm/MatMul, pooling, Add, Concat,
 *   Flatten/Reshape, Gather (embedding), GRU (gate rows reordered from PyTorch's r,z,n to ONNX's z,r,h,
 *   linear_before_reset = 1), LayerNormalization; GELU as its erf formula (opset 17 has no Gelu).
 * - Low-rank layers (W = U·diag(S)·Vh) become two Gemm/Conv nodes: diag(S)·Vh (in → rank), then U (rank → out).
 * - Pruned models are just smaller graphs.
 * - int8 models become QDQ graphs: int8 weights stay int8 initializers behind DequantizeLinear (per output channel,
 *   axis 0, where petra used per-channel scales), biases int32 at scale s_in·s_w. Static layers quantize their input
 *   with the scale and zero point petra's kernels used (the producer's output parameters when the producer is int8,
 *   else the calibrated input parameters) and requantize their output with the calibrated output parameters, a fused
 *   ReLU before it; int8 residual adds and concats dequantize, join and requantize like quantized::add / cat.
 *   onnxruntime fuses DQ → op → Q into its integer kernels (QLinearConv, QGemm, …). Dynamic linear layers use
 *   onnxruntime's own dynamic int8 form, DynamicQuantizeLinear → MatMulInteger → Cast → Mul(s_x·s_w) → Add(bias):
 *   the same per-tensor uint8 activation parameters as quantized::linear_dynamic, exact integer products.
 * - Dynamic int8 GRUs: ONNX's GRU takes float weights, so the int8 weights are dequantized in the graph
 *   (DequantizeLinear → GRU, per-channel scales kept) and each layer's input is quantized at run time like
 *   petra's input projection; petra's per-step uint8 quantization of the hidden state has no ONNX GRU
 *   counterpart, so the recurrence runs in float (the report notes it).
 *
 * Not exportable (a ConfigError lists every such node): half-precision layers (attrs.dtype), fake-quantized
 * (QAT-in-progress) layers, and int8 layers of engine 'intmm'.
 */
import { writeFile } from 'node:fs/promises';
import { biasStep } from '../compress/int8-bias.js';
import { assertExportable, exportBlockers } from './export-blockers.js';
import { ConfigError } from '../errors.js';
import type { Model } from '../model.js';
import type { TensorData } from '../data/types.js';
import type { GraphNode, ModelSpec, QuantAttrs } from '../spec/types.js';
import { inferShapes, perDim, topologicalOrder } from '../spec/validate.js';
import { encodeModel, OnnxGraph, type OnnxDtype } from './onnx-proto.js';

export interface OnnxExportOptions {
  /** 13–17 (default 17: LayerNormalization needs it; per-axis DequantizeLinear needs 13). */
  opset?: number;
  /** Name of the graph output (default 'output'). */
  outputName?: string;
}

export interface OnnxExportReport {
  format: 'onnx';
  opset: number;
  bytes: number;
  inputs: { name: string; dtype: 'float32' | 'int64'; shape: (number | string)[] }[];
  output: { name: string; shape: (number | string)[] };
  /** ONNX nodes by op type. */
  ops: Record<string, number>;
  initializers: number;
  /** Layers exported as QDQ int8: static (calibrated activations), dynamic (run-time activations), GRU (int8 weights). */
  int8: { static: string[]; dynamic: string[]; gru: string[] };
  notes: string[];
}

/** The nodes that cannot be exported to ONNX, each with its reason (empty when the model exports). */
export const onnxExportBlockers = exportBlockers;

type Tensors = Record<string, TensorData>;

interface Quant { u8: string; scale: number; zp: number; scaleName: string; zpName: string }
/** A petra value in the ONNX graph: its float tensor, its uint8 codes (an int8 value of petra), or both. */
interface Value { float?: string; q?: Quant; shape: number[]; int64?: boolean }

/** Per-dim (begin, end) pads of a conv: explicit, or PyTorch's 'same' (total d·(k−1), the odd one at the end). */
function convPads(padding: number | [number, number] | 'same' | undefined, kernel: number[], dilation: number): number[] {
  if (padding === 'same') {
    const begin = kernel.map((k) => Math.floor((dilation * (k - 1)) / 2));
    const end = kernel.map((k, i) => dilation * (k - 1) - begin[i]!);
    return [...begin, ...end];
  }
  const p = perDim(padding, kernel.length, 0);
  return [...p, ...p];
}

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

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Half-open bins of PyTorch's adaptive pooling: [floor(i·L/o), ceil((i+1)·L/o)). */
function adaptiveBins(length: number, out: number): [number, number][] {
  return Array.from({ length: out }, (_, i) => [Math.floor((i * length) / out), Math.ceil(((i + 1) * length) / out)] as [number, number]);
}

class Exporter {
  readonly g: OnnxGraph;
  readonly values = new Map<string, Value>();
  readonly notes: string[] = [];
  readonly int8 = { static: [] as string[], dynamic: [] as string[], gru: [] as string[] };
  readonly #qparams = new Map<string, { scaleName: string; zpName: string }>();

  constructor(readonly spec: ModelSpec, readonly tensors: Tensors, readonly shapes: Map<string, number[]>) {
    this.g = new OnnxGraph(spec.name ?? 'petra');
  }

  tensor(name: string): Float32Array {
    const t = this.tensors[name];
    if (!t) throw new ConfigError(`the model has no tensor '${name}'`, 'model');
    return t.data as Float32Array;
  }

  /** A float initializer from a model tensor (optionally transformed). */
  weight(name: string, dims: number[], data: ArrayLike<number> = this.tensor(name)): string {
    return this.g.constant(name, 'float32', dims, data);
  }

  /** Shared scale / zero-point initializers of a uint8 activation quantization. */
  qparams(scale: number, zp: number): { scaleName: string; zpName: string } {
    const key = `${Math.fround(scale)}/${zp}`;
    let p = this.#qparams.get(key);
    if (!p) {
      p = { scaleName: this.g.scalar('act_scale', 'float32', scale), zpName: this.g.scalar('act_zero_point', 'uint8', zp) };
      this.#qparams.set(key, p);
    }
    return p;
  }

  /** QuantizeLinear to uint8 with (scale, zp). */
  quantize(x: string, scale: number, zp: number, stem: string): Quant {
    const p = this.qparams(scale, zp);
    return { u8: this.g.op('QuantizeLinear', [x, p.scaleName, p.zpName], {}, `${stem}_q`), scale, zp, ...p };
  }

  dequantize(q: Quant, stem: string): string {
    return this.g.op('DequantizeLinear', [q.u8, q.scaleName, q.zpName], {}, `${stem}_dq`);
  }

  /** The float tensor of a value (its dequantized codes for an int8 value). */
  float(name: string): string {
    const v = this.values.get(name)!;
    if (v.float === undefined) v.float = this.dequantize(v.q!, name);
    return v.float;
  }

  set(name: string, v: Value): void { this.values.set(name, v); }

  /** int8 weight [out, …] behind a DequantizeLinear: per output channel (axis 0) or per tensor. */
  int8Weight(stem: string, dims: number[], codes: ArrayLike<number>, scales: ArrayLike<number>, perChannel: boolean): string {
    const w = this.g.constant(`${stem}_int8`, 'int8', dims, codes);
    if (perChannel && scales.length > 1) {
      const s = this.g.constant(`${stem}_scale`, 'float32', [scales.length], scales);
      const z = this.g.constant(`${stem}_zero_point`, 'int8', [scales.length], new Int8Array(scales.length));
      return this.g.op('DequantizeLinear', [w, s, z], { axis: 0 }, stem);
    }
    const s = this.g.scalar(`${stem}_scale`, 'float32', scales[0]!);
    const z = this.g.scalar(`${stem}_zero_point`, 'int8', 0);
    return this.g.op('DequantizeLinear', [w, s, z], {}, stem);
  }

  /**
   * The bias of a static int8 layer as int32 codes at scale s_in·s_w (what onnxruntime's integer kernels take);
   * float when a code would overflow int32 (a dead channel's tiny weight scale).
   */
  int8Bias(stem: string, bias: Float32Array, inScale: number, wscale: Float32Array): string {
    const scales = Float32Array.from(bias, (_, c) => biasStep(inScale, wscale, c));
    const codes = Float64Array.from(bias, (b, c) => Math.round(b / scales[c]!));
    if (codes.some((c) => !Number.isFinite(c) || Math.abs(c) > 2 ** 31 - 1)) return this.g.constant(`${stem}`, 'float32', [bias.length], bias);
    const q = this.g.constant(`${stem}_int32`, 'int32', [bias.length], codes);
    const s = this.g.constant(`${stem}_scale`, 'float32', [bias.length], scales);
    const z = this.g.constant(`${stem}_zero_point`, 'int32', [bias.length], new Int32Array(bias.length));
    return this.g.op('DequantizeLinear', [q, s, z], { axis: 0 }, stem);
  }

  /** y = x·Wᵀ + b for x of rank `rank` (Gemm for 2-D inputs, MatMul + Add otherwise). */
  linear(x: string, rank: number, w: { name: string } | { data: Float32Array; out: number; in: number; stem: string }, bias: string | undefined, out: string): string {
    if (rank === 2) {
      const wName = 'name' in w ? w.name : this.g.constant(w.stem, 'float32', [w.out, w.in], w.data);
      return this.g.op('Gemm', bias ? [x, wName, bias] : [x, wName], { transB: 1 }, out);
    }
    const wt = 'name' in w ? this.g.op('Transpose', [w.name], { perm: [1, 0] }, `${out}_wt`) : this.g.constant(`${w.stem}_t`, 'float32', [w.in, w.out], transpose2d(w.data, w.out, w.in));
    const y = this.g.op('MatMul', [x, wt], {}, bias ? `${out}_matmul` : out);
    return bias ? this.g.op('Add', [y, bias], {}, out) : y;
  }

  convAttrs(node: GraphNode & { attrs: { kernelSize: number | [number, number]; stride?: number | [number, number]; padding?: number | [number, number] | 'same'; dilation?: number; groups?: number } }, dims: number, overrides: { groups?: number } = {}): Record<string, number[] | number> {
    const a = node.attrs;
    const kernel = perDim(a.kernelSize, dims, 1);
    const dil = a.dilation ?? 1;
    return {
      kernel_shape: kernel, strides: perDim(a.stride, dims, 1), pads: convPads(a.padding, kernel, dil),
      dilations: kernel.map(() => dil), group: overrides.groups ?? a.groups ?? 1,
    };
  }

  run(): void {
    for (const inp of this.spec.inputs) {
      const dtype: OnnxDtype = inp.dtype === 'int64' ? 'int64' : 'float32';
      this.g.input(inp.name, dtype, ['batch', ...inp.shape]);
      this.set(inp.name, { float: inp.name, shape: [...inp.shape], int64: inp.dtype === 'int64' });
    }
    for (const node of topologicalOrder(this.spec)) this.emit(node);
  }

  emit(node: GraphNode): void {
    const g = this.g;
    const n = node.name;
    const shape = this.shapes.get(n)!;
    const inShape = this.values.get(node.inputs[0]!)!.shape;
    const rank = inShape.length + 1;
    const x = (): string => this.float(node.inputs[0]!);
    const done = (float: string): void => this.set(n, { float, shape });
    switch (node.op) {
      case 'conv1d':
      case 'conv2d': {
        const dims = node.op === 'conv2d' ? 2 : 1;
        const a = node.attrs;
        const kernel = perDim(a.kernelSize, dims, 1);
        const w = this.weight(`${n}.weight`, [a.outChannels, a.inChannels / (a.groups ?? 1), ...kernel]);
        const inputs = [x(), w];
        if (a.bias !== false) inputs.push(this.weight(`${n}.bias`, [a.outChannels]));
        return done(g.op('Conv', inputs, this.convAttrs(node as never, dims), n));
      }
      case 'batchnorm1d':
      case 'batchnorm2d': {
        const c = node.attrs.numFeatures;
        const p = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => this.weight(`${n}.${k}`, [c]));
        return done(g.op('BatchNormalization', [x(), ...p], { epsilon: node.attrs.eps ?? 1e-5 }, n));
      }
      case 'linear': {
        const a = node.attrs;
        const bias = a.bias !== false ? this.weight(`${n}.bias`, [a.outFeatures]) : undefined;
        const w = rank === 2 ? { name: this.weight(`${n}.weight`, [a.outFeatures, a.inFeatures]) } : { data: this.tensor(`${n}.weight`), out: a.outFeatures, in: a.inFeatures, stem: `${n}.weight` };
        return done(this.linear(x(), rank, w, bias, n));
      }
      case 'relu': {
        const v = this.values.get(node.inputs[0]!)!;
        if (v.q) { // ReLU on int8 codes keeps the scale: max(q, zero point)
          const y = g.op('Relu', [this.float(node.inputs[0]!)], {}, `${n}_float`);
          return this.set(n, { q: this.quantize(y, v.q.scale, v.q.zp, n), shape });
        }
        return done(g.op('Relu', [x()], {}, n));
      }
      case 'sigmoid': return done(g.op('Sigmoid', [x()], {}, n));
      case 'tanh': return done(g.op('Tanh', [x()], {}, n));
      case 'gelu': { // 0.5·x·(1 + erf(x/√2)), torch's exact GELU
        const xi = x();
        const e = g.op('Erf', [g.op('Mul', [xi, g.scalar('inv_sqrt2', 'float32', Math.SQRT1_2)])]);
        const one = g.op('Add', [e, g.scalar('one', 'float32', 1)]);
        return done(g.op('Mul', [g.op('Mul', [xi, g.scalar('half', 'float32', 0.5)]), one], {}, n));
      }
      case 'dropout': return done(x()); // inference: identity (an int8 input is dequantized, as petra's graph does)
      case 'maxpool1d':
      case 'maxpool2d':
      case 'avgpool1d':
      case 'avgpool2d': {
        const dims = node.op.endsWith('2d') ? 2 : 1;
        const a = node.attrs;
        const kernel = perDim(a.kernelSize, dims, 1);
        const attrs = { kernel_shape: kernel, strides: a.stride === undefined ? kernel : perDim(a.stride, dims, 1), pads: convPads(a.padding, kernel, 1) };
        const v = this.values.get(node.inputs[0]!)!;
        if (node.op.startsWith('max')) {
          const y = g.op('MaxPool', [this.float(node.inputs[0]!)], attrs, v.q ? `${n}_float` : n);
          // Max commutes with the affine map to codes: pooling an int8 value keeps its parameters.
          return v.q ? this.set(n, { q: this.quantize(y, v.q.scale, v.q.zp, n), shape }) : done(y);
        }
        return done(g.op('AveragePool', [x()], { ...attrs, count_include_pad: 1 }, n));
      }
      case 'adaptiveavgpool1d':
      case 'adaptiveavgpool2d':
      case 'adaptivemaxpool1d':
      case 'adaptivemaxpool2d': {
        const dims = node.op.endsWith('2d') ? 2 : 1;
        const max = node.op.startsWith('adaptivemax');
        const v = this.values.get(node.inputs[0]!)!;
        const keepQuant = !max && v.q !== undefined; // quantized adaptive average pooling requantizes to the same parameters
        const outSize = perDim(node.attrs.outputSize, dims, 1);
        const y = this.adaptivePool(this.float(node.inputs[0]!), inShape.slice(1), outSize, max, keepQuant ? `${n}_float` : n);
        return keepQuant ? this.set(n, { q: this.quantize(y, v.q!.scale, v.q!.zp, n), shape }) : done(y);
      }
      case 'add': {
        const a = node.attrs;
        if (a.outScale === undefined) {
          let sum = this.float(node.inputs[0]!);
          node.inputs.slice(1).forEach((i, k) => { sum = g.op('Add', [sum, this.float(i)], {}, k === node.inputs.length - 2 ? n : `${n}_partial`); });
          return done(sum);
        }
        // quantized::add: float inputs are first quantized at the output's parameters; every partial sum is requantized.
        const outScale = a.outScale;
        const outZp = a.outZeroPoint ?? 0;
        const term = (name: string): string => {
          const v = this.values.get(name)!;
          return v.q ? this.float(name) : this.dequantize(this.quantize(this.float(name), outScale, outZp, `${n}_${name}`), `${n}_${name}`);
        };
        let sum = term(node.inputs[0]!);
        let q: Quant | undefined;
        node.inputs.slice(1).forEach((name, k) => {
          if (q) sum = this.dequantize(q, `${n}_partial`);
          let y = g.op('Add', [sum, term(name)], {}, `${n}_float`);
          if (a.relu && k === node.inputs.length - 2) y = g.op('Relu', [y], {}, `${n}_relu`);
          q = this.quantize(y, outScale, outZp, n);
        });
        return this.set(n, { q: q!, shape });
      }
      case 'concat': {
        const a = node.attrs;
        const full = rank;
        const raw = a.dim ?? 1;
        const axis = raw < 0 ? raw + full : raw;
        if (a.outScale === undefined) return done(g.op('Concat', node.inputs.map((i) => this.float(i)), { axis }, n));
        const outScale = a.outScale;
        const outZp = a.outZeroPoint ?? 0;
        const ins = node.inputs.map((i) => this.values.get(i)!);
        if (ins.every((v) => v.q && Math.fround(v.q.scale) === Math.fround(outScale) && v.q.zp === outZp)) {
          // Every branch already carries the concat's parameters: the codes concatenate as they are (petra copies bytes).
          const u8 = g.op('Concat', ins.map((v) => v.q!.u8), { axis }, `${n}_q`);
          return this.set(n, { q: { u8, scale: outScale, zp: outZp, ...this.qparams(outScale, outZp) }, shape });
        }
        const y = g.op('Concat', node.inputs.map((i) => this.float(i)), { axis }, `${n}_float`);
        return this.set(n, { q: this.quantize(y, outScale, outZp, n), shape });
      }
      case 'flatten': {
        const raw = node.attrs.startDim ?? 1;
        const sd = raw < 0 ? raw + rank : raw;
        const v = this.values.get(node.inputs[0]!)!;
        const reshape = (t: string, out: string): string => sd === 1
          ? g.op('Flatten', [t], { axis: 1 }, out)
          : g.op('Reshape', [t, g.ints(`${n}_shape`, [...Array.from({ length: sd }, () => 0), -1])], {}, out);
        // Flattening int8 codes keeps their parameters.
        if (v.q) return this.set(n, { q: { ...v.q, u8: reshape(v.q.u8, `${n}_q`) }, shape });
        return done(reshape(this.float(node.inputs[0]!), n));
      }
      case 'embedding': {
        const a = node.attrs;
        const w = this.weight(`${n}.weight`, [a.numEmbeddings, a.embeddingDim]);
        return done(g.op('Gather', [w, node.inputs[0]!], { axis: 0 }, n));
      }
      case 'layernorm': {
        const ns = node.attrs.normalizedShape;
        const count = ns.reduce((p, d) => p * d, 1);
        const w = this.weight(`${n}.weight`, ns, this.tensor(`${n}.weight`).subarray(0, count));
        const b = this.weight(`${n}.bias`, ns);
        return done(g.op('LayerNormalization', [x(), w, b], { axis: -ns.length, epsilon: node.attrs.eps ?? 1e-5 }, n));
      }
      case 'gru':
      case 'qgru':
        return done(this.gru(node, x()));
      case 'lowrank_linear': {
        const a = node.attrs;
        const first = this.lowrankFirst(n, a.rank);
        const h = this.linear(x(), rank, { data: first, out: a.rank, in: a.inFeatures, stem: `${n}.SVh` }, undefined, `${n}_v`);
        const bias = a.bias !== false ? this.weight(`${n}.bias`, [a.outFeatures]) : undefined;
        return done(this.linear(h, rank, { data: this.tensor(`${n}.U`), out: a.outFeatures, in: a.rank, stem: `${n}.U` }, bias, n));
      }
      case 'lowrank_conv1d':
      case 'lowrank_conv2d': {
        const dims = node.op === 'lowrank_conv2d' ? 2 : 1;
        const a = node.attrs;
        const kernel = perDim(a.kernelSize, dims, 1);
        const w1 = this.weight(`${n}.SVh`, [a.rank, a.inChannels, ...kernel], this.lowrankFirst(n, a.rank));
        const h = g.op('Conv', [x(), w1], this.convAttrs(node as never, dims, { groups: 1 }), `${n}_v`);
        const w2 = this.weight(`${n}.U`, [a.outChannels, a.rank, ...kernel.map(() => 1)]);
        const inputs = [h, w2];
        if (a.bias !== false) inputs.push(this.weight(`${n}.bias`, [a.outChannels]));
        return done(g.op('Conv', inputs, { kernel_shape: kernel.map(() => 1) }, n));
      }
      case 'qlinear':
      case 'qconv1d':
      case 'qconv2d':
        return this.quantLayer(node as GraphNode & { op: 'qlinear' | 'qconv1d' | 'qconv2d' }, rank, shape);
    }
  }

  /** diag(S)·Vh of a lowrank_* node: the first factor. */
  lowrankFirst(n: string, r: number): Float32Array {
    const S = this.tensor(`${n}.S`);
    const Vh = this.tensor(`${n}.Vh`);
    const cols = Vh.length / r;
    const out = new Float32Array(Vh.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = Vh[i * cols + j]! * S[i]!;
    return out;
  }

  /** Adaptive pooling over the trailing dims `spatial` (per sample, no channel): global, uniform windows or bins. */
  adaptivePool(x: string, spatial: number[], outSize: number[], max: boolean, out: string): string {
    const g = this.g;
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
        const slice = g.op('Slice', [y, g.ints(`${out}_start`, [s]), g.ints(`${out}_end`, [e]), g.ints(`${out}_axes`, [axis])], {}, `${out}_bin`);
        return g.op(max ? 'ReduceMax' : 'ReduceMean', [slice], { axes: [axis], keepdims: 1 }, `${out}_binpool`);
      });
      y = g.op('Concat', parts, { axis }, d === spatial.length - 1 ? out : `${out}_axis${d}`);
    });
    return y;
  }

  /** GRU (float or dynamic int8) as one ONNX GRU per layer, batch-first in and out. */
  gru(node: GraphNode & { op: 'gru' | 'qgru' }, input: string): string {
    const g = this.g;
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
            const codes = gruGates(this.tensor(`${n}.w_${kind}${s}`), H);
            const sc = this.tensor(`${n}.w_${kind}_scale${s}`);
            const scales = perChannel && sc.length > 1 ? gruGates(sc, H) : sc;
            const w = this.int8Weight(`${n}.w_${kind}${s}`, [3 * H, cols], codes, scales, perChannel);
            return g.op('Unsqueeze', [w, g.ints(`${n}_axis0`, [0])], {}, `${n}.W_${kind}${s}`);
          });
          return parts.length === 1 ? parts[0]! : g.op('Concat', parts, { axis: 0 }, `${n}.W_${kind}_l${l}`);
        };
        W = deq('ih', inSize);
        R = deq('hh', H);
        suffixes.forEach((s, d) => {
          biases.set(gruGates(this.tensor(`${n}.b_ih${s}`), H), d * 6 * H);
          biases.set(gruGates(this.tensor(`${n}.b_hh${s}`), H), d * 6 * H + 3 * H);
        });
        // petra quantizes each layer's input per tensor at run time for its input projection.
        const [xq, xs, xz] = g.node('DynamicQuantizeLinear', [seq], {}, { outStem: `${n}_l${l}_in_q`, count: 3 });
        seq = g.op('DequantizeLinear', [xq!, xs!, xz!], {}, `${n}_l${l}_in_dq`);
      } else {
        const wih = new Float32Array(dirs * 3 * H * inSize);
        const whh = new Float32Array(dirs * 3 * H * H);
        suffixes.forEach((s, d) => {
          wih.set(gruGates(this.tensor(`${n}.weight_ih${s}`), H), d * 3 * H * inSize);
          whh.set(gruGates(this.tensor(`${n}.weight_hh${s}`), H), d * 3 * H * H);
          biases.set(gruGates(this.tensor(`${n}.bias_ih${s}`), H), d * 6 * H);
          biases.set(gruGates(this.tensor(`${n}.bias_hh${s}`), H), d * 6 * H + 3 * H);
        });
        W = g.constant(`${n}.W_l${l}`, 'float32', [dirs, 3 * H, inSize], wih);
        R = g.constant(`${n}.R_l${l}`, 'float32', [dirs, 3 * H, H], whh);
      }
      const B = g.constant(`${n}.B_l${l}`, 'float32', [dirs, 6 * H], biases);
      [y, hn] = g.node('GRU', [seq, W, R, B], {
        hidden_size: H, direction: dirs === 2 ? 'bidirectional' : 'forward', linear_before_reset: 1,
      }, { outStem: `${n}_l${l}`, count: 2 }) as [string, string];
      // Y: [T, dirs, B, H] → [T, B, dirs·H] for the next layer.
      if (l < layers - 1) {
        seq = g.op('Reshape', [g.op('Transpose', [y], { perm: [0, 2, 1, 3] }), g.ints(`${n}_shape3`, [0, 0, -1])], {}, `${n}_l${l}_seq`);
      }
    }
    if ((a.output ?? 'last') === 'last') {
      // Y_h: [dirs, B, H] → [B, dirs·H] (forward state, then backward: petra's cat(h[-2], h[-1])).
      return g.op('Reshape', [g.op('Transpose', [hn], { perm: [1, 0, 2] }), g.ints(`${n}_shape2`, [0, -1])], {}, n);
    }
    return g.op('Reshape', [g.op('Transpose', [y], { perm: [2, 0, 1, 3] }), g.ints(`${n}_shape3`, [0, 0, -1])], {}, n);
  }

  quantLayer(node: GraphNode & { op: 'qlinear' | 'qconv1d' | 'qconv2d' }, rank: number, shape: number[]): void {
    const g = this.g;
    const n = node.name;
    const a = node.attrs;
    const perChannel = a.perChannel !== false;
    const codes = this.tensor(`${n}.qweight`);
    const wscale = this.tensor(`${n}.wscale`);
    const biasData = this.tensor(`${n}.bias`);
    const out = node.op === 'qlinear' ? (a as { outFeatures: number }).outFeatures : (a as { outChannels: number }).outChannels;
    const dims = node.op === 'qconv2d' ? 2 : 1;
    const wdims = node.op === 'qlinear'
      ? [out, (a as { inFeatures: number }).inFeatures]
      : [out, (a as { inChannels: number }).inChannels / ((a as { groups?: number }).groups ?? 1), ...perDim((a as { kernelSize: number | [number, number] }).kernelSize, dims, 1)];
    if (a.dynamic) {
      // quantized::linear_dynamic: per-tensor uint8 activations chosen from the batch's range at run time, int8 ×
      // uint8 products summed exactly, scaled by s_x·s_w and the float bias added — onnxruntime's own dynamic int8
      // format (DynamicQuantizeLinear → MatMulInteger → Cast → Mul → Add), which it fuses into one int8 kernel.
      const inF = (a as { inFeatures: number }).inFeatures;
      const [xq, xs, xz] = g.node('DynamicQuantizeLinear', [this.float(node.inputs[0]!)], {}, { outStem: `${n}_in_q`, count: 3 });
      const wt = g.constant(`${n}.weight_int8_t`, 'int8', [inF, out], Float32Array.from({ length: inF * out }, (_, k) => codes[(k % out) * inF + Math.floor(k / out)]!));
      const perCol = perChannel && wscale.length > 1;
      const wz = perCol ? g.constant(`${n}.weight_zero_point`, 'int8', [out], new Int8Array(out)) : g.scalar(`${n}.weight_zero_point`, 'int8', 0);
      const acc = g.op('MatMulInteger', [xq!, wt, xz!, wz], {}, `${n}_int32`);
      const ws = perCol ? g.constant(`${n}.weight_scale`, 'float32', [out], wscale) : g.scalar(`${n}.weight_scale`, 'float32', wscale[0]!);
      const scale = g.op('Mul', [xs!, ws], {}, `${n}_scale`);
      const y = g.op('Mul', [g.op('Cast', [acc], { to: 1 }, `${n}_acc`), scale], {}, `${n}_scaled`);
      const biased = g.op('Add', [y, g.constant(`${n}.bias`, 'float32', [out], biasData)], {}, a.relu ? `${n}_linear` : n);
      this.set(n, { float: a.relu ? g.op('Relu', [biased], {}, n) : biased, shape });
      this.int8.dynamic.push(n);
      return;
    }
    // Static: the input's codes are those of an int8 producer (its own parameters) or the calibrated quantization.
    const v = this.values.get(node.inputs[0]!)!;
    const inQ = v.q ?? this.quantize(this.float(node.inputs[0]!), a.inScale ?? 1, a.inZeroPoint ?? 0, `${n}_in`);
    const xf = v.q ? this.float(node.inputs[0]!) : this.dequantize(inQ, `${n}_in`);
    const bias = this.int8Bias(`${n}.bias`, biasData, inQ.scale, wscale);
    const w = this.int8Weight(`${n}.weight`, wdims, codes, wscale, perChannel);
    let y = node.op === 'qlinear'
      ? this.linear(xf, rank, { name: w }, bias, `${n}_float`)
      : g.op('Conv', [xf, w, bias], this.convAttrs(node as never, dims), `${n}_float`);
    if (a.relu) y = g.op('Relu', [y], {}, `${n}_relu`);
    this.set(n, { q: this.quantize(y, a.outScale ?? 1, a.outZeroPoint ?? 0, n), shape });
    this.int8.static.push(n);
  }
}

/** The ONNX bytes of a model and what went into them. Reads the weights (CPU copies); the model is untouched. */
export function exportOnnx(model: Model, options: OnnxExportOptions = {}): { bytes: Uint8Array; report: OnnxExportReport } {
  const opset = options.opset ?? 17;
  // 13: per-axis DequantizeLinear; ≤ 17: ReduceMean/ReduceMax take axes as an attribute (an input from 18 on).
  if (!Number.isInteger(opset) || opset < 13 || opset > 17) throw new ConfigError(`opset must be an integer in 13..17, got ${String(opset)}`, 'opset');
  const spec = model.spec;
  assertExportable(spec, 'ONNX');
  if (opset < 17 && spec.nodes.some((n) => n.op === 'layernorm')) throw new ConfigError('layernorm needs opset ≥ 17 (LayerNormalization)', 'opset');
  const outputName = options.outputName ?? 'output';
  if (!outputName || spec.inputs.some((i) => i.name === outputName)) throw new ConfigError(`'${outputName}' cannot name the output (empty, or an input's name)`, 'outputName');
  const shapes = inferShapes(spec);
  const ex = new Exporter(spec, model.native.tensors() as Tensors, shapes);
  ex.g.claim(outputName); // before any node takes it
  ex.run();
  const final = ex.float(spec.output);
  ex.g.node('Identity', [final], {}, { outputs: [outputName] });
  const outShape = ['batch', ...shapes.get(spec.output)!];
  ex.g.output(outputName, 'float32', outShape);
  const quantGru = spec.nodes.filter((n) => n.op === 'qgru').map((n) => n.name);
  ex.int8.gru.push(...quantGru);
  if (quantGru.length) {
    ex.notes.push(`int8 GRU ${quantGru.join(', ')}: int8 weights dequantized in the graph (ONNX GRU takes float weights) and each layer's input quantized at run time like petra's; the hidden state stays float (petra quantizes it per step), so outputs differ slightly from petra's`);
  }
  const bytes = encodeModel(ex.g, opset, {
    producerName: 'petra', producerVersion: '0.1.0',
    docString: `petra model '${spec.name ?? 'model'}' (${spec.task.kind})`,
    metadata: { 'petra.spec': JSON.stringify(spec) },
  });
  const ops: Record<string, number> = {};
  for (const nd of ex.g.nodes) ops[nd.opType!] = (ops[nd.opType!] ?? 0) + 1;
  return {
    bytes,
    report: {
      format: 'onnx', opset, bytes: bytes.length,
      inputs: spec.inputs.map((i) => ({ name: i.name, dtype: i.dtype, shape: ['batch', ...i.shape] })),
      output: { name: outputName, shape: outShape }, ops, initializers: ex.g.initializers.length, int8: ex.int8, notes: ex.notes,
    },
  };
}

/** Writes the model as ONNX to `path`; returns the export report. */
export async function saveOnnx(model: Model, path: string, options: OnnxExportOptions = {}): Promise<OnnxExportReport> {
  const { bytes, report } = exportOnnx(model, options);
  await writeFile(path, bytes);
  return report;
}
