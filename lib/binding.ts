/**
 * The one typed description of the native module (node-llama-cpp's AddonTypes). Everything in lib/ reaches
 * native/ through `binding()`; nothing else calls the addon.
 */
import { availableParallelism } from 'node:os';
import { errorFromCode } from './errors.js';
import { loadAddon } from './loader.js';
import type { TensorData } from './data/types.js';
import type { ModelSpec } from './spec/types.js';

export interface NativeParameterInfo { name: string; shape: number[]; dtype: string; bytes: number; buffer: boolean }

/**
 * How `derive` fills one parameter or buffer of the new model. Exactly one of `source`, `data`, `svd`.
 * Tensors are addressed by name: `<node>.<param>` (e.g. `block1_conv.weight`, `fc1.bias`, `bn.running_mean`,
 * `gru.weight_ih_l0`, `lr_fc.U` / `.S` / `.Vh` for lowrank_* nodes).
 */
export interface NativeTensorRecipe {
  /** Copy a tensor of the source model, then apply `slices` in order (index_select along dim). */
  source?: string;
  slices?: { dim: number; index: Int32Array }[];
  /** Explicit float32 values. */
  data?: TensorData;
  /**
   * A factor of the SVD of a source weight reshaped to (out, rest): W = U·diag(S)·Vh truncated to `rank`
   * (U: [out, rank], S: [rank], Vh: [rank, rest]); the destination's shape decides the final reshape.
   */
  svd?: { source: string; part: 'U' | 'S' | 'Vh'; rank: number };
  /** Symmetric int8 quantization of a source weight (per output channel or per tensor): the int8 values or the scales. */
  quantize?: { source: string; part: 'int8' | 'scale'; perChannel?: boolean };
}

export interface NativeModel {
  /**
   * A new model for `spec` on the same device. Each of its tensors comes from `recipes[name]` when given, else from the
   * same-named tensor of this model (shapes must match), else it is an error naming the tensor. This model is untouched.
   */
  derive(spec: ModelSpec, specJson: string, recipes: Record<string, NativeTensorRecipe>): NativeModel;
  /** CPU float32 copies of named parameters and buffers (all when `names` is omitted). */
  tensors(names?: string[]): Record<string, TensorData>;
  /** Σ over `batches` training batches of |w · ∂L/∂w| per parameter (first-order Taylor importance). */
  taylorScores(data: NativeDataset, options: { batches: number; batchSize: number; seed?: number }): Promise<Record<string, TensorData>>;
  /** Singular values (descending) of each named weight reshaped to (out, rest). */
  singularValues(names: string[]): Record<string, Float32Array>;
  parameterCount(): number;
  parameters(): NativeParameterInfo[];
  device(): string;
  to(device: string): void;
  forward(inputs: TensorData[], batchSize?: number): Promise<TensorData>;
  save(path: string): Promise<void>;
  loadWeights(path: string): Promise<void>;
  clone(): NativeModel;
  specJson(): string;
  dispose(): void;
  isDisposed(): boolean;
}

export interface NativeDataset { size(): number; device(): string; dispose(): void; isDisposed(): boolean }

export interface NativeEpochResult { loss: number; batches: number; samples: number; seconds: number }
export interface NativeProgress { batch: number; batches: number; loss: number; seconds: number }

export interface NativeTrainer {
  trainEpoch(data: NativeDataset, options: { batchSize: number; lr?: number; seed: number; shuffle?: boolean; progressIntervalMs?: number },
    onProgress?: (p: NativeProgress) => void): Promise<NativeEpochResult>;
  cancel(): void;
  dispose(): void;
}

export interface NativeTrainerOptions {
  optimizer: 'sgd' | 'adam' | 'adamw';
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  loss?: 'cross_entropy' | 'mse';
  /** Loss regularizers (see native/trainer.cc): orthogonality and Hoyer on lowrank_* layers, L1 on weights. */
  orthogonality?: number;
  hoyer?: number;
  l1?: number;
}

