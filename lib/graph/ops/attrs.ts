/**
 * The attribute vocabulary of the graph language: the kinds an attribute can be, what each accepts and how an error
 * names it, plus the attribute sets several ops share. Ops declare their attributes with `req` / `opt` in their
 * descriptors; validate.ts checks a spec's attributes against them.
 */
import { ConfigError } from '../../core/errors.js';
import { SPEC_LIMITS } from '../limits.js';

export type AttrKind =
  | 'posInt' // integer ≥ 1
  | 'int' // any integer
  | 'bool'
  | 'posNum' // finite number > 0
  | 'unitInterval' // 0 ≤ x ≤ 1
  | 'dropoutP' // 0 ≤ p < 1
  | 'padding1d' // integer ≥ 0 or 'same'
  | 'posInt2' // integer ≥ 1 or [int ≥ 1, int ≥ 1]
  | 'nonNegInt2' // integer ≥ 0 or pair
  | 'padding2d' // nonNegInt2 or 'same'
  | 'posIntArray' // non-empty array of integers ≥ 1
  | 'gruOutput' // 'last' | 'sequence'
  | 'zeroPoint' // integer in [0, 255]
  | 'engine' // 'onednn' | 'qnnpack' | 'intmm'
  | 'computeDtype' // 'float16' | 'bfloat16'
  | 'recurrence' // 'auto' | 'fused' | 'linear_dynamic'
  | 'weightBits' // 7 | 8
  | 'label'; // a short string (≤ 200 characters), e.g. the CPU a model was quantized on

export interface AttrRule {
  kind: AttrKind;
  required: boolean;
}
/** An op's attributes by name, in the order they are checked and listed in errors. */
export type AttrRules = Readonly<Record<string, AttrRule>>;

export const req = (kind: AttrKind): AttrRule => ({ kind, required: true });
export const opt = (kind: AttrKind): AttrRule => ({ kind, required: false });

// ---------------------------------------------------------------------------------------------------------------
// Shared attribute sets
// ---------------------------------------------------------------------------------------------------------------

export const conv1dAttrs: AttrRules = {
  inChannels: req('posInt'),
  outChannels: req('posInt'),
  kernelSize: req('posInt'),
  stride: opt('posInt'),
  padding: opt('padding1d'),
  dilation: opt('posInt'),
  groups: opt('posInt'),
  bias: opt('bool'),
  fakeQuant: opt('bool'),
  fakeQuantBits: opt('weightBits'),
};
export const conv2dAttrs: AttrRules = {
  inChannels: req('posInt'),
  outChannels: req('posInt'),
  kernelSize: req('posInt2'),
  stride: opt('posInt2'),
  padding: opt('padding2d'),
  dilation: opt('posInt'),
  groups: opt('posInt'),
  bias: opt('bool'),
  fakeQuant: opt('bool'),
  fakeQuantBits: opt('weightBits'),
};
export const linearAttrs: AttrRules = {
  inFeatures: req('posInt'),
  outFeatures: req('posInt'),
  bias: opt('bool'),
  fakeQuant: opt('bool'),
  fakeQuantBits: opt('weightBits'),
};
/** The int8 layers' attributes (QuantAttrs). */
export const quantAttrs: AttrRules = {
  dynamic: opt('bool'),
  perChannel: opt('bool'),
  relu: opt('bool'),
  inScale: opt('posNum'),
  inZeroPoint: opt('zeroPoint'),
  outScale: opt('posNum'),
  outZeroPoint: opt('zeroPoint'),
  engine: opt('engine'),
  weightBits: opt('weightBits'),
  quantizedOn: opt('label'),
};
/** Float layers with weights may run in half precision (attrs.dtype); int8 layers have their own precision rules. */
export const halfPrecision: AttrRules = { dtype: opt('computeDtype') };

// ---------------------------------------------------------------------------------------------------------------
// What each kind accepts
// ---------------------------------------------------------------------------------------------------------------

export const isInt = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= SPEC_LIMITS.maxInt;
/** An integer outside int32 range: reported with the limit rather than as "not an integer". */
export const isHugeInt = (v: unknown): boolean =>
  typeof v === 'number' && Number.isInteger(v) && Math.abs(v) > SPEC_LIMITS.maxInt;
