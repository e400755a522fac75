/**
 * Measures one model the way every candidate and the baseline are measured: the task metric on the validation
 * (selection) split — the quality objective the search optimizes — and on the held-out test split, which is only
 * reported (no sampler, stopper, front or `best` reads it); latency (batch 1) and throughput (batch 64) through the
 * lab's timing loop; and size in bytes as saved. Timing runs under a lock so concurrently evaluated candidates never
 * time each other.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NativeMetrics } from '../runtime/binding.js';
import type { TabularSplit } from '../data/types.js';
import type { DeviceData } from '../runtime/device-data.js';
import { AbortError, NumericError } from '../core/errors.js';
import { benchmark, type BatchMeasurement } from '../lab/benchmark.js';
import type { Model } from '../runtime/model.js';
import { evaluate } from '../runtime/train.js';
import type { MeasureSettings } from './config.js';
import type { QualityMetric } from './objectives.js';

export interface TimingSummary {
  readonly batchSize: number;
  readonly medianMs: number;
  readonly ciLowMs: number;
  readonly ciHighMs: number;
  readonly iterations: number;
  readonly converged: boolean;
}

export interface Measurements {
  /**
   * Everything evaluate() reported on the validation (selection) split. Absent in studies written before selection
   * moved off the test split: there `metric` is the test value.
   */
  readonly val?: NativeMetrics;
  /** Everything evaluate() reported on the held-out test split: reported, never optimized. */
  readonly test: NativeMetrics;
  /** The chosen quality metric on the selection split: the quality objective. */
  readonly metric: number;
  /** The chosen quality metric on the held-out test split. */
  readonly testMetric?: number;
  readonly latencyMs: number;
  readonly throughput: number;
  /** Bytes of the saved model file (spec + weights as petra writes them). */
  readonly sizeBytes: number;
  readonly parameters: number;
  /** In-memory bytes of parameters and buffers by dtype (Float, QInt8, …). */
  readonly bytesByDtype: Readonly<Record<string, number>>;
  readonly device: string;
  readonly timing: { readonly latency: TimingSummary; readonly throughput: TimingSummary };
  /**
   * Paired timing (see MeasureOptions.reference): the reference's medians measured alongside, and this model's own
   * raw numbers; `latencyMs` and `throughput` above are then the reference's known values scaled by the ratios.
   */
  readonly paired?: {
    readonly latencyMs: number;
    readonly throughput: number;
    readonly ownLatencyMs: number;
    readonly ownThroughput: number;
  };
}

/**
 * Weights a model holds, float or int8: elements of its parameters and of the buffers that are weights (a static
 * int8 model keeps its packed weights as buffers; BatchNorm statistics and quantization scales do not count).
 */
export function weightCount(model: Model): number {
  let n = 0;
  for (const p of model.parameters()) {
    if (/(running_mean|running_var|num_batches_tracked|wscale|scale|zero_point)$/.test(p.name)) continue;
    n += p.shape.reduce((a, b) => a * b, 1);
  }
  return n;
}

