/**
 * The study's evaluator for pipeline genomes: runs the executor on a copy of the baseline, measures the result,
 * and turns it into objectives, constraint values and the candidate's lineage (genome, seed, every stage's report,
 * measurements, host fingerprint, model file). Failures — an operator error, NaN, running out of memory — come back
 * as a failed trial with its reason; candidate-level early stopping comes back as a pruned one. Only an abort of the
 * whole search propagates.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AbortError, PetraError } from '../core/errors.js';
import { genomeHash, type PipelineGenome } from '../genome/index.js';
import { trimMemory } from '../runtime/info.js';
import { benchmark } from '../lab/benchmark.js';
import type { HostFingerprint } from '../lab/fingerprint.js';
import type { Model } from '../runtime/model.js';
import { candidateStopper, type EvaluationContext, type EvaluationResult, type Evaluator } from '../search/index.js';
import type { SearchConfig } from './config.js';
import type { StudyContext } from './context.js';
import { describePipeline } from './describe.js';
import { CandidateStopped, runPipeline, type CandidateCheck, type StageEpoch, type StageReport } from './executor.js';
import { measureModel, measureValues, type Measurements } from './measure.js';
import { metricDirectionOf } from './objectives.js';

/** What a trial stores besides its objective values. */
export interface Lineage {
  readonly pipeline: string;
  readonly genomeKey: string;
  readonly seed: number;
  readonly stages: readonly StageReport[];
  readonly measurements?: Measurements;
  readonly host: HostFingerprint;
  /** The saved candidate model (relative to the study file's directory). */
  readonly modelFile?: string;
  readonly seconds: number;
  /** A failed candidate's error class and code (e.g. NumericError / ERR_PETRA_NUMERIC, DeviceError for out of memory). */
  readonly error?: string;
  readonly errorCode?: string;
}

/** One fine-tune epoch of a candidate's stage (the search's `epoch` event). */
export interface EpochEvent extends StageEpoch {
  trial: number;
}

export interface CandidateEvents {
  start?(e: { trial: number; generation: number; pipeline: string }): void;
  epoch?(e: EpochEvent): void;
  stage?(e: { trial: number; index: number; type: string; phase: 'start' | 'end' }): void;
}

export interface EvaluatorOptions {
  readonly config: SearchConfig;
  /** The problem (recipe, metric), splits, baseline model, objectives, constraints and timing lock. */
  readonly context: StudyContext;
  /** The baseline's measurements and validation metric (for the candidate stopper's optimistic outcome). */
  readonly baseline: {
    readonly measurements: Pick<Measurements, 'metric' | 'latencyMs' | 'throughput'>;
    readonly valMetric?: number;
  };
  readonly host: HostFingerprint;
  /** Directory of the study file; models are saved under `modelFile(trial)` relative to it. */
  readonly studyDir?: string;
  readonly modelFile?: (trial: number) => string;
  readonly events?: CandidateEvents;
}

/** The same genome gets the same seed in a study (so a resumed or repeated evaluation repeats). */
export function candidateSeed(studySeed: number, genome: PipelineGenome): number {
  const h = createHash('sha256')
    .update(`${studySeed}:${genomeHash(genome)}`)
    .digest();
  return h.readUInt32BE(0) & 0x7fffffff;
}

function message(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.message;
  return String(error);
}

