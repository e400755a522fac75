/**
 * The declarative pipeline search space: stage types with parameter specs, length limits, validity rules and
 * operator probabilities. Plain data, so users narrow ranges or add a stage type without touching the core.
 */
import { ConfigError } from '../core/errors.js';
import { checkSpec, type ParamSpec } from '../search/params.js';
import { builtinRules, type ValidityRule } from './rules.js';

export interface StageDef {
  readonly params: Readonly<Record<string, ParamSpec>>;
  /** Most copies of this stage type in one pipeline (default: no limit). */
  readonly maxCount?: number;
  /** Relative weight when a stage type is drawn at random (default 1). */
  readonly weight?: number;
}

/** Relative weights of the mutation operators; one operator is applied per mutation. */
export interface MutationWeights {
  /** Gaussian change of numbers / resampling of categories, on one stage. */
  readonly param: number;
  readonly insert: number;
  readonly delete: number;
  /** Replace a stage's type (with freshly sampled parameters). */
  readonly replace: number;
  /** Swap two adjacent stages. */
  readonly swap: number;
}

export interface PipelineSpaceConfig {
  readonly stages: Readonly<Record<string, StageDef>>;
  readonly minStages: number;
  readonly maxStages: number;
  /** Length range of randomly sampled pipelines. */
  readonly sampleStages: { readonly min: number; readonly max: number };
  readonly rules: readonly ValidityRule[];
  readonly mutation: MutationWeights;
  /** Probability of the one-point cut in crossover (the uniform parameter exchange always happens). */
  readonly onePointProbability: number;
  /** Probability of exchanging each parameter of a shared stage in crossover. */
  readonly uniformSwapProbability: number;
}

const epochs = (min: number, max: number): ParamSpec => ({ kind: 'int', min, max });
const weight = (max: number): ParamSpec => ({ kind: 'float', min: 0, max });

export const BUILTIN_STAGES = {
  train: {
    params: {
      epochs: epochs(1, 30),
      lr: { kind: 'float', min: 1e-5, max: 1e-1, log: true, default: 1e-3 },
      optimizer: { kind: 'categorical', choices: ['sgd', 'adam', 'adamw'], default: 'adam' },
      schedule: { kind: 'categorical', choices: ['constant', 'cosine', 'step'], default: 'cosine' },
      batchSize: { kind: 'categorical', choices: [16, 32, 64, 128, 256], default: 64 },
    },
    maxCount: 2,
  },
  prune: {
    params: {
      criterion: { kind: 'categorical', choices: ['l1', 'l2', 'bn_scale', 'taylor', 'random'], default: 'l1' },
      ratio: { kind: 'float', min: 0.05, max: 0.95, default: 0.5 },
      scope: { kind: 'categorical', choices: ['global', 'layerwise'], default: 'layerwise' },
      roundTo: { kind: 'categorical', choices: [1, 4, 8, 16], default: 8 },
      steps: { kind: 'int', min: 1, max: 5, default: 1 },
      finetuneEpochs: epochs(0, 10),
    },
    maxCount: 2,
  },
  lowrank: {
    params: {
      rule: {
        kind: 'categorical',
        choices: ['energy', 'explained_variance', 'fixed_ratio'],
        default: 'explained_variance',
      },
      threshold: { kind: 'float', min: 0.3, max: 0.99, default: 0.8 },
      roundTo: { kind: 'categorical', choices: [1, 4, 8, 16], default: 4 },
      orthogonalityWeight: weight(10),
      hoyerWeight: weight(10),
      finetuneEpochs: epochs(0, 10),
    },
    maxCount: 1,
  },
  quantize: {
    params: {
      mode: { kind: 'categorical', choices: ['dynamic', 'static', 'qat'], default: 'dynamic' },
      perChannel: { kind: 'categorical', choices: [true, false], default: true },
      calibrationBatches: { kind: 'int', min: 1, max: 64, default: 16 },
      qatEpochs: epochs(1, 10),
      backend: { kind: 'categorical', choices: ['onednn', 'qnnpack', 'cuda'], default: 'onednn' },
    },
    maxCount: 3,
  },
  regularize: {
    params: { hoyer: weight(10), orthogonality: weight(10), l1: { kind: 'float', min: 0, max: 0.01 } },
    maxCount: 2,
    weight: 0.5,
  },
} as const satisfies Record<string, StageDef>;

export function defaultPipelineSpaceConfig(): PipelineSpaceConfig {
  return {
    stages: BUILTIN_STAGES,
    minStages: 1,
    maxStages: 6,
    sampleStages: { min: 1, max: 4 },
    rules: builtinRules,
    mutation: { param: 0.5, insert: 0.15, delete: 0.15, replace: 0.1, swap: 0.1 },
    onePointProbability: 0.8,
    uniformSwapProbability: 0.5,
  };
}

/** Per-stage, per-parameter replacement specs, e.g. `{ prune: { ratio: { kind: 'float', min: 0.3, max: 0.7 } } }`. */
export type SpaceOverrides = Readonly<Record<string, Readonly<Record<string, ParamSpec>>>>;

