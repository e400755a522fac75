/**
 * Getting a study ready to search: the problem loaded, the baseline trained (or taken from the cache), the study file
 * created complete — baseline measured, definitions and space settings stored, study record made, all before the
 * file appears — or reopened, the evaluation context built on the way, and the study opened on the file's storage.
 */
import { ConfigError } from '../core/errors.js';
import type { PipelineGenome, PipelineSpace } from '../genome/index.js';
import { hostFingerprint } from '../lab/fingerprint.js';
import { obtainBaseline, type Baseline } from '../pipeline/baseline.js';
import type { SearchConfig } from '../pipeline/config.js';
import { openStudyContext, type StudyContext } from '../pipeline/context.js';
import { measureModel, type Lock } from '../pipeline/measure.js';
import { constraintDefs, objectiveDefs } from '../pipeline/objectives.js';
import { MIN_SELECTION_ROWS, resolveProblem, type Problem } from '../pipeline/problem.js';
import type { SearchData } from '../pipeline/search-data.js';
import { StudyFile, type StudyMeta } from '../pipeline/study-file.js';
import { buildSpace, currentSpaceSettings, seedPipelines } from '../pipeline/study-space.js';
import { nsga2, spea2, Study, type Selector } from '../search/index.js';
import { evaluate } from '../runtime/train.js';
import type { Emit } from './events.js';
import type { SearchRequest } from './request.js';
import type { RunResources } from './resources.js';

/** Emits 'loading' and loads the problem: data, model spec, recipe, metric. */
export function loadProblem(config: SearchConfig, emit: Emit): Problem {
  emit('phase', { phase: 'loading', message: `loading ${config.task === 'custom' ? config.data?.path : config.task}` });
  return resolveProblem(config);
}

/** Emits 'baseline' and each baseline epoch while it trains (a cached baseline loads at once). */
export function trainBaseline(
  problem: Problem,
  config: SearchConfig,
  emit: Emit,
  signal: AbortSignal | undefined,
): Promise<Baseline> {
  emit('phase', { phase: 'baseline', message: `baseline: ${problem.description}` });
  return obtainBaseline(problem, {
    seed: config.seed,
    device: config.device,
    ...(config.cacheDir ? { cacheDir: config.cacheDir } : {}),
    ...(signal ? { signal } : {}),
    onEpoch: (e, epochs) =>
      emit('baselineEpoch', {
        epoch: e.epoch,
        epochs,
        trainLoss: e.trainLoss,
        ...(e.valMetric !== undefined ? { valMetric: e.valMetric } : {}),
        seconds: e.seconds,
      }),
  });
}

export interface PrepareOptions {
  readonly request: SearchRequest;
  readonly config: SearchConfig;
  readonly file: string;
  /** The study file being resumed; absent for a new study. */
  readonly existing: StudyFile | undefined;
  readonly problem: Problem;
  readonly baseline: Baseline;
  /** Receives the evaluation context and a new study's file. */
  readonly held: RunResources;
  readonly emit: Emit;
  readonly checkAbort: () => void;
}

/** The study's stored definition and the evaluation context: a new study's file is created, a resumed one's checked. */
export async function prepareStudy(o: PrepareOptions): Promise<{ meta: StudyMeta; context: StudyContext }> {
  let meta!: StudyMeta;
  const context = await openStudyContext(o.problem, o.baseline.model, o.config, async (placed) => {
    meta = o.existing ? reopenedMeta(o.request, o.existing, o.baseline) : await createStudyFile(o, placed);
    return meta;
  });
  o.held.context = context;
  return { meta, context };
}

/**
 * Measures the baseline on the placed splits, derives the objectives and constraints (relative bounds need the
 * baseline) and creates the study file with its meta, progress and study record, so it is complete before the
 * first trial.
 */