/** `every` that also visits holes of sparse arrays (`[1, , 3].every(f)` skips the hole and would say true). */
const everyIndex = (v: unknown[], el: (x: unknown) => boolean): boolean => Array.from(v).every(el);
export const isPosInt = (v: unknown): v is number => isInt(v) && v >= 1;
const isNonNegInt = (v: unknown): v is number => isInt(v) && v >= 0;
const isPair = (v: unknown, el: (x: unknown) => boolean): boolean =>
  Array.isArray(v) && v.length === 2 && everyIndex(v, el);

export const KIND_TEXT: Record<AttrKind, string> = {
  posInt: 'a positive integer',
  int: 'an integer',
  bool: 'a boolean',
  posNum: 'a positive finite number',
  unitInterval: 'a number in [0, 1]',
  dropoutP: 'a number in [0, 1)',
  padding1d: "a non-negative integer or 'same'",
  posInt2: 'a positive integer or a pair of positive integers',
  nonNegInt2: 'a non-negative integer or a pair of them',
  padding2d: "a non-negative integer, a pair of them, or 'same'",
  posIntArray: 'a non-empty array of positive integers',
  gruOutput: "'last' or 'sequence'",
  zeroPoint: 'an integer in [0, 255]',
  engine: "'onednn', 'qnnpack' or 'intmm'",
  computeDtype: "'float16' or 'bfloat16'",
  recurrence: "'auto', 'fused' or 'linear_dynamic'",
  weightBits: '7 or 8',
  label: 'a string of at most 200 characters',
};

/** Kinds whose numbers are integers (and so limited to int32). */
export const INT_KINDS = new Set<AttrKind>([
  'posInt',
  'int',
  'padding1d',
  'posInt2',
  'nonNegInt2',
  'padding2d',
  'posIntArray',
  'zeroPoint',
]);

export function checkAttr(kind: AttrKind, v: unknown): boolean {
  switch (kind) {
    case 'posInt':
      return isPosInt(v);
    case 'int':
      return isInt(v);
    case 'bool':
      return typeof v === 'boolean';
    case 'posNum':
      return typeof v === 'number' && Number.isFinite(v) && v > 0;
    case 'unitInterval':
      return typeof v === 'number' && v >= 0 && v <= 1;
    case 'dropoutP':
      return typeof v === 'number' && v >= 0 && v < 1;
    case 'padding1d':
      return isNonNegInt(v) || v === 'same';
    case 'posInt2':
      return isPosInt(v) || isPair(v, isPosInt);
    case 'nonNegInt2':
      return isNonNegInt(v) || isPair(v, isNonNegInt);
    case 'padding2d':
      return isNonNegInt(v) || isPair(v, isNonNegInt) || v === 'same';
    case 'posIntArray':
      return Array.isArray(v) && v.length > 0 && everyIndex(v, isPosInt);
    case 'gruOutput':
      return v === 'last' || v === 'sequence';
    case 'zeroPoint':
      return isInt(v) && v >= 0 && v <= 255;
    case 'engine':
      return v === 'onednn' || v === 'qnnpack' || v === 'intmm';
    case 'computeDtype':
      return v === 'float16' || v === 'bfloat16';
    case 'recurrence':
      return v === 'auto' || v === 'fused' || v === 'linear_dynamic';
    case 'weightBits':
      return v === 7 || v === 8;
    case 'label':
      return typeof v === 'string' && v.length <= 200;
  }
}

/** A value as an error message shows it (JSON where possible). */
export function describe(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s;
  } catch {
    return String(v);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Cross-attribute rules shared by several ops (an op's `check` runs those that apply to it)
// ---------------------------------------------------------------------------------------------------------------

/** A 1d op takes its sizes as single integers, not pairs. */
export function scalar1d(a: Record<string, unknown>, p: string): void {
  for (const key of ['kernelSize', 'stride', 'padding', 'outputSize']) {
    if (Array.isArray(a[key]))
      throw new ConfigError(`a 1d op takes a single integer, got ${describe(a[key])}`, `${p}.attrs.${key}`);
  }
}
