/**
 * int8 quantization: dynamic (linear layers; activations quantized on the fly), static post-training (observers
 * calibrated on N batches, conv + BatchNorm folded, ReLU fused, real quantized::conv/linear kernels) and QAT (fake
 * quantization for k fine-tuning epochs, then the static conversion). CPU engines ONEDNN (default) or QNNPACK; on
 * CUDA, int8 GEMM (torch._int_mm) for linear layers and fp16 for layers with no int8 CUDA kernel, each with its reason.
 *
 * Before quantizing, the float graph is normalized: lowrank_* layers are composed into two plain layers (so
 * factorized models quantize too) and BatchNorm is folded into the conv/linear before it. Static graphs stay int8
 * between int8 layers: residual adds and concats get calibrated output parameters (a concat's producers share them,
 * so it copies bytes), ReLU fuses into the layer or join before it, pooling runs on the codes.
 */
import { binding, type NativeInt8Info, type NativeTensorRecipe } from '../runtime/binding.js';
import type { TabularSplit } from '../data/types.js';
import { DeviceData, placeData } from '../runtime/device-data.js';
import { ConfigError } from '../core/errors.js';
import { info } from '../runtime/info.js';
import type { Model } from '../runtime/model.js';
import type { GraphNode, ModelSpec } from '../graph/types.js';
import { train } from '../runtime/train.js';
import { deriveModel } from './derive.js';
import { int8BiasRecipes } from './int8-bias.js';

export type QuantizeMode = 'dynamic' | 'static' | 'qat';
export type QuantizeBackend = 'onednn' | 'qnnpack' | 'cuda' | 'intmm';
type Engine = 'onednn' | 'qnnpack' | 'intmm';

export interface QuantizeOptions {
  mode: QuantizeMode;
  /** Per-output-channel symmetric weights (default true); per-tensor otherwise. */
  perChannel?: boolean;
  /**
   * int8 weight codes within ±127 (8) or ±63 (7). Default: what is exact on this CPU (`info().int8.weightBits`):
   * 8 where u8×s8 products add in int32 (VNNI), 7 on x86 CPUs without VNNI, where oneDNN and onnxruntime add product
   * pairs in saturating int16. 7 is exact on every x86-64 CPU: choose it for a model that will run elsewhere.
   */
  weightBits?: 7 | 8;
  /**
   * CPU engines 'onednn' (default on CPU) and 'qnnpack'. 'cuda' (default for a model on a CUDA device): linear layers
   * run an int8 GEMM (torch._int_mm; int8 weights with per-output-channel scales, activations quantized per row at
   * run time), layers with no int8 CUDA kernel (convolutions, GRU, linear sizes not multiples of 8) run in fp16, each
   * listed with its reason. 'intmm': the same recipe on any device; on the CPU it is an exact int32 GEMM — slow, but
   * it checks a CUDA plan's accuracy without a GPU (layers without an int8 path stay fp32 there).
   */
  backend?: QuantizeBackend;
  observer?: 'minmax' | 'moving_average';
  /**
   * dynamic GRU layers: how the sequential hidden projection runs (same int8 arithmetic either way). 'auto' (default):
   * petra's fused int8 loop (one pass per step, no per-op dispatch) while batch × hiddenSize² ≤ 2¹⁸ (2¹⁹ on AVX-512
   * CPUs), above that quantized::linear_dynamic's threaded GEMM per step with the same vectorized gates; 'fused' or
   * 'linear_dynamic' force one.
   */
  gruRecurrence?: 'auto' | 'fused' | 'linear_dynamic';
  /** static / qat: data whose ranges calibrate the activations. */
  calibration?: { data: TabularSplit | DeviceData; batches?: number; batchSize?: number };
  /** qat: fine-tuning with fake quantization before conversion. */
  qat?: {
    data: TabularSplit | DeviceData;
    epochs: number;
    lr?: number;
    batchSize?: number;
    seed?: number;
    signal?: AbortSignal;
  };
}

/** How a layer runs after quantize(): int8, or fp16 / fp32 with the reason it has no int8 path. Never int8 while running float. */
export interface QuantizedLayer {
  name: string;
  kind: 'int8' | 'fp16' | 'fp32';
  reason?: string;
}

