/**
 * `petra search`: CLI flags → `search()` options; a live progress bar (ETA, generation, current front) on stderr, or
 * one line per trial when stderr is not a terminal; `--json` prints one JSON event per line on stdout; `--quiet`
 * prints only the result. Also the shared pieces `petra demo` and `petra resume` use.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { AbortError, ConfigError } from '../errors.js';
import { setMemoryCap } from '../info.js';
import { inferDataFormat, type UserData } from '../pipeline/config.js';
import {
  formatMeasure, labelOf, parseLatency, parseMetricBound, parseMetricDrop, parseSize, parseThroughput,
  type ConstraintInput, type MeasureName, type QualityMetric,
} from '../pipeline/objectives.js';
import type { SearchEventName, SearchEvents, SearchOutcome } from '../search-api.js';
import { paretoTable, sortByQuality } from '../report/table.js';
import { heldOutValue, selectedOnValidation } from '../pipeline/measure.js';
import { search, type SearchOptions, type StudyHandle } from '../search-api.js';

export interface OutputOptions {
  json?: boolean; quiet?: boolean; report?: string | boolean;
  /** --cpu-memory-cap <MiB>: LibTorch CPU tensor memory cap for this process (see setMemoryCap; PETRA_CPU_MEMORY_CAP_MB too). */
  cpuMemoryCap?: string;
}

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

function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function shortMeasures(measures: Readonly<Record<string, number>> | undefined, names: readonly string[]): string {
  if (!measures) return '';
  return names.filter((n) => measures[n] !== undefined).map((n) => `${labelOf(n as MeasureName)} ${formatMeasure(n as MeasureName, measures[n]!)}`).join(', ');
}

/**
 * Renders a running search: progress bar or lines on stderr, JSON lines on stdout, or nothing. Returns a function
 * that stops the rendering.
 */