/** A copy of `config` with some parameter specs replaced (narrowed ranges, fewer choices). */
export function narrowSpace(config: PipelineSpaceConfig, overrides: SpaceOverrides): PipelineSpaceConfig {
  // Overrides may come from a JSON file: check their shape instead of letting Object.entries(null) throw a TypeError.
  if (!isRecord(overrides)) throw new ConfigError('overrides must be an object of stage types', 'stages');
  const stages: Record<string, StageDef> = { ...config.stages };
  for (const [type, params] of Object.entries(overrides)) {
    // hasOwn, not `stages[type]`: "constructor" or "toString" would be found on Object.prototype.
    const def = Object.hasOwn(stages, type) ? stages[type] : undefined;
    if (!def) throw new ConfigError(`unknown stage type "${type}"`, `stages.${type}`);
    if (!isRecord(params)) throw new ConfigError('must be an object of parameter specs', `stages.${type}`);
    for (const name of Object.keys(params)) {
      if (!Object.hasOwn(def.params, name))
        throw new ConfigError(`stage "${type}" has no parameter "${name}"`, `stages.${type}.${name}`);
      checkSpecShape(params[name], `stages.${type}.${name}`);
    }
    stages[type] = { ...def, params: { ...def.params, ...params } };
  }
  return { ...config, stages };
}

/** A copy of `config` with a stage type added (or replaced), plus any rules it brings. */
export function withStage(
  config: PipelineSpaceConfig,
  type: string,
  def: StageDef,
  rules: readonly ValidityRule[] = [],
): PipelineSpaceConfig {
  return { ...config, stages: { ...config.stages, [type]: def }, rules: [...config.rules, ...rules] };
}

/** A copy of `config` without some stage types (e.g. search without quantization). */
export function withoutStages(config: PipelineSpaceConfig, ...types: string[]): PipelineSpaceConfig {
  const stages: Record<string, StageDef> = { ...config.stages };
  for (const t of types) delete stages[t];
  return { ...config, stages };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): boolean => typeof v === 'number';

/**
 * The structural part of a parameter spec (an object with a known kind, numeric bounds or a choices array), checked
 * before `checkSpec`, which assumes it (a `null` spec or one without `choices` would be a TypeError there).
 */
function checkSpecShape(spec: unknown, path: string): void {
  if (!isRecord(spec)) throw new ConfigError('a parameter spec must be an object { kind, ... }', path);
  if (spec['kind'] === 'categorical') {
    const choices = spec['choices'];
    if (
      !Array.isArray(choices) ||
      !Array.from(choices).every((c) => ['number', 'string', 'boolean'].includes(typeof c))
    ) {
      throw new ConfigError('choices must be an array of numbers, strings or booleans', `${path}.choices`);
    }
    return;
  }
  if (spec['kind'] !== 'float' && spec['kind'] !== 'int')
    throw new ConfigError(`kind must be 'float', 'int' or 'categorical'`, `${path}.kind`);
  if (!isNumber(spec['min']) || !isNumber(spec['max'])) throw new ConfigError('min and max must be numbers', path);
  if (spec['log'] !== undefined && typeof spec['log'] !== 'boolean')
    throw new ConfigError('log must be a boolean', `${path}.log`);
  if (spec['default'] !== undefined && !isNumber(spec['default']))
    throw new ConfigError('default must be a number', `${path}.default`);
}

export function checkConfig(config: PipelineSpaceConfig): void {
  if (!isRecord(config) || !isRecord(config.stages))
    throw new ConfigError('stages must be an object of stage types', 'stages');
  const types = Object.keys(config.stages);
  if (types.length === 0) throw new ConfigError('the space has no stage types', 'stages');
  for (const t of types) {
    const def = config.stages[t] as StageDef;
    if (!isRecord(def) || !isRecord(def.params))
      throw new ConfigError('a stage type must be an object { params: { ... } }', `stages.${t}`);
    for (const [name, spec] of Object.entries(def.params)) {
      checkSpecShape(spec, `stages.${t}.${name}`);
      checkSpec(spec, `stages.${t}.${name}`);
    }
    if (def.maxCount !== undefined && !(def.maxCount >= 1))
      throw new ConfigError('maxCount must be ≥ 1', `stages.${t}.maxCount`);
  }
  if (!(Number.isInteger(config.minStages) && config.minStages >= 1))
    throw new ConfigError('minStages must be an integer ≥ 1', 'minStages');
  if (!(Number.isInteger(config.maxStages) && config.maxStages >= config.minStages)) {
    throw new ConfigError('maxStages must be an integer ≥ minStages', 'maxStages');
  }
  if (!Array.isArray(config.rules)) throw new ConfigError('rules must be an array', 'rules');
  const { min, max } = isRecord(config.sampleStages) ? config.sampleStages : { min: NaN, max: NaN };
  if (!(min >= 1 && max >= min)) throw new ConfigError('sampleStages must satisfy 1 ≤ min ≤ max', 'sampleStages');
}
