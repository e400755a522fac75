/**
 * The coordinator's side of the candidate queue: each evaluation the study asks for becomes a BullMQ job and its
 * result comes back as the study's EvaluationResult; the study, its selection and its journal stay in the
 * coordinator (the journal's only writer). Results arrive through BullMQ's queue events; a watchdog also reads the
 * state of every job still awaited, so a result whose event was missed (Redis restarted, a connection dropped) is
 * still collected, and a job that Redis lost (restarted without persistence) is queued again.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Job, Queue, QueueEvents } from 'bullmq';
import { AbortError, ConfigError, parseErrorText } from '../core/errors.js';
import { genomeHash, type PipelineGenome, type PipelineSpace } from '../genome/index.js';
import { describePipeline } from '../pipeline/describe.js';
import type { StudyMeta } from '../pipeline/study-file.js';
import type { EvaluationResult, Evaluator } from '../search/index.js';
import { connectionOptions, describeQueue, fatalConnectionHint, queueName } from './connection.js';
import { absoluteConfig, candidateJobId, JOB_VERSION, type CandidateJob, type CandidateResult } from './job.js';

export interface QueueStatus {
  /** 'down' when Redis cannot be reached, 'up' when it is back (and once when first connected). */
  readonly state: 'up' | 'down';
  readonly message: string;
}

export interface CandidateQueueOptions {
  readonly url: string;
  /** The study's device: CPU and CUDA studies have their own queues. */
  readonly device: string;
  readonly onStatus?: (status: QueueStatus) => void;
  /** How often the watchdog looks at awaited jobs and at the connection (default 1000 ms). */
  readonly watchdogMs?: number;
  /** Times a job is tried when its worker fails (not a failing candidate: that is a result). Default 3. */
  readonly attempts?: number;
}

interface Waiter {
  readonly job: CandidateJob;
  readonly resolve: (r: EvaluationResult) => void;
  readonly reject: (e: unknown) => void;
}

/** Finished jobs are kept a week, so a coordinator resumed within that time collects results computed meanwhile. */
const KEEP_FINISHED = { age: 7 * 24 * 3600 };

export class CandidateQueue {
  readonly name: string;
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly options: CandidateQueueOptions;
  private timer: NodeJS.Timeout | undefined;
  private client: { readonly status: string } | undefined;
  private sweeping = false;
  private failStartup: (e: Error) => void = () => undefined;
  private down = false;
  private closed = false;

  private constructor(options: CandidateQueueOptions) {
    this.options = options;
    this.name = queueName(options.device);
    const connection = connectionOptions(options.url);
    this.queue = new Queue(this.name, { connection });
    this.events = new QueueEvents(this.name, { connection });
    // Outages are reported by the watchdog; credentials and TLS errors end the start-up (see open). An 'error'
    // without a listener would end the process.
    const onError = (error: Error): void => {
      const hint = fatalConnectionHint(error, options.url);
      if (hint) this.failStartup(new ConfigError(hint, 'queue'));
    };
    this.queue.on('error', onError);
    this.events.on('error', onError);
    this.events.on('completed', ({ jobId }) => {
      void this.collect(jobId);
    });
    this.events.on('failed', ({ jobId }) => {
      void this.collect(jobId);
    });
  }

  /** Connects to Redis (waiting for it, with a message, if it is not up yet) and starts the watchdog. */
  static async open(options: CandidateQueueOptions): Promise<CandidateQueue> {
    const q = new CandidateQueue(options);
    const slow = setTimeout(() => q.status('down', `waiting for Redis at ${describeQueue(options.url)}…`), 2000);
    const fatal = new Promise<never>((_, reject) => {
      q.failStartup = reject;
    });
    fatal.catch(() => undefined);
    try {
      await Promise.race([Promise.all([q.queue.waitUntilReady(), q.events.waitUntilReady()]), fatal]);
    } catch (error) {
      await Promise.allSettled([q.events.close(), q.queue.close()]);
      throw error;
    } finally {
      clearTimeout(slow);
    }
    q.client = await q.queue.getBackend().client;
    q.status('up', `queue ${q.name} on ${describeQueue(options.url)}`);
    q.timer = setInterval(() => q.tick(), options.watchdogMs ?? 1000);
    return q;
  }