export function attachProgress(handle: StudyHandle, o: OutputOptions): () => void {
  const offs: Array<() => void> = [];
  if (o.json) {
    const events: SearchEventName[] = ['phase', 'baseline', 'start', 'trialStart', 'trial', 'generation', 'queue'];
    for (const e of events) offs.push(handle.on(e, (p) => process.stdout.write(`${JSON.stringify({ event: e, ...jsonSafe(e, p) })}\n`)));
    return () => offs.forEach((f) => f());
  }
  if (o.quiet) return () => {};
  const tty = process.stderr.isTTY === true;
  let budget: SearchEvents['start']['budget'] = {};
  let doneBefore = 0;
  let generation = 0;
  let frontSize = 0;
  let names: string[] = [];
  let elapsedMs = 0;
  let evaluations = 0;
  const trialTimes: number[] = [];
  const multi = tty ? new MultiBar({ stream: process.stderr, clearOnComplete: false, hideCursor: true, format: '{label} |{bar}| {value}/{total} {unit} · {info}', barsize: 24 }, Presets.shades_classic) : undefined;
  let bar: SingleBar | undefined;
  const log = (line: string): void => { if (multi) multi.log(`${line}\n`); else process.stderr.write(`${line}\n`); };
  const eta = (): string => {
    const avg = trialTimes.length ? trialTimes.reduce((a, b) => a + b, 0) / trialTimes.length : undefined;
    const candidates: number[] = [];
    if (budget.evaluations !== undefined && avg !== undefined) candidates.push((budget.evaluations - evaluations) * avg * 1000);
    if (budget.timeMs !== undefined) candidates.push(budget.timeMs - elapsedMs);
    return candidates.length ? duration(Math.max(0, Math.min(...candidates))) : '–';
  };
  const total = (): number => budget.evaluations ?? Math.max(evaluations + 1, 1);
  offs.push(handle.on('phase', (p) => { if (p.phase !== 'searching' && p.phase !== 'done') log(`petra: ${p.message}`); }));
  offs.push(handle.on('baselineEpoch', (e) => log(`  baseline epoch ${e.epoch + 1}/${e.epochs}: loss ${e.trainLoss.toFixed(4)}${e.valMetric !== undefined ? `, val ${e.valMetric.toFixed(4)}` : ''} (${e.seconds.toFixed(1)} s)`)));
  offs.push(handle.on('baseline', (b) => {
    names = [b.metric, 'latencyMs', 'throughput', 'sizeBytes'];
    const test = selectedOnValidation(b.measurements) ? ` (validation; held-out test ${Number(heldOutValue(b.measurements, b.metric).toPrecision(4))})` : '';
    log(`petra: baseline ${b.cached ? '(cached)' : '(trained)'}: ${shortMeasures({ [names[0]!]: b.measurements.metric, latencyMs: b.measurements.latencyMs, throughput: b.measurements.throughput, sizeBytes: b.measurements.sizeBytes }, names)}${test}`);
  }));
  offs.push(handle.on('start', (s) => {
    budget = s.budget;
    doneBefore = s.done;
    evaluations = s.done;
    elapsedMs = s.elapsedMs;
    log(`petra: ${s.resumed ? 'resuming' : 'starting'} study '${s.name}' (${s.file}); objectives ${s.objectives.map((x) => `${labelOf(x.name as MeasureName)} ${x.direction === 'max' ? '↑' : '↓'}`).join(', ')}${s.resumed ? `; ${s.done} evaluations done` : ''}`);
    bar = multi?.create(total(), evaluations, { label: 'search', unit: 'evals', info: `gen 0 · ETA – · front 0` });
  }));
  offs.push(handle.on('trialStart', (t) => {
    bar?.update({ info: `gen ${t.generation} · ETA ${eta()} · front ${frontSize} · #${t.trial} ${t.pipeline.slice(0, 48)}` });
  }));
  offs.push(handle.on('trial', (t) => {
    evaluations = t.evaluations;
    elapsedMs = t.elapsedMs;
    if (!/^(interrupted|aborted)/.test(t.reason ?? '')) trialTimes.push(t.seconds);
    generation = t.generation;
    const what = t.state === 'complete' ? `${shortMeasures(t.measures, names)}${t.feasible ? '' : ' (violates a constraint)'}` : `${t.state}: ${t.reason ?? ''}`;
    const line = `  #${t.trial} gen ${t.generation} ${t.pipeline} → ${what} (${t.seconds.toFixed(1)} s)`;
    if (bar) {
      if (budget.evaluations === undefined) bar.setTotal(total());
      bar.update(evaluations, { info: `gen ${generation} · ETA ${eta()} · front ${frontSize}` });
      log(line);
    } else {
      log(`[${evaluations - doneBefore}${budget.evaluations !== undefined ? `/${budget.evaluations - doneBefore}` : ''} · gen ${generation} · ETA ${eta()} · front ${frontSize}]${line}`);
    }
  }));
  offs.push(handle.on('front', (f) => { frontSize = f.front.length; }));
  offs.push(handle.on('queue', (q) => log(`petra: ${q.message}`)));
  offs.push(handle.on('generation', (g) => {
    frontSize = g.front.length;
    const best = g.front.length ? sortByQuality(g.front.map((m) => ({ ...m, measures: m.measures })), names[0] as QualityMetric)[0] : undefined;
    log(`petra: generation ${g.generation} done: ${g.evaluations} evaluations, front ${g.front.length}${best ? `, best quality #${best.trial} (${shortMeasures(best.measures, names)})` : ''}`);
  }));
  return () => {
    offs.forEach((f) => f());
    bar?.stop();
    multi?.stop();
  };
}

function jsonSafe<K extends SearchEventName>(event: K, p: SearchEvents[K]): Record<string, unknown> {
  if (event === 'generation') {
    const g = p as SearchEvents['generation'];
    return { generation: g.generation, hypervolume: g.hypervolume, evaluations: g.evaluations, elapsedMs: g.elapsedMs, front: g.front.map(({ genome: _g, ...rest }) => rest) };
  }
  if (event === 'baseline') {
    const b = p as SearchEvents['baseline'];
    return { cached: b.cached, key: b.record.key, test: b.record.test, measurements: b.measurements };
  }
  return p as unknown as Record<string, unknown>;
}

/** Prints the result: the Pareto table and where things are, or one JSON object. */
export function printOutcome(handle: StudyHandle, outcome: SearchOutcome, o: OutputOptions, metric?: QualityMetric): void {
  let reportPath: string | undefined;
  if (o.report !== false) reportPath = handle.report(typeof o.report === 'string' ? o.report : undefined);
  const m = metric ?? (Object.keys(outcome.baseline).find((k) => ['accuracy', 'macroF1', 'rmse', 'mae'].includes(k)) as QualityMetric);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ event: 'done', ...outcome, front: outcome.front.map(({ genome: _g, ...rest }) => rest), ...(reportPath ? { report: reportPath } : {}) })}\n`);
    return;
  }
  const rows = sortByQuality(outcome.front.map((f) => ({ trial: f.trial, pipeline: f.pipeline, measures: f.measures, ...(f.heldOut !== undefined ? { heldOut: f.heldOut } : {}) })), m);
  console.log(`\nPareto front of '${outcome.name}' (${outcome.front.length} of ${outcome.totalEvaluations} evaluations; ${outcome.reason}; ${duration(outcome.elapsedMs)}):\n`);
  console.log(paretoTable(rows, { metric: m, baseline: outcome.baseline, baselineHeldOut: outcome.baselineHeldOut }));
  console.log('');
  if (reportPath) console.log(`report:  ${reportPath}`);
  console.log(`study:   ${outcome.file}`);
  console.log(`next:    petra report ${outcome.name} · petra export ${outcome.name} <trial>${outcome.status === 'stopped' ? ` · petra resume ${outcome.name}` : ''}`);
}

/** Ctrl-C stops the search gracefully (the study can be resumed); a second Ctrl-C exits at once. */
export function abortOnSignal(handle: StudyHandle, o: OutputOptions): () => void {
  let count = 0;
  const onSignal = (): void => {
    count++;
    if (count > 1) process.exit(130);
    if (!o.json) process.stderr.write(`\npetra: stopping after the current step; resume with \`petra resume ${handle.name}\` (Ctrl-C again to quit now)\n`);
    handle.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); };
}