/** A FIFO mutex: one holder at a time, in call order. */
export class Lock {
  #tail: Promise<void> = Promise.resolve();
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((r) => {
      release = r;
    });
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

function summary(b: BatchMeasurement): TimingSummary {
  return {
    batchSize: b.batchSize,
    medianMs: b.medianMs,
    ciLowMs: b.ciLowMs,
    ciHighMs: b.ciHighMs,
    iterations: b.iterations,
    converged: b.converged,
  };
}

export interface MeasureOptions {
  readonly metric: QualityMetric;
  readonly settings: MeasureSettings;
  /** Where to save the model; its size is the size objective. Default: a temporary file, removed after. */
  readonly file?: string;
  readonly lock?: Lock;
  /** Timing repeats; the fastest median of each batch size is kept (default settings.repeats, else 2). */
  readonly repeats?: number;
  /**
   * Paired timing against a reference (the baseline) with known latency and throughput: the two are timed
   * alternately and this model's values are reported as the reference's × the measured ratios, so load that drifts
   * over a long search (other processes, thermal state) cancels out of the comparison.
   */
  readonly reference?: { readonly model: Model; readonly latencyMs: number; readonly throughput: number };
  /** Checked before each timing run (each takes up to timeCapMs per batch size): an abort ends the measurement there. */
  readonly signal?: AbortSignal;
}

/** The two quality splits: `select` (validation rows carved from the training data) and the held-out `test`. */
export interface QualitySplits {
  readonly select: TabularSplit | DeviceData;
  readonly test: TabularSplit | DeviceData;
}

export async function measureModel(
  model: Model,
  splits: QualitySplits,
  options: MeasureOptions,
): Promise<Measurements> {
  const quality = async (split: 'select' | 'test'): Promise<{ metrics: NativeMetrics; value: number }> => {
    const metrics = await evaluate(model, splits[split]);
    const value = metrics[options.metric];
    if (value === undefined || !Number.isFinite(value))
      throw new NumericError(`${split === 'select' ? 'validation' : 'test'} ${options.metric} is ${String(value)}`);
    return { metrics, value };
  };
  const val = await quality('select');
  const test = await quality('test');

  const { latencyBatch, throughputBatch, timeCapMs } = options.settings;
  const repeats = options.repeats ?? options.settings.repeats ?? 2;
  const batchSizes = latencyBatch === throughputBatch ? [latencyBatch] : [latencyBatch, throughputBatch];
  const ref = options.reference;
  // Other work on the machine only ever adds time, so of a few repeated measurements the fastest median is the
  // least disturbed one; the reference is timed alternately with the model, under the same load.
  const time = async (): Promise<{ own: Map<number, BatchMeasurement>; reference: Map<number, BatchMeasurement> }> => {
    const own = new Map<number, BatchMeasurement>();
    const reference = new Map<number, BatchMeasurement>();
    const keep = (into: Map<number, BatchMeasurement>, batches: BatchMeasurement[]): void => {
      for (const b of batches) {
        const prev = into.get(b.batchSize);
        if (!prev || b.medianMs < prev.medianMs) into.set(b.batchSize, b);
      }
    };
    const checkAbort = (): void => {
      if (options.signal?.aborted)
        throw new AbortError('the measurement was aborted', { cause: options.signal.reason });
    };
    for (let r = 0; r < repeats; r++) {
      checkAbort();
      keep(
        own,
        (await benchmark(model, { batchSizes, timeCapMs, targetRelativeCi: 0.02, warmupIterations: 5 })).batches,
      );
      checkAbort();
      if (ref)
        keep(
          reference,
          (await benchmark(ref.model, { batchSizes, timeCapMs, targetRelativeCi: 0.02, warmupIterations: 5 })).batches,
        );
    }
    return { own, reference };
  };
  const timed = options.lock ? await options.lock.run(time) : await time();
  const lat = timed.own.get(latencyBatch)!;
  const thr = timed.own.get(throughputBatch)!;
  let latencyMs = lat.medianMs;
  let throughput = thr.throughput;
  let paired: Measurements['paired'];
  if (ref) {
    const rl = timed.reference.get(latencyBatch)!;
    const rt = timed.reference.get(throughputBatch)!;
    latencyMs = ref.latencyMs * (lat.medianMs / rl.medianMs);
    throughput = ref.throughput * (thr.throughput / rt.throughput);
    paired = {
      latencyMs: rl.medianMs,
      throughput: rt.throughput,
      ownLatencyMs: lat.medianMs,
      ownThroughput: thr.throughput,
    };
  }

  const bytesByDtype: Record<string, number> = {};
  for (const p of model.parameters()) bytesByDtype[p.dtype] = (bytesByDtype[p.dtype] ?? 0) + p.bytes;
  let sizeBytes: number;
  if (options.file) {
    await model.save(options.file);
    sizeBytes = statSync(options.file).size;
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'petra-measure-'));
    try {
      const file = join(dir, 'model.pt');
      await model.save(file);
      sizeBytes = statSync(file).size;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    val: val.metrics,
    test: test.metrics,
    metric: val.value,
    testMetric: test.value,
    latencyMs,
    throughput,
    sizeBytes,
    parameters: weightCount(model),
    bytesByDtype,
    device: model.device,
    timing: { latency: summary(lat), throughput: summary(thr) },
    ...(paired ? { paired } : {}),
  };
}

/** The values of the four measures by study name (the evaluator reports all; the study keeps the chosen ones). */
export function measureValues(m: Measurements, metric: QualityMetric): Record<string, number> {
  return { [metric]: m.metric, latencyMs: m.latencyMs, throughput: m.throughput, sizeBytes: m.sizeBytes };
}

/** The quality metric on the held-out test split (a study written before the selection split: its only value). */
export function heldOutValue(m: Measurements, metric: QualityMetric): number {
  return m.testMetric ?? m.test[metric] ?? m.metric;
}

/** Whether `metric` was measured on a validation split (false: an older study, selected on its test split). */
export function selectedOnValidation(m: Measurements): boolean {
  return m.val !== undefined;
}
