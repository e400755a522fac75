/**
 * The state and helpers of an ONNX export (onnx-export.ts has the format's overview): petra's values as ONNX tensors
 * (float, uint8 codes or both), weights as initializers, int8 quantization and dequantization, and the node shapes
 * several ops share. Per-op lowering is in onnx-ops.ts.
 */
import { biasStep } from '../compress/int8-bias.js';
import { ConfigError } from '../core/errors.js';
import type { TensorData } from '../data/types.js';
import { perDim } from '../graph/ops/geometry.js';
import type { GraphNode, ModelSpec } from '../graph/types.js';
import { OnnxGraph, type OnnxDtype } from './onnx-proto.js';

export type Tensors = Record<string, TensorData>;

export interface Quant {
  u8: string;
  scale: number;
  zp: number;
  scaleName: string;
  zpName: string;
}
/** A petra value in the ONNX graph: its float tensor, its uint8 codes (an int8 value of petra), or both. */
export interface Value {
  float?: string;
  q?: Quant;
  shape: number[];
  int64?: boolean;
}

/** Per-dim (begin, end) pads of a conv: explicit, or PyTorch's 'same' (total d·(k−1), the odd one at the end). */
export function convPads(
  padding: number | [number, number] | 'same' | undefined,
  kernel: number[],
  dilation: number,
): number[] {
  if (padding === 'same') {
    const begin = kernel.map((k) => Math.floor((dilation * (k - 1)) / 2));
    const end = kernel.map((k, i) => dilation * (k - 1) - begin[i]!);
    return [...begin, ...end];
  }
  const p = perDim(padding, kernel.length, 0);
  return [...p, ...p];
}

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/**
 * The ONNX graph being written and petra's values in it. It knows how to write weights, int8 quantization and the
 * shapes of linear and conv nodes, but nothing about ops: each op's lowering (onnx-ops.ts) calls these helpers.
 */
export class Exporter {
  readonly g: OnnxGraph;
  readonly values = new Map<string, Value>();
  readonly notes: string[] = [];
  readonly int8 = { static: [] as string[], dynamic: [] as string[], gru: [] as string[] };
  readonly #qparams = new Map<string, { scaleName: string; zpName: string }>();

  constructor(
    readonly spec: ModelSpec,
    readonly tensors: Tensors,
    readonly shapes: Map<string, number[]>,
  ) {
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
      p = {
        scaleName: this.g.scalar('act_scale', 'float32', scale),
        zpName: this.g.scalar('act_zero_point', 'uint8', zp),
      };
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

  set(name: string, v: Value): void {
    this.values.set(name, v);
  }

  /** int8 weight [out, …] behind a DequantizeLinear: per output channel (axis 0) or per tensor. */
  int8Weight(
    stem: string,
    dims: number[],
    codes: ArrayLike<number>,
    scales: ArrayLike<number>,
    perChannel: boolean,
  ): string {
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
    if (codes.some((c) => !Number.isFinite(c) || Math.abs(c) > 2 ** 31 - 1))
      return this.g.constant(`${stem}`, 'float32', [bias.length], bias);
    const q = this.g.constant(`${stem}_int32`, 'int32', [bias.length], codes);
    const s = this.g.constant(`${stem}_scale`, 'float32', [bias.length], scales);
    const z = this.g.constant(`${stem}_zero_point`, 'int32', [bias.length], new Int32Array(bias.length));
    return this.g.op('DequantizeLinear', [q, s, z], { axis: 0 }, stem);
  }

  /** y = x·Wᵀ + b for x of rank `rank` (Gemm for 2-D inputs, MatMul + Add otherwise). */
  linear(
    x: string,
    rank: number,
    w: { name: string } | { data: Float32Array; out: number; in: number; stem: string },
    bias: string | undefined,
    out: string,
  ): string {
    if (rank === 2) {
      const wName = 'name' in w ? w.name : this.g.constant(w.stem, 'float32', [w.out, w.in], w.data);
      return this.g.op('Gemm', bias ? [x, wName, bias] : [x, wName], { transB: 1 }, out);
    }
    const wt =
      'name' in w
        ? this.g.op('Transpose', [w.name], { perm: [1, 0] }, `${out}_wt`)
        : this.g.constant(`${w.stem}_t`, 'float32', [w.in, w.out], transpose2d(w.data, w.out, w.in));
    const y = this.g.op('MatMul', [x, wt], {}, bias ? `${out}_matmul` : out);
    return bias ? this.g.op('Add', [y, bias], {}, out) : y;
  }

  convAttrs(
    node: GraphNode & {
      attrs: {
        kernelSize: number | [number, number];
        stride?: number | [number, number];
        padding?: number | [number, number] | 'same';
        dilation?: number;
        groups?: number;
      };
    },
    dims: number,
    overrides: { groups?: number } = {},
  ): Record<string, number[] | number> {
    const a = node.attrs;
    const kernel = perDim(a.kernelSize, dims, 1);
    const dil = a.dilation ?? 1;
    return {
      kernel_shape: kernel,
      strides: perDim(a.stride, dims, 1),
      pads: convPads(a.padding, kernel, dil),
      dilations: kernel.map(() => dil),
      group: overrides.groups ?? a.groups ?? 1,
    };
  }

  /** The graph inputs, batch-first, as petra's values. */
  declareInputs(): void {
    for (const inp of this.spec.inputs) {
      const dtype: OnnxDtype = inp.dtype === 'int64' ? 'int64' : 'float32';
      this.g.input(inp.name, dtype, ['batch', ...inp.shape]);
      this.set(inp.name, { float: inp.name, shape: [...inp.shape], int64: inp.dtype === 'int64' });
    }
  }
}