  /** Queues the candidate (or re-attaches to its job, see candidateJobId) and resolves with its result. */
  async evaluate(job: CandidateJob, genomeKey: string, signal?: AbortSignal): Promise<EvaluationResult> {
    const id = candidateJobId(job, genomeKey);
    const result = new Promise<EvaluationResult>((resolve, reject) => {
      // The signal is the whole search's: its listener goes when the job settles, or a long search would pile them up.
      const onAbort = (): void => {
        const rest = (this.waiting.get(id) ?? []).filter((w) => w !== waiter);
        if (rest.length) this.waiting.set(id, rest);
        else this.waiting.delete(id);
        // The job stays queued: a resumed coordinator collects its result instead of evaluating it again.
        reject(new AbortError('the search was aborted', { cause: signal?.reason }));
      };
      const settle =
        <A extends unknown[]>(fn: (...a: A) => void) =>
        (...a: A): void => {
          signal?.removeEventListener('abort', onAbort);
          fn(...a);
        };
      const waiter: Waiter = { job, resolve: settle(resolve), reject: settle(reject) };
      const list = this.waiting.get(id) ?? [];
      list.push(waiter);
      this.waiting.set(id, list);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    await this.add(id, job);
    void this.collect(id);
    return result;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const [, list] of this.waiting)
      for (const w of list) w.reject(new AbortError('the candidate queue was closed'));
    this.waiting.clear();
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }

  private add(id: string, job: CandidateJob): Promise<unknown> {
    // A job id that exists already is left as it is (BullMQ ignores the add): that is the re-attach.
    return this.queue.add('candidate', job, {
      jobId: id,
      attempts: this.options.attempts ?? 3,
      backoff: { type: 'fixed', delay: 1000 },
      removeOnComplete: KEEP_FINISHED,
      removeOnFail: KEEP_FINISHED,
    });
  }

  /** Settles the waiters of a finished job; re-queues a job Redis no longer has. Errors wait for the next sweep. */
  private async collect(id: string): Promise<void> {
    try {
      const list = this.waiting.get(id);
      if (!list) return;
      const job = await Job.fromId<CandidateJob, CandidateResult>(this.queue, id);
      if (!this.waiting.has(id)) return;
      if (!job) {
        await this.add(id, list[0]!.job);
        return;
      }
      const state = job.finishedOn ? await job.getState() : 'active';
      if (state !== 'completed' && state !== 'failed') return;
      this.waiting.delete(id);
      const outcome: EvaluationResult =
        state === 'completed'
          ? (job.returnvalue as EvaluationResult)
          : failedJobOutcome(job.failedReason, job.attemptsMade);
      for (const w of list) w.resolve(outcome);
    } catch {
      // Redis went away mid-call: the watchdog sweeps again once it is back.
    }
  }

  /** The watchdog: reports Redis going away and coming back, and collects whatever events did not announce. */
  private tick(): void {
    if (this.closed || !this.client) return;
    // The status is read, not asked of the server, so an outage is reported even while a command hangs in it.
    const state = this.client.status;
    if (state !== 'ready') {
      this.status(
        'down',
        `Redis at ${describeQueue(this.options.url)} is unreachable (${state}); waiting for it to come back — workers keep their jobs, results are collected once it is back`,
      );
      return;
    }
    if (this.down) this.status('up', `Redis at ${describeQueue(this.options.url)} is back; continuing`);
    if (this.sweeping) return;
    this.sweeping = true;
    void (async () => {
      for (const id of [...this.waiting.keys()]) await this.collect(id);
    })()
      .catch(() => undefined)
      .finally(() => {
        this.sweeping = false;
      });
  }

  private status(state: 'up' | 'down', message: string): void {
    if (state === 'down' && this.down) return;
    this.down = state === 'down';
    this.options.onStatus?.({ state, message });
  }
}

export interface QueueEvaluatorOptions {
  /** The study file (its directory receives the candidates' models). */
  readonly file: string;
  readonly meta: StudyMeta;
  readonly space: PipelineSpace;
  readonly onStart?: (e: { trial: number; generation: number; pipeline: string }) => void;
}

/** The study's evaluator when candidates run on `petra worker`s: each call is one job on the queue. */
export function queueEvaluator(queue: CandidateQueue, o: QueueEvaluatorOptions): Evaluator<PipelineGenome> {
  const { meta } = o;
  const baselineFile = resolve(meta.baseline.modelFile);
  const base = meta.baseline.measurements;
  const template: Omit<CandidateJob, 'trial' | 'generation' | 'genome' | 'front'> = {
    v: JOB_VERSION,
    study: { name: meta.config.name, file: resolve(o.file), createdAt: meta.createdAt },
    config: absoluteConfig(meta.config, (p) => resolve(p)),
    space: meta.space,
    baseline: {
      modelFile: baselineFile,
      sha256: createHash('sha256').update(readFileSync(baselineFile)).digest('hex'),
      metric: base.metric,
      latencyMs: base.latencyMs,
      throughput: base.throughput,
      sizeBytes: base.sizeBytes,
      ...(meta.baseline.valMetric !== undefined ? { valMetric: meta.baseline.valMetric } : {}),
    },
  };
  return async (genome, ctx) => {
    o.onStart?.({ trial: ctx.trialId, generation: ctx.generation, pipeline: describePipeline(genome) });
    const job: CandidateJob = {
      ...template,
      trial: ctx.trialId,
      generation: ctx.generation,
      genome: o.space.encode(genome),
      front: ctx.front(),
    };
    return queue.evaluate(job, genomeHash(genome), ctx.signal);
  };
}

/**
 * A job the worker failed, as a failed trial: the error's class and code (the worker throws errorText) recorded like an
 * in-process candidate failure's (lineage `error`, `errorCode`), the reason readable.
 */
export function failedJobOutcome(failedReason: string | undefined, attempts: number): EvaluationResult {
  const e = parseErrorText(failedReason || 'failed');
  return {
    status: 'failed',
    reason: `worker: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message} (after ${attempts} attempt${attempts === 1 ? '' : 's'})`,
    userAttrs: { error: e.name, ...(e.code ? { errorCode: e.code } : {}) },
  };
}
