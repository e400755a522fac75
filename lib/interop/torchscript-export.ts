/**
 * Export a petra model as TorchScript: a `.pt` that `torch.jit.load` (PyTorch) and `torch::jit::load` (LibTorch,
 * petra's TorchScriptModel) run without petra, with petra's outputs.
 *
 * petra models are LibTorch modules built from the graph spec in C++, so there is nothing to trace or script. Instead
 * this file writes the forward method as TorchScript source, one statement per graph node calling the same ATen and
 * quantized kernels petra's graph calls (native/graph_module.cc, native/quantize.cc), and native/torchscript_export.cc
 * compiles it into a module that holds the weights — one submodule per layer, so the state dict reads like PyTorch's
 * (`conv1.weight`, `bn1.running_mean`) — and saves it.
 *
 * - Float layers: torch.conv1d/2d, batch_norm, linear, embedding, gru, layer_norm, pooling, add, cat, flatten.
 * - Low-rank layers: petra's own two-step arithmetic (x·Vhᵀ, scaled by S, then U), parameters U, S, Vh kept.
 * - Static int8 layers: quantized::linear / conv1d / conv2d (+ _relu) on quint8 activations with petra's calibrated
 *   scales, int8 residual joins as quantized::add / add_relu / cat; the packed int8 weights are module attributes of
 *   PyTorch's own packed-params classes (`_packed_params`), so `torch.jit.load` repacks them for its engine.
 * - Dynamic int8 linears: quantized::linear_dynamic. Dynamic int8 GRUs: input projections through linear_dynamic,
 *   the recurrence as a TorchScript loop with linear_dynamic per step and torch's gate formula — the arithmetic of
 *   petra's 'linear_dynamic' recurrence (its fused loop computes the same to ~1e-7).
 *
 * Not exportable (one ConfigError lists every such node): fake-quantized layers (QAT in progress), half-precision
 * layers (attrs.dtype, a CUDA plan) and int8 layers of engine 'intmm' — the same as ONNX export.
 */
import { rmSync } from 'node:fs';
import { binding } from '../runtime/binding.js';
import { assertExportable, exportBlockers } from './export-blockers.js';
import { NumericError } from '../core/errors.js';
import { TorchScriptModel } from '../lab/benchmark.js';
import type { Model } from '../runtime/model.js';
import type { ModelSpec, QuantAttrs } from '../graph/types.js';
import { inferShapes, topologicalOrder } from '../graph/validate.js';
import { GRU_HELPER, writeNode } from './torchscript-ops.js';
import { checkInputs, maxAbsDiff } from './torchscript-import-verify.js';
import { SourceWriter, type SubmodulePlan } from './torchscript-writer.js';

export interface TorchScriptExportOptions {
  /** Load the written file back and compare it with the petra model on a seeded random batch (default true). */
  verify?: boolean;
  /** Rows of the check batch (default 8). */
  checkBatch?: number;
  seed?: number;
  /** Largest accepted difference; default 1e-5 for float models, one output quantization step for int8 models. */
  tolerance?: number;
}

export interface TorchScriptExportReport {
  format: 'torchscript';
  bytes: number;
  /** The LibTorch that wrote the file; PyTorch and LibTorch of this version or newer load it. */
  libtorch: string;
  inputs: { name: string; dtype: 'float32' | 'int64'; shape: (number | string)[] }[];
  output: { shape: (number | string)[] };
  /** Submodules (layers with weights), float parameters, buffers and int8 packed-parameter objects. */
  modules: number;
  parameters: number;
  buffers: number;
  packed: number;
  int8: { static: string[]; dynamic: string[]; gru: string[] };
  /** The comparison of the written file, loaded back, with the petra model (absent with verify: false). */
  check?: { samples: number; maxAbsDiff: number; tolerance: number };
  notes: string[];
}

/** Plan for native saveTorchScript (native/torchscript_export.cc): the module class's source and its submodules. */
export interface TorchScriptPlan {
  className: string;
  source: string;
  modules: SubmodulePlan[];
}

/** The nodes that cannot be exported to TorchScript, each with its reason (empty when the model exports). */
export const torchScriptExportBlockers = exportBlockers;

