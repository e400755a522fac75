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
import { assertExportable, exportBlockers } from './export-blockers.js';
import { ConfigError } from '../core/errors.js';
import type { Model } from '../runtime/model.js';
import { inferShapes, topologicalOrder } from '../graph/validate.js';
import { Exporter, type Tensors } from './onnx-exporter.js';
import { lowerNode } from './onnx-ops.js';
import { encodeModel } from './onnx-proto.js';

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

/** The ONNX bytes of a model and what went into them. Reads the weights (CPU copies); the model is untouched. */
export function exportOnnx(
  model: Model,
  options: OnnxExportOptions = {},
): { bytes: Uint8Array; report: OnnxExportReport } {
  const opset = options.opset ?? 17;
  // 13: per-axis DequantizeLinear; ≤ 17: ReduceMean/ReduceMax take axes as an attribute (an input from 18 on).
  if (!Number.isInteger(opset) || opset < 13 || opset > 17)
    throw new ConfigError(`opset must be an integer in 13..17, got ${String(opset)}`, 'opset');
  const spec = model.spec;
  assertExportable(spec, 'ONNX');
  if (opset < 17 && spec.nodes.some((n) => n.op === 'layernorm'))
    throw new ConfigError('layernorm needs opset ≥ 17 (LayerNormalization)', 'opset');
  const outputName = options.outputName ?? 'output';
  if (!outputName || spec.inputs.some((i) => i.name === outputName))
    throw new ConfigError(`'${outputName}' cannot name the output (empty, or an input's name)`, 'outputName');
  const shapes = inferShapes(spec);
  const ex = new Exporter(spec, model.native.tensors() as Tensors, shapes);
  ex.g.claim(outputName); // before any node takes it
  ex.declareInputs();
  for (const node of topologicalOrder(spec)) lowerNode(ex, node);
  const final = ex.float(spec.output);
  ex.g.node('Identity', [final], {}, { outputs: [outputName] });
  const outShape = ['batch', ...shapes.get(spec.output)!];
  ex.g.output(outputName, 'float32', outShape);
  const quantGru = spec.nodes.filter((n) => n.op === 'qgru').map((n) => n.name);
  ex.int8.gru.push(...quantGru);
  if (quantGru.length) {
    ex.notes.push(
      `int8 GRU ${quantGru.join(', ')}: int8 weights dequantized in the graph (ONNX GRU takes float weights) and each layer's input quantized at run time like petra's; the hidden state stays float (petra quantizes it per step), so outputs differ slightly from petra's`,
    );
  }
  const bytes = encodeModel(ex.g, opset, {
    producerName: 'petra',
    producerVersion: '0.1.0',
    docString: `petra model '${spec.name ?? 'model'}' (${spec.task.kind})`,
    metadata: { 'petra.spec': JSON.stringify(spec) },
  });
  const ops: Record<string, number> = {};
  for (const nd of ex.g.nodes) ops[nd.opType!] = (ops[nd.opType!] ?? 0) + 1;
  return {
    bytes,
    report: {
      format: 'onnx',
      opset,
      bytes: bytes.length,
      inputs: spec.inputs.map((i) => ({ name: i.name, dtype: i.dtype, shape: ['batch', ...i.shape] })),
      output: { name: outputName, shape: outShape },
      ops,
      initializers: ex.g.initializers.length,
      int8: ex.int8,
      notes: ex.notes,
    },
  };
}

/** Writes the model as ONNX to `path`; returns the export report. */
export async function saveOnnx(model: Model, path: string, options: OnnxExportOptions = {}): Promise<OnnxExportReport> {
  const { bytes, report } = exportOnnx(model, options);
  await writeFile(path, bytes);
  return report;
}
