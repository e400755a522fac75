/**
 * Validity of pipeline genomes: the schema (known stage types, parameters in range), length and count limits, and
 * the space's ordering rules (rules.ts). `validatePipeline` explains every problem; `repairPipeline` returns the
 * nearest valid genome.
 */
import type { PipelineGenome, Stage } from './genome.js';
import { defaultParam, paramProblem, repairParam, type ParamValue } from '../search/params.js';
import type { Violation } from './rules.js';
import type { PipelineSpaceConfig } from './space-config.js';

export interface ValidationResult {
  readonly valid: boolean;
  readonly violations: readonly Violation[];
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * The stage type's definition, looked up as an own property: a genome read from JSON may say "constructor" or
 * "toString", which `config.stages[type]` would find on Object.prototype (a function without `params`).
 */
function stageDef(config: PipelineSpaceConfig, type: string): PipelineSpaceConfig['stages'][string] | undefined {
  return Object.hasOwn(config.stages, type) ? config.stages[type] : undefined;
}

/** Every problem with `genome` (which may be any JSON value) under `config`. */
export function validatePipeline(config: PipelineSpaceConfig, genome: unknown): ValidationResult {
  const out: Violation[] = [];
  if (!isRecord(genome) || !Array.isArray(genome['stages'])) {
    return {
      valid: false,
      violations: [{ rule: 'schema', path: 'stages', message: 'a genome is { stages: Stage[] }' }],
    };
  }
  const stages = genome['stages'] as unknown[];
  let schemaOk = true;
  stages.forEach((raw, i) => {
    const at = `stages[${i}]`;
    if (!isRecord(raw) || typeof raw['type'] !== 'string' || !isRecord(raw['params'])) {
      out.push({ rule: 'schema', path: at, message: 'a stage is { type: string, params: object }' });
      schemaOk = false;
      return;
    }
    const def = stageDef(config, raw['type']);
    if (!def) {
      out.push({
        rule: 'schema',
        path: `${at}.type`,
        message: `unknown stage type "${raw['type']}" (known: ${Object.keys(config.stages).join(', ')})`,
      });
      schemaOk = false;
      return;
    }
    const params = raw['params'];
    for (const [name, spec] of Object.entries(def.params)) {
      const problem = Object.hasOwn(params, name) ? paramProblem(spec, params[name]) : 'missing';
      if (problem) {
        out.push({ rule: 'schema', path: `${at}.params.${name}`, message: problem });
        schemaOk = false;
      }
    }
    for (const name of Object.keys(params)) {
      if (!Object.hasOwn(def.params, name)) {
        out.push({ rule: 'schema', path: `${at}.params.${name}`, message: `unknown parameter of ${raw['type']}` });
        schemaOk = false;
      }
    }
  });
  if (stages.length < config.minStages || stages.length > config.maxStages) {
    out.push({
      rule: 'length',
      path: 'stages',
      message: `${stages.length} stages; allowed ${config.minStages}–${config.maxStages}`,
    });
  }
  if (!schemaOk) return { valid: false, violations: out };
  const typed = stages as Stage[];
  out.push(...countViolations(config, typed));
  for (const rule of config.rules) out.push(...rule.check(typed));
  return { valid: out.length === 0, violations: out };
}

function countViolations(config: PipelineSpaceConfig, stages: readonly Stage[]): Violation[] {
  const counts = new Map<string, number>();
  const out: Violation[] = [];
  stages.forEach((s, i) => {
    const n = (counts.get(s.type) ?? 0) + 1;
    counts.set(s.type, n);
    const max = stageDef(config, s.type)?.maxCount;
    if (max !== undefined && n > max)
      out.push({ rule: 'maxCount', path: `stages[${i}]`, message: `more than ${max} ${s.type} stages` });
  });
  return out;
}

/** The stage with unknown parameters dropped, missing ones defaulted and values brought into range. */
function repairStage(config: PipelineSpaceConfig, raw: Record<string, unknown>): Stage | undefined {
  const type = raw['type'];
  if (typeof type !== 'string') return undefined;
  const def = stageDef(config, type);
  if (!def) return undefined;
  const given = isRecord(raw['params']) ? raw['params'] : {};
  const params: Record<string, ParamValue> = {};
  for (const [name, spec] of Object.entries(def.params)) {
    params[name] = Object.hasOwn(given, name) ? repairParam(spec, given[name]) : defaultParam(spec);
  }
  return { type, params };
}

/** A stage of the first type (in config order) with default parameters, used to fill too-short pipelines. */
function defaultStage(config: PipelineSpaceConfig): Stage {
  const [type, def] = Object.entries(config.stages)[0] as [string, (typeof config.stages)[string]];
  const params: Record<string, ParamValue> = {};
  for (const [name, spec] of Object.entries(def.params)) params[name] = defaultParam(spec);
  return { type, params };
}

const MAX_REPAIR_PASSES = 20;

/** The nearest valid genome; `genome` may be any JSON value. Never modifies its input. */
export function repairPipeline(config: PipelineSpaceConfig, genome: unknown): PipelineGenome {
  const raw = isRecord(genome) && Array.isArray(genome['stages']) ? (genome['stages'] as unknown[]) : [];
  let stages: Stage[] = [];
  for (const r of raw) {
    const s = isRecord(r) ? repairStage(config, r) : undefined;
    if (s) stages.push(s);
  }
  for (let pass = 0; pass < MAX_REPAIR_PASSES; pass++) {
    const counts = new Map<string, number>();
    stages = stages.filter((s) => {
      const n = (counts.get(s.type) ?? 0) + 1;
      counts.set(s.type, n);
      return n <= (stageDef(config, s.type)?.maxCount ?? Infinity);
    });
    for (const rule of config.rules) stages = rule.repair(stages);
    if (stages.length > config.maxStages) stages = stages.slice(0, config.maxStages);
    while (stages.length < config.minStages) stages.push(defaultStage(config));
    if (countViolations(config, stages).length === 0 && config.rules.every((r) => r.check(stages).length === 0)) break;
  }
  return { stages };
}
