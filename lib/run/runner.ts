/**
 * One search from start to finish (or from where a killed one stopped), as named phases: resolve the request and
 * preflight the directories, load the problem and take the study's lock, get the baseline (cached), create the study
 * file complete or reopen it, then let the study evolve pipelines with the chosen evaluator until the budget, the
 * stall rule or an abort ends it, re-time a mixed front and build the outcome. Everything it does is reported as
 * events; rendering them (progress bar, JSON lines) is the caller's business.
 */
import { existsSync } from 'node:fs';
import { AbortError } from '../core/errors.js';
import type { PipelineGenome, PipelineSpace } from '../genome/index.js';
import type { SearchConfig } from '../pipeline/config.js';
import type { StudyContext } from '../pipeline/context.js';
import { StudyLock, type StudyFile, type StudyMeta } from '../pipeline/study-file.js';
import type { Study } from '../search/index.js';
import { countedTrials, exhaustedReason, optimizeBudget, remainingBudget, type RemainingBudget } from './budget.js';
import { candidateEvaluator, concurrencyOf, openQueue } from './candidates.js';
import { safeEmitter, type Emit } from './events.js';
import { retimeMixedFront, searchOutcome, type SearchOutcome } from './outcome.js';
import { loadProblem, openStudy, prepareStudy, trainBaseline } from './prepare.js';
import { RunProgress, wireStudyEvents } from './progress.js';
import { preflight, resolveRequest, studyExists, type SearchRequest } from './request.js';
import { RunResources } from './resources.js';

/**
 * Runs (or resumes) a search; throws ConfigError / DataError before anything is written when the request is bad.
 * Before loading anything it proves the study, cache and output directories writable with room to spare; the study's
 * lock (StudyLock) is held from after the data loads until the end, so a second process gets "study is locked".
 */
export async function runSearch(request: SearchRequest, emit: Emit, signal?: AbortSignal): Promise<SearchOutcome> {
  const report = safeEmitter(emit);
  const checkAbort = (): void => {
    if (signal?.aborted) throw new AbortError('the search was aborted', { cause: signal.reason });
  };
  const { config, file, existing } = resolveRequest(request);
  const held = new RunResources(existing);
  try {
    preflight(request, config, file);
    const problem = loadProblem(config, report);
    checkAbort();
    // From here on this process is the study's only writer (a bad configuration has failed above, writing nothing).
    held.lock = StudyLock.acquire(file, config.name, request.kind === 'new' ? 'search' : 'resume');
    if (request.kind === 'new' && existsSync(file)) throw studyExists(file, config.name);
    const baseline = await trainBaseline(problem, config, report, signal);
    held.base = baseline.model;
    const { meta, context } = await prepareStudy({
      request,
      config,
      file,
      existing,
      problem,
      baseline,
      held,
      emit: report,
      checkAbort,
    });
    report('baseline', {
      cached: baseline.cached || !!existing,
      record: baseline.record,
      measurements: meta.baseline.measurements,
      metric: problem.metric,
    });
    const studyFile = held.studyFile!;
    const { study, space } = openStudy(config, meta, studyFile);
    const progress = new RunProgress(studyFile);
    const done = countedTrials(studyFile.trials());
    const remaining = remainingBudget(config.budget, done, progress.elapsedBefore, study.generation);
    progress.start();
    report('start', {
      name: config.name,
      file,
      resumed: !!existing,
      objectives: meta.objectives,
      constraints: meta.constraints,
      budget: config.budget,
      done,
      elapsedMs: progress.elapsedBefore,
    });
    report('phase', { phase: 'searching', message: `searching (${meta.objectives.map((o) => o.name).join(', ')})` });
    const { status, reason } = await searchStudy({
      request,
      config,
      file,
      meta,
      study,
      studyFile,
      space,
      context,
      remaining,
      done,
      progress,
      held,
      emit: report,
      signal,
    });
    if (held.queue && !signal?.aborted)
      await retimeMixedFront({ study, studyFile, context, config, meta, emit: report });
    progress.end(status, reason);
    const outcome = searchOutcome({
      study,
      studyFile,
      config,
      meta,
      metric: problem.metric,
      status,
      reason,
      done,
      elapsedMs: progress.elapsed(),
    });
    report('phase', { phase: 'done', message: reason });
    return outcome;
  } finally {
    await held.release();
  }
}

interface SearchPhase {
  readonly request: SearchRequest;
  readonly config: SearchConfig;
  readonly file: string;
  readonly meta: StudyMeta;
  readonly study: Study<PipelineGenome>;
  readonly studyFile: StudyFile;
  readonly space: PipelineSpace;
  readonly context: StudyContext;
  readonly remaining: RemainingBudget;
  /** Trials counted before this run. */
  readonly done: number;
  readonly progress: RunProgress;
  /** Receives the candidate queue, if the request names one. */
  readonly held: RunResources;
  readonly emit: Emit;
  readonly signal: AbortSignal | undefined;
}

/**
 * The search itself: the study's events reported, the evaluator chosen (a queue's opened), the study optimized on
 * what is left of the budget. A failure is recorded in the study's progress before it propagates.
 */
async function searchStudy(o: SearchPhase): Promise<{ status: 'done' | 'stopped'; reason: string }> {
  const { config, study, signal } = o;
  const offs = wireStudyEvents({
    study,
    studyFile: o.studyFile,
    metric: o.context.problem.metric,
    progress: o.progress,
    done: o.done,
    emit: o.emit,
  });
  let reason: string;
  let status: 'done' | 'stopped' = 'done';
  const exhausted = exhaustedReason(o.remaining, config.budget);
  try {
    if (exhausted) {
      reason = exhausted;
    } else {
      if (o.request.queue) o.held.queue = await openQueue(o.request.queue, config, o.emit);
      const queue = o.held.queue;
      const evaluator = candidateEvaluator({
        queue,
        file: o.file,
        meta: o.meta,
        space: o.space,
        config,
        context: o.context,
        emit: o.emit,
      });
      const result = await study.optimize(
        evaluator,
        optimizeBudget(o.remaining, concurrencyOf(queue, config), config, signal),
      );
      reason = result.reason;
      if (signal?.aborted) {
        status = 'stopped';
        reason = 'aborted';
      }
    }
  } catch (error) {
    o.progress.failed(error);
    throw error;
  } finally {
    for (const off of offs) off();
  }
  return { status, reason };
}
