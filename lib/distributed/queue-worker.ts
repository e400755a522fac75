/**
 * `petra worker`: takes candidate jobs from the queue and evaluates them exactly as an in-process search would —
 * the same pipeline evaluator on a copy of the study's baseline, its timing paired with that baseline on this host,
 * its model saved beside the study file. What a job needs besides its genome (data, baseline, fine-tune subsets) is
 * loaded once per study and kept while jobs of that study keep coming. Every result carries this host's fingerprint
 * and the worker's id.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, relative } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { ConfigError, errorText } from '../core/errors.js';
import type { PipelineGenome } from '../genome/index.js';
import { hostFingerprint, type HostFingerprint } from '../lab/fingerprint.js';
import { Model } from '../runtime/model.js';
import { disposeStudyContext, openStudyContext, type StudyContext } from '../pipeline/context.js';
import { pipelineEvaluator } from '../pipeline/evaluator.js';
import { constraintDefs, objectiveDefs } from '../pipeline/objectives.js';
import { resolveProblem } from '../pipeline/problem.js';
import { buildSpace } from '../pipeline/study-space.js';
import { trialModelFile } from '../pipeline/study-file.js';
import { connectionOptions, describeQueue, deviceClass, fatalConnectionHint, queueName } from './connection.js';
import { JobPayloadError, parseCandidateJob, type CandidateJob, type CandidateResult } from './job.js';

export interface QueueWorkerOptions {
  readonly url: string;
  /** cpu (default) or cuda:N; a cuda worker takes the CUDA studies' queue. */
  readonly device?: string;
  /** Jobs evaluated at once in this process (their timing is serialized). Default 1. */
  readonly concurrency?: number;
  /** How long a job's lock lasts without renewal before another worker may take it over (default 30 s). */
  readonly lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker died (default lockDurationMs). */
  readonly stalledIntervalMs?: number;
  /** Shown in every result's lineage; default host:pid. */
  readonly id?: string;
  readonly onEvent?: (e: WorkerEvent) => void;
}

export type WorkerEvent =
  | { readonly type: 'ready'; readonly id: string; readonly message: string }
  | { readonly type: 'redis'; readonly state: 'up' | 'down'; readonly message: string }
  | { readonly type: 'study'; readonly message: string }
  | {
      readonly type: 'job';
      readonly phase: 'start' | 'done' | 'failed';
      readonly jobId: string;
      readonly trial?: number;
      readonly study?: string;
      readonly message: string;
    };

/** A study this worker serves: what its jobs share (loaded once) and how many of them are running. */
interface ServedStudy {
  readonly key: string;
  readonly context: StudyContext;
  active: number;
}

/** Studies whose context stays loaded while idle; an older idle one is disposed when another arrives. */
const KEEP_CONTEXTS = 2;

