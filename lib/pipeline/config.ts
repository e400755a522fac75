/**
 * A search's whole configuration as plain JSON: stored in the study file so `petra resume` rebuilds the same search,
 * and checked up front so a bad configuration fails before anything is loaded, trained or written.
 */
import { ConfigError } from '../core/errors.js';
import { TASKS } from '../tasks/index.js';
import {
  checkConstraints,
  OBJECTIVE_KEYS,
  parseObjectives,
  QUALITY_METRICS,
  type ConstraintInput,
  type ObjectiveKey,
  type QualityMetric,
} from './objectives.js';

/** When the search stops: whichever limit is reached first (at least one is needed). */
export interface Budget {
  readonly evaluations?: number;
  readonly timeMs?: number;
  readonly generations?: number;
}

const TIME_UNITS: Record<string, number> = { s: 1e3, sec: 1e3, m: 60e3, min: 60e3, h: 3600e3 };

/** `30m`, `90s`, `1.5h`, `200evals`, `200` (evaluations), `5gen`, or several joined by commas: `10m,50evals`. */
export function parseBudget(text: string): Budget {
  const out: { evaluations?: number; timeMs?: number; generations?: number } = {};
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new ConfigError(`'${text}' is not a budget (e.g. 30m, 200evals, 5gen)`, 'budget');
  for (const part of parts) {
    const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(part);
    if (!m) throw new ConfigError(`'${part}' is not a budget (e.g. 30m, 90s, 1h, 200evals, 5gen)`, 'budget');
    const value = Number(m[1]);
    const unit = (m[2] ?? '').toLowerCase();
    if (!(value > 0)) throw new ConfigError(`'${part}': a budget must be positive`, 'budget');
    if (unit === '' || /^(evals?|evaluations?|trials?)$/.test(unit)) {
      if (!Number.isInteger(value)) throw new ConfigError(`'${part}': evaluations must be a whole number`, 'budget');
      out.evaluations = value;
    } else if (/^(gens?|generations?)$/.test(unit)) {
      if (!Number.isInteger(value)) throw new ConfigError(`'${part}': generations must be a whole number`, 'budget');
      out.generations = value;
    } else {
      // hasOwn: 'constructor' is not a unit (a plain lookup finds Object.prototype.constructor and gives NaN)
      const scale = Object.hasOwn(TIME_UNITS, unit) ? TIME_UNITS[unit]! : undefined;
      if (scale === undefined)
        throw new ConfigError(`'${part}': unknown budget unit '${unit}' (s, m, h, evals, gen)`, 'budget');
      out.timeMs = value * scale;
      if (!Number.isFinite(out.timeMs)) throw new ConfigError(`'${part}': too long a time budget`, 'budget');
    }
  }
  return out;
}

export function describeBudget(b: Budget): string {
  const parts: string[] = [];
  if (b.timeMs !== undefined)
    parts.push(b.timeMs % 60e3 === 0 ? `${b.timeMs / 60e3} min` : `${(b.timeMs / 1e3).toFixed(0)} s`);
  if (b.evaluations !== undefined) parts.push(`${b.evaluations} evaluations`);
  if (b.generations !== undefined) parts.push(`${b.generations} generations`);
  return parts.join(' or ');
}

/** The user's own data. Paths are stored as given, resolved against the working directory. */
export type UserData =
  /** A directory with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-… (MNIST layout). */
  | { readonly format: 'idx'; readonly path: string }
  /** `<dir>/<Name>_TRAIN.ts` (the TEST file beside it), or the directory plus `name`. */
  | { readonly format: 'ucr'; readonly path: string; readonly name?: string }
  | {
      readonly format: 'csv';
      readonly path: string;
      readonly target: string;
      readonly kind: 'classification' | 'regression';
      readonly testFraction?: number;
    };

/** Data subsets, for quick searches and tests: the first n rows (after a seeded shuffle) of each split. */
export interface DataLimits {
  readonly train?: number;
  readonly val?: number;
  readonly test?: number;
}