export interface QuantizeReport {
  operator: 'quantize';
  mode: QuantizeMode;
  engine: string;
  /** What computes the int8 products, e.g. 'quantized::linear / quantized::conv2d (ONEDNN)' or 'torch._int_mm (CUDA)'. */
  kernel: string;
  /** Activation scales: 'per-tensor, calibrated' (static, QAT), 'per-tensor, at run time' (dynamic) or 'per-row, at run time'. */
  activationScales: string;
  device: string;
  perChannel: boolean;
  /** int8 weight codes within ±127 (8) or ±63 (7), and why (the CPU's scheme, or the caller's choice). */
  weightBits: 7 | 8;
  weightBitsReason: string;
  /** The CPU that quantized (also recorded on each int8 layer as attrs.quantizedOn). */
  quantizedOn: string;
  notes: string[];
  layers: QuantizedLayer[];
  foldedBatchNorms: string[];
  composedLowrank: string[];
  fusedRelu: string[];
  parametersBefore: number;
}

const QUANT_OPS = new Set(['qlinear', 'qconv1d', 'qconv2d', 'qgru']);

/** int8 layers, or half-precision layers a CUDA quantization left: either way a model for inference, not to quantize again. */
export function isQuantized(spec: ModelSpec): boolean {
  return spec.nodes.some((n) => QUANT_OPS.has(n.op) || (n.attrs as { dtype?: string }).dtype !== undefined);
}

function consumers(spec: ModelSpec, value: string): GraphNode[] {
  return spec.nodes.filter((n) => n.inputs.includes(value));
}

/** Removes `node` (a unary node) and feeds its input to its consumers instead. */
function bypass(spec: ModelSpec, node: GraphNode): void {
  const source = node.inputs[0]!;
  for (const n of spec.nodes) n.inputs = n.inputs.map((i) => (i === node.name ? source : i));
  if (spec.output === node.name) spec.output = source;
  spec.nodes = spec.nodes.filter((n) => n !== node);
}

type Tensors = Record<string, { data: Float32Array | Int32Array; shape: number[] }>;

/** lowrank_* → two plain layers: `<name>_v` (in → r, weight diag(S)·Vh, no bias) then `<name>` (r → out, weight U). */
function composeLowrank(spec: ModelSpec, tensors: Tensors, recipes: Record<string, NativeTensorRecipe>): string[] {
  const composed: string[] = [];
  const next: GraphNode[] = [];
  for (const node of spec.nodes) {
    if (node.op !== 'lowrank_linear' && node.op !== 'lowrank_conv1d' && node.op !== 'lowrank_conv2d') {
      next.push(node);
      continue;
    }
    const a = node.attrs;
    const r = a.rank;
    const U = tensors[`${node.name}.U`]!.data as Float32Array;
    const S = tensors[`${node.name}.S`]!.data as Float32Array;
    const Vh = tensors[`${node.name}.Vh`]!.data as Float32Array;
    const cols = Vh.length / r;
    const first = new Float32Array(Vh.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < cols; j++) first[i * cols + j] = Vh[i * cols + j]! * S[i]!;
    const vName = `${node.name}_v`;
    const bias = a.bias !== false;
    if (node.op === 'lowrank_linear') {
      const la = node.attrs;
      next.push({
        name: vName,
        op: 'linear',
        inputs: node.inputs,
        attrs: { inFeatures: la.inFeatures, outFeatures: r, bias: false },
      });
      next.push({
        name: node.name,
        op: 'linear',
        inputs: [vName],
        attrs: { inFeatures: r, outFeatures: la.outFeatures, bias },
      });
      recipes[`${vName}.weight`] = { data: { data: first, shape: [r, la.inFeatures] } };
      recipes[`${node.name}.weight`] = { data: { data: U, shape: [la.outFeatures, r] } };
    } else {
      const ca = node.attrs;
      const op = node.op === 'lowrank_conv2d' ? 'conv2d' : 'conv1d';
      const { rank: _rank, ...convAttrs } = ca;
      next.push({
        name: vName,
        op,
        inputs: node.inputs,
        attrs: { ...convAttrs, outChannels: r, bias: false },
      } as GraphNode);
      next.push({
        name: node.name,
        op,
        inputs: [vName],
        attrs: { inChannels: r, outChannels: ca.outChannels, kernelSize: 1, bias },
      } as GraphNode);
      const kernel = cols / ca.inChannels;
      recipes[`${vName}.weight`] = { data: { data: first, shape: [r, cols] } };
      recipes[`${node.name}.weight`] = { data: { data: U, shape: [ca.outChannels, r] } };
      void kernel;
    }
    if (bias) recipes[`${node.name}.bias`] = { source: `${node.name}.bias` };
    composed.push(node.name);
  }
  spec.nodes = next;
  return composed;
}

