/**
 * In-memory data as the native side takes it: one contiguous typed array per tensor, batch-first.
 * Float32Array becomes a float32 tensor; Int32Array becomes an int64 tensor (class labels, categorical codes).
 */
export interface TensorData {
  data: Float32Array | Int32Array;
  /** Full shape including the sample dimension first: [N, ...]. */
  shape: number[];
}

export type TaskKind = 'classification' | 'regression';

export interface TabularSplit {
  /** One entry per model input (in the order of the spec's `inputs`). */
  inputs: TensorData[];
  /** Classification: Int32Array of shape [N] with labels 0..classes-1. Regression: Float32Array [N, targets]. */
  target: TensorData;
}

export interface LoadedDataset {
  name: string;
  task: { kind: 'classification'; classes: number; labels?: string[] } | { kind: 'regression'; targets: number };
  train: TabularSplit;
  val?: TabularSplit;
  test: TabularSplit;
  /** Masks for padded unequal-length series, if any (1 = real sample, 0 = padding), shape [N, T]. */
  meta?: Record<string, unknown>;
}

export function sampleCount(split: TabularSplit): number {
  return split.target.shape[0] ?? 0;
}
