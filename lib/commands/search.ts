/**
 * `petra search`: CLI flags → `search()` options, then the study runs with progress and prints its Pareto front
 * (shared/study-run.ts, as for `petra demo` and `petra resume`).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError } from '../core/errors.js';
import { inferDataFormat, type UserData } from '../pipeline/config.js';
import {
  parseLatency,
  parseMetricBound,
  parseMetricDrop,
  parseSize,
  parseThroughput,
  type ConstraintInput,
  type QualityMetric,
} from '../pipeline/objectives.js';
import { MODEL_BUILDERS } from '../pipeline/problem.js';
import { search, type SearchOptions } from '../api/search.js';
import { TASKS } from '../tasks/index.js';
import type { CliContext } from './shared/command.js';
import { addFlags, DEVICE, REPORT, SEED, STUDY_OUTPUT, STUDY_STORE, type Flag } from './shared/flags.js';
import { applyMemoryCap, reportDirs, runHandle, type OutputOptions } from './shared/study-run.js';

export interface SearchCommandOptions extends OutputOptions {
  task?: string;
  model?: string;
  data?: string;
  dataFormat?: string;
  target?: string;
  kind?: string;
  metric?: string;
  objectives: string;
  budget: string;
  population: string;
  seed: string;
  device: string;
  selector: string;
  concurrency: string;
  stall?: string;
  name?: string;
  studyDir: string;
  cacheDir?: string;
  maxLatency?: string;
  minLatency?: string;
  maxSize?: string;
  minSize?: string;
  minThroughput?: string;
  maxThroughput?: string;
  maxMetricDrop?: string;
  minMetric?: string;
  maxMetric?: string;
  limitTrain?: string;
  limitVal?: string;
  limitTest?: string;
  finetuneSamples?: string;
  finetuneVal?: string;
  maxEpochs?: string;
  baselineEpochs?: string;
  timeCap?: string;
  stages?: string;
  seedPipelines?: boolean;
  queue?: string;
  schedule?: string;
  /** --min-free <MiB>: free space the study, cache and report directories need before the search starts. */
  minFree?: string;
}

const FLAGS: readonly Flag[] = [
  ['--task <task>', `built-in task: ${Object.keys(TASKS).join(' | ')} (default fashion-mnist; 'custom' with --data)`],
  [
    '--model <model>',
    `a spec JSON file, a TorchScript .pt file or a builder: ${MODEL_BUILDERS.join(' | ')} (default: the task's)`,
  ],
  [
    '--data <path>',
    "your data: an IDX directory, a UCR *_TRAIN.ts file or a CSV (or a built-in task's data directory)",
  ],
  ['--data-format <format>', 'idx | ucr | csv (default: from the path)'],
  ['--target <column>', 'CSV: the target column'],
  ['--kind <kind>', 'CSV: classification | regression'],
  ['--metric <metric>', 'quality metric: accuracy | macroF1 (classification), rmse | mae (regression)'],
  ['--objectives <list>', 'any of metric, latency, throughput, size', 'metric,latency,size'],
  ['--max-latency <t>', 'constraint, e.g. 2ms, 500us or 70% (of the baseline)'],
  ['--min-latency <t>', 'constraint (rarely useful)'],
  ['--max-size <s>', 'constraint, e.g. 200kB, 1.5MB or 25%'],
  ['--min-size <s>', 'constraint'],
  ['--min-throughput <r>', 'constraint, samples/s or % of the baseline'],
  ['--max-throughput <r>', 'constraint'],
  ['--max-metric-drop <pts>', 'quality loss vs the baseline: points of accuracy/F1, % of RMSE/MAE'],
  ['--min-metric <v>', 'absolute lower bound on the metric'],
  ['--max-metric <v>', 'absolute upper bound on the metric'],
  ['--budget <budget>', 'e.g. 30m, 200evals, 10gen or 30m,200evals', '40evals'],
  ['--population <n>', 'population size', '8'],
  SEED,
  DEVICE,
  ['--selector <name>', 'nsga2 | spea2', 'nsga2'],
  [
    '--schedule <schedule>',
    'generational (same seed, same study) | steady-state (no generation barrier: for many --queue workers)',
  ],
  ['--concurrency <n>', 'candidates evaluated at once (timing is always serialized)', '1'],
  ['--stall <n>', 'stop after n generations without hypervolume gain', '10'],
  ['--name <name>', 'study name (default <task>-<date>-<time>)'],
  ...STUDY_STORE,
  ['--stages <list>', 'stage types to use: train, prune, lowrank, quantize, regularize (default all)'],
  ['--no-seed-pipelines', 'start from random pipelines only'],
  ['--limit-train <n>', 'use n training rows (a seeded subset)'],
  ['--limit-val <n>', 'use n validation rows'],
  ['--limit-test <n>', 'measure on n test rows'],
  ['--finetune-samples <n>', 'training rows per fine-tune'],
  ['--finetune-val <n>', 'validation rows early stopping watches'],
  ['--max-epochs <n>', "cap on any stage's fine-tune epochs", '3'],
  ['--baseline-epochs <n>', "baseline epochs (default: the task's recipe)"],
  ['--time-cap <ms>', 'timing cap per batch size when measuring'],
  [
    '--queue <url>',
    'evaluate candidates on `petra worker`s through BullMQ on this Redis (redis://host:6379, rediss:// for TLS)',
  ],
  [
    '--cpu-memory-cap <MiB>',
    'tensor memory this process may hold on the CPU; a candidate beyond it fails as out of memory',
  ],
  [
    '--min-free <MiB>',
    'free disk space the study, cache and report directories need before the search starts (default 64)',
  ],
  ...REPORT,
  ...STUDY_OUTPUT,
];

