/**
 * The pipeline executor: applies a genome's stages in order to a copy of the trained base model — fine-tune (with
 * training-level early stopping and the pending regularizers), prune, lowrank (decompose, fine-tune with the
 * orthogonality / Hoyer regularizers, then rank pruning), quantize — and says what each stage did. It measures
 * nothing and decides nothing about the search; the evaluator (evaluator.ts) does that.
 */
import { isStage, type PipelineGenome, type RegularizeParams, type Stage } from '../genome/index.js';
import { info } from '../runtime/info.js';
import { decompose, truncateRanks } from '../compress/lowrank.js';
import { prune } from '../compress/prune.js';
import { quantize } from '../compress/quantize.js';
import type { RoundTo } from '../compress/prune.js';
import type { LowrankReport, PruneReport } from '../compress/report.js';
import { AbortError, ConfigError, errorFromCode, NumericError, PetraError } from '../core/errors.js';
import type { Model } from '../runtime/model.js';
import { anyTrainingStopper, lossSlopeStopper, patienceStopper, type StopDecision } from '../search/index.js';
import { train, type EpochRecord, type TrainOptions } from '../runtime/train.js';
import type { FinetuneSettings } from './config.js';
import { weightCount } from './measure.js';
import { metricDirectionOf, type QualityMetric } from './objectives.js';
import type { Recipe } from './problem.js';
import type { SearchData } from './search-data.js';

type QuantizeReport = Awaited<ReturnType<typeof quantize>>['report'];

export interface TrainingSummary {
  /** Epochs the genome asked for, after the cap. */
  readonly planned: number;
  readonly epochs: number;
  readonly status: 'completed' | 'stopped';
  readonly reason?: string;
  /** The epoch whose weights were kept (best validation value). */
  readonly bestEpoch?: number;
  readonly history: readonly { epoch: number; trainLoss: number; valMetric?: number; seconds: number }[];
  readonly regularization?: Readonly<Partial<RegularizeParams>>;
}

export interface StageReport {
  readonly index: number;
  readonly type: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly seconds: number;
  /** Weights (float or int8 elements) before and after the stage. */
  readonly parametersBefore: number;
  readonly parametersAfter: number;
  readonly device: string;
  /** What the compression operator reported (one entry per prune step). */
  readonly operator?: readonly (PruneReport | LowrankReport | QuantizeReport)[];
  readonly training?: readonly TrainingSummary[];
  readonly note?: string;
}

/** Thrown when candidate-level early stopping ends a candidate: it cannot reach the front any more. */
export class CandidateStopped extends PetraError {
  constructor(message: string) {
    super(message, 'ERR_PETRA_ABORTED');
  }
}

/** Decides, after each fine-tune epoch, whether the candidate should be dropped (see evaluator.ts). */
export type CandidateCheck = (epoch: number, valMetric: number | undefined) => StopDecision;

/** One fine-tune epoch of a pipeline stage. */
export interface StageEpoch {
  stage: number;
  type: string;
  epoch: number;
  epochs: number;
  trainLoss: number;
  valMetric?: number;
}

export interface ExecutorContext {
  readonly data: SearchData;
  readonly metric: QualityMetric;
  readonly recipe: Recipe;
  readonly finetune: FinetuneSettings;
  readonly seed: number;
  readonly signal?: AbortSignal;
  /**
   * Called before a fine-tune whose result is the final architecture (no pruning, low-rank or quantization after
   * it); may return a per-epoch check that stops the candidate.
   */
  readonly prepareCandidateCheck?: (model: Model, stage: number) => Promise<CandidateCheck | undefined>;
  readonly onStage?: (e: { index: number; type: string; phase: 'start' | 'end' }) => void;
  readonly onEpoch?: (e: StageEpoch) => void;
}

const STRUCTURAL = new Set(['prune', 'lowrank', 'quantize']);

/**
 * Runs `genome` on a copy of `base` (which is untouched); the caller owns the returned model. Stage reports are
 * pushed to `stages` as they finish, so a caller still has them when a later stage fails.
 */
