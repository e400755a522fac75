/**
 * TorchScript import, stage 1 of the interpreter: the abstract values it tracks for each TorchScript value (Python
 * numbers/lists, the symbolic batch size, petra tensors, constant weights, GRU outputs, unknowns) and the small
 * helpers that read them as op arguments. Every other torchscript-import-* file builds on these; this one imports
 * none of them, so it sits at the bottom of the dependency order.
 */
import type { NativeTorchScriptConstant, NativeTorchScriptNode } from '../runtime/binding.js';
import type { TensorData } from '../data/types.js';
import type { InputDtype } from '../graph/types.js';

// ---------------------------------------------------------------------------------------------------------------
// Abstract values
// ---------------------------------------------------------------------------------------------------------------

/** An int known only at run time (the batch size, or arithmetic on it). Equal when the expressions are. */
export interface Sym {
  t: 'sym';
  expr: string;
}
/** A petra value: a graph input or a node's output, with its per-sample shape. */
export interface Tensor {
  t: 'tensor';
  ref: string;
  shape: number[];
  dtype: InputDtype;
}
/** A constant tensor (a weight), named by the module attribute it came from. */
export interface Const {
  t: 'const';
  name: string;
  shape: number[];
  data: Float32Array | Int32Array;
  dtype: string;
}
/** torch.zeros(...) — accepted as a GRU's initial state. */
export interface Zeros {
  t: 'zeros';
  size: Val[];
}
export interface GruInfo {
  input: Tensor;
  params: Const[];
  numLayers: number;
  bidirectional: boolean;
  hidden: number;
  /** The aten::gru node itself (its name hint, module and location). */
  node: NativeTorchScriptNode;
  nodes: { last?: string; sequence?: string };
}
/** aten::gru's outputs, and one direction of the last layer's final state (h[-2] / h[-1] of a bidirectional GRU). */
export interface Gru {
  t: 'gru';
  part: 'seq' | 'h';
  gru: GruInfo;
}
export interface GruLastDir {
  t: 'gruLastDir';
  gru: GruInfo;
  dir: 0 | 1;
}
export interface Opaque {
  t: 'opaque';
  what: string;
}
/** The result of an unsupported op: anything computed from it is unknown too (and not reported again). */
export interface Unknown {
  t: 'unknown';
}
export type Obj = Sym | Tensor | Const | Zeros | Gru | GruLastDir | Opaque | Unknown;
export type Val = number | boolean | string | null | Val[] | Obj;

export const BATCH: Sym = { t: 'sym', expr: 'batch' };
export const UNKNOWN: Unknown = { t: 'unknown' };
export const isObj = (v: Val): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isT = <K extends Obj['t']>(v: Val, t: K): v is Extract<Obj, { t: K }> => isObj(v) && v.t === t;

/** Thrown inside a handler: the op is unsupported for this reason. */
export class Unsupported extends Error {}
export const unsupported = (reason: string): never => {
  throw new Unsupported(reason);
};

export function hasUnknown(v: Val, depth = 0): boolean {
  if (depth > 8) return false;
  if (Array.isArray(v)) return v.some((x) => hasUnknown(x, depth + 1));
  return isT(v, 'unknown');
}

export function describeVal(v: Val): string {
  if (Array.isArray(v)) return `[${v.map(describeVal).join(', ')}]`;
  if (!isObj(v)) return JSON.stringify(v);
  switch (v.t) {
    case 'sym':
      return v.expr;
    case 'tensor':
      return `tensor [N, ${v.shape.join(', ')}]`;
    case 'const':
      return `constant ${v.name} [${v.shape.join(', ')}]`;
    default:
      return v.t;
  }
}

export function fromConstant(c: NativeTorchScriptConstant | undefined, name: string): Val {
  if (c === undefined) return UNKNOWN;
  if (c === null || typeof c === 'number' || typeof c === 'boolean' || typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((x, i) => fromConstant(x, `${name}.${i}`));
  if (c.kind === 'tensor') {
    if (!c.data) return { t: 'opaque', what: `${c.dtype} tensor constant` };
    return { t: 'const', name, shape: c.shape, data: c.data, dtype: c.dtype };
  }
  return { t: 'opaque', what: c.type };
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers on values
// ---------------------------------------------------------------------------------------------------------------

export function int(v: Val, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return unsupported(`${what} must be a constant integer, got ${describeVal(v)}`);
}
export function num(v: Val, what: string): number {
  if (typeof v === 'number') return v;
  return unsupported(`${what} must be a constant number, got ${describeVal(v)}`);
}
export function bool(v: Val, what: string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return unsupported(`${what} must be a constant boolean, got ${describeVal(v)}`);
}
export function ints(v: Val, what: string): number[] {
  if (typeof v === 'number') return [int(v, what)];
  if (!Array.isArray(v)) return unsupported(`${what} must be a list of constant integers, got ${describeVal(v)}`);
  return v.map((x, i) => int(x, `${what}[${i}]`));
}
export function constArg(v: Val, what: string): Const {
  if (isT(v, 'const')) return v;
  return unsupported(`${what} must be a constant tensor (a module parameter), got ${describeVal(v)}`);
}
export function optConst(v: Val, what: string): Const | undefined {
  return v === null ? undefined : constArg(v, what);
}
/** Normalizes a dim of a tensor whose full rank (batch included) is `rank`. */
export function dimOf(d: number, rank: number, what: string): number {
  const out = d < 0 ? d + rank : d;
  if (out < 0 || out >= rank) unsupported(`${what} ${d} is out of range for a rank-${rank} tensor`);
  return out;
}
export const prod = (xs: number[]): number => xs.reduce((a, b) => a * b, 1);
export const sameShape = (a: number[], b: number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

export function equal(a: Val, b: Val): boolean | undefined {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return false;
    if (a.length !== b.length) return false;
    let all: boolean | undefined = true;
    for (let i = 0; i < a.length; i++) {
      const e = equal(a[i]!, b[i]!);
      if (e === false) return false;
      if (e === undefined) all = undefined;
    }
    return all;
  }
  if (isT(a, 'sym') || isT(b, 'sym')) {
    if (isT(a, 'sym') && isT(b, 'sym') && a.expr === b.expr) return true;
    return undefined;
  }
  if (isObj(a) || isObj(b)) return undefined;
  return a === b;
}

export function transpose2d(c: Const): Const {
  if (c.shape.length !== 2) return unsupported(`transposing constant ${c.name} of rank ${c.shape.length}`);
  const [r, k] = c.shape as [number, number];
  const out = new Float32Array(r * k);
  for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) out[j * r + i] = c.data[i * k + j]!;
  return { ...c, shape: [k, r], data: out };
}

export const td = (c: Const): TensorData => ({
  data: c.data instanceof Float32Array ? c.data : Float32Array.from(c.data),
  shape: [...c.shape],
});
export const filled = (n: number, value: number): TensorData => ({ data: new Float32Array(n).fill(value), shape: [n] });
