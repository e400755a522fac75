/**
 * Training policy: epochs, learning-rate schedules, validation and early stopping live here; native/ runs one
 * epoch per call (off the event loop) and reports back, so a stopper can end training between epochs.
 */
import { binding, type NativeMetrics, type NativeProgress } from './binding.js';
import type { TabularSplit } from '../data/types.js';
import { DeviceData, placeData } from './device-data.js';
import { AbortError, ConfigError, PetraError } from '../core/errors.js';
import type { Model } from './model.js';

export type Schedule =
  { kind: 'constant' } | { kind: 'cosine'; minLr?: number } | { kind: 'step'; stepSize: number; gamma?: number };

export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  seconds: number;
  /** Validation metrics (when validation data was given). */
  val?: NativeMetrics;
  /** The monitored validation value (accuracy/macroF1 up, rmse/mae/loss down). */
  valMetric?: number;
}

/** Anything with this shape stops training between epochs (lib/search/stopping.ts has patience and loss-slope rules). */
export interface EpochStopper {
  observe(epoch: { epoch: number; trainLoss: number; valMetric?: number }): { stop: boolean; reason?: string };
}

export type Metric = 'accuracy' | 'macroF1' | 'rmse' | 'mae' | 'loss';

export interface TrainOptions {
  epochs: number;
  batchSize?: number;
  optimizer?: 'sgd' | 'adam' | 'adamw';
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  schedule?: Schedule | Schedule['kind'];
  /**
   * Loss regularizers, PETRA's: `orthogonality` (‖UᵀU−I‖²/r + ‖VhVhᵀ−I‖²/r) and `hoyer` (‖S‖₁/‖S‖₂) averaged over
   * lowrank_* layers, and `l1` (mean |w| of conv/linear weights). Each is a weight on its term (0: off).
   */
  regularization?: { orthogonality?: number; hoyer?: number; l1?: number };
  /** Seeds shuffling and dropout; the same seed gives the same run on the same device. */
  seed?: number;
  signal?: AbortSignal;
  /** Validation metric that stoppers watch; defaults to accuracy (classification) or rmse (regression). */
  monitor?: Metric;
  stopper?: EpochStopper;
  onEpoch?: (record: EpochRecord) => void;
  /** Throttled per-batch progress from the native loop. */
  onProgress?: (progress: NativeProgress & { epoch: number }) => void;
  progressIntervalMs?: number;
}

export interface TrainResult {
  history: EpochRecord[];
  status: 'completed' | 'stopped';
  reason?: string;
  seconds: number;
}

export interface TrainData {
  train: TabularSplit | DeviceData;
  val?: TabularSplit | DeviceData;
}

export function learningRate(schedule: Schedule, baseLr: number, epoch: number, epochs: number): number {
  switch (schedule.kind) {
    case 'constant':
      return baseLr;
    case 'cosine': {
      const minLr = schedule.minLr ?? 0;
      return minLr + 0.5 * (baseLr - minLr) * (1 + Math.cos((Math.PI * epoch) / Math.max(1, epochs)));
    }
    case 'step':
      return baseLr * (schedule.gamma ?? 0.1) ** Math.floor(epoch / schedule.stepSize);
  }
}

/** Which way a metric improves. */
export function metricDirection(metric: Metric): 'max' | 'min' {
  return metric === 'accuracy' || metric === 'macroF1' ? 'max' : 'min';
}