export async function runPipeline(
  base: Model,
  genome: PipelineGenome,
  ctx: ExecutorContext,
  stages: StageReport[] = [],
): Promise<{ model: Model; stages: StageReport[] }> {
  let model = base.clone();
  let pending: Partial<RegularizeParams> | undefined;
  try {
    for (let i = 0; i < genome.stages.length; i++) {
      if (ctx.signal?.aborted) throw new AbortError('the search was aborted', { cause: ctx.signal.reason });
      const stage = genome.stages[i] as Stage;
      const finalShape = !genome.stages.slice(i + 1).some((s) => STRUCTURAL.has(s.type));
      const started = performance.now();
      const before = weightCount(model);
      ctx.onStage?.({ index: i, type: stage.type, phase: 'start' });
      let out: { model: Model; operator?: StageReport['operator']; training?: TrainingSummary[]; note?: string };
      try {
        out = await applyStage(model, stage, i, pending, finalShape, ctx);
      } catch (error) {
        if (error instanceof CandidateStopped || error instanceof AbortError) throw error;
        const message = `stage ${i} (${stage.type}): ${error instanceof Error ? error.message : String(error)}`;
        // The same class as the original (NumericError, DeviceError, ShapeError…), so a failed trial says what kind of failure it was.
        const wrapped =
          error instanceof PetraError
            ? errorFromCode(error.code, message)
            : new PetraError(message, 'ERR_PETRA_NATIVE');
        Object.defineProperty(wrapped, 'cause', { value: error, configurable: true, writable: true });
        throw wrapped;
      }
      pending =
        stage.type === 'regularize'
          ? { ...(stage.params as unknown as RegularizeParams) }
          : out.training
            ? undefined
            : pending;
      if (out.model !== model) {
        model.dispose();
        model = out.model;
      }
      stages.push({
        index: i,
        type: stage.type,
        params: { ...stage.params },
        seconds: (performance.now() - started) / 1000,
        parametersBefore: before,
        parametersAfter: weightCount(model),
        device: model.device,
        ...(out.operator ? { operator: out.operator } : {}),
        ...(out.training ? { training: out.training } : {}),
        ...(out.note ? { note: out.note } : {}),
      });
      ctx.onStage?.({ index: i, type: stage.type, phase: 'end' });
    }
    return { model, stages };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

async function applyStage(
  model: Model,
  stage: Stage,
  index: number,
  pending: Partial<RegularizeParams> | undefined,
  finalShape: boolean,
  ctx: ExecutorContext,
): Promise<{ model: Model; operator?: StageReport['operator']; training?: TrainingSummary[]; note?: string }> {
  const seed = ctx.seed * 31 + index;
  const ftBase = finetuneOptions(ctx.recipe);
  if (isStage(stage, 'regularize')) {
    return { model, note: 'weights apply to the next training stage' };
  }
  if (isStage(stage, 'train')) {
    const p = stage.params;
    const r = await finetune(
      model,
      {
        ...ftBase,
        optimizer: p.optimizer,
        lr: p.lr,
        schedule: p.schedule,
        batchSize: p.batchSize,
        momentum: p.optimizer === 'sgd' ? 0.9 : undefined,
      },
      p.epochs,
      pending,
      index,
      'train',
      finalShape,
      seed,
      ctx,
    );
    return { model: r.model, training: [r.summary] };
  }
  if (isStage(stage, 'prune')) {
    const p = stage.params;
    const steps = Math.max(1, p.steps);
    const stepRatio = 1 - (1 - p.ratio) ** (1 / steps);
    const reports: PruneReport[] = [];
    const training: TrainingSummary[] = [];
    // Fine-tune epochs spread over the steps (iterative pruning recovers between steps), the rest at the end.
    const perStep = steps > 1 ? Math.floor(p.finetuneEpochs / steps) : 0;
    let current = model;
    try {
      for (let s = 0; s < steps; s++) {
        const r = await prune(current, {
          criterion: p.criterion,
          ratio: stepRatio,
          scope: p.scope,
          roundTo: p.roundTo as RoundTo,
          seed: seed + s,
          ...(p.criterion === 'taylor'
            ? { data: ctx.data.on('finetune', current.device), batches: 8, batchSize: 64 }
            : {}),
        });
        if (current !== model) current.dispose();
        current = r.model;
        reports.push(r.report);
        const last = s === steps - 1;
        const epochs = last ? p.finetuneEpochs - perStep * (steps - 1) : perStep;
        if (epochs > 0) {
          const t = await finetune(
            current,
            ftBase,
            epochs,
            pending,
            index,
            'prune',
            last && finalShape,
            seed + 100 + s,
            ctx,
          );
          if (t.model !== current) {
            current.dispose();
            current = t.model;
          }
          training.push(t.summary);
        }
      }
    } catch (error) {
      if (current !== model) current.dispose();
      throw error;
    }
    return { model: current, operator: reports, ...(training.length ? { training } : {}) };
  }
  if (isStage(stage, 'lowrank')) {
    const p = stage.params;
    const rank = { rule: p.rule, threshold: p.threshold, roundTo: p.roundTo };
    const d = await decompose(model, rank);
    let current = d.model;
    try {
      const training: TrainingSummary[] = [];
      if (p.finetuneEpochs > 0) {
        const reg = {
          ...pending,
          orthogonality: (pending?.orthogonality ?? 0) + p.orthogonalityWeight,
          hoyer: (pending?.hoyer ?? 0) + p.hoyerWeight,
        };
        // The rank pruning after this fine-tune changes the architecture, so no candidate-level stop here.
        const t = await finetune(current, ftBase, p.finetuneEpochs, reg, index, 'lowrank', false, seed, ctx);
        if (t.model !== current) {
          current.dispose();
          current = t.model;
        }
        training.push(t.summary);
      }
      const tr = await truncateRanks(current, rank);
      current.dispose();
      current = tr.model;
      return { model: current, operator: [d.report, tr.report], ...(training.length ? { training } : {}) };
    } catch (error) {
      current.dispose();
      throw error;
    }
  }
  if (isStage(stage, 'quantize')) {
    const p = stage.params;
    // On CUDA with backend 'cuda' and a LibTorch that has torch._int_mm, int8 GEMM runs on the GPU; otherwise the int8
    // CPU engines take a copy of the model.
    const onGpu = model.device !== 'cpu' && p.backend === 'cuda' && info().cuda.int8Gemm;
    const source = model.device === 'cpu' || onGpu ? model : model.clone().to('cpu');
    try {
      const calibration = {
        data: ctx.data.on('finetune', source.device),
        batches: p.calibrationBatches,
        batchSize: 64,
      };
      const qatEpochs = Math.min(p.qatEpochs, ctx.finetune.maxEpochs);
      const r = await quantize(source, {
        mode: p.mode,
        perChannel: p.perChannel,
        ...(p.backend !== 'cuda' ? { backend: p.backend } : {}),
        ...(p.mode !== 'dynamic' ? { calibration } : {}),
        ...(p.mode === 'qat'
          ? {
              qat: {
                data: ctx.data.on('finetune', source.device),
                epochs: qatEpochs,
                lr: 1e-4,
                seed,
                ...(ctx.signal ? { signal: ctx.signal } : {}),
              },
            }
          : {}),
      });
      const note = [
        source !== model ? `moved from ${model.device} to cpu for int8 kernels` : '',
        p.backend === 'cuda' && !onGpu
          ? model.device === 'cpu'
            ? 'backend cuda requested for a model on the cpu: int8 ran on the CPU engines'
            : 'backend cuda requested but this LibTorch has no torch._int_mm: int8 ran on the CPU engines'
          : '',
        pending && p.mode === 'qat' ? 'pending regularizers are not applied to QAT' : '',
      ]
        .filter(Boolean)
        .join('; ');
      return { model: r.model, operator: [r.report], ...(note ? { note } : {}) };
    } finally {
      if (source !== model) source.dispose();
    }
  }
  throw new ConfigError(`no executor for stage type '${stage.type}'`, `stages[${index}].type`);
}

function finetuneOptions(recipe: Recipe): Omit<TrainOptions, 'epochs'> {
  const optimizer = recipe.optimizer ?? 'adam';
  const baseLr = recipe.lr ?? (optimizer === 'sgd' ? 0.05 : 1e-3);
  return {
    optimizer,
    lr: baseLr * 0.2,
    schedule: 'cosine',
    batchSize: recipe.batchSize ?? 64,
    ...(recipe.momentum !== undefined ? { momentum: recipe.momentum } : {}),
    ...(recipe.weightDecay !== undefined ? { weightDecay: recipe.weightDecay } : {}),
  };
}

/**
 * One fine-tune with early stopping (patience on the validation metric and the seed's loss-slope rule), keeping the
 * best epoch's weights; `candidate` arms candidate-level stopping.
 */
async function finetune(
  model: Model,
  options: Omit<TrainOptions, 'epochs'>,
  requested: number,
  regularization: Partial<RegularizeParams> | undefined,
  stage: number,
  type: string,
  candidate: boolean,
  seed: number,
  ctx: ExecutorContext,
): Promise<{ model: Model; summary: TrainingSummary }> {
  const epochs = Math.min(requested, ctx.finetune.maxEpochs);
  const direction = metricDirectionOf(ctx.metric);
  const check = candidate && ctx.prepareCandidateCheck ? await ctx.prepareCandidateCheck(model, stage) : undefined;
  const early = anyTrainingStopper(
    patienceStopper({ patience: ctx.finetune.patience, mode: direction, monitor: 'valMetric' }),
    lossSlopeStopper({ horizon: 5, hits: 2 }),
  );
  let best: { value: number; epoch: number; snapshot?: Model } | undefined;
  let candidateStop: string | undefined;
  const reg = regularization
    ? Object.fromEntries(Object.entries(regularization).filter(([, v]) => typeof v === 'number' && v > 0))
    : undefined;
  try {
    const result = await train(
      model,
      { train: ctx.data.on('finetune', model.device), val: ctx.data.on('val', model.device) },
      {
        ...options,
        epochs,
        seed,
        monitor: ctx.metric,
        ...(reg && Object.keys(reg).length ? { regularization: reg } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        onEpoch: (e: EpochRecord) => {
          ctx.onEpoch?.({
            stage,
            type,
            epoch: e.epoch,
            epochs,
            trainLoss: e.trainLoss,
            ...(e.valMetric !== undefined ? { valMetric: e.valMetric } : {}),
          });
          const v = e.valMetric;
          if (
            v !== undefined &&
            Number.isFinite(v) &&
            (!best || (direction === 'max' ? v > best.value : v < best.value))
          ) {
            best?.snapshot?.dispose();
            // The last epoch needs no copy: it is the model itself.
            best = { value: v, epoch: e.epoch, ...(e.epoch < epochs - 1 ? { snapshot: model.clone() } : {}) };
          }
        },
        stopper: {
          observe(e) {
            if (!Number.isFinite(e.trainLoss))
              return { stop: true, reason: `training loss is ${e.trainLoss} at epoch ${e.epoch}` };
            const verdict = early.observe(e);
            if (verdict.stop) return verdict;
            const c = check?.(e.epoch, e.valMetric);
            if (c?.stop) {
              candidateStop = c.reason ?? 'dominated by the front';
              return c;
            }
            return { stop: false };
          },
        },
      },
    );
    const bad = result.history.find((h) => !Number.isFinite(h.trainLoss));
    if (bad) throw new NumericError(`${type} fine-tune diverged: training loss ${bad.trainLoss} at epoch ${bad.epoch}`);
    if (candidateStop)
      throw new CandidateStopped(
        `stopped during the ${type} fine-tune at epoch ${result.history.length}: ${candidateStop}`,
      );
    let out = model;
    const lastEpoch = result.history.at(-1)?.epoch;
    const kept = best as { value: number; epoch: number; snapshot?: Model } | undefined;
    if (kept?.snapshot && kept.epoch !== lastEpoch) {
      out = kept.snapshot;
      kept.snapshot = undefined;
    }
    return {
      model: out,
      summary: {
        planned: epochs,
        epochs: result.history.length,
        status: result.status,
        ...(result.reason ? { reason: result.reason } : {}),
        ...(kept ? { bestEpoch: kept.epoch } : {}),
        history: result.history.map((h) => ({
          epoch: h.epoch,
          trainLoss: h.trainLoss,
          ...(h.valMetric !== undefined ? { valMetric: h.valMetric } : {}),
          seconds: h.seconds,
        })),
        ...(reg && Object.keys(reg).length ? { regularization: reg } : {}),
      },
    };
  } finally {
    (best as { snapshot?: Model } | undefined)?.snapshot?.dispose();
  }
}