export function pipelineEvaluator(o: EvaluatorOptions): Evaluator<PipelineGenome> {
  const { problem, data, base, objectives, constraints, lock } = o.context;
  const { metric, recipe } = problem;
  const values = (m: Measurements): Record<string, number> => measureValues(m, metric);
  return async (genome: PipelineGenome, ctx: EvaluationContext): Promise<EvaluationResult> => {
    try {
      return await evaluateCandidate(genome, ctx);
    } finally {
      // A candidate's transient tensors (activations, SVDs, calibration) are freed but stay in the C heap, which glibc
      // rarely hands back: without this a search's RSS climbs by hundreds of MB in its first dozens of candidates
      // (bench/soak.ts). Costs about a millisecond.
      trimMemory();
    }
  };

  async function evaluateCandidate(genome: PipelineGenome, ctx: EvaluationContext): Promise<EvaluationResult> {
    const started = performance.now();
    const seed = candidateSeed(o.config.seed, genome);
    const pipeline = describePipeline(genome);
    const stages: StageReport[] = [];
    const lineage = (extra: Partial<Lineage> = {}): Record<string, unknown> =>
      ({
        pipeline,
        genomeKey: genomeHash(genome),
        seed,
        stages,
        host: o.host,
        seconds: (performance.now() - started) / 1000,
        ...extra,
      }) satisfies Lineage;
    o.events?.start?.({ trial: ctx.trialId, generation: ctx.generation, pipeline });
    let step = 0;
    try {
      const run = await runPipeline(
        base,
        genome,
        {
          data,
          metric,
          recipe,
          finetune: o.config.finetune,
          seed,
          signal: ctx.signal,
          prepareCandidateCheck: (model) => prepareCheck(model, ctx, o),
          onStage: (e) => o.events?.stage?.({ trial: ctx.trialId, ...e }),
          onEpoch: (e) => {
            ctx.report({
              step: step++,
              ...(e.valMetric !== undefined ? { value: e.valMetric } : {}),
              stage: e.stage,
              type: e.type,
              epoch: e.epoch,
              trainLoss: e.trainLoss,
            });
            o.events?.epoch?.({ trial: ctx.trialId, ...e });
          },
        },
        stages,
      );
      const model = run.model;
      try {
        const file = o.modelFile?.(ctx.trialId);
        if (file) mkdirSync(dirname(join(o.studyDir ?? '.', file)), { recursive: true });
        const m = await measureModel(model, data.quality(model.device), {
          metric,
          settings: o.config.measure,
          lock,
          signal: ctx.signal,
          ...(file ? { file: join(o.studyDir ?? '.', file) } : {}),
          reference: {
            model: base,
            latencyMs: o.baseline.measurements.latencyMs,
            throughput: o.baseline.measurements.throughput,
          },
        });
        const all = values(m);
        const constraintValues = Object.fromEntries(constraints.map((c) => [c.name, all[c.name] as number]));
        return {
          objectives: Object.fromEntries(objectives.map((d) => [d.name, all[d.name] as number])),
          ...(constraints.length ? { constraints: constraintValues } : {}),
          userAttrs: lineage({ measurements: m, ...(file ? { modelFile: file } : {}) }),
        };
      } finally {
        model.dispose();
      }
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      if (error instanceof CandidateStopped) return { status: 'pruned', reason: error.message, userAttrs: lineage() };
      return {
        status: 'failed',
        reason: message(error),
        userAttrs: lineage({
          ...(error instanceof Error && error.name ? { error: error.name } : {}),
          ...(error instanceof PetraError ? { errorCode: error.code } : {}),
        }),
      };
    }
  }
}

/**
 * Candidate-level early stopping (search core's candidateStopper): the candidate's optimistic outcome is its own
 * latency, throughput and size (measured once, quickly — the architecture no longer changes) with the baseline's
 * quality, or better if its validation metric already beats the baseline's. When a front member is better in every
 * objective even so, the fine-tune stops and the candidate is dropped.
 */
async function prepareCheck(
  model: Model,
  ctx: EvaluationContext,
  o: EvaluatorOptions,
): Promise<CandidateCheck | undefined> {
  const front = ctx.front();
  if (front.length === 0) return undefined;
  const sizes = [o.config.measure.latencyBatch, o.config.measure.throughputBatch];
  const cap = Math.min(300, o.config.measure.timeCapMs);
  // Paired with the baseline, like the full measurement, so the front's values and these are comparable.
  const checkAbort = (): void => {
    if (ctx.signal.aborted) throw new AbortError('the search was aborted', { cause: ctx.signal.reason });
  };
  const {
    problem: { metric: qualityMetric },
    base: baseModel,
    objectives,
    lock,
  } = o.context;
  const [quick, ref] = await lock.run(async () => {
    checkAbort();
    const own = await benchmark(model, { batchSizes: sizes, timeCapMs: cap, targetRelativeCi: 0.05 });
    checkAbort();
    return [own, await benchmark(baseModel, { batchSizes: sizes, timeCapMs: cap, targetRelativeCi: 0.05 })] as const;
  });
  const pick = (r: typeof quick, b: number) => r.batches.find((x) => x.batchSize === b)!;
  const scale = (own: number, reference: number, known: number): number => known * (own / reference);
  const lat = pick(quick, sizes[0]!);
  const thr = pick(quick, sizes[1]!);
  const rLat = pick(ref, sizes[0]!);
  const rThr = pick(ref, sizes[1]!);
  const base = o.baseline.measurements;
  const dir = mkdtempSync(join(tmpdir(), 'petra-cand-'));
  let sizeBytes: number;
  try {
    await model.save(join(dir, 'm.pt'));
    sizeBytes = statSync(join(dir, 'm.pt')).size;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const direction = metricDirectionOf(qualityMetric);
  const baseMetric = base.metric;
  const stopper = candidateStopper({ minEpochs: 1, directions: objectives.map((d) => d.direction) });
  return (epoch, valMetric) => {
    const gain =
      valMetric !== undefined && o.baseline.valMetric !== undefined
        ? direction === 'max'
          ? valMetric - o.baseline.valMetric
          : o.baseline.valMetric - valMetric
        : 0;
    const metric = direction === 'max' ? baseMetric + Math.max(0, gain) : baseMetric - Math.max(0, gain);
    // Optimistic timing too: the low end of the quick measurement's confidence interval.
    const all: Record<string, number> = {
      [qualityMetric]: metric,
      latencyMs: scale(Math.min(lat.medianMs, lat.ciLowMs), rLat.medianMs, base.latencyMs),
      throughput: scale(
        Math.max(thr.throughput, thr.batchSize / (thr.ciLowMs / 1000)),
        rThr.throughput,
        base.throughput,
      ),
      sizeBytes,
    };
    return stopper.check(
      epoch + 1,
      objectives.map((d) => all[d.name] as number),
      front,
    );
  };
}