export function registerSearch(program: Command, ctx: CliContext): void {
  const command = program
    .command('search')
    .description(
      'evolve compression pipelines for a task and model; ranks them on a Pareto front of measured objectives',
    );
  addFlags(command, FLAGS).action(ctx.withCode(runSearchCommand));
}

function int(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new ConfigError(`'${value}' is not a whole number`, flag);
  return n;
}

function userData(o: SearchCommandOptions): UserData | undefined {
  if (!o.data) return undefined;
  // With a built-in task, --data is where that task's files are.
  if (o.task && o.task !== 'custom' && !o.dataFormat) return { format: 'idx', path: o.data };
  const format =
    o.dataFormat ??
    inferDataFormat(o.data) ??
    (existsSync(o.data) && statSync(o.data).isDirectory() && readdirSync(o.data).some((f) => f.endsWith('_TRAIN.ts'))
      ? 'ucr'
      : 'idx');
  switch (format) {
    case 'idx':
      return { format: 'idx', path: o.data };
    case 'ucr':
      return { format: 'ucr', path: o.data };
    case 'csv':
      if (!o.target) throw new ConfigError('CSV data needs --target <column>', 'target');
      if (o.kind !== 'classification' && o.kind !== 'regression')
        throw new ConfigError('CSV data needs --kind classification|regression', 'kind');
      return { format: 'csv', path: o.data, target: o.target, kind: o.kind };
    default:
      throw new ConfigError(`unknown data format '${String(format)}' (idx, ucr, csv)`, 'data-format');
  }
}

export function constraintsFrom(o: SearchCommandOptions): ConstraintInput {
  const c: Record<string, unknown> = {};
  if (o.maxLatency) c['maxLatency'] = parseLatency(o.maxLatency, 'max-latency');
  if (o.minLatency) c['minLatency'] = parseLatency(o.minLatency, 'min-latency');
  if (o.maxSize) c['maxSize'] = parseSize(o.maxSize, 'max-size');
  if (o.minSize) c['minSize'] = parseSize(o.minSize, 'min-size');
  if (o.minThroughput) c['minThroughput'] = parseThroughput(o.minThroughput, 'min-throughput');
  if (o.maxThroughput) c['maxThroughput'] = parseThroughput(o.maxThroughput, 'max-throughput');
  if (o.maxMetricDrop) c['maxMetricDrop'] = parseMetricDrop(o.maxMetricDrop);
  if (o.minMetric) c['minMetric'] = parseMetricBound(o.minMetric, 'min-metric');
  if (o.maxMetric) c['maxMetric'] = parseMetricBound(o.maxMetric, 'max-metric');
  return c as ConstraintInput;
}

/** The options `search()` gets from the command line. */
export function searchOptionsFrom(o: SearchCommandOptions): SearchOptions {
  const data = userData(o);
  const task = o.task ?? (data ? 'custom' : undefined);
  const limits = {
    train: int(o.limitTrain, 'limit-train'),
    val: int(o.limitVal, 'limit-val'),
    test: int(o.limitTest, 'limit-test'),
  };
  const finetune = {
    samples: int(o.finetuneSamples, 'finetune-samples'),
    valSamples: int(o.finetuneVal, 'finetune-val'),
    maxEpochs: int(o.maxEpochs, 'max-epochs'),
  };
  const strip = <T extends object>(x: T): T =>
    Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) as T;
  const timeCap = o.timeCap !== undefined ? Number(o.timeCap) : undefined;
  const minFree = o.minFree !== undefined ? Number(o.minFree) : undefined;
  if (minFree !== undefined && !(minFree >= 0))
    throw new ConfigError(`'${o.minFree}' is not a number of MiB ≥ 0`, 'min-free');
  if (timeCap !== undefined && !(timeCap > 0))
    throw new ConfigError(`'${o.timeCap}' is not a positive number of milliseconds`, 'time-cap');
  return strip({
    ...(task ? { task } : {}),
    ...(data ? { data } : {}),
    ...(o.model ? { model: o.model } : {}),
    ...(o.metric ? { metric: o.metric as QualityMetric } : {}),
    objectives: o.objectives,
    budget: o.budget,
    population: int(o.population, 'population'),
    seed: int(o.seed, 'seed'),
    device: o.device,
    selector: o.selector as 'nsga2' | 'spea2',
    ...(o.schedule ? { schedule: o.schedule as 'generational' | 'steady-state' } : {}),
    concurrency: int(o.concurrency, 'concurrency'),
    stallGenerations: int(o.stall, 'stall'),
    constraints: constraintsFrom(o),
    limits: strip(limits),
    finetune: strip(finetune),
    ...(timeCap !== undefined ? { measure: { timeCapMs: timeCap } } : {}),
    ...(o.stages
      ? {
          stages: o.stages
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        }
      : {}),
    ...(o.seedPipelines === false ? { seedPipelines: false } : {}),
    baselineEpochs: int(o.baselineEpochs, 'baseline-epochs'),
    ...(o.name ? { name: o.name } : {}),
    studyDir: o.studyDir,
    ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
    ...(o.queue ? { queue: o.queue } : {}),
    ...(minFree !== undefined ? { minFreeMB: minFree } : {}),
  });
}

/** `petra search`. */
export async function runSearchCommand(o: SearchCommandOptions): Promise<number> {
  const options = searchOptionsFrom(o);
  applyMemoryCap(o);
  const handle = search({ ...options, outputDirs: reportDirs(o) });
  return runHandle(handle, o);
}