/**
 * Folds BatchNorm channels [offset, offset + out of `layer`) into `layer`: its weight rows and bias absorb BN's affine
 * and running statistics.
 */
function foldInto(
  layer: GraphNode,
  bn: GraphNode & { op: 'batchnorm1d' | 'batchnorm2d' },
  offset: number,
  tensors: Tensors,
  recipes: Record<string, NativeTensorRecipe>,
): void {
  const weightName = `${layer.name}.weight`;
  const w = (recipes[weightName]?.data?.data ?? tensors[weightName]!.data) as Float32Array;
  const out =
    (layer.attrs as { outChannels?: number; outFeatures?: number }).outChannels ??
    (layer.attrs as { outFeatures: number }).outFeatures;
  const per = w.length / out;
  const gamma = tensors[`${bn.name}.weight`]!.data as Float32Array;
  const beta = tensors[`${bn.name}.bias`]!.data as Float32Array;
  const mean = tensors[`${bn.name}.running_mean`]!.data as Float32Array;
  const variance = tensors[`${bn.name}.running_var`]!.data as Float32Array;
  const eps = bn.attrs.eps ?? 1e-5;
  const hasBias = (layer.attrs as { bias?: boolean }).bias !== false;
  const b0 = hasBias ? (tensors[`${layer.name}.bias`]!.data as Float32Array) : new Float32Array(out);
  const wf = new Float32Array(w.length);
  const bf = new Float32Array(out);
  for (let c = 0; c < out; c++) {
    const b = offset + c;
    const k = gamma[b]! / Math.sqrt(variance[b]! + eps);
    for (let j = 0; j < per; j++) wf[c * per + j] = w[c * per + j]! * k;
    bf[c] = (b0[c]! - mean[b]!) * k + beta[b]!;
  }
  const shape = tensors[weightName]?.shape ?? [out, per];
  recipes[weightName] = { data: { data: wf, shape: recipes[weightName]?.data?.shape ?? shape } };
  recipes[`${layer.name}.bias`] = { data: { data: bf, shape: [out] } };
  (layer.attrs as { bias?: boolean }).bias = true;
}

/** The ReLU that is `node`'s only reader (and `node` is not the graph output), so it can fuse into `node`. */
function fusableRelu(spec: ModelSpec, node: GraphNode): GraphNode | undefined {
  const readers = consumers(spec, node.name);
  return readers.length === 1 && readers[0]!.op === 'relu' && spec.output !== node.name ? readers[0]! : undefined;
}

/** A conv/linear layer whose output only `reader` reads (so folding into it changes nothing else). */
function soleFeeder(spec: ModelSpec, name: string, reader: GraphNode): GraphNode | undefined {
  const node = spec.nodes.find((n) => n.name === name);
  if (!node || (node.op !== 'conv1d' && node.op !== 'conv2d' && node.op !== 'linear')) return undefined;
  const readers = consumers(spec, name);
  return readers.length === 1 && readers[0] === reader && spec.output !== name ? node : undefined;
}

/**
 * BatchNorm folding: conv/linear → BN (the BN its only reader), and concat-of-convs → BN (InceptionTime's blocks:
 * each conv takes the BN channels at its offset in the concat). Folded, the whole block can stay int8.
 */
function foldBatchNorm(spec: ModelSpec, tensors: Tensors, recipes: Record<string, NativeTensorRecipe>): string[] {
  const folded: string[] = [];
  for (const bn of [...spec.nodes]) {
    if (bn.op !== 'batchnorm1d' && bn.op !== 'batchnorm2d') continue;
    const prev = spec.nodes.find((n) => n.name === bn.inputs[0]);
    if (!prev) continue;
    if (prev.op === 'concat') {
      if ((prev.attrs.dim ?? 1) !== 1 || consumers(spec, prev.name).length !== 1 || spec.output === prev.name) continue;
      if (new Set(prev.inputs).size !== prev.inputs.length) continue;
      const parts = prev.inputs.map((i) => soleFeeder(spec, i, prev));
      if (parts.some((p) => p === undefined || p.op === 'linear')) continue;
      const widths = parts.map((p) => (p!.attrs as { outChannels: number }).outChannels);
      if (widths.reduce((a, b) => a + b, 0) !== bn.attrs.numFeatures) continue;
      let offset = 0;
      parts.forEach((p, i) => {
        foldInto(p!, bn, offset, tensors, recipes);
        offset += widths[i]!;
      });
    } else {
      const layer = soleFeeder(spec, prev.name, bn);
      if (!layer) continue;
      foldInto(layer, bn, 0, tensors, recipes);
    }
    bypass(spec, bn);
    folded.push(bn.name);
  }
  return folded;
}

