/**
 * Import a TorchScript module (traced or scripted) as a petra graph spec plus weights.
 *
 * native/torchscript_import.cc loads the module, freezes it in eval mode (parameters become constants, submodule
 * calls are inlined, `self.training` branches fold) and describes the forward graph. This file walks that graph once,
 * in order, as a small abstract interpreter: shape checks, `if` on input ranks, list building, `x.size(0)` and the
 * like are evaluated statically against the given per-sample input shapes (the batch size stays symbolic), and every
 * tensor op becomes a petra node:
 *
 * | TorchScript                                              | petra                                               |
 * |----------------------------------------------------------|-----------------------------------------------------|
 * | aten::conv1d / conv2d / _convolution (not transposed)     | conv1d / conv2d (padding numbers or 'same')         |
 * | aten::batch_norm (eval, running statistics)               | batchnorm1d / batchnorm2d (eps, momentum)           |
 * | aten::linear, addmm(b, x, Wᵀ), matmul(x, W) [+ add(b)]    | linear                                              |
 * | aten::relu / gelu (exact) / sigmoid / tanh (+ in-place)   | relu / gelu / sigmoid / tanh                        |
 * | aten::max_pool1d/2d, avg_pool1d/2d, adaptive_*_pool1d/2d  | maxpool*, avgpool*, adaptive*pool*                  |
 * | aten::add (two tensors, alpha 1), aten::cat               | add, concat                                         |
 * | aten::flatten, view / reshape that flatten, squeeze(-1)   | flatten                                             |
 * | aten::mean over the trailing spatial dims                 | adaptiveavgpool1d/2d(1) (+ flatten)                 |
 * | aten::dropout / feature_dropout                           | dropout                                             |
 * | aten::embedding (int64 input)                             | embedding                                           |
 * | aten::gru (batch_first, zero initial state)               | gru: h[-1] / out[:, -1] / cat(h[-2], h[-1]) → 'last', out → 'sequence' |
 * | aten::layer_norm                                          | layernorm                                           |
 * | contiguous, clone, detach, full slices, in-place variants | (nothing: the same value)                           |
 *
 * Anything else that touches a tensor — and `if` / loops whose condition depends on data — is unsupported: one
 * `TorchScriptImportError` (a ConfigError) lists every such op with its Python source location. `importTorchScript`
 * then builds the petra model, copies the weights in, and runs both on the same random input: the outputs must agree
 * to `tolerance` (default 1e-5) or it throws a NumericError with the difference.
 *
 * The stages live in their own files: torchscript-import-values.ts (the abstract values and argument helpers),
 * torchscript-import-graph.ts (the interpreter, `Importer`), torchscript-import-static.ts (ops evaluated
 * statically), torchscript-import-layers.ts and torchscript-import-ops.ts (aten ops → petra nodes, the handler
 * table) and torchscript-import-verify.ts (the check against TorchScript). This file holds the public API: the
 * options and report types, `TorchScriptImportError`, the spec assembly (`torchScriptToSpec`), `buildWithWeights`
 * and `importTorchScript`.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { binding, type NativeTorchScriptGraph, type NativeTorchScriptNode } from '../runtime/binding.js';
import type { TensorData } from '../data/types.js';
import { ConfigError, NumericError } from '../core/errors.js';
import { Model } from '../runtime/model.js';
import type { InputDtype, ModelSpec, OpName } from '../graph/types.js';
import { SPEC_FORMAT } from '../graph/types.js';
import { validateSpec } from '../graph/validate.js';
import { Importer, type Emitted, type UnsupportedOp } from './torchscript-import-graph.js';
import { HANDLERS } from './torchscript-import-ops.js';
import { hasUnknown, Unsupported, type Tensor, type Val } from './torchscript-import-values.js';
import { checkInputs, compareWithTorchScript } from './torchscript-import-verify.js';

export type { UnsupportedOp } from './torchscript-import-graph.js';
export { compareWithTorchScript, maxAbsDiff } from './torchscript-import-verify.js';

export interface TorchScriptImportOptions {
  /**
   * Per-sample shape of each forward() input (no batch dimension): `[3, 32, 32]`, or one shape per input. TorchScript
   * files do not record it; `petra search --model x.pt` takes it from the data.
   */
  inputShape: number[] | number[][];
  /** Per input; default: 'int64' for an input that feeds an embedding, else 'float32'. */
  inputDtype?: InputDtype | InputDtype[];
  /** What the output means; default classification with as many classes as output columns (regression for one). */
  task?: ModelSpec['task'];
  /** The spec's name; default `torchscript <file> <sha256 prefix>` (so a changed file is a different model). */
  name?: string;
  /** Where the imported model lives (default 'cpu'). */
  device?: string;
  /** Largest |petra − TorchScript| allowed on the check input (default 1e-5). */
  tolerance?: number;
  /** Rows of the random check input (default 4) and its seed (default 1). */
  checkBatch?: number;
  seed?: number;
}

