/**
 * Where a search's candidates are evaluated: in this process, by the pipeline evaluator on the run's context, or on
 * `petra worker`s through a candidate queue on Redis when the request names one. The study, its selection and its
 * journal stay in this process either way; the evaluator is the one seam distribution plugs into.
 */
import { dirname, relative } from 'node:path';
import { CandidateQueue, queueEvaluator } from '../distributed/coordinator.js';
import type { PipelineGenome, PipelineSpace } from '../genome/index.js';
import type { SearchConfig } from '../pipeline/config.js';
import type { StudyContext } from '../pipeline/context.js';
import { pipelineEvaluator } from '../pipeline/evaluator.js';
import { trialModelFile, type StudyMeta } from '../pipeline/study-file.js';
import type { Evaluator } from '../search/index.js';
import type { Emit } from './events.js';
import type { QueueRunOptions } from './request.js';

/** Connects to the queue (reporting its connection as 'queue' events) for the study's device class. */
export function openQueue(options: QueueRunOptions, config: SearchConfig, emit: Emit): Promise<CandidateQueue> {
  return CandidateQueue.open({
    url: options.url,
    device: config.device,
    onStatus: (st) => emit('queue', st),
    ...(options.watchdogMs ? { watchdogMs: options.watchdogMs } : {}),
  });
}

export interface CandidateEvaluatorOptions {
  /** The candidate queue, if the search uses one. */
  readonly queue: CandidateQueue | undefined;
  /** The study file (its directory receives the candidates' models). */
  readonly file: string;
  readonly meta: StudyMeta;
  readonly space: PipelineSpace;
  readonly config: SearchConfig;
  readonly context: StudyContext;
  readonly emit: Emit;
}

/** The study's evaluator: one job per candidate through the queue, else the pipeline evaluator in this process. */
export function candidateEvaluator(o: CandidateEvaluatorOptions): Evaluator<PipelineGenome> {
  const { file, meta, emit } = o;
  if (o.queue) return queueEvaluator(o.queue, { file, meta, space: o.space, onStart: (e) => emit('trialStart', e) });
  const studyDir = dirname(file);
  return pipelineEvaluator({
    config: o.config,
    context: o.context,
    baseline: {
      measurements: meta.baseline.measurements,
      ...(meta.baseline.valMetric !== undefined ? { valMetric: meta.baseline.valMetric } : {}),
    },
    host: meta.host,
    studyDir,
    modelFile: (n) => relative(studyDir, trialModelFile(file, n)),
    events: {
      start: (e) => emit('trialStart', e),
      epoch: (e) => emit('epoch', e),
    },
  });
}

/** Evaluations at once: through a queue a whole generation is handed out, and the workers' number sets the parallelism. */
export function concurrencyOf(queue: CandidateQueue | undefined, config: SearchConfig): number {
  return queue ? config.population : config.concurrency;
}