function checkOptions(o: TrainOptions): void {
  if (!Number.isInteger(o.epochs) || o.epochs < 0) throw new ConfigError('must be a non-negative integer', 'epochs');
  if (o.batchSize !== undefined && (!Number.isInteger(o.batchSize) || o.batchSize < 1))
    throw new ConfigError('must be a positive integer', 'batchSize');
  if (o.lr !== undefined && !(o.lr > 0 && Number.isFinite(o.lr)))
    throw new ConfigError('must be a positive number', 'lr');
  const s = typeof o.schedule === 'string' ? o.schedule : o.schedule?.kind;
  if (s !== undefined && !['constant', 'cosine', 'step'].includes(s))
    throw new ConfigError(`unknown schedule '${s}'`, 'schedule');
  if (typeof o.schedule === 'object' && o.schedule.kind === 'step' && !(o.schedule.stepSize >= 1))
    throw new ConfigError('must be ≥ 1', 'schedule.stepSize');
  for (const [k, v] of Object.entries(o.regularization ?? {})) {
    if (!(typeof v === 'number' && v >= 0 && Number.isFinite(v)))
      throw new ConfigError('must be a non-negative number', `regularization.${k}`);
  }
  if (o.optimizer !== undefined && !['sgd', 'adam', 'adamw'].includes(o.optimizer))
    throw new ConfigError(`unknown optimizer '${o.optimizer}'`, 'optimizer');
}

export async function evaluate(
  model: Model,
  data: TabularSplit | DeviceData,
  options: { batchSize?: number } = {},
): Promise<NativeMetrics> {
  const placed = placeData(data, model.device);
  try {
    return await binding().evaluate(model.native, placed.data.native, options);
  } finally {
    if (placed.owned) placed.data.dispose();
  }
}

export async function train(model: Model, data: TrainData, options: TrainOptions): Promise<TrainResult> {
  checkOptions(options);
  const classification = model.spec.task.kind === 'classification';
  const monitor: Metric = options.monitor ?? (classification ? 'accuracy' : 'rmse');
  const optimizer = options.optimizer ?? 'sgd';
  const baseLr = options.lr ?? (optimizer === 'sgd' ? 0.05 : 1e-3);
  const schedule: Schedule =
    typeof options.schedule === 'string'
      ? options.schedule === 'step'
        ? { kind: 'step', stepSize: Math.max(1, Math.floor(options.epochs / 3)) }
        : { kind: options.schedule }
      : (options.schedule ?? { kind: 'constant' });
  const seed = options.seed ?? 0;
  const signal = options.signal;
  if (signal?.aborted) throw new AbortError('training was aborted before it started', { cause: signal.reason });

  const trainData = placeData(data.train, model.device);
  const valData = data.val ? placeData(data.val, model.device) : undefined;
  const trainer = binding().createTrainer(model.native, {
    optimizer,
    lr: baseLr,
    momentum: options.momentum,
    nesterov: options.nesterov,
    weightDecay: options.weightDecay,
    ...options.regularization,
  });
  const onAbort = (): void => trainer.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  const started = performance.now();
  const history: EpochRecord[] = [];
  let status: TrainResult['status'] = 'completed';
  let reason: string | undefined;
  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      if (signal?.aborted)
        throw new AbortError(`training was aborted before epoch ${epoch + 1}`, { cause: signal.reason });
      const lr = learningRate(schedule, baseLr, epoch, options.epochs);
      const onProgress = options.onProgress;
      const result = await trainer.trainEpoch(
        trainData.data.native,
        {
          batchSize: options.batchSize ?? 64,
          lr,
          seed: seed * 100_003 + epoch,
          progressIntervalMs: options.progressIntervalMs,
        },
        onProgress ? (p) => onProgress({ ...p, epoch }) : undefined,
      );
      const record: EpochRecord = { epoch, lr, trainLoss: result.loss, seconds: result.seconds };
      if (valData) {
        record.val = await binding().evaluate(model.native, valData.data.native);
        record.valMetric = record.val[monitor];
      }
      history.push(record);
      options.onEpoch?.(record);
      const verdict = options.stopper?.observe({ epoch, trainLoss: record.trainLoss, valMetric: record.valMetric });
      if (verdict?.stop) {
        status = 'stopped';
        reason = verdict.reason ?? 'early stopping';
        break;
      }
    }
  } catch (error) {
    if (error instanceof PetraError && error.code === 'ERR_PETRA_ABORTED') {
      throw new AbortError(error.message, { cause: signal?.reason });
    }
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    trainer.dispose();
    if (trainData.owned) trainData.data.dispose();
    if (valData?.owned) valData.data.dispose();
  }
  return { history, status, reason, seconds: (performance.now() - started) / 1000 };
}