export interface NativeMetrics { loss: number; samples: number; accuracy?: number; macroF1?: number; rmse?: number; mae?: number }

export interface NativeCudaDevice { index: number; name: string; totalMemory: number; computeCapability: string }
export interface NativeInfo {
  libtorchVersion: string;
  napiVersion: number;
  threads: { intraOp: number; interOp: number; hardware: number };
  quantizedEngines: string[];
  quantizedEngine: string;
  blas: string;
  /** int8Gemm: CUDA int8 GEMM (torch._int_mm, LibTorch ≥ 2.1) is compiled in. */
  cuda: { available: boolean; compiled: boolean; int8Gemm: boolean; devices: NativeCudaDevice[]; driverVersion?: number; runtimeVersion?: number };
}

/** The native timing loop's options (lib/lab/benchmark.ts re-exports them as BenchmarkOptions). */
export interface NativeBenchOptions {
  batchSizes?: number[];
  warmupIterations?: number;
  /** Warm up for at least this long too (default 150 ms): first calls pay for kernel selection and thread start. */
  warmupMs?: number;
  minIterations?: number;
  maxIterations?: number;
  /** Stop once (CI high − CI low) / median ≤ this (default 0.02; 0: run to the iteration or time limit). */
  targetRelativeCi?: number;
  /** Per batch size (default 3000 ms). */
  timeCapMs?: number;
  /** CUDA only: capture the forward in a CUDA graph once and time its replays (no CPU launch overhead). */
  cudaGraph?: boolean;
}
export interface NativeBenchResult {
  batchSize: number;
  samplesMs: Float64Array;
  ciLowMs: number;
  ciHighMs: number;
  converged: boolean;
  peakBytes: number;
  peakKind: 'cuda-max-allocated' | 'cpu-rss-delta';
}
export interface NativeScriptModel {
  benchmark(inputShapes: number[][], options?: NativeBenchOptions): Promise<NativeBenchResult[]>;
  forward(inputs: TensorData[]): TensorData;
  device(): string;
  dispose(): void;
}

export interface NativeAddon {
  benchmarkModel(model: NativeModel, options?: NativeBenchOptions): Promise<NativeBenchResult[]>;
  loadTorchScript(path: string, device: string): NativeScriptModel;
  buildModel(spec: ModelSpec, specJson: string, device: string, seed: number): NativeModel;
  readModelSpec(path: string): string;
  createDataset(split: { inputs: TensorData[]; target: TensorData }, device: string): NativeDataset;
  createTrainer(model: NativeModel, options: NativeTrainerOptions): NativeTrainer;
  evaluate(model: NativeModel, data: NativeDataset, options?: { batchSize?: number }): Promise<NativeMetrics>;
  /** Value ranges ([min, max]) of every graph input and node output over `batches` batches (int8 calibration). */
  calibrate(model: NativeModel, data: NativeDataset, options: { batches: number; batchSize: number; observer: 'minmax' | 'moving_average' }): Promise<Record<string, [number, number]>>;
  info(): NativeInfo;
  /** Intra-op threads of the compute thread that runs every async operation; `onlyIfUnset` installs a default. */
  setThreads(n: number, onlyIfUnset?: boolean): void;
  setQuantizedEngine(name: string): void;
  setErrorFactory(factory: (code: string, message: string) => Error): void;
}

let loaded: { addon: NativeAddon; path: string } | undefined;

/** Loads the addon once per JS environment (main thread or worker), wiring typed errors and default threads. */
export function binding(): NativeAddon {
  if (!loaded) {
    loaded = loadAddon<NativeAddon>();
    loaded.addon.setErrorFactory(errorFromCode);
    // LibTorch starts with 1 intra-op thread on small machines; use the cores we were given. The count is
    // process-wide (one compute thread), so a worker_thread loading petra must not undo the user's setThreads().
    const threads = Number(process.env.PETRA_THREADS) || availableParallelism();
    loaded.addon.setThreads(threads, true);
  }
  return loaded.addon;
}

export function bindingPath(): string {
  binding();
  return loaded!.path;
}
