/**
 * The writer of an exported TorchScript forward method (torchscript-export.ts has the format's overview): unique
 * Python names, literals, the submodule plan native/torchscript_export.cc builds, and petra's values as expressions.
 * Per-op lowering is in torchscript-ops.ts.
 */
import { ConfigError } from '../core/errors.js';
import type { GraphNode } from '../graph/types.js';
import type { NativePackPlan, NativeSubmodulePlan, NativeTensorPlan } from '../runtime/binding.js';

/** Plan for native saveTorchScript (native/torchscript_export.cc). */
// The plan's parts are the binding's types: the native side reads exactly these fields.
export type PackPlan = NativePackPlan;
export type SubmodulePlan = NativeSubmodulePlan;
export type TensorPlan = NativeTensorPlan;

// Names the generated code must not shadow or cannot use: Python keywords, the builtins it calls, the type names.
const RESERVED = new Set([
  'False',
  'None',
  'True',
  'and',
  'as',
  'assert',
  'async',
  'await',
  'break',
  'class',
  'continue',
  'def',
  'del',
  'elif',
  'else',
  'except',
  'finally',
  'for',
  'from',
  'global',
  'if',
  'import',
  'in',
  'is',
  'lambda',
  'nonlocal',
  'not',
  'or',
  'pass',
  'raise',
  'return',
  'try',
  'while',
  'with',
  'yield',
  'self',
  'torch',
  'quantized',
  'ops',
  'range',
  'len',
  'List',
  'Tuple',
  'Optional',
  'Tensor',
  'int',
  'float',
  'bool',
  'str',
  'print',
  'annotate',
  'math',
  'training',
]);

/** Unique Python identifiers from arbitrary names (node names may hold dots, dashes, digits first). */
export class Names {
  readonly #used = new Set<string>();
  take(raw: string): string {
    let base = raw.replace(/[^A-Za-z0-9_]/g, '_');
    if (!base || /^[0-9]/.test(base)) base = `_${base}`;
    if (RESERVED.has(base) || base.startsWith('__')) base = `${base}_`;
    let name = base;
    for (let k = 2; this.#used.has(name); k++) name = `${base}_${k}`;
    this.#used.add(name);
    return name;
  }
}

/** A Python float literal that reads back as the same double (TorchScript parses it with strtod). */
export function float(x: number): string {
  if (!Number.isFinite(x))
    throw new ConfigError(`a non-finite number (${x}) cannot be written to TorchScript`, 'model');
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}
export const ints = (v: number[]): string => `[${v.join(', ')}]`;

export const QUINT8 = 13; // c10::ScalarType::QUInt8: TorchScript spells dtypes as their enum values
export const FLOAT32 = 6;
export const PACKED_LINEAR = '__torch__.torch.classes.quantized.LinearPackedParamsBase';

export interface Value {
  expr: string;
  quantized: boolean;
}

/**
 * The forward method being written: one statement per node, the submodules that hold the weights, and petra's values
 * as TorchScript expressions (float, or quint8 for int8 values). Op-agnostic: each op's lowering (torchscript-ops.ts)
 * writes through it.
 */
export class SourceWriter {
  readonly names = new Names();
  readonly lines: string[] = [];
  readonly modules: SubmodulePlan[] = [];
  readonly values = new Map<string, Value>();
  readonly int8 = { static: [] as string[], dynamic: [] as string[], gru: [] as string[] };
  readonly moduleNames = new Names();
  usesGruHelper = false;

  constructor(readonly buffers: Set<string>) {}

  emit(line: string): void {
    this.lines.push(`    ${line}`);
  }

  /** A submodule holding `tensors` (petra names `<node>.<t>`) and int8 packs; returns `self.<name>`. */
  module(node: GraphNode, tensors: string[], packs: PackPlan[] = []): string {
    const name = this.moduleNames.take(node.name);
    this.modules.push({
      name,
      tensors: tensors.map((t) => ({
        name: t,
        from: `${node.name}.${t}`,
        parameter: !this.buffers.has(`${node.name}.${t}`),
      })),
      packs,
    });
    return `self.${name}`;
  }

  /** The float tensor of a value (its dequantized codes for an int8 value). */
  float(name: string): string {
    const v = this.values.get(name)!;
    return v.quantized ? `${v.expr}.dequantize()` : v.expr;
  }

  /** The quint8 tensor of a value: as it is, or quantized with (scale, zero point) like QuantizeActivation. */
  quint8(name: string, scale: number, zp: number): string {
    const v = this.values.get(name)!;
    return v.quantized ? v.expr : `torch.quantize_per_tensor(${v.expr}, ${float(scale)}, ${zp}, ${QUINT8})`;
  }

  assign(node: GraphNode, expr: string, quantized: boolean): void {
    const local = this.names.take(node.name);
    this.emit(`${local} = ${expr}  # ${node.op}`);
    this.values.set(node.name, { expr: local, quantized });
  }
}