/** The float graph quantization starts from: lowrank composed, BatchNorm folded. The input model is untouched. */
export function normalizeForQuantization(model: Model): { model: Model; composed: string[]; folded: string[] } {
  const spec = structuredClone(model.spec);
  const tensors = model.native.tensors() as Tensors;
  const recipes: Record<string, NativeTensorRecipe> = {};
  const composed = composeLowrank(spec, tensors, recipes);
  // Composition created new weights under recipes; folding reads them from there.
  for (const [name, r] of Object.entries(recipes)) if (r.data) tensors[name] = r.data;
  const folded = foldBatchNorm(spec, tensors, recipes);
  return { model: deriveModel(model, spec, recipes), composed, folded };
}

function affine(range: [number, number] | undefined): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, range?.[0] ?? 0);
  const hi = Math.max(0, range?.[1] ?? 1);
  const scale = Math.max((hi - lo) / 255, 1e-8);
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

function chooseEngine(backend: QuantizeBackend | undefined, device: string): Engine {
  if (backend !== undefined && !['onednn', 'qnnpack', 'cuda', 'intmm'].includes(backend)) {
    throw new ConfigError(`unknown backend '${String(backend)}': onednn, qnnpack, cuda or intmm`, 'backend');
  }
  const i = info();
  if (device !== 'cpu') {
    if (backend === 'onednn' || backend === 'qnnpack') {
      throw new ConfigError(
        `backend '${backend}' is a CPU engine and the model is on ${device}: use backend 'cuda', or move the model to cpu first`,
        'backend',
      );
    }
    if (!i.cuda.int8Gemm) {
      throw new ConfigError(
        `int8 on CUDA needs LibTorch ≥ 2.1 (torch._int_mm); this build has LibTorch ${i.libtorchVersion} — move the model to cpu for the ONEDNN/QNNPACK engines`,
        'backend',
      );
    }
    return 'intmm';
  }
  if (backend === 'cuda') {
    throw new ConfigError(
      "backend 'cuda' quantizes a model on a CUDA device and this one is on cpu: move it with model.to('cuda:0'), or use backend 'intmm' to run the same recipe on the CPU",
      'backend',
    );
  }
  if (backend === 'intmm') return 'intmm';
  const engines = i.quantizedEngines.map((e) => e.toLowerCase());
  const wanted = backend ?? (engines.includes('onednn') ? 'onednn' : 'qnnpack');
  if (!engines.includes(wanted))
    throw new ConfigError(
      `quantized engine '${wanted}' is not in this LibTorch build (has: ${engines.join(', ')})`,
      'backend',
    );
  return wanted;
}

/**
 * The int8-GEMM plan (engine intmm): linear layers whose sizes suit torch._int_mm become int8 qlinear (a following
 * ReLU fused); every other layer with weights runs in fp16 on CUDA (attrs.dtype), or stays fp32 on the CPU.
 */
function intmmSpec(
  float: ModelSpec,
  weights: WeightScheme,
  onCuda: boolean,
): { spec: ModelSpec; layers: QuantizedLayer[]; fused: string[]; quantized: string[] } {
  const spec = structuredClone(float);
  const layers: QuantizedLayer[] = [];
  const fused: string[] = [];
  const quantized: string[] = [];
  const reduced = (node: GraphNode, reason: string): void => {
    if (onCuda) {
      (node.attrs as { dtype?: string }).dtype = 'float16';
      layers.push({ name: node.name, kind: 'fp16', reason });
    } else {
      layers.push({ name: node.name, kind: 'fp32', reason: `${reason} (on CUDA it would run in fp16)` });
    }
  };
  for (const node of [...spec.nodes]) {
    if (node.op === 'embedding') {
      layers.push({
        name: node.name,
        kind: 'fp32',
        reason: 'embedding lookups stay float (no matrix product to quantize)',
      });
      continue;
    }
    if (node.op === 'conv1d' || node.op === 'conv2d') {
      reduced(node, 'LibTorch has no int8 convolution kernel on CUDA (torch._int_mm covers matrix products)');
      continue;
    }
    if (node.op === 'gru') {
      reduced(node, 'LibTorch has no int8 GRU kernel on CUDA');
      continue;
    }
    if (node.op !== 'linear') continue;
    const a = node.attrs;
    if (a.inFeatures % 8 !== 0 || a.outFeatures % 8 !== 0) {
      reduced(
        node,
        `torch._int_mm needs in and out features that are multiples of 8 (this layer: ${a.inFeatures}→${a.outFeatures})`,
      );
      continue;
    }
    const relu = fusableRelu(spec, node);
    Object.assign(node, {
      op: 'qlinear',
      attrs: { ...dynamicQlinearAttrs(a, weights, 'intmm'), relu: relu !== undefined },
    });
    if (relu) {
      bypass(spec, relu);
      fused.push(relu.name);
    }
    layers.push({ name: node.name, kind: 'int8' });
    quantized.push(node.name);
  }
  return { spec, layers, fused, quantized };
}

