/**
 * One search from start to finish (or from where a killed one stopped): check the configuration, load the data,
 * get the baseline (cached), measure it, create the study file complete, then let the study evolve pipelines with
 * the evaluator until the budget, the stall rule or an abort ends it. Everything it does is reported as events;
 * rendering them (progress bar, JSON lines) is the caller's business.
 */
import { existsSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import type { NativeMetrics } from '../binding.js';
import { AbortError, ConfigError } from '../errors.js';
import type { PipelineGenome } from '../genome/index.js';
import { hostFingerprint } from '../lab/fingerprint.js';
import type { Model } from '../model.js';
import {
  noImprovementStopper, nsga2, spea2, Study,
  type ConstraintDef, type FrontMember, type ObjectiveDef, type TrialRecord, type TrialState,
} from '../search/index.js';
import { evaluate } from '../train.js';
import { defaultCacheDir, obtainBaseline, type BaselineRecord } from '../pipeline/baseline.js';
import { normalizeConfig, type Budget, type SearchConfig, type SearchConfigInput } from '../pipeline/config.js';
import { openStudyContext, type StudyContext } from '../pipeline/context.js';
import { pipelineEvaluator, type Lineage } from '../pipeline/evaluator.js';
import { frontEntries, type FrontEntry } from '../pipeline/front.js';
import { heldOutValue, measureModel, measureValues, type Measurements } from '../pipeline/measure.js';
import { constraintDefs, objectiveDefs, type QualityMetric } from '../pipeline/objectives.js';
import { MIN_SELECTION_ROWS, resolveProblem } from '../pipeline/problem.js';
import { buildSpace, currentSpaceSettings, seedPipelines } from '../pipeline/study-space.js';
import { assertNotLocked, checkOutputDir, minFreeBytesFromEnv, StudyFile, StudyLock, studyPath, trialModelFile, type StudyMeta } from '../pipeline/study-file.js';
import { CandidateQueue, queueEvaluator, type QueueStatus } from '../distributed/coordinator.js';
import { describeHost, remeasuredFront, remeasureFront, type RemeasuredFront } from '../distributed/remeasure.js';

export interface SearchEvents {
  phase: { phase: 'loading' | 'baseline' | 'measuring' | 'searching' | 'done'; message: string };
  baselineEpoch: { epoch: number; epochs: number; trainLoss: number; valMetric?: number; seconds: number };
  baseline: { cached: boolean; record: BaselineRecord; measurements: Measurements; metric: QualityMetric };
  start: { name: string; file: string; resumed: boolean; objectives: readonly ObjectiveDef[]; constraints: readonly ConstraintDef[]; budget: Budget; done: number; elapsedMs: number };
  trialStart: { trial: number; generation: number; pipeline: string };
  epoch: { trial: number; stage: number; type: string; epoch: number; epochs: number; trainLoss: number; valMetric?: number };
  trial: {
    trial: number; generation: number; state: TrialState; pipeline: string; reason?: string; seconds: number;
    measures?: Record<string, number>; feasible: boolean; evaluations: number; elapsedMs: number;
  };
  generation: { generation: number; hypervolume: number; evaluations: number; front: readonly FrontEntry[]; elapsedMs: number };
  front: { front: readonly FrontEntry[] };
  /** The candidate queue's connection: up (connected, or back after an outage) or down (waiting for Redis). */
  queue: QueueStatus;
}

export type SearchEventName = keyof SearchEvents;
export type Emit = <K extends SearchEventName>(event: K, payload: SearchEvents[K]) => void;

export interface SearchOutcome {
  readonly name: string;
  readonly file: string;
  readonly reason: string;
  readonly status: 'done' | 'stopped';
  /** Trials told in this run / in the study so far (interrupted and aborted ones not counted). */
  readonly evaluations: number;
  readonly totalEvaluations: number;
  readonly failed: number;
  readonly generations: number;
  readonly elapsedMs: number;
  readonly objectives: readonly ObjectiveDef[];
  readonly constraints: readonly ConstraintDef[];
  readonly baseline: Readonly<Record<string, number>>;
  readonly baselineTest: NativeMetrics;
  /** The baseline's quality metric on the held-out test split. */
  readonly baselineHeldOut: number;
  readonly front: readonly FrontEntry[];
}

/** Where candidates are evaluated when not in this process: a BullMQ queue on Redis that `petra worker`s serve. */
export interface QueueRunOptions {
  readonly url: string;
  /** How often awaited jobs and the connection are checked (default 1000 ms). */
  readonly watchdogMs?: number;
}

/** Checks made before a search starts (see checkOutputDir). */
export interface PreflightOptions {
  /** Other directories the caller will write to (e.g. the HTML report's), proved writable up front too. */
  readonly outputDirs?: readonly string[];
  /** Free space each output directory's file system must have (default PETRA_MIN_FREE_MB or 64 MiB; 0: no check). */
  readonly minFreeBytes?: number;
}

export type SearchRequest = PreflightOptions & (
  | { readonly kind: 'new'; readonly config: SearchConfigInput; readonly studyDir?: string; readonly queue?: QueueRunOptions }
  | { readonly kind: 'resume'; readonly study: string; readonly studyDir?: string; readonly budget?: Budget; readonly queue?: QueueRunOptions });

/** Trials that count against the evaluation budget: told, and not cut off by a kill or an abort. */
export function countedTrials(trials: readonly TrialRecord[]): number {
  return trials.filter((t) => t.state !== 'running' && !/^(interrupted|aborted)/.test(t.failReason ?? '')).length;
}

/**
 * Runs (or resumes) a search; throws ConfigError / DataError before anything is written when the request is bad.
 * Before loading anything it proves the study, cache and output directories writable with room to spare; the study's
 * lock (StudyLock) is held from after the data loads until the end, so a second process gets "study is locked".
 */
export async function runSearch(request: SearchRequest, emit: Emit, signal?: AbortSignal): Promise<SearchOutcome> {
  const safeEmit: Emit = (event, payload) => {
    try { emit(event, payload); } catch { /* a listener's error must not end the search */ }
  };
  const checkAbort = (): void => { if (signal?.aborted) throw new AbortError('the search was aborted', { cause: signal.reason }); };

  let config: SearchConfig;
  let existing: StudyFile | undefined;
  let file: string;
  const exists = (f: string, name: string): ConfigError => new ConfigError(`a study named '${name}' already exists (${f}); resume it with \`petra resume ${name}\` or choose another --name`, 'name');
  if (request.kind === 'new') {
    config = normalizeConfig(request.config);
    file = studyPath(config.name, request.studyDir);
    if (existsSync(file)) {
      assertNotLocked(file, config.name); // running: say so rather than "resume it"
      throw exists(file, config.name);
    }
  } else {
    existing = StudyFile.open(request.study, request.studyDir);
    file = existing.file;
    const stored = existing.meta.config;
    config = request.budget ? { ...stored, budget: { ...request.budget } } : stored;
  }

  let sf: StudyFile | undefined = existing;
  let context: StudyContext | undefined;
  let base: Model | undefined;
  let queue: CandidateQueue | undefined;
  let studyLock: StudyLock | undefined;
  try {
    // Read-only or full disks fail here, with the directory and the numbers, not after the baseline has trained.
    const minFree = request.minFreeBytes ?? minFreeBytesFromEnv();
    checkOutputDir(dirname(file), 'study', minFree);
    checkOutputDir(config.cacheDir ? resolve(config.cacheDir) : defaultCacheDir(), 'baseline cache', minFree);
    for (const dir of request.outputDirs ?? []) checkOutputDir(dir, 'output', minFree);
    safeEmit('phase', { phase: 'loading', message: `loading ${config.task === 'custom' ? config.data?.path : config.task}` });
    const problem = resolveProblem(config);
    checkAbort();
    // From here on this process is the study's only writer (a bad configuration has failed above, writing nothing).
    studyLock = StudyLock.acquire(file, config.name, request.kind === 'new' ? 'search' : 'resume');
    if (request.kind === 'new' && existsSync(file)) throw exists(file, config.name);
    safeEmit('phase', { phase: 'baseline', message: `baseline: ${problem.description}` });
    const baseline = await obtainBaseline(problem, {
      seed: config.seed, device: config.device, ...(config.cacheDir ? { cacheDir: config.cacheDir } : {}), ...(signal ? { signal } : {}),
      onEpoch: (e, epochs) => safeEmit('baselineEpoch', { epoch: e.epoch, epochs, trainLoss: e.trainLoss, ...(e.valMetric !== undefined ? { valMetric: e.valMetric } : {}), seconds: e.seconds }),
    });
    base = baseline.model;
    const metric = problem.metric;

    let meta!: StudyMeta;
    context = await openStudyContext(problem, base, config, async ({ data, lock }) => {
      if (!existing) {
        const selectRows = data.rows('select');
        const coarse = selectRows < MIN_SELECTION_ROWS ? `; under ${MIN_SELECTION_ROWS}, so quality moves in coarse steps (${(100 / selectRows).toFixed(1)} pt for accuracy)` : '';
        safeEmit('phase', { phase: 'measuring', message: `measuring the baseline: quality selected on ${selectRows} validation rows, reported on ${data.rows('test')} held-out test rows${coarse}` });
        const measurements = await measureModel(baseline.model, data.quality(baseline.model.device), { metric, settings: config.measure, lock, repeats: config.measure.repeats + 1 });
        const valMetric = (await evaluate(baseline.model, data.on('val', baseline.model.device)))[metric];
        const objectives = objectiveDefs(config.objectives, metric);
        const constraints = constraintDefs(config.constraints, metric, { metric: measurements.metric, latencyMs: measurements.latencyMs, throughput: measurements.throughput, sizeBytes: measurements.sizeBytes });
        checkAbort();
        meta = {
          version: 1, config, objectives, constraints, space: currentSpaceSettings(config.device), host: hostFingerprint(config.device), createdAt: new Date().toISOString(),
          problem: {
            description: problem.description, modelSource: problem.modelSource, spec: problem.spec, metric, kind: problem.dataset.task.kind,
            rows: {
              train: problem.dataset.train.target.shape[0]!, val: problem.dataset.val?.target.shape[0] ?? 0, test: problem.dataset.test.target.shape[0]!,
              finetune: data.rows('finetune'), finetuneVal: data.rows('val'),
            },
          },
          baseline: { record: baseline.record, measurements, ...(valMetric !== undefined ? { valMetric } : {}), modelFile: `${baseline.dir}/model.pt` },
        };
        const space = buildSpace(config, meta.space);
        sf = StudyFile.create(file, (tmp) => {
          tmp.set('meta', meta);
          tmp.set('progress', { status: 'running', elapsedMs: 0, updatedAt: new Date().toISOString(), runs: 0 });
          // Creating the study record here makes the file complete before the first trial.
          Study.open({ name: config.name, space, objectives, constraints, storage: tmp.storage, populationSize: config.population, seed: config.seed, selector: selectorOf(config), ...scheduleOf(config) });
        });
      } else {
        meta = existing.meta;
        if (request.kind === 'resume' && request.budget) {
          // The new budget is the study's from now on (a later plain resume keeps it).
          meta = { ...meta, config: { ...meta.config, budget: { ...request.budget } } };
          existing.set('meta', meta);
        }
        if (meta.baseline.record.key !== baseline.record.key) {
          throw new ConfigError(`the baseline this study was measured against (${meta.baseline.record.key}) is not the one the cache gives now (${baseline.record.key}); the task data or recipe changed`, 'baseline');
        }
      }
      return meta;
    });
    const ctx = context;
    safeEmit('baseline', { cached: baseline.cached || !!existing, record: baseline.record, measurements: meta.baseline.measurements, metric });
    const study = sf!;

    const space = buildSpace(config, meta.space);
    const initial = config.seedPipelines ? seedPipelines(space, meta.space) : [];
    const s = Study.open<PipelineGenome>({
      name: config.name, space, objectives: meta.objectives, constraints: meta.constraints, storage: study.storage,
      populationSize: config.population, seed: config.seed, selector: selectorOf(config), initialGenomes: initial, ...scheduleOf(config),
    });
    const before = study.progress;
    const elapsedBefore = before?.elapsedMs ?? 0;
    const runStarted = Date.now();
    const elapsed = (): number => elapsedBefore + (Date.now() - runStarted);
    const trialsBefore = study.trials();
    const doneBefore = countedTrials(trialsBefore);
    const budget = config.budget;
    const remaining = {
      evaluations: budget.evaluations !== undefined ? budget.evaluations - doneBefore : undefined,
      timeMs: budget.timeMs !== undefined ? budget.timeMs - elapsedBefore : undefined,
      generations: budget.generations !== undefined ? budget.generations - s.generation : undefined,
    };
    study.set('progress', { status: 'running', elapsedMs: elapsedBefore, updatedAt: new Date().toISOString(), runs: (before?.runs ?? 0) + 1 });
    safeEmit('start', { name: config.name, file, resumed: !!existing, objectives: meta.objectives, constraints: meta.constraints, budget, done: doneBefore, elapsedMs: elapsedBefore });
    safeEmit('phase', { phase: 'searching', message: `searching (${meta.objectives.map((o) => o.name).join(', ')})` });

    let evaluations = doneBefore;
    const studyDir = dirname(file);
    const entries = (): FrontEntry[] => frontEntries(s.front(), study.trials(), metric);
    const offs = [
      s.on('evaluation', ({ trial }) => {
        if (!/^(interrupted|aborted)/.test(trial.failReason ?? '')) evaluations++;
        const lineage = trial.userAttrs as Partial<Lineage>;
        study.set('progress', { status: 'running', elapsedMs: elapsed(), updatedAt: new Date().toISOString(), runs: (before?.runs ?? 0) + 1 });
        safeEmit('trial', {
          trial: trial.number, generation: trial.generation, state: trial.state, pipeline: lineage.pipeline ?? '',
          ...(trial.failReason ? { reason: trial.failReason } : {}), seconds: lineage.seconds ?? 0,
          ...(lineage.measurements ? { measures: measureValues(lineage.measurements, metric) } : {}),
          feasible: trial.state === 'complete' && (trial.violation ?? 0) <= 0, evaluations, elapsedMs: elapsed(),
        });
      }),
      s.on('frontChanged', () => safeEmit('front', { front: entries() })),
      s.on('generation', (g) => {
        const front = entries();
        study.appendGeneration({ generation: g.generation, hypervolume: g.hypervolume, evaluations: g.evaluations, frontSize: front.length, at: new Date().toISOString() });
        safeEmit('generation', { generation: g.generation, hypervolume: g.hypervolume, evaluations, front, elapsedMs: elapsed() });
      }),
    ];

    let reason: string;
    let status: 'done' | 'stopped' = 'done';
    const exhausted = [
      remaining.evaluations !== undefined && remaining.evaluations <= 0 ? `evaluation budget of ${budget.evaluations} used` : '',
      remaining.timeMs !== undefined && remaining.timeMs <= 0 ? `time budget used` : '',
      remaining.generations !== undefined && remaining.generations <= 0 ? `${budget.generations} generations done` : '',
    ].find(Boolean);
    try {
      if (exhausted) {
        reason = exhausted;
      } else {
        if (request.queue) {
          queue = await CandidateQueue.open({ url: request.queue.url, device: config.device, onStatus: (st) => safeEmit('queue', st), ...(request.queue.watchdogMs ? { watchdogMs: request.queue.watchdogMs } : {}) });
        }
        const evaluator = queue ? queueEvaluator(queue, { file, meta, space, onStart: (e) => safeEmit('trialStart', e) }) : pipelineEvaluator({
          config, context: ctx,
          baseline: { measurements: meta.baseline.measurements, ...(meta.baseline.valMetric !== undefined ? { valMetric: meta.baseline.valMetric } : {}) },
          host: meta.host, studyDir, modelFile: (n) => relative(studyDir, trialModelFile(file, n)),
          events: {
            start: (e) => safeEmit('trialStart', e),
            epoch: (e) => safeEmit('epoch', e),
          },
        });
        const result = await s.optimize(evaluator, {
          ...(remaining.evaluations !== undefined ? { evaluations: remaining.evaluations } : {}),
          ...(remaining.timeMs !== undefined ? { timeMs: remaining.timeMs } : {}),
          ...(remaining.generations !== undefined ? { generations: remaining.generations } : {}),
          // Through a queue a whole generation is handed out at once; the workers' number sets the parallelism.
          concurrency: queue ? config.population : config.concurrency,
          stopper: noImprovementStopper({ generations: config.stallGenerations }),
          ...(signal ? { signal } : {}),
        });
        reason = result.reason;
        if (signal?.aborted) { status = 'stopped'; reason = 'aborted'; }
      }
    } catch (error) {
      study.set('progress', { status: 'failed', elapsedMs: elapsed(), reason: error instanceof Error ? error.message : String(error), updatedAt: new Date().toISOString(), runs: (before?.runs ?? 0) + 1 });
      throw error;
    } finally {
      for (const off of offs) off();
    }
    if (queue && !signal?.aborted) {
      const remeasured = await remeasureFront({
        front: s.front().map((m) => m.number), trials: study.trials(), studyDir, context: ctx, settings: config.measure,
        baseline: meta.baseline.measurements, host: hostFingerprint(config.device),
      });
      if (remeasured) {
        study.set('remeasured', remeasured);
        safeEmit('queue', { state: 'up', message: `the front was timed on different kinds of host: ${Object.keys(remeasured.trials).length} member(s) re-timed on this one (${describeHost(remeasured.host)})` });
      }
    }
    study.set('progress', { status, elapsedMs: elapsed(), reason, updatedAt: new Date().toISOString(), runs: (before?.runs ?? 0) + 1 });
    const trials = study.trials();
    const outcome: SearchOutcome = {
      name: config.name, file, reason, status, evaluations: countedTrials(trials) - doneBefore, totalEvaluations: countedTrials(trials),
      failed: trials.filter((t) => t.state === 'failed').length, generations: s.generation, elapsedMs: elapsed(),
      objectives: meta.objectives, constraints: meta.constraints,
      baseline: measureValues(meta.baseline.measurements, metric), baselineTest: meta.baseline.measurements.test,
      baselineHeldOut: heldOutValue(meta.baseline.measurements, metric),
      front: remeasuredFront(frontEntries(s.front(), trials, metric), meta.objectives, study.get<RemeasuredFront>('remeasured')),
    };
    safeEmit('phase', { phase: 'done', message: reason });
    return outcome;
  } finally {
    await queue?.close();
    context?.data.dispose();
    base?.dispose();
    sf?.close();
    studyLock?.release();
  }
}

function scheduleOf(config: SearchConfig): { schedule?: 'steady-state' } {
  return config.schedule === 'steady-state' ? { schedule: 'steady-state' } : {};
}

function selectorOf(config: SearchConfig): ReturnType<typeof nsga2> {
  return config.selector === 'spea2' ? spea2() : nsga2();
}

