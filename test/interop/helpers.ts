// Shared pieces of the ONNX interop tests: the five model families at test size, synthetic data, and the
// petra-vs-onnxruntime comparisons (max abs diff, agreement within one int8 step, top-1).
import type { TabularSplit, TensorData } from '../../lib/data/types.js';
import { Model } from '../../lib/runtime/model.js';
import { gruSequenceClassifier, inceptionTime, mlp, resnetCifar, smallCnn } from '../../lib/graph/builders.js';
import type { ModelSpec } from '../../lib/graph/types.js';
import { train } from '../../lib/runtime/train.js';
import { floatTensor, intTensor } from '../helpers/tiny.js';

export interface Family {
  name: string;
  spec: () => ModelSpec;
  data: (n: number, seed: number) => TabularSplit;
}

function labels(n: number, classes: number, seed: number): TensorData {
  const t = intTensor([n], classes, seed);
  return { data: t.data, shape: [n] };
}

export const FAMILIES: Family[] = [
  {
    name: 'mlp',
    spec: () => mlp({ inputShape: [20], hidden: [32, 16], batchnorm: true, classes: 3 }),
    data: (n, seed) => ({ inputs: [floatTensor([n, 20], seed)], target: labels(n, 3, seed) }),
  },
  {
    name: 'small CNN',
    spec: () => smallCnn({ inputShape: [1, 16, 16], classes: 4, widths: [8, 16], hidden: 32 }),
    data: (n, seed) => ({ inputs: [floatTensor([n, 1, 16, 16], seed)], target: labels(n, 4, seed) }),
  },
  {
    name: 'ResNet',
    spec: () => resnetCifar({ depth: 8, widthMultiplier: 0.5, inputShape: [3, 16, 16], classes: 4 }),
    data: (n, seed) => ({ inputs: [floatTensor([n, 3, 16, 16], seed)], target: labels(n, 4, seed) }),
  },
  {
    name: 'InceptionTime',
    spec: () =>
      inceptionTime({ inputShape: [2, 64], depth: 3, filters: 8, kernelSizes: [9, 5, 3], bottleneck: 8, classes: 3 }),
    data: (n, seed) => ({ inputs: [floatTensor([n, 2, 64], seed)], target: labels(n, 3, seed) }),
  },
  {
    name: 'GRU',
    spec: () =>
      gruSequenceClassifier({
        seqLen: 12,
        categorical: [{ name: 'mcc', cardinality: 20, embeddingDim: 4 }],
        numericFeatures: 3,
        hiddenSize: 16,
        numLayers: 2,
        bidirectional: true,
        headHidden: 8,
        classes: 2,
      }),
    data: (n, seed) => ({
      inputs: [intTensor([n, 12], 20, seed), floatTensor([n, 12, 3], seed)],
      target: labels(n, 2, seed),
    }),
  },
];

/** A family's model, seeded and trained one short epoch on synthetic data (so BatchNorm statistics are not trivial). */
export async function trainedModel(f: Family, seed = 1): Promise<Model> {
  const model = Model.build(f.spec(), { device: 'cpu', seed });
  await train(
    model,
    { train: f.data(128, seed + 10) },
    { epochs: 1, batchSize: 32, optimizer: 'adam', lr: 1e-3, seed },
  );
  return model;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * One quantization step of the model's output: the output scale of a static int8 output layer (its outputs are
 * multiples of it), else the step of a uint8 quantization of the reference outputs' range.
 */
export function outputStep(model: Model, ref: ArrayLike<number>): number {
  const out = model.spec.nodes.find((n) => n.name === model.spec.output);
  const a = out?.attrs as { outScale?: number; dynamic?: boolean } | undefined;
  if (a?.outScale !== undefined && a.dynamic !== true) return a.outScale;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < ref.length; i++) {
    lo = Math.min(lo, ref[i]!);
    hi = Math.max(hi, ref[i]!);
  }
  return (hi - lo) / 255;
}

/** Share of outputs within one step (plus float slack) of the reference. */
export function withinOneStep(ref: ArrayLike<number>, got: ArrayLike<number>, step: number): number {
  let k = 0;
  for (let i = 0; i < ref.length; i++) if (Math.abs(ref[i]! - got[i]!) <= step * (1 + 1e-3) + 1e-6) k++;
  return k / ref.length;
}

export function argmaxRows(t: TensorData): Int32Array {
  const n = t.shape[0]!;
  const c = t.data.length / n;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (t.data[i * c + j]! > t.data[i * c + best]!) best = j;
    out[i] = best;
  }
  return out;
}

export function accuracy(pred: Int32Array, target: TensorData): number {
  let k = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === target.data[i]) k++;
  return k / pred.length;
}
