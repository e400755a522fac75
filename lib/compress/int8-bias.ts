/**
 * Static int8 layers keep their bias on the int32 grid of s_in·s_w (per output channel): b = k·s_in·s_w.
 *
 * That is what an int8 layer means everywhere else — onnxruntime's QLinearConv/QGemm and QDQ graphs, QNNPACK,
 * FBGEMM, TFLite add an int32 bias to the int32 accumulator before requantizing — but ATen's ONEDNN kernels take the
 * float bias as it is. The gap is at most half a bias step per output, yet it moves outputs across rounding
 * boundaries: on a small int8 ResNet 0.05% of the first conv's codes and 22% of the logits differed by a step from
 * onnxruntime, 0.8% by two (before this; test/interop/onnx-export.test.ts now asserts ≥ 99.9% within one step, none beyond). With the bias on the grid every engine and every
 * export computes the same integers, and the model loses nothing it had: the rounding is below half an input-times-
 * weight step, far under one output step.
 */
import type { NativeTensorRecipe } from '../runtime/binding.js';
import type { Model } from '../runtime/model.js';
import { opDescriptor } from '../graph/ops/index.js';
import type { GraphNode, ModelSpec } from '../graph/types.js';

interface Int8Params {
  scale: number;
  zeroPoint: number;
}

type StaticLayer = Extract<GraphNode, { op: 'qlinear' | 'qconv1d' | 'qconv2d' }>;

function isStaticLayer(n: GraphNode): n is StaticLayer {
  return (
    (n.op === 'qlinear' || n.op === 'qconv1d' || n.op === 'qconv2d') &&
    n.attrs.dynamic !== true &&
    n.attrs.engine !== 'intmm'
  );
}

/**
 * The int32 bias grid of output channel `c`: s_in·s_w[c] in float32, as the ONNX export's int32 bias DequantizeLinear
 * scale has it (the one definition both the quantized model and its export use).
 */
export function biasStep(inScale: number, wscale: ArrayLike<number>, c: number): number {
  return Math.fround(inScale * wscale[wscale.length > 1 ? c : 0]!);
}

/** The int8 parameters a value carries at run time, or undefined when it is float. */
export function int8ParamsOf(
  spec: ModelSpec,
  name: string,
  byName = new Map(spec.nodes.map((n) => [n.name, n] as const)),
): Int8Params | undefined {
  for (let node = byName.get(name); node; node = byName.get(node.inputs[0]!)) {
    if (isStaticLayer(node)) return { scale: node.attrs.outScale ?? 1, zeroPoint: node.attrs.outZeroPoint ?? 0 };
    if (node.op === 'add' || node.op === 'concat') {
      const a = node.attrs as { outScale?: number; outZeroPoint?: number };
      return a.outScale === undefined ? undefined : { scale: a.outScale, zeroPoint: a.outZeroPoint ?? 0 };
    }
    // Ops whose int8 input stays int8 with the same parameters in petra's graph (the registry's quantAware).
    if (opDescriptor(node.op).quantAware !== 'keepsParams') return undefined;
  }
  return undefined; // a graph input: float
}

/** The input scale a static int8 layer's kernel sees: its int8 producer's, else its own calibrated one. */
export function staticInputScale(spec: ModelSpec, layer: StaticLayer, byName?: Map<string, GraphNode>): number {
  return int8ParamsOf(spec, layer.inputs[0]!, byName)?.scale ?? layer.attrs.inScale ?? 1;
}

/** Recipes that put every static int8 layer's bias of `model` on its int32 grid (empty when there is none). */
export function int8BiasRecipes(model: Model): Record<string, NativeTensorRecipe> {
  const layers = model.spec.nodes.filter(isStaticLayer);
  if (!layers.length) return {};
  const tensors = model.native.tensors(layers.flatMap((n) => [`${n.name}.bias`, `${n.name}.wscale`]));
  const recipes: Record<string, NativeTensorRecipe> = {};
  const byName = new Map(model.spec.nodes.map((n) => [n.name, n] as const));
  for (const layer of layers) {
    const bias = tensors[`${layer.name}.bias`]!;
    const wscale = tensors[`${layer.name}.wscale`]!.data as Float32Array;
    const inScale = staticInputScale(model.spec, layer, byName);
    const data = Float32Array.from(bias.data as Float32Array, (b, c) => {
      const step = biasStep(inScale, wscale, c);
      const k = Math.round(b / step);
      return step > 0 && Number.isFinite(k) && Math.abs(k) <= 2 ** 31 - 1 ? k * step : b;
    });
    recipes[`${layer.name}.bias`] = { data: { data, shape: bias.shape } };
  }
  return recipes;
}