/** Why a layer stays float under static int8, or undefined when it can be quantized. */
function staticBlocker(node: GraphNode): string | undefined {
  if (node.op === 'conv1d' || node.op === 'conv2d') {
    const a = node.attrs;
    if (a.padding === 'same') {
      const ks = Array.isArray(a.kernelSize) ? a.kernelSize : [a.kernelSize];
      if (ks.some((k) => ((a.dilation ?? 1) * (k - 1)) % 2 !== 0))
        return "'same' padding with an even kernel has no int8 kernel";
      const st = Array.isArray(a.stride) ? a.stride : [a.stride ?? 1];
      if (st.some((s) => s !== 1)) return "'same' padding with stride > 1";
    }
    return undefined;
  }
  if (node.op === 'linear') return undefined;
  return 'no int8 rule for this op';
}

function quantizedSpec(
  float: ModelSpec,
  mode: 'dynamic' | 'static',
  engine: Engine,
  weights: WeightScheme,
  ranges: Record<string, [number, number]>,
  gruRecurrence: 'auto' | 'fused' | 'linear_dynamic',
): { spec: ModelSpec; layers: QuantizedLayer[]; fused: string[]; quantized: string[] } {
  const spec = structuredClone(float);
  const layers: QuantizedLayer[] = [];
  const fused: string[] = [];
  const quantized: string[] = [];
  for (const node of [...spec.nodes]) {
    if (mode === 'static' && (node.op === 'add' || node.op === 'concat')) {
      // Keep residual adds and inception concats in int8 between int8 layers (else: dequantize, float op, requantize).
      const relu = node.op === 'add' ? fusableRelu(spec, node) : undefined;
      const output = affine(ranges[relu ? relu.name : node.name]);
      Object.assign(node.attrs, {
        outScale: output.scale,
        outZeroPoint: output.zeroPoint,
        ...(node.op === 'add' ? { relu: relu !== undefined } : {}),
      });
      if (relu) {
        bypass(spec, relu);
        fused.push(relu.name);
      }
      continue;
    }
    if (!['linear', 'conv1d', 'conv2d', 'gru', 'embedding'].includes(node.op)) continue;
    if (node.op === 'embedding') {
      layers.push({
        name: node.name,
        kind: 'fp32',
        reason: 'embedding lookups stay float (no matrix product to quantize)',
      });
      continue;
    }
    if (node.op === 'gru') {
      if (mode !== 'dynamic') {
        layers.push({
          name: node.name,
          kind: 'fp32',
          reason: 'a GRU has no static int8 kernel; dynamic mode quantizes it',
        });
        continue;
      }
      Object.assign(node, {
        op: 'qgru',
        attrs: { ...node.attrs, dynamic: true, ...weightAttrs(weights), engine, recurrence: gruRecurrence },
      });
      layers.push({ name: node.name, kind: 'int8' });
      quantized.push(node.name);
      continue;
    }
    if (mode === 'dynamic') {
      if (node.op !== 'linear') {
        layers.push({ name: node.name, kind: 'fp32', reason: 'dynamic int8 covers linear and GRU layers' });
        continue;
      }
      Object.assign(node, { op: 'qlinear', attrs: dynamicQlinearAttrs(node.attrs, weights, engine) });
      layers.push({ name: node.name, kind: 'int8' });
      quantized.push(node.name);
      continue;
    }
    const blocker = staticBlocker(node);
    if (blocker) {
      layers.push({ name: node.name, kind: 'fp32', reason: blocker });
      continue;
    }
    const relu = fusableRelu(spec, node);
    const input = affine(ranges[node.inputs[0]!]);
    const output = affine(ranges[relu ? relu.name : node.name]);
    const { fakeQuant: _fq, ...attrs } = node.attrs as Record<string, unknown>;
    Object.assign(node, {
      op: node.op === 'linear' ? 'qlinear' : node.op === 'conv1d' ? 'qconv1d' : 'qconv2d',
      attrs: {
        ...attrs,
        bias: true,
        dynamic: false,
        ...weightAttrs(weights),
        relu: relu !== undefined,
        inScale: input.scale,
        inZeroPoint: input.zeroPoint,
        outScale: output.scale,
        outZeroPoint: output.zeroPoint,
        engine,
      },
    });
    if (relu) {
      bypass(spec, relu);
      fused.push(relu.name);
    }
    layers.push({ name: node.name, kind: 'int8' });
    quantized.push(node.name);
  }
  if (mode === 'static') shareConcatParams(spec, ranges, fused);
  return { spec, layers, fused, quantized };
}

