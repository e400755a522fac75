/**
 * `petra search`: CLI flags → `search()` options, then the study runs with progress and prints its Pareto front
 * (shared/study-run.ts, as for `petra demo` and `petra resume`).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { inferDataFormat, type UserData } from '../pipeline/config.js';
import {
  parseLatency, parseMetricBound, parseMetricDrop, parseSize, parseThroughput, type ConstraintInput, type QualityMetric,
} from '../pipeline/objectives.js';
import { search, type SearchOptions } from '../search-api.js';
import { applyMemoryCap, reportDirs, runHandle, type OutputOptions } from './shared/study-run.js';

export interface SearchCommandOptions extends OutputOptions {
  task?: string; model?: string; data?: string; dataFormat?: string; target?: string; kind?: string; metric?: string;
  objectives: string; budget: string; population: string; seed: string; device: string; selector: string; concurrency: string;
  stall?: string; name?: string; studyDir: string; cacheDir?: string;
  maxLatency?: string; minLatency?: string; maxSize?: string; minSize?: string; minThroughput?: string; maxThroughput?: string;
  maxMetricDrop?: string; minMetric?: string; maxMetric?: string;
  limitTrain?: string; limitVal?: string; limitTest?: string; finetuneSamples?: string; finetuneVal?: string; maxEpochs?: string;
  baselineEpochs?: string; timeCap?: string; stages?: string; seedPipelines?: boolean; queue?: string; schedule?: string;
  /** --min-free <MiB>: free space the study, cache and report directories need before the search starts. */
  minFree?: string;
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
  const format = o.dataFormat ?? inferDataFormat(o.data) ?? (existsSync(o.data) && statSync(o.data).isDirectory() && readdirSync(o.data).some((f) => f.endsWith('_TRAIN.ts')) ? 'ucr' : 'idx');
  switch (format) {
    case 'idx': return { format: 'idx', path: o.data };
    case 'ucr': return { format: 'ucr', path: o.data };
    case 'csv':
      if (!o.target) throw new ConfigError('CSV data needs --target <column>', 'target');
      if (o.kind !== 'classification' && o.kind !== 'regression') throw new ConfigError('CSV data needs --kind classification|regression', 'kind');
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
  const limits = { train: int(o.limitTrain, 'limit-train'), val: int(o.limitVal, 'limit-val'), test: int(o.limitTest, 'limit-test') };
  const finetune = { samples: int(o.finetuneSamples, 'finetune-samples'), valSamples: int(o.finetuneVal, 'finetune-val'), maxEpochs: int(o.maxEpochs, 'max-epochs') };
  const strip = <T extends object>(x: T): T => Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) as T;
  const timeCap = o.timeCap !== undefined ? Number(o.timeCap) : undefined;
  const minFree = o.minFree !== undefined ? Number(o.minFree) : undefined;
  if (minFree !== undefined && !(minFree >= 0)) throw new ConfigError(`'${o.minFree}' is not a number of MiB ≥ 0`, 'min-free');
  if (timeCap !== undefined && !(timeCap > 0)) throw new ConfigError(`'${o.timeCap}' is not a positive number of milliseconds`, 'time-cap');
  return strip({
    ...(task ? { task } : {}), ...(data ? { data } : {}), ...(o.model ? { model: o.model } : {}),
    ...(o.metric ? { metric: o.metric as QualityMetric } : {}),
    objectives: o.objectives, budget: o.budget, population: int(o.population, 'population'), seed: int(o.seed, 'seed'), device: o.device,
    selector: o.selector as 'nsga2' | 'spea2', ...(o.schedule ? { schedule: o.schedule as 'generational' | 'steady-state' } : {}), concurrency: int(o.concurrency, 'concurrency'), stallGenerations: int(o.stall, 'stall'),
    constraints: constraintsFrom(o), limits: strip(limits), finetune: strip(finetune),
    ...(timeCap !== undefined ? { measure: { timeCapMs: timeCap } } : {}),
    ...(o.stages ? { stages: o.stages.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
    ...(o.seedPipelines === false ? { seedPipelines: false } : {}),
    baselineEpochs: int(o.baselineEpochs, 'baseline-epochs'),
    ...(o.name ? { name: o.name } : {}), studyDir: o.studyDir, ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
    ...(o.queue ? { queue: o.queue } : {}), ...(minFree !== undefined ? { minFreeMB: minFree } : {}),
  });
}

/** `petra search`. */
export async function runSearchCommand(o: SearchCommandOptions): Promise<number> {
  const options = searchOptionsFrom(o);
  applyMemoryCap(o);
  const handle = search({ ...options, outputDirs: reportDirs(o) });
  return runHandle(handle, o);
}