/** The TorchScript source and module plan of a petra spec; `buffers`: the petra names of its buffers. */
export function torchScriptPlan(
  spec: ModelSpec,
  buffers: Set<string>,
): TorchScriptPlan & { int8: TorchScriptExportReport['int8'] } {
  assertExportable(spec, 'TorchScript');
  const w = new SourceWriter(buffers);
  const args = spec.inputs.map((inp) => {
    const local = w.names.take(inp.name);
    w.values.set(inp.name, { expr: local, quantized: false });
    return `${local}: Tensor`;
  });
  for (const node of topologicalOrder(spec)) writeNode(w, node);
  w.emit(`return ${w.float(spec.output)}`);
  const forward = `def forward(self, ${args.join(', ')}) -> Tensor:\n${w.lines.join('\n')}\n`;
  const source = `${forward}${w.usesGruHelper ? GRU_HELPER : ''}`;
  const className =
    (spec.name ?? 'PetraModel').replace(/[^A-Za-z0-9_]/g, '_').replace(/^(?=[0-9])/, '_') || 'PetraModel';
  return { className, source, modules: w.modules, int8: w.int8 };
}

/**
 * Writes the model as TorchScript to `path` and, unless `verify: false`, loads the file back through
 * TorchScriptModel and compares it with the model on a seeded batch (NumericError beyond the tolerance; the file
 * is removed then). The model is untouched.
 */
export async function saveTorchScript(
  model: Model,
  path: string,
  options: TorchScriptExportOptions = {},
): Promise<TorchScriptExportReport> {
  const spec = model.spec;
  const params = model.native.parameters();
  const plan = torchScriptPlan(spec, new Set(params.filter((p) => p.buffer).map((p) => p.name)));
  const { bytes } = await binding().saveTorchScript(model.native, {
    className: plan.className,
    source: plan.source,
    modules: plan.modules,
    path,
  });
  const shapes = inferShapes(spec);
  const tensors = plan.modules.flatMap((m) => m.tensors);
  const quantized = plan.int8.static.length + plan.int8.dynamic.length + plan.int8.gru.length > 0;
  const notes: string[] = [];
  if (plan.int8.gru.length)
    notes.push(
      `int8 GRU ${plan.int8.gru.join(', ')}: the recurrence is a TorchScript loop calling quantized::linear_dynamic per step (petra's 'linear_dynamic' recurrence; its fused loop agrees to ~1e-7 per step)`,
    );
  if (quantized) {
    const engines = [
      ...new Set(spec.nodes.filter((n) => n.op.startsWith('q')).map((n) => (n.attrs as QuantAttrs).engine ?? 'onednn')),
    ];
    notes.push(
      `int8 layers hold PyTorch's packed parameters, repacked by torch.jit.load for the quantized engine active then: set torch.backends.quantized.engine = '${engines.join("' / '")}' (petra's engine) before loading for petra's exact outputs; they run on the CPU`,
    );
  }
  const report: TorchScriptExportReport = {
    format: 'torchscript',
    bytes,
    libtorch: binding().info().libtorchVersion,
    inputs: spec.inputs.map((i) => ({ name: i.name, dtype: i.dtype, shape: ['batch', ...i.shape] })),
    output: { shape: ['batch', ...shapes.get(spec.output)!] },
    modules: plan.modules.length,
    parameters: tensors.filter((t) => t.parameter).length,
    buffers: tensors.filter((t) => !t.parameter).length,
    packed: plan.modules.reduce((n, m) => n + m.packs.length, 0),
    int8: plan.int8,
    notes,
  };
  if (options.verify === false) return report;
  try {
    const rows = options.checkBatch ?? 8;
    const inputs = checkInputs(spec, rows, options.seed ?? 1);
    const expected = await model.forward(inputs);
    let got;
    {
      using script = TorchScriptModel.load(path);
      got = script.native.forward(inputs);
    }
    const diff = maxAbsDiff(expected, got);
    const tolerance = options.tolerance ?? (quantized ? outputStep(spec, expected.data) : 1e-5);
    report.check = { samples: rows, maxAbsDiff: diff, tolerance };
    if (!(diff <= tolerance))
      throw new NumericError(
        `the TorchScript written to '${path}' differs from the petra model by ${diff.toExponential(3)} (tolerance ${tolerance.toExponential(3)})`,
      );
    return report;
  } catch (error) {
    rmSync(path, { force: true });
    throw error;
  }
}

/**
 * One quantization step of an int8 model's output: the output scale of a static int8 output layer, else 1/255 of the
 * outputs' range (float outputs downstream of int8 layers inherit their rounding).
 */
function outputStep(spec: ModelSpec, out: ArrayLike<number>): number {
  const node = spec.nodes.find((n) => n.name === spec.output);
  const a = node?.attrs as { outScale?: number; dynamic?: boolean } | undefined;
  if (a?.outScale !== undefined && a.dynamic !== true) return a.outScale * (1 + 1e-6);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < out.length; i++) {
    lo = Math.min(lo, out[i]!);
    hi = Math.max(hi, out[i]!);
  }
  return Math.max((hi - lo) / 255, 1e-5);
}