/**
 * An int8 concat whose inputs all come straight from int8 conv/linear layers (an inception block's branches) gives
 * those layers its own output scale and zero point — PyTorch's FX quantization shares a cat's observer with its
 * inputs the same way — so the native concat copies bytes instead of requantizing every element (quantized::cat:
 * 1.9 ms for 4 × [64, 16, 100]). A ReLU after the concat moves into the layers (relu(cat(a, b)) = cat(relu(a),
 * relu(b))), which also halves the scale when the concat's range had a negative side.
 */
function shareConcatParams(spec: ModelSpec, ranges: Record<string, [number, number]>, fused: string[]): void {
  for (const node of [...spec.nodes]) {
    if (node.op !== 'concat' || (node.attrs as { outScale?: number }).outScale === undefined) continue;
    const producers = node.inputs.map((name) => spec.nodes.find((n) => n.name === name));
    const direct = producers.every(
      (p) =>
        p !== undefined &&
        ['qconv1d', 'qconv2d', 'qlinear'].includes(p.op) &&
        (p.attrs as { dynamic?: boolean }).dynamic === false &&
        spec.output !== p.name &&
        consumers(spec, p.name).every((c) => c === node),
    );
    if (!direct) continue;
    const relu = fusableRelu(spec, node);
    const output = affine(ranges[relu ? relu.name : node.name]);
    Object.assign(node.attrs, { outScale: output.scale, outZeroPoint: output.zeroPoint });
    for (const p of producers)
      Object.assign(p!.attrs, {
        outScale: output.scale,
        outZeroPoint: output.zeroPoint,
        ...(relu ? { relu: true } : {}),
      });
    if (relu) {
      bypass(spec, relu);
      fused.push(relu.name);
    }
  }
}

/** How int8 weights are made: per channel or per tensor, within ±127 or ±63, and on which CPU. */
interface WeightScheme {
  perChannel: boolean;
  bits: 7 | 8;
  quantizedOn: string;
}

function weightAttrs(w: WeightScheme): { perChannel: boolean; weightBits: 7 | 8; quantizedOn: string } {
  return { perChannel: w.perChannel, weightBits: w.bits, quantizedOn: w.quantizedOn };
}

/** A linear layer as a dynamic int8 qlinear (weights quantized now, activations per call; biases always present). */
function dynamicQlinearAttrs(a: { inFeatures: number; outFeatures: number }, w: WeightScheme, engine: string) {
  return { inFeatures: a.inFeatures, outFeatures: a.outFeatures, bias: true, dynamic: true, ...weightAttrs(w), engine };
}

/**
 * The weight bits for this quantization: the caller's, else what is exact on this CPU for CPU engines (8 for the
 * int8 GEMM recipe: cuBLASLt and the CPU reference add in int32). 8 bits with oneDNN where it saturates is refused.
 */
function chooseWeightBits(
  requested: 7 | 8 | undefined,
  engine: Engine,
  host: NativeInt8Info,
): { bits: 7 | 8; reason: string } {
  if (requested !== undefined && requested !== 7 && requested !== 8)
    throw new ConfigError(`must be 7 or 8, got ${String(requested)}`, 'weightBits');
  if (engine === 'onednn' && requested === 8 && host.weightBits === 7) {
    throw new ConfigError(
      `8-bit weights are not exact with oneDNN on this CPU (${host.cpu}): ${host.reason}. Use weightBits 7, or backend 'qnnpack'`,
      'weightBits',
    );
  }
  if (requested !== undefined)
    return {
      bits: requested,
      reason:
        `weightBits ${requested} as asked` +
        (requested === 8 && host.weightBits === 7
          ? ` (exact in ${engine}; onnxruntime on this CPU would saturate: ${host.reason})`
          : ''),
    };
  if (engine === 'intmm') return { bits: 8, reason: 'int8 GEMM adds products in int32: 8-bit weights are exact' };
  return { bits: host.weightBits, reason: host.reason };
}