async function createStudyFile(
  o: PrepareOptions,
  { data, lock }: { readonly data: SearchData; readonly lock: Lock },
): Promise<StudyMeta> {
  const { config, problem, baseline } = o;
  const base = baseline.model;
  const metric = problem.metric;
  const selectRows = data.rows('select');
  const coarse =
    selectRows < MIN_SELECTION_ROWS
      ? `; under ${MIN_SELECTION_ROWS}, so quality moves in coarse steps (${(100 / selectRows).toFixed(1)} pt for accuracy)`
      : '';
  o.emit('phase', {
    phase: 'measuring',
    message: `measuring the baseline: quality selected on ${selectRows} validation rows, reported on ${data.rows('test')} held-out test rows${coarse}`,
  });
  const measurements = await measureModel(base, data.quality(base.device), {
    metric,
    settings: config.measure,
    lock,
    repeats: config.measure.repeats + 1,
  });
  const valMetric = (await evaluate(base, data.on('val', base.device)))[metric];
  const objectives = objectiveDefs(config.objectives, metric);
  const constraints = constraintDefs(config.constraints, metric, {
    metric: measurements.metric,
    latencyMs: measurements.latencyMs,
    throughput: measurements.throughput,
    sizeBytes: measurements.sizeBytes,
  });
  o.checkAbort();
  const meta: StudyMeta = {
    version: 1,
    config,
    objectives,
    constraints,
    space: currentSpaceSettings(config.device),
    host: hostFingerprint(config.device),
    createdAt: new Date().toISOString(),
    problem: {
      description: problem.description,
      modelSource: problem.modelSource,
      spec: problem.spec,
      metric,
      kind: problem.dataset.task.kind,
      rows: {
        train: problem.dataset.train.target.shape[0]!,
        val: problem.dataset.val?.target.shape[0] ?? 0,
        test: problem.dataset.test.target.shape[0]!,
        finetune: data.rows('finetune'),
        finetuneVal: data.rows('val'),
      },
    },
    baseline: {
      record: baseline.record,
      measurements,
      ...(valMetric !== undefined ? { valMetric } : {}),
      modelFile: `${baseline.dir}/model.pt`,
    },
  };
  const space = buildSpace(config, meta.space);
  o.held.studyFile = StudyFile.create(o.file, (tmp) => {
    tmp.set('meta', meta);
    tmp.set('progress', { status: 'running', elapsedMs: 0, updatedAt: new Date().toISOString(), runs: 0 });
    // Creating the study record here makes the file complete before the first trial.
    Study.open({
      name: config.name,
      space,
      objectives,
      constraints,
      storage: tmp.storage,
      populationSize: config.population,
      seed: config.seed,
      selector: selectorOf(config),
      ...scheduleOf(config),
    });
  });
  return meta;
}

/** A resumed study's meta, with the request's new budget stored as the study's own; its baseline must be the cache's. */
function reopenedMeta(request: SearchRequest, existing: StudyFile, baseline: Baseline): StudyMeta {
  let meta = existing.meta;
  if (request.kind === 'resume' && request.budget) {
    // The new budget is the study's from now on (a later plain resume keeps it).
    meta = { ...meta, config: { ...meta.config, budget: { ...request.budget } } };
    existing.set('meta', meta);
  }
  if (meta.baseline.record.key !== baseline.record.key) {
    throw new ConfigError(
      `the baseline this study was measured against (${meta.baseline.record.key}) is not the one the cache gives now (${baseline.record.key}); the task data or recipe changed`,
      'baseline',
    );
  }
  return meta;
}

/** The study on the study file's storage, its space rebuilt from the stored settings, seed pipelines in generation 0. */
export function openStudy(
  config: SearchConfig,
  meta: StudyMeta,
  studyFile: StudyFile,
): { study: Study<PipelineGenome>; space: PipelineSpace } {
  const space = buildSpace(config, meta.space);
  const initial = config.seedPipelines ? seedPipelines(space, meta.space) : [];
  const study = Study.open<PipelineGenome>({
    name: config.name,
    space,
    objectives: meta.objectives,
    constraints: meta.constraints,
    storage: studyFile.storage,
    populationSize: config.population,
    seed: config.seed,
    selector: selectorOf(config),
    initialGenomes: initial,
    ...scheduleOf(config),
  });
  return { study, space };
}

function scheduleOf(config: SearchConfig): { schedule?: 'steady-state' } {
  return config.schedule === 'steady-state' ? { schedule: 'steady-state' } : {};
}

function selectorOf(config: SearchConfig): Selector {
  return config.selector === 'spea2' ? spea2() : nsga2();
}
