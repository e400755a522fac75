/**
 * "Did it really speed up?" on a noisy machine: A and B are measured in interleaved rounds (the order alternates),
 * each round gives a paired ratio B/A, and a seeded bootstrap of the median ratio gives the confidence interval.
 */
import { binding, type NativeBenchOptions, type NativeBenchResult, type ScriptInputShape } from '../runtime/binding.js';
import { ConfigError } from '../core/errors.js';
import { Model } from '../runtime/model.js';
import { TorchScriptModel } from './benchmark.js';
import { hostFingerprint, type HostFingerprint } from './fingerprint.js';
import { mulberry32, quantileSorted, sortedCopy } from './stats.js';

/** Any model with the lab's timing loop, e.g. an ONNX model in onnxruntime (`OnnxModel`, lib/interop). */
export interface Timeable {
  readonly device: string;
  timeForwards(options: NativeBenchOptions): Promise<NativeBenchResult[]>;
}

export type Measurable = Model | { script: TorchScriptModel; inputShapes: ScriptInputShape[] } | Timeable;

export interface CompareOptions {
  rounds?: number;
  iterationsPerRound?: number;
  batchSize?: number;
  confidence?: number;
  /** Ratios within 1 ± tolerance count as the same speed (default 0.03). */
  tolerance?: number;
  seed?: number;
}

export interface Comparison {
  /** Median over rounds of (B's median latency / A's median latency): < 1 means B is faster. */
  ratio: number;
  ci: [number, number];
  confidence: number;
  verdict: 'faster' | 'same' | 'slower';
  baselineMedianMs: number;
  candidateMedianMs: number;
  rounds: number;
  batchSize: number;
  host: HostFingerprint;
}

function measure(m: Measurable, o: NativeBenchOptions): Promise<NativeBenchResult[]> {
  if (m instanceof Model) return binding().benchmarkModel(m.native, o);
  if ('script' in m) return m.script.native.benchmark(m.inputShapes, o);
  return m.timeForwards(o);
}

function medianOf(values: ArrayLike<number>): number {
  return quantileSorted(sortedCopy(values), 0.5);
}

/** Compares candidate B against baseline A. */
export async function compare(
  baseline: Measurable,
  candidate: Measurable,
  options: CompareOptions = {},
): Promise<Comparison> {
  const rounds = options.rounds ?? 12;
  const iterations = options.iterationsPerRound ?? 30;
  const batchSize = options.batchSize ?? 1;
  const confidence = options.confidence ?? 0.95;
  const tolerance = options.tolerance ?? 0.03;
  if (!Number.isInteger(rounds) || rounds < 3) throw new ConfigError('must be an integer ≥ 3', 'rounds');
  if (!(confidence > 0 && confidence < 1)) throw new ConfigError('must lie in (0, 1)', 'confidence');
  const block: NativeBenchOptions = {
    batchSizes: [batchSize],
    warmupIterations: 3,
    warmupMs: 20,
    minIterations: iterations,
    maxIterations: iterations,
    targetRelativeCi: 0,
    timeCapMs: 1e9,
  };
  const ratios: number[] = [];
  const aMedians: number[] = [];
  const bMedians: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0 ? baseline : candidate;
    const second = r % 2 === 0 ? candidate : baseline;
    const x = medianOf((await measure(first, block))[0]!.samplesMs);
    const y = medianOf((await measure(second, block))[0]!.samplesMs);
    const [a, b] = r % 2 === 0 ? [x, y] : [y, x];
    aMedians.push(a);
    bMedians.push(b);
    ratios.push(b / a);
  }
  const random = mulberry32(options.seed ?? 12345);
  const boot: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const sample = Array.from({ length: ratios.length }, () => ratios[Math.floor(random() * ratios.length)]!);
    boot.push(medianOf(sample));
  }
  boot.sort((a, b) => a - b);
  const alpha = (1 - confidence) / 2;
  const ci: [number, number] = [quantileSorted(boot, alpha), quantileSorted(boot, 1 - alpha)];
  const verdict = ci[1] < 1 - tolerance ? 'faster' : ci[0] > 1 + tolerance ? 'slower' : 'same';
  const device = baseline instanceof Model || !('script' in baseline) ? baseline.device : baseline.script.device;
  return {
    ratio: medianOf(ratios),
    ci,
    confidence,
    verdict,
    baselineMedianMs: medianOf(aMedians),
    candidateMedianMs: medianOf(bMedians),
    rounds,
    batchSize,
    host: hostFingerprint(device),
  };
}