export interface FinetuneSettings {
  /** Training rows each fine-tune uses (a seeded subset of train; default all). */
  readonly samples?: number;
  /** Validation rows the fine-tunes' early stopping watches (default all of val). */
  readonly valSamples?: number;
  /** Cap on the epochs of any training stage, whatever the genome says. */
  readonly maxEpochs: number;
  /** Patience (epochs without validation improvement) of the training-level early stopping. */
  readonly patience: number;
}

export interface MeasureSettings {
  /** Per batch size, for latency (batch 1) and throughput (batch 64). */
  readonly timeCapMs: number;
  readonly latencyBatch: number;
  readonly throughputBatch: number;
  /** Timing repeats per candidate; the fastest median is kept (the least disturbed by other work). */
  readonly repeats: number;
}

export interface SearchConfig {
  readonly name: string;
  /** A built-in task name, or 'custom' with `data`. */
  readonly task: string;
  readonly data?: UserData;
  /** A builder name (small-cnn, resnet8, resnet20, inception-time, cnn1d, mlp) or a path to a spec JSON. */
  readonly model?: string;
  readonly metric?: QualityMetric;
  readonly objectives: readonly ObjectiveKey[];
  readonly constraints: ConstraintInput;
  readonly budget: Budget;
  readonly population: number;
  readonly seed: number;
  readonly device: string;
  readonly selector: 'nsga2' | 'spea2';
  /**
   * 'generational' (default; the same seed gives the same study) or 'steady-state' (asynchronous: no generation
   * barrier, for many workers on a queue). See StudyOptions.schedule.
   */
  readonly schedule?: 'generational' | 'steady-state';
  /** Candidates evaluated at once (measurements are serialized whatever this is). */
  readonly concurrency: number;
  /** Stop after this many generations without hypervolume gain (the seed's rule; default 10). */
  readonly stallGenerations: number;
  readonly limits: DataLimits;
  readonly finetune: FinetuneSettings;
  readonly measure: MeasureSettings;
  /** Stage types the search may use (default all). */
  readonly stages?: readonly string[];
  /** Start generation 0 with a few known-good pipelines (prune → quantize, …) besides random ones. */
  readonly seedPipelines: boolean;
  /** Baseline epochs (default: the task's recipe). */
  readonly baselineEpochs?: number;
  /** Where the baseline cache lives (default petra-out/cache). */
  readonly cacheDir?: string;
}

export const STAGE_TYPES = ['train', 'prune', 'lowrank', 'quantize', 'regularize'] as const;

export const DEFAULT_FINETUNE: FinetuneSettings = { maxEpochs: 3, patience: 2 };
export const DEFAULT_MEASURE: MeasureSettings = { timeCapMs: 1000, latencyBatch: 1, throughputBatch: 64, repeats: 2 };

/**
 * Per-task defaults for the fine-tunes (users' settings override them): big image and sequence sets fine-tune on a
 * seeded subset so a candidate costs seconds, not minutes; small UCR sets use all rows but need more epochs.
 */
export const TASK_FINETUNE_DEFAULTS: Readonly<Record<string, Partial<FinetuneSettings>>> = {
  'fashion-mnist': { samples: 20_000, valSamples: 3_000, maxEpochs: 3 },
  'fashion-mnist-resnet': { samples: 10_000, valSamples: 2_000, maxEpochs: 2 },
  transactions: { samples: 8_000, valSamples: 1_200, maxEpochs: 3 },
  gunpoint: { maxEpochs: 30, patience: 6 },
  basicmotions: { maxEpochs: 30, patience: 6 },
  tecator: { maxEpochs: 30, patience: 6 },
  covid3month: { maxEpochs: 30, patience: 6 },
};

/** What users may leave out. */
export type SearchConfigInput = Partial<Omit<SearchConfig, 'objectives' | 'budget' | 'finetune' | 'measure'>> & {
  readonly objectives?: readonly ObjectiveKey[] | string;
  readonly budget?: Budget | string;
  readonly finetune?: Partial<FinetuneSettings>;
  readonly measure?: Partial<MeasureSettings>;
};

