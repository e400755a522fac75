/**
 * Trustworthy latency and throughput: the native loop times single forwards (CUDA events on GPU) until the median's
 * 95% confidence interval is narrow enough or a time cap is hit; this file turns samples into a report.
 */
import {
  binding,
  type NativeBenchOptions,
  type NativeBenchResult,
  type NativeScriptModel,
  type ScriptInputShape,
} from '../runtime/binding.js';
import type { ModelSpec } from '../graph/types.js';
import { tokenBound } from '../graph/validate.js';
import { ConfigError, DisposedError } from '../core/errors.js';
import type { Model } from '../runtime/model.js';
import { hostFingerprint, type HostFingerprint } from './fingerprint.js';
import { summarize, type LatencySummary } from './stats.js';

export type BenchmarkOptions = NativeBenchOptions;

export interface BatchMeasurement extends LatencySummary {
  batchSize: number;
  ciLowMs: number;
  ciHighMs: number;
  converged: boolean;
  /** Samples per second at the median latency. */
  throughput: number;
  peakBytes: number;
  peakKind: string;
}

export interface BenchmarkReport {
  device: string;
  /** Timed as CUDA-graph replays (options.cudaGraph). */
  cudaGraph: boolean;
  batches: BatchMeasurement[];
  host: HostFingerprint;
}

function checkOptions(o: BenchmarkOptions, device: string): NativeBenchOptions {
  if (o.cudaGraph && !device.startsWith('cuda'))
    throw new ConfigError(`CUDA-graph mode needs a model on a CUDA device (this one is on ${device})`, 'cudaGraph');
  for (const b of o.batchSizes ?? [])
    if (!Number.isInteger(b) || b < 1) throw new ConfigError('must be positive integers', 'batchSizes');
  if (o.targetRelativeCi !== undefined && !(o.targetRelativeCi >= 0))
    throw new ConfigError('must be ≥ 0 (0: run to the iteration or time limit)', 'targetRelativeCi');
  if (o.minIterations !== undefined && !(o.minIterations >= 1)) throw new ConfigError('must be ≥ 1', 'minIterations');
  return { ...o };
}

export function toMeasurement(r: NativeBenchResult): BatchMeasurement {
  const s = summarize(r.samplesMs);
  return {
    batchSize: r.batchSize,
    ...s,
    ciLowMs: r.ciLowMs,
    ciHighMs: r.ciHighMs,
    converged: r.converged,
    throughput: r.batchSize / (s.medianMs / 1000),
    peakBytes: r.peakBytes,
    peakKind: r.peakKind,
  };
}

/** Runs the native timing loop for a model on `device` and turns its samples into a report. */
async function measure(
  device: string,
  options: BenchmarkOptions,
  run: (o: NativeBenchOptions) => Promise<NativeBenchResult[]>,
): Promise<BenchmarkReport> {
  const results = await run(checkOptions(options, device));
  return {
    device,
    cudaGraph: options.cudaGraph === true,
    batches: results.map(toMeasurement),
    host: hostFingerprint(device),
  };
}

/** Measures a petra model's inference latency per batch size (inputs synthesised from its spec). */
export async function benchmark(model: Model, options: BenchmarkOptions = {}): Promise<BenchmarkReport> {
  const native = model.native;
  return measure(model.device, options, (o) => binding().benchmarkModel(native, o));
}

/** Any TorchScript `.pt` (torch.jit.save), benchmarked with the same loop. */
export class TorchScriptModel {
  #native: NativeScriptModel | undefined;
  readonly path: string;
  private constructor(path: string, native: NativeScriptModel) {
    this.path = path;
    this.#native = native;
  }

  static load(path: string, options: { device?: string } = {}): TorchScriptModel {
    return new TorchScriptModel(path, binding().loadTorchScript(path, options.device ?? 'cpu'));
  }
  get native(): NativeScriptModel {
    if (!this.#native) throw new DisposedError('TorchScript model');
    return this.#native;
  }
  get device(): string {
    return this.native.device();
  }

  /** The petra spec of a file written by petra's TorchScript export (saveTorchScript), else undefined. */
  get petraSpec(): ModelSpec | undefined {
    const json = this.native.petraSpec();
    return json ? (JSON.parse(json) as ModelSpec) : undefined;
  }

  /**
   * The benchmark inputs of a petra-exported file, read from its spec (token inputs bounded by the smallest embedding
   * that reads them); undefined for other TorchScript files, whose input shapes only the user knows.
   */
  inputShapes(): ScriptInputShape[] | undefined {
    const spec = this.petraSpec;
    if (!spec) return undefined;
    return spec.inputs.map((inp) => {
      if (inp.dtype !== 'int64') return [...inp.shape];
      return { shape: [...inp.shape], tokens: tokenBound(spec, inp.name) ?? 1 };
    });
  }

  /** `inputShapes`: one per-sample shape per input, e.g. [[3, 224, 224]] (`{ shape, tokens }` for int64 token ids). */
  async benchmark(inputShapes: ScriptInputShape[], options: BenchmarkOptions = {}): Promise<BenchmarkReport> {
    const native = this.native;
    return measure(this.device, options, (o) => native.benchmark(inputShapes, o));
  }
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Parses `1x3x224x224` (batch first) into a batch size and a per-sample shape. */
export function parseInputShape(text: string): { batch: number; shape: number[] } {
  const dims = text.split(/[x×,]/).map((d) => Number(d.trim()));
  // int32 dims, and at most 2^31 − 1 elements per sample: 1e300 or 2^40 would reach LibTorch as an overflowing size.
  const perSample = dims.slice(1).reduce((a, b) => a * b, 1);
  if (
    dims.length < 2 ||
    dims.some((d) => !Number.isInteger(d) || d < 1 || d > 2 ** 31 - 1) ||
    perSample > 2 ** 31 - 1
  ) {
    throw new ConfigError(`'${text}' is not a shape like 1x3x224x224 (batch first)`, 'input');
  }
  return { batch: dims[0]!, shape: dims.slice(1) };
}