/** int8 weights and scales from the float weights; the float bias, or zeros for a layer that had none. */
function quantRecipes(float: ModelSpec, names: string[], weights: WeightScheme): Record<string, NativeTensorRecipe> {
  const recipes: Record<string, NativeTensorRecipe> = {};
  const perChannel = weights.perChannel,
    bits = weights.bits;
  for (const n of names) {
    const node = float.nodes.find((x) => x.name === n)!;
    if (node.op === 'gru') {
      const dirs = node.attrs.bidirectional ? ['', '_reverse'] : [''];
      for (let l = 0; l < (node.attrs.numLayers ?? 1); l++) {
        for (const d of dirs) {
          for (const kind of ['ih', 'hh']) {
            const source = `${n}.weight_${kind}_l${l}${d}`;
            recipes[`${n}.w_${kind}_l${l}${d}`] = { quantize: { source, part: 'int8', perChannel, bits } };
            recipes[`${n}.w_${kind}_scale_l${l}${d}`] = { quantize: { source, part: 'scale', perChannel, bits } };
            recipes[`${n}.b_${kind}_l${l}${d}`] = { source: `${n}.bias_${kind}_l${l}${d}` };
          }
        }
      }
      continue;
    }
    const a = node.attrs as { bias?: boolean; outFeatures?: number; outChannels?: number };
    recipes[`${n}.qweight`] = { quantize: { source: `${n}.weight`, part: 'int8', perChannel, bits } };
    recipes[`${n}.wscale`] = { quantize: { source: `${n}.weight`, part: 'scale', perChannel, bits } };
    const out = a.outFeatures ?? a.outChannels ?? 0;
    recipes[`${n}.bias`] =
      a.bias === false ? { data: { data: new Float32Array(out), shape: [out] } } : { source: `${n}.bias` };
  }
  return recipes;
}

async function calibrate(
  model: Model,
  calibration: NonNullable<QuantizeOptions['calibration']>,
  observer: 'minmax' | 'moving_average',
): Promise<Record<string, [number, number]>> {
  const placed = placeData(calibration.data, model.device);
  try {
    return await binding().calibrate(model.native, placed.data.native, {
      batches: calibration.batches ?? 16,
      batchSize: calibration.batchSize ?? 64,
      observer,
    });
  } finally {
    if (placed.owned) placed.data.dispose();
  }
}

const GRU_RECURRENCE_NOTE = {
  auto: "GRU: input projections in one quantized::linear_dynamic call; the recurrence runs petra's fused int8 loop while batch × hidden² ≤ 2^18 (2^19 on AVX-512 CPUs), quantized::linear_dynamic per step above",
  fused:
    "GRU: input projections in one quantized::linear_dynamic call; the recurrence runs petra's fused int8 loop at every batch size",
  linear_dynamic:
    'GRU: input projections in one quantized::linear_dynamic call; the recurrence calls quantized::linear_dynamic per step',
} as const;