export interface QueueWorkerHandle {
  readonly id: string;
  readonly host: HostFingerprint;
  /** Stops taking jobs, lets the running ones finish, releases everything. Idempotent. */
  close(): Promise<void>;
  /** Resolves when the worker has closed. */
  readonly closed: Promise<void>;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorkerHandle> {
  const device = options.device ?? 'cpu';
  const id = options.id ?? `${hostname()}:${process.pid}`;
  const host = hostFingerprint(device);
  const emit = (e: WorkerEvent): void => {
    try {
      options.onEvent?.(e);
    } catch {
      /* a listener must not stop the worker */
    }
  };
  const studies = new Map<string, Promise<ServedStudy>>();

  const studyFor = async (job: CandidateJob): Promise<ServedStudy> => {
    const key = `${job.study.file}\n${job.study.createdAt}\n${job.baseline.sha256}`;
    let pending = studies.get(key);
    if (!pending) {
      pending = loadStudy(job, key, device);
      studies.set(key, pending);
      pending.then(
        () => emit({ type: 'study', message: `study ${job.study.name}: data and baseline loaded` }),
        () => studies.delete(key),
      );
      await evictIdle(key);
    }
    return pending;
  };

  const evictIdle = async (keep: string): Promise<void> => {
    if (studies.size <= KEEP_CONTEXTS) return;
    for (const [key, pending] of studies) {
      if (key === keep || studies.size <= KEEP_CONTEXTS) continue;
      const served = await pending.catch(() => undefined);
      if (served && served.active === 0) {
        studies.delete(key);
        disposeStudyContext(served.context);
      }
    }
  };

  const evaluateJob = async (
    job: Job<unknown, CandidateResult>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<CandidateResult> => {
    let payload: CandidateJob;
    let genome: PipelineGenome;
    try {
      payload = parseCandidateJob(job.data);
      if (deviceClass(payload.config.device) !== deviceClass(device)) {
        throw new JobPayloadError('config.device', `a ${payload.config.device} study's job reached a ${device} worker`);
      }
      // Checked against the study's space before any file is opened or anything is loaded.
      try {
        genome = buildSpace({ ...payload.config, device }, payload.space).parse(payload.genome);
      } catch (error) {
        throw new JobPayloadError('genome', error instanceof Error ? error.message : String(error), { cause: error });
      }
    } catch (error) {
      // Malformed: failed at once, never retried, never run.
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      emit({ type: 'job', phase: 'failed', jobId: job.id ?? '?', message });
      throw new UnrecoverableError(errorText(error));
    }
    // A job that throws fails with its error as errorText, so the coordinator records the error's class and code.
    let served: ServedStudy;
    try {
      served = await studyFor(payload);
    } catch (error) {
      throw new Error(errorText(error), { cause: error });
    }
    served.active++;
    emit({
      type: 'job',
      phase: 'start',
      jobId: job.id ?? '?',
      trial: payload.trial,
      study: payload.study.name,
      message: `study ${payload.study.name} trial ${payload.trial}`,
    });
    try {
      const studyDir = dirname(payload.study.file);
      const evaluator = pipelineEvaluator({
        config: { ...payload.config, device },
        context: served.context,
        baseline: {
          measurements: payload.baseline,
          ...(payload.baseline.valMetric !== undefined ? { valMetric: payload.baseline.valMetric } : {}),
        },
        host,
        studyDir,
        modelFile: (n) => relative(studyDir, trialModelFile(payload.study.file, n)),
      });
      const controller = new AbortController();
      signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
      const result = await evaluator(genome, {
        trialId: payload.trial,
        generation: payload.generation,
        signal: controller.signal,
        report: () => undefined,
        front: () => payload.front.map((v) => [...v]),
      });
      const out = { ...result, userAttrs: { ...result.userAttrs, worker: id } } as CandidateResult;
      emit({
        type: 'job',
        phase: 'done',
        jobId: job.id ?? '?',
        trial: payload.trial,
        study: payload.study.name,
        message: 'status' in out ? `${out.status}: ${out.reason}` : 'complete',
      });
      return out;
    } finally {
      served.active--;
    }
  };

  const lockDuration = options.lockDurationMs ?? 30_000;
  const worker = new Worker<unknown, CandidateResult>(queueName(device), evaluateJob, {
    connection: connectionOptions(options.url),
    concurrency: options.concurrency ?? 1,
    lockDuration,
    stalledInterval: options.stalledIntervalMs ?? lockDuration,
    // A job whose worker died twice is failed rather than handed round for ever.
    maxStalledCount: 2,
    autorun: false,
  });
  let down = false;
  let failStartup: (e: Error) => void = () => undefined;
  const fatal = new Promise<never>((_, reject) => {
    failStartup = reject;
  });
  fatal.catch(() => undefined);
  worker.on('error', (error) => {
    const hint = fatalConnectionHint(error, options.url);
    if (hint) {
      failStartup(new ConfigError(hint, 'queue'));
      return;
    }
    if (down) return;
    down = true;
    emit({
      type: 'redis',
      state: 'down',
      message: `Redis at ${describeQueue(options.url)}: ${error.message}; waiting for it to come back`,
    });
  });
  try {
    await Promise.race([worker.waitUntilReady(), fatal]);
  } catch (error) {
    await worker.close(true).catch(() => undefined);
    throw error;
  }
  const running = worker.run();
  const client = await worker.getBackend().client;
  const watch = setInterval(() => {
    if (down && client.status === 'ready') {
      down = false;
      emit({ type: 'redis', state: 'up', message: `Redis at ${describeQueue(options.url)} is back` });
    }
  }, 1000);
  emit({
    type: 'ready',
    id,
    message: `worker ${id} on ${device} takes ${queueName(device)} from ${describeQueue(options.url)}`,
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      clearInterval(watch);
      await worker.close();
      await running.catch(() => undefined);
      for (const pending of studies.values()) {
        const served = await pending.catch(() => undefined);
        if (served) disposeStudyContext(served.context);
      }
      studies.clear();
    })());
  const closed = running.then(
    () => close(),
    () => close(),
  );
  return { id, host, close, closed };
}

async function loadStudy(job: CandidateJob, key: string, device: string): Promise<ServedStudy> {
  // The shared-filesystem requirement, checked with a message that says so.
  if (!existsSync(job.study.file)) {
    throw new Error(
      `the study file ${job.study.file} is not visible on this worker: workers need the filesystem that holds the study directory and the baseline cache, at the same paths (NFS or similar)`,
    );
  }
  if (!existsSync(job.baseline.modelFile)) {
    throw new Error(
      `the baseline model ${job.baseline.modelFile} is not visible on this worker: workers need the baseline cache at the same path as the coordinator`,
    );
  }
  if (sha256File(job.baseline.modelFile) !== job.baseline.sha256) {
    throw new Error(
      `the baseline model ${job.baseline.modelFile} on this worker is not the file the coordinator measured (SHA-256 differs)`,
    );
  }
  const config = { ...job.config, device };
  const problem = resolveProblem(config);
  const base = await Model.load(job.baseline.modelFile, { device });
  const context = await openStudyContext(problem, base, config, () => ({
    objectives: objectiveDefs(config.objectives, problem.metric),
    constraints: constraintDefs(config.constraints, problem.metric, job.baseline),
  }));
  return { key, context, active: 0 };
}