function posInt(v: unknown, path: string, min = 1): void {
  if (!(Number.isInteger(v) && (v as number) >= min))
    throw new ConfigError(`must be an integer ≥ ${min}, got ${String(v)}`, path);
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Fills defaults and checks everything that can be checked without data; throws ConfigError naming the problem. */
export function normalizeConfig(input: SearchConfigInput): SearchConfig {
  // The input may come from a study file or a JSON config: check shapes before using them.
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new ConfigError('a search configuration must be an object', 'config');
  const task = input.task ?? (input.data ? 'custom' : 'fashion-mnist');
  if (typeof task !== 'string') throw new ConfigError(`must be a task name, got ${JSON.stringify(task)}`, 'task');
  // hasOwn: 'constructor' or 'toString' are found on every object but are not tasks.
  if (task !== 'custom' && !Object.hasOwn(TASKS, task))
    throw new ConfigError(
      `unknown task '${task}'; known: ${Object.keys(TASKS).join(', ')} (or bring your own data with --data)`,
      'task',
    );
  if (task === 'custom' && !input.data) throw new ConfigError(`task 'custom' needs data (--data <path>)`, 'data');
  if (input.data) checkUserData(input.data);
  const objectivesOk =
    input.objectives === undefined ||
    typeof input.objectives === 'string' ||
    (Array.isArray(input.objectives) && input.objectives.every((o) => typeof o === 'string'));
  if (!objectivesOk)
    throw new ConfigError('must be a comma-separated string or an array of objective names', 'objectives');
  for (const key of ['model', 'cacheDir', 'name'] as const) {
    if (input[key] !== undefined && typeof input[key] !== 'string')
      throw new ConfigError(`must be a string, got ${JSON.stringify(input[key])}`, key);
  }
  if (
    input.stages !== undefined &&
    !(Array.isArray(input.stages) && input.stages.every((s) => typeof s === 'string'))
  ) {
    throw new ConfigError('must be an array of stage type names', 'stages');
  }
  const objectives =
    typeof input.objectives === 'string' || input.objectives === undefined
      ? parseObjectives(input.objectives ?? 'metric,latency,size')
      : parseObjectives(input.objectives as string[]);
  for (const o of objectives)
    if (!OBJECTIVE_KEYS.includes(o)) throw new ConfigError(`unknown objective '${String(o)}'`, 'objectives');
  if (input.metric !== undefined && !QUALITY_METRICS.includes(input.metric)) {
    throw new ConfigError(`unknown metric '${String(input.metric)}'; known: ${QUALITY_METRICS.join(', ')}`, 'metric');
  }
  const budget = typeof input.budget === 'string' ? parseBudget(input.budget) : (input.budget ?? { evaluations: 40 });
  if (budget.evaluations === undefined && budget.timeMs === undefined && budget.generations === undefined) {
    throw new ConfigError('the budget needs evaluations, a time or generations', 'budget');
  }
  if (budget.evaluations !== undefined) posInt(budget.evaluations, 'budget.evaluations');
  if (budget.generations !== undefined) posInt(budget.generations, 'budget.generations');
  if (budget.timeMs !== undefined && !(budget.timeMs > 0 && Number.isFinite(budget.timeMs)))
    throw new ConfigError('must be > 0', 'budget.timeMs');
  const constraints = input.constraints ?? {};
  checkConstraints(constraints, input.metric ?? 'accuracy');
  const population = input.population ?? 8;
  posInt(population, 'population', 2);
  const seed = input.seed ?? 1;
  if (!Number.isInteger(seed)) throw new ConfigError(`must be an integer, got ${String(seed)}`, 'seed');
  const device = input.device ?? 'cpu';
  if (!/^(cpu|cuda(:\d+)?)$/.test(device))
    throw new ConfigError(`'${device}' is not a device (cpu, cuda, cuda:N)`, 'device');
  const selector = input.selector ?? 'nsga2';
  if (selector !== 'nsga2' && selector !== 'spea2')
    throw new ConfigError(`unknown selector '${String(selector)}' (nsga2, spea2)`, 'selector');
  const schedule = input.schedule ?? 'generational';
  if (schedule !== 'generational' && schedule !== 'steady-state')
    throw new ConfigError(`unknown schedule '${String(schedule)}' (generational, steady-state)`, 'schedule');
  const concurrency = input.concurrency ?? 1;
  posInt(concurrency, 'concurrency');
  const stallGenerations = input.stallGenerations ?? 10;
  posInt(stallGenerations, 'stallGenerations');
  const limits = input.limits ?? {};
  for (const [k, v] of Object.entries(limits)) if (v !== undefined) posInt(v, `limits.${k}`, 2);
  const finetune = { ...DEFAULT_FINETUNE, ...TASK_FINETUNE_DEFAULTS[task], ...stripUndefined(input.finetune ?? {}) };
  posInt(finetune.maxEpochs, 'finetune.maxEpochs');
  posInt(finetune.patience, 'finetune.patience');
  if (finetune.samples !== undefined) posInt(finetune.samples, 'finetune.samples', 2);
  if (finetune.valSamples !== undefined) posInt(finetune.valSamples, 'finetune.valSamples', 2);
  const measure = { ...DEFAULT_MEASURE, ...input.measure };
  if (!(measure.timeCapMs > 0)) throw new ConfigError('must be > 0', 'measure.timeCapMs');
  posInt(measure.latencyBatch, 'measure.latencyBatch');
  posInt(measure.throughputBatch, 'measure.throughputBatch');
  posInt(measure.repeats, 'measure.repeats');
  if (input.stages) {
    if (input.stages.length === 0) throw new ConfigError('give at least one stage type', 'stages');
    for (const s of input.stages) {
      if (!(STAGE_TYPES as readonly string[]).includes(s))
        throw new ConfigError(`unknown stage type '${s}'; known: ${STAGE_TYPES.join(', ')}`, 'stages');
    }
  }
  if (input.baselineEpochs !== undefined) posInt(input.baselineEpochs, 'baselineEpochs');
  const name = input.name ?? `${task}-${timestamp()}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name))
    throw new ConfigError(`'${name}' is not a study name (letters, digits, . _ -)`, 'name');
  return {
    name,
    task,
    ...(input.data ? { data: input.data } : {}),
    ...(input.model ? { model: input.model } : {}),
    ...(input.metric ? { metric: input.metric } : {}),
    objectives,
    constraints,
    budget,
    population,
    seed,
    device,
    selector,
    ...(schedule !== 'generational' ? { schedule } : {}),
    concurrency,
    stallGenerations,
    limits,
    finetune,
    measure,
    ...(input.stages ? { stages: [...input.stages] } : {}),
    seedPipelines: input.seedPipelines ?? true,
    ...(input.baselineEpochs !== undefined ? { baselineEpochs: input.baselineEpochs } : {}),
    ...(input.cacheDir ? { cacheDir: input.cacheDir } : {}),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkUserData(d: UserData): void {
  if (!d || typeof d !== 'object' || !['idx', 'ucr', 'csv'].includes(d.format)) {
    throw new ConfigError(`data.format must be idx, ucr or csv`, 'data.format');
  }
  if (typeof d.path !== 'string' || d.path.length === 0) throw new ConfigError('data.path is missing', 'data.path');
  if (d.format === 'csv') {
    if (!d.target) throw new ConfigError('CSV data needs the target column (--target <column>)', 'data.target');
    if (d.kind !== 'classification' && d.kind !== 'regression')
      throw new ConfigError('CSV data needs --kind classification|regression', 'data.kind');
  }
}

/** Guesses the format from a path: `.ts` → UCR, `.csv` → CSV, a directory → IDX (or UCR when it holds *_TRAIN.ts). */
export function inferDataFormat(path: string): 'idx' | 'ucr' | 'csv' | undefined {
  if (/\.ts$/i.test(path)) return 'ucr';
  if (/\.(csv|tsv)$/i.test(path)) return 'csv';
  return undefined;
}
