/**
 * Turning what an evaluator reports into the numbers selection works on: objective vectors in minimisation form
 * (a 'max' objective is negated) and one total constraint violation (0 = feasible).
 */
import { ConfigError, NumericError } from '../core/errors.js';
import type { ConstraintDef, ObjectiveDef } from './space.js';

export type Values = readonly number[] | Readonly<Record<string, number>>;

/** Objective values in declaration order; throws ConfigError on a wrong count or name, NumericError on NaN/±Inf. */
export function objectiveValues(objectives: readonly ObjectiveDef[], raw: Values): number[] {
  let values: number[];
  if (Array.isArray(raw)) {
    if (raw.length !== objectives.length) {
      throw new ConfigError(
        `expected ${objectives.length} objective values (${objectives.map((o) => o.name).join(', ')}), got ${raw.length}`,
        'objectives',
      );
    }
    values = [...(raw as readonly number[])];
  } else {
    const record = raw as Readonly<Record<string, number>>;
    for (const name of Object.keys(record)) {
      if (!objectives.some((o) => o.name === name))
        throw new ConfigError(`unknown objective "${name}"`, `objectives.${name}`);
    }
    values = objectives.map((o) => {
      if (!(o.name in record)) throw new ConfigError(`missing objective "${o.name}"`, `objectives.${o.name}`);
      return record[o.name] as number;
    });
  }
  values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new NumericError(`objective "${objectives[i]?.name}" is ${String(v)}; objectives must be finite numbers`);
    }
  });
  return values;
}

/** The vector selection minimises: 'max' objectives negated. */
export function toMinimization(objectives: readonly ObjectiveDef[], values: readonly number[]): number[] {
  return values.map((v, i) => (objectives[i]?.direction === 'max' ? -v : v));
}

/** Total violation Σ max(0, value − upper) + max(0, lower − value); a constraint without a value uses the objective of that name. */
export function totalViolation(
  constraints: readonly ConstraintDef[],
  objectives: readonly ObjectiveDef[],
  objectiveVals: readonly number[],
  raw: Values | undefined,
): { violation: number; values: number[] } {
  if (constraints.length === 0) return { violation: 0, values: [] };
  const given: Record<string, number> = {};
  if (Array.isArray(raw)) {
    if (raw.length !== constraints.length)
      throw new ConfigError(`expected ${constraints.length} constraint values, got ${raw.length}`, 'constraints');
    constraints.forEach((c, i) => {
      given[c.name] = raw[i] as number;
    });
  } else if (raw) {
    for (const [k, v] of Object.entries(raw as Record<string, number>)) {
      if (!constraints.some((c) => c.name === k))
        throw new ConfigError(`unknown constraint "${k}"`, `constraints.${k}`);
      given[k] = v;
    }
  }
  let violation = 0;
  const values = constraints.map((c) => {
    let v = given[c.name];
    if (v === undefined) {
      const i = objectives.findIndex((o) => o.name === c.name);
      if (i < 0) throw new ConfigError(`no value for constraint "${c.name}"`, `constraints.${c.name}`);
      v = objectiveVals[i] as number;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new NumericError(`constraint "${c.name}" is ${String(v)}`);
    if (c.upper !== undefined) violation += Math.max(0, v - c.upper);
    if (c.lower !== undefined) violation += Math.max(0, c.lower - v);
    return v;
  });
  return { violation, values };
}

export function checkObjectives(objectives: readonly ObjectiveDef[], constraints: readonly ConstraintDef[]): void {
  if (objectives.length === 0) throw new ConfigError('at least one objective is needed', 'objectives');
  const names = new Set<string>();
  objectives.forEach((o, i) => {
    if (names.has(o.name)) throw new ConfigError(`duplicate objective "${o.name}"`, `objectives[${i}]`);
    names.add(o.name);
    if (o.direction !== 'min' && o.direction !== 'max')
      throw new ConfigError(`direction must be 'min' or 'max'`, `objectives[${i}].direction`);
  });
  constraints.forEach((c, i) => {
    if (c.upper === undefined && c.lower === undefined)
      throw new ConfigError('a constraint needs upper and/or lower', `constraints[${i}]`);
  });
}