/** Quantizes a float model to int8; returns a new model (on the input's device) and a report. The input model is untouched. */
export async function quantize(
  model: Model,
  options: QuantizeOptions,
): Promise<{ model: Model; report: QuantizeReport }> {
  if (isQuantized(model.spec)) throw new ConfigError('the model is already quantized; quantize a float model', 'mode');
  if (!['dynamic', 'static', 'qat'].includes(options.mode))
    throw new ConfigError(`unknown mode '${String(options.mode)}': dynamic, static or qat`, 'mode');
  const engine = chooseEngine(options.backend, model.device);
  if (engine !== 'intmm') binding().setQuantizedEngine(engine);
  const perChannel = options.perChannel ?? true;
  const host = info().int8;
  const { bits: weightBits, reason: weightBitsReason } = chooseWeightBits(options.weightBits, engine, host);
  const weights: WeightScheme = { perChannel, bits: weightBits, quantizedOn: host.cpu };
  const observer = options.observer ?? (options.mode === 'qat' ? 'moving_average' : 'minmax');
  // int8 GEMM scales activations per row at run time: nothing to calibrate.
  const calibrates = engine !== 'intmm' && options.mode !== 'dynamic';
  if (calibrates && !options.calibration && !options.qat) {
    throw new ConfigError(`${options.mode} quantization needs calibration data`, 'calibration');
  }
  const notes: string[] = [];
  if (engine === 'intmm' && options.mode === 'static')
    notes.push(
      'int8 GEMM scales activations per row at run time, so static mode needs no calibration' +
        (options.calibration ? ' (the calibration data was not used)' : ''),
    );
  if (weightBits === 7) notes.push(`int8 weights use 7 bits (codes within ±63): ${weightBitsReason}`);
  if (options.mode === 'qat' && !options.qat) throw new ConfigError('qat needs { data, epochs }', 'qat');
  const gruRecurrence = options.gruRecurrence ?? 'auto';
  if (!['auto', 'fused', 'linear_dynamic'].includes(gruRecurrence))
    throw new ConfigError(
      `unknown gruRecurrence '${String(gruRecurrence)}': auto, fused or linear_dynamic`,
      'gruRecurrence',
    );
  const normalized = normalizeForQuantization(model);
  let source = normalized.model;
  const disposables: Model[] = [source];
  try {
    let ranges: Record<string, [number, number]> = {};
    if (options.mode === 'qat') {
      const qatSpec = structuredClone(source.spec);
      // Fake-quantize with the bits the conversion will use, so training sees the rounding the int8 model has.
      for (const n of qatSpec.nodes)
        if (n.op === 'linear' || n.op === 'conv1d' || n.op === 'conv2d')
          Object.assign(n.attrs, { fakeQuant: true, fakeQuantBits: weightBits });
      source = deriveModel(source, qatSpec, {});
      disposables.push(source);
      const q = options.qat!;
      await train(
        source,
        { train: q.data },
        {
          epochs: q.epochs,
          optimizer: 'adam',
          lr: q.lr ?? 1e-4,
          batchSize: q.batchSize ?? 64,
          seed: q.seed ?? 0,
          ...(q.signal ? { signal: q.signal } : {}),
        },
      );
    }
    if (calibrates) ranges = await calibrate(source, options.calibration ?? { data: options.qat!.data }, observer);
    const floatSpec = structuredClone(source.spec);
    for (const n of floatSpec.nodes) {
      delete (n.attrs as { fakeQuant?: boolean }).fakeQuant;
      delete (n.attrs as { fakeQuantBits?: number }).fakeQuantBits;
    }
    const onCuda = model.device !== 'cpu';
    const { spec, layers, fused, quantized } =
      engine === 'intmm'
        ? intmmSpec(floatSpec, weights, onCuda)
        : quantizedSpec(
            floatSpec,
            options.mode === 'dynamic' ? 'dynamic' : 'static',
            engine,
            weights,
            ranges,
            gruRecurrence,
          );
    if (!layers.some((l) => l.kind === 'int8')) notes.push('no layer has an int8 path here: nothing runs in int8');
    const unrounded = deriveModel(source, spec, quantRecipes(floatSpec, quantized, weights));
    disposables.push(unrounded);
    // Static layers' biases go on their int32 grid (int8-bias.ts): the integers every other int8 engine computes.
    const out = deriveModel(unrounded, spec, int8BiasRecipes(unrounded));
    const kernel =
      engine === 'intmm'
        ? onCuda
          ? 'torch._int_mm (cuBLASLt int8 GEMM, int32 accumulation)'
          : 'exact int32 GEMM on the CPU (reference for the CUDA recipe, not a fast path)'
        : `quantized::linear${options.mode === 'dynamic' ? '_dynamic' : ' / quantized::conv'} (${engine.toUpperCase()})`;
    if (spec.nodes.some((n) => n.op === 'qgru')) notes.push(GRU_RECURRENCE_NOTE[gruRecurrence]);
    const activationScales =
      engine === 'intmm'
        ? 'per-row, at run time'
        : options.mode === 'dynamic'
          ? 'per-tensor, at run time'
          : 'per-tensor, calibrated';
    return {
      model: out,
      report: {
        operator: 'quantize',
        mode: options.mode,
        engine,
        kernel,
        activationScales,
        device: model.device,
        perChannel,
        weightBits,
        weightBitsReason,
        quantizedOn: weights.quantizedOn,
        layers,
        notes,
        foldedBatchNorms: normalized.folded,
        composedLowrank: normalized.composed,
        fusedRelu: fused,
        parametersBefore: model.parameterCount,
      },
    };
  } finally {
    for (const m of disposables) m.dispose();
  }
}