/** Applies --cpu-memory-cap (MiB) before a search starts; a candidate that would need more fails with "out of memory". */
export function applyMemoryCap(o: OutputOptions): void {
  if (o.cpuMemoryCap === undefined) return;
  const mb = Number(o.cpuMemoryCap);
  if (!(mb > 0)) throw new ConfigError(`'${o.cpuMemoryCap}' is not a positive number of MiB`, 'cpu-memory-cap');
  setMemoryCap(Math.round(mb * 1024 * 1024));
}

/** Runs a handle to the end with progress and output; returns the exit code. */
export async function runHandle(handle: StudyHandle, o: OutputOptions, metric?: QualityMetric): Promise<number> {
  const stop = attachProgress(handle, o);
  const unhook = abortOnSignal(handle, o);
  try {
    const outcome = await handle.done;
    stop();
    printOutcome(handle, outcome, o, metric);
    return outcome.status === 'stopped' ? 130 : 0;
  } catch (error) {
    if (error instanceof AbortError && handle.signal.aborted) {
      stop();
      process.stderr.write(`petra: stopped before the search started${existsSync(handle.file) ? `; resume with \`petra resume ${handle.name}\`` : ' (nothing was written)'}\n`);
      return 130;
    }
    throw error;
  } finally {
    stop();
    unhook();
  }
}

/** Where the HTML report will go, so the search can prove it writable before it starts (none with --no-report). */
export function reportDirs(o: OutputOptions): string[] {
  if (o.report === false) return [];
  return [dirname(typeof o.report === 'string' ? o.report : join('petra-out', 'report.html'))];
}

/** `petra search`. */
export async function runSearchCommand(o: SearchCommandOptions): Promise<number> {
  const options = searchOptionsFrom(o);
  applyMemoryCap(o);
  const handle = search({ ...options, outputDirs: reportDirs(o) });
  return runHandle(handle, o);
}