export interface ImportedNode {
  /** The petra node's name and op. */
  name: string;
  op: OpName;
  /** The TorchScript op(s) it came from and the first one's source location. */
  from: string;
  location: string;
}

export interface TorchScriptImportReport {
  file: string;
  nodes: ImportedNode[];
  /** TorchScript ops evaluated statically or dropped as no-ops, by kind. */
  static: Record<string, number>;
  /** Things that are equivalent at inference but differ in training (e.g. an embedding's padding_idx). */
  notes: string[];
  parameters: number;
  /** Present when the model was checked against TorchScript. */
  check?: { samples: number; maxAbsDiff: number; tolerance: number };
}

export interface TorchScriptSpec {
  spec: ModelSpec;
  /** Every parameter and buffer of the spec's model by name (`<node>.weight`, `<gru>.weight_ih_l0`, …). */
  weights: Record<string, TensorData>;
  report: TorchScriptImportReport;
}

export interface TorchScriptImport extends TorchScriptSpec {
  model: Model;
  maxAbsDiff: number;
}

/** The module uses ops petra has no node for; `unsupported` lists each one (also in the message). */
export class TorchScriptImportError extends ConfigError {
  readonly unsupported: readonly UnsupportedOp[];
  constructor(file: string, unsupported: UnsupportedOp[]) {
    const lines = unsupported.map(
      (u) =>
        `  ${u.op}${u.module ? ` (in ${u.module})` : ''} at ${u.location || '(unknown location)'}${u.code ? `  \`${u.code}\`` : ''}${u.reason ? `: ${u.reason}` : ''}`,
    );
    super(
      `'${file}' cannot be imported: ${unsupported.length} op(s) petra has no node for\n${lines.join('\n')}\n` +
        'petra imports conv1d/2d, batch_norm, linear, relu/gelu/sigmoid/tanh, max/avg/adaptive pooling, add, cat, flatten, ' +
        'mean over spatial dims, dropout, embedding, GRU and layer_norm',
      'model',
    );
    this.name = 'TorchScriptImportError';
    this.unsupported = unsupported;
  }
}

/** True when `path` is a zip archive (TorchScript files are; petra spec JSON is not). */
export function isTorchScriptFile(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.readUInt32LE(0) === 0x04034b50;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// From a described graph to a spec
// ---------------------------------------------------------------------------------------------------------------

function normalizeShapes(shape: number[] | number[][], count: number, file: string): number[][] {
  const shapes = shape.length > 0 && Array.isArray(shape[0]) ? (shape as number[][]) : [shape as number[]];
  if (shapes.length !== count) {
    throw new ConfigError(
      `'${file}' takes ${count} input(s), ${shapes.length} input shape(s) were given`,
      'inputShape',
    );
  }
  shapes.forEach((s, i) => {
    if (!Array.isArray(s) || s.length === 0 || s.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new ConfigError(
        `input shape ${JSON.stringify(s)} is not a per-sample shape of positive integers (no batch dim), e.g. [3, 32, 32]`,
        `inputShape[${i}]`,
      );
    }
  });
  return shapes;
}

/** int64 for inputs that feed an embedding's indices directly. */
function guessDtypes(graph: NativeTorchScriptGraph): InputDtype[] {
  const intIds = new Set<number>();
  const visit = (nodes: NativeTorchScriptNode[]): void => {
    for (const n of nodes) {
      if (n.kind === 'aten::embedding' && n.inputs[1] !== undefined) intIds.add(n.inputs[1]);
      for (const b of n.blocks ?? []) visit(b.nodes);
    }
  };
  visit(graph.nodes);
  return graph.inputs.map((v) => (intIds.has(v.id) ? 'int64' : 'float32'));
}

/** Adds the Python source line of an unsupported op when its file is readable here. */
function withSourceLine(u: UnsupportedOp): UnsupportedOp {
  const m = /^(.*):(\d+):\d+$/.exec(u.location);
  if (!m) return u;
  try {
    const line = readFileSync(m[1]!, 'utf8').split('\n')[Number(m[2]) - 1]?.trim();
    return line ? { ...u, code: line.length > 120 ? `${line.slice(0, 117)}...` : line } : u;
  } catch {
    return u;
  }
}

function fileTag(path: string): string {
  return `${basename(path)} sha256:${createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 12)}`;
}

/** Drops nodes (and their weights) the output does not read — e.g. an op whose result only fed a folded bias. */
function reachable(nodes: Emitted[], output: string): Emitted[] {
  const byName = new Map(nodes.map((e) => [e.node.name, e] as const));
  const seen = new Set<string>();
  const stack = [output];
  while (stack.length) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    for (const r of byName.get(name)?.node.inputs ?? []) stack.push(r);
  }
  return nodes.filter((e) => seen.has(e.node.name));
}

/**
 * The spec and weights of a TorchScript module, without building a model (synchronous: `resolveProblem` uses it).
 * Throws TorchScriptImportError listing every unsupported op, ConfigError for a bad shape or output.
 */
export function torchScriptToSpec(path: string, options: TorchScriptImportOptions): TorchScriptSpec {
  const graph = binding().describeTorchScript(path);
  const file = basename(path);
  if (graph.inputs.length === 0) throw new ConfigError(`'${file}': forward() takes no tensor input`, 'model');
  const shapes = normalizeShapes(options.inputShape, graph.inputs.length, file);
  const guessed = guessDtypes(graph);
  const dtypes =
    options.inputDtype === undefined
      ? guessed
      : Array.isArray(options.inputDtype)
        ? options.inputDtype
        : graph.inputs.map(() => options.inputDtype as InputDtype);
  if (dtypes.length !== graph.inputs.length)
    throw new ConfigError(`${dtypes.length} input dtype(s) for ${graph.inputs.length} input(s)`, 'inputDtype');
  const used = new Set<string>();
  const inputs: Tensor[] = graph.inputs.map((v, i) => {
    let name = v.name.replace(/\.\d+$/, '').replace(/[^A-Za-z0-9_]+/g, '_') || `input${i}`;
    if (!/^[A-Za-z_]/.test(name)) name = `input_${name}`;
    while (used.has(name)) name = `${name}_${i}`;
    used.add(name);
    return { t: 'tensor', ref: name, shape: [...shapes[i]!], dtype: dtypes[i]! };
  });
  const im = new Importer(graph, inputs, HANDLERS);
  graph.inputs.forEach((v, i) => im.env.set(v.id, inputs[i]!));
  im.run(graph.nodes);

  // The output: a tensor, or the first element of a tuple (as TorchScriptModel.forward returns it).
  let out: Val = im.get(graph.outputs[0] ?? -1);
  while (Array.isArray(out) && out.length > 0) out = out[0]!;
  let output: Tensor | undefined;
  if (!hasUnknown(out)) {
    try {
      output = im.tensor({ kind: 'output', inputs: [], outputs: [], location: '' }, out, 'the output');
    } catch (error) {
      if (!(error instanceof Unsupported)) throw error;
      im.unsupported.push({ op: 'return', location: '', reason: error.message });
    }
  }
  if (im.unsupported.length > 0) throw new TorchScriptImportError(file, im.unsupported.map(withSourceLine));
  if (!output || !im.byName.has(output.ref))
    throw new ConfigError(`'${file}': the output is not computed by any op petra imports`, 'model');
  if (output.shape.length !== 1) {
    throw new ConfigError(
      `'${file}': the output is [N, ${output.shape.join(', ')}]; petra models output [N, classes] or [N, targets]`,
      'model',
    );
  }
  const width = output.shape[0]!;
  const task: ModelSpec['task'] =
    options.task ?? (width >= 2 ? { kind: 'classification', classes: width } : { kind: 'regression', targets: width });
  const outWidth = task.kind === 'classification' ? task.classes : task.targets;
  if (outWidth !== width)
    throw new ConfigError(`'${file}' outputs ${width} values per sample, the task wants ${outWidth}`, 'task');

  const kept = reachable(im.nodes, output.ref);
  const keptNames = new Set(kept.map((e) => e.node.name));
  const weights: Record<string, TensorData> = {};
  for (const [k, v] of Object.entries(im.weights)) if (keptNames.has(k.slice(0, k.indexOf('.')))) weights[k] = v;
  const spec = validateSpec({
    format: SPEC_FORMAT,
    name: options.name ?? `torchscript ${fileTag(path)}`,
    inputs: inputs.map((t) => ({ name: t.ref, shape: t.shape, dtype: t.dtype })),
    nodes: kept.map((e) => e.node),
    output: output.ref,
    task,
  });
  const usedInputs = new Set(kept.flatMap((e) => e.node.inputs));
  const unusedInputs = inputs.filter((t) => !usedInputs.has(t.ref));
  if (unusedInputs.length)
    throw new ConfigError(
      `'${file}': input(s) ${unusedInputs.map((t) => t.ref).join(', ')} do not reach the output`,
      'model',
    );
  const parameters = Object.values(weights).reduce((s, t) => s + t.data.length, 0);
  return {
    spec,
    weights,
    report: {
      file: path,
      nodes: kept.map((e) => ({ name: e.node.name, op: e.node.op, from: e.from, location: e.location })),
      static: im.statics,
      notes: [...im.notes],
      parameters,
    },
  };
}

/** Builds `spec` on the device and copies `weights` (every parameter and buffer, by name) into it. */
export function buildWithWeights(
  spec: ModelSpec,
  weights: Record<string, TensorData>,
  options: { device?: string } = {},
): Model {
  using scratch = Model.build(spec, { device: options.device ?? 'cpu', seed: 0 });
  const names = scratch.parameters().map((p) => p.name);
  const recipes: Record<string, { data: TensorData }> = {};
  for (const name of names) {
    const w = weights[name];
    if (w) recipes[name] = { data: w };
    else if (!name.endsWith('num_batches_tracked'))
      throw new ConfigError(`no imported value for the model's tensor '${name}'`, 'model');
  }
  const extra = Object.keys(weights).filter((k) => !names.includes(k));
  if (extra.length) throw new ConfigError(`imported tensor(s) the model does not have: ${extra.join(', ')}`, 'model');
  return Model.fromNative(spec, scratch.native.derive(spec, JSON.stringify(spec), recipes));
}

/**
 * `petra import` / `importTorchScript(path)`: the TorchScript module as a petra spec and model with its weights,
 * checked against TorchScript on a random input (NumericError beyond `tolerance`).
 */
export async function importTorchScript(path: string, options: TorchScriptImportOptions): Promise<TorchScriptImport> {
  const imported = torchScriptToSpec(path, options);
  const model = buildWithWeights(
    imported.spec,
    imported.weights,
    options.device !== undefined ? { device: options.device } : {},
  );
  try {
    const tolerance = options.tolerance ?? 1e-5;
    const rows = options.checkBatch ?? 4;
    const diff = await compareWithTorchScript(path, model, checkInputs(imported.spec, rows, options.seed ?? 1));
    imported.report.check = { samples: rows, maxAbsDiff: diff, tolerance };
    if (!(diff <= tolerance)) {
      throw new NumericError(
        `the petra model imported from '${basename(path)}' differs from TorchScript by ${diff.toExponential(3)} (tolerance ${tolerance})`,
      );
    }
    return { ...imported, model, maxAbsDiff: diff };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
