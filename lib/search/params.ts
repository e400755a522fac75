/**
 * Declarative hyperparameter specs: what a stage's parameter may be, and how to sample, vary, check and repair it.
 * Users narrow a range by replacing a spec; nothing here knows about particular stages.
 */
import { ConfigError } from '../core/errors.js';
import type { Rng } from './rng.js';
import type { ExportedParam } from './space.js';

export type ParamValue = number | string | boolean;

export type ParamSpec =
  /** A real number in [min, max]; `log` samples and mutates in log space (then min must be > 0). */
  | {
      readonly kind: 'float';
      readonly min: number;
      readonly max: number;
      readonly log?: boolean;
      readonly default?: number;
    }
  /** An integer in [min, max]. */
  | {
      readonly kind: 'int';
      readonly min: number;
      readonly max: number;
      readonly log?: boolean;
      readonly default?: number;
    }
  /** One of a fixed set of values (strings, numbers such as roundTo 1/4/8/16, or booleans). */
  | { readonly kind: 'categorical'; readonly choices: readonly ParamValue[]; readonly default?: ParamValue };

/** Relative step of a Gaussian parameter change, as a fraction of the (log-)range. */
const MUTATION_SIGMA = 0.15;
/** Floats are kept to 4 significant digits so near-identical genomes share a key. */
const FLOAT_DIGITS = 4;

export function roundFloat(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x === 0 ? 0 : x;
  return Number(x.toPrecision(FLOAT_DIGITS));
}

export function checkSpec(spec: ParamSpec, path: string): void {
  if (spec.kind === 'categorical') {
    if (spec.choices.length === 0) throw new ConfigError('a categorical parameter needs at least one choice', path);
    return;
  }
  if (!Number.isFinite(spec.min) || !Number.isFinite(spec.max) || spec.min > spec.max) {
    throw new ConfigError(`range [${spec.min}, ${spec.max}] is not a valid range`, path);
  }
  if (spec.log && spec.min <= 0) throw new ConfigError('a log-scale range must start above 0', path);
  if (spec.kind === 'int' && (!Number.isInteger(spec.min) || !Number.isInteger(spec.max))) {
    throw new ConfigError('an int range needs integer bounds', path);
  }
}

function toUnit(spec: { min: number; max: number; log?: boolean }, x: number): number {
  if (spec.max === spec.min) return 0;
  return spec.log
    ? (Math.log(x) - Math.log(spec.min)) / (Math.log(spec.max) - Math.log(spec.min))
    : (x - spec.min) / (spec.max - spec.min);
}

function fromUnit(spec: { min: number; max: number; log?: boolean }, u: number): number {
  const c = Math.min(1, Math.max(0, u));
  return spec.log
    ? Math.exp(Math.log(spec.min) + c * (Math.log(spec.max) - Math.log(spec.min)))
    : spec.min + c * (spec.max - spec.min);
}

function finish(spec: ParamSpec, x: number): number {
  if (spec.kind === 'int') return Math.min(spec.max, Math.max(spec.min, Math.round(x)));
  if (spec.kind === 'float') return Math.min(spec.max, Math.max(spec.min, roundFloat(x)));
  return x;
}

export function sampleParam(spec: ParamSpec, rng: Rng): ParamValue {
  if (spec.kind === 'categorical') return rng.pick(spec.choices);
  if (spec.kind === 'int' && !spec.log) return rng.int(spec.min, spec.max);
  return finish(spec, fromUnit(spec, rng.random()));
}

/** Gaussian step within range for numbers; a different choice for categories. */
export function mutateParam(spec: ParamSpec, value: ParamValue, rng: Rng): ParamValue {
  if (spec.kind === 'categorical') {
    const others = spec.choices.filter((c) => c !== value);
    return others.length === 0 ? value : rng.pick(others);
  }
  const x = typeof value === 'number' && Number.isFinite(value) ? value : defaultParam(spec);
  let u = toUnit(spec, Math.min(spec.max, Math.max(spec.min, x))) + rng.normal(0, MUTATION_SIGMA);
  // Reflect at the bounds, so values near a bound are not stuck on it.
  if (u < 0) u = -u;
  if (u > 1) u = 2 - u;
  let next = finish(spec, fromUnit(spec, u));
  if (spec.kind === 'int' && next === x && spec.max > spec.min) {
    next = x + (rng.bool() ? 1 : -1);
    if (next < spec.min || next > spec.max) next = 2 * x - next;
  }
  return next;
}

export function defaultParam(spec: Extract<ParamSpec, { kind: 'float' | 'int' }>): number;
export function defaultParam(spec: ParamSpec): ParamValue;
export function defaultParam(spec: ParamSpec): ParamValue {
  if (spec.default !== undefined) return spec.default;
  if (spec.kind === 'categorical') return spec.choices[0] as ParamValue;
  return finish(spec, fromUnit(spec, 0.5));
}

/** Why `value` does not fit `spec`, or undefined when it does. */
export function paramProblem(spec: ParamSpec, value: unknown): string | undefined {
  if (spec.kind === 'categorical') {
    return spec.choices.includes(value as ParamValue)
      ? undefined
      : `${JSON.stringify(value)} is not one of ${spec.choices.map((c) => JSON.stringify(c)).join(', ')}`;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return `${JSON.stringify(value)} is not a finite number`;
  if (spec.kind === 'int' && !Number.isInteger(value)) return `${value} is not an integer`;
  if (value < spec.min || value > spec.max) return `${value} is outside [${spec.min}, ${spec.max}]`;
  return undefined;
}

/** The nearest valid value: clamp and round numbers; an unknown category becomes the default. */
export function repairParam(spec: ParamSpec, value: unknown): ParamValue {
  if (spec.kind === 'categorical') {
    if (spec.choices.includes(value as ParamValue)) return value as ParamValue;
    if (typeof value === 'number') {
      // Nearest numeric choice (e.g. roundTo 6 → 4 or 8).
      let best: ParamValue | undefined;
      let bestDistance = Infinity;
      for (const c of spec.choices) {
        if (typeof c === 'number' && Math.abs(c - value) < bestDistance) {
          best = c;
          bestDistance = Math.abs(c - value);
        }
      }
      if (best !== undefined) return best;
    }
    return defaultParam(spec);
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return defaultParam(spec);
  return finish(spec, value);
}

export function exportParam(spec: ParamSpec, value: ParamValue): ExportedParam {
  if (spec.kind === 'categorical') return { value, distribution: { kind: 'categorical', choices: spec.choices } };
  const range = { low: spec.min, high: spec.max, log: spec.log ?? false };
  return spec.kind === 'int'
    ? { value: value as number, distribution: { kind: 'int', ...range } }
    : { value: value as number, distribution: { kind: 'float', ...range } };
}
