/**
 * The one typed description of the native module (node-llama-cpp's AddonTypes). Everything in lib/ reaches
 * native/ through `binding()`; nothing else calls the addon.
 */
import { availableParallelism } from 'node:os';
import { ConfigError, errorFromCode } from '../core/errors.js';
import { loadAddon } from './loader.js';
import type { TensorData } from '../data/types.js';
import type { ModelSpec } from '../graph/types.js';

export interface NativeParameterInfo {
  name: string;
  shape: number[];
  dtype: string;
  bytes: number;
  buffer: boolean;
}

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
  /** Symmetric int8 weights of a source weight: codes within ±127 (bits 8, default) or ±63 (bits 7). */
  quantize?: { source: string; part: 'int8' | 'scale'; perChannel?: boolean; bits?: 7 | 8 };
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
  taylorScores(
    data: NativeDataset,
    options: { batches: number; batchSize: number; seed?: number },
  ): Promise<Record<string, TensorData>>;
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

export interface NativeDataset {
  size(): number;
  device(): string;
  dispose(): void;
  isDisposed(): boolean;
}

export interface NativeEpochResult {
  loss: number;
  batches: number;
  samples: number;
  seconds: number;
}
export interface NativeProgress {
  batch: number;
  batches: number;
  loss: number;
  seconds: number;
}

export interface NativeTrainer {
  trainEpoch(
    data: NativeDataset,
    options: { batchSize: number; lr?: number; seed: number; shuffle?: boolean; progressIntervalMs?: number },
    onProgress?: (p: NativeProgress) => void,
  ): Promise<NativeEpochResult>;
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

export interface NativeMetrics {
  loss: number;
  samples: number;
  accuracy?: number;
  macroF1?: number;
  rmse?: number;
  mae?: number;
}

export interface NativeCudaDevice {
  index: number;
  name: string;
  totalMemory: number;
  computeCapability: string;
}
/** Kernel ISA of petra's own vectorized int8 loops (fused GRU recurrence, uint8 max-pool); all give identical results. */
export type KernelIsa = 'avx512' | 'avx2' | 'baseline';

/**
 * int8 on this CPU. weightBits: 8 (codes ±127) where u8×s8 products add in int32 (VNNI, non-x86), 7 (±63) where
 * oneDNN / onnxruntime add them in saturating int16 pairs (x86 without VNNI, or oneDNN capped below VNNI).
 */
export interface NativeInt8Info {
  cpu: string;
  /** int8-relevant features present: avx2, avx512bw, avx512vnni, avxvnni, amx-int8. */
  cpuFlags: string[];
  vnni: boolean;
  weightBits: 7 | 8;
  reason: string;
  /** What oneDNN runs here (honours ONEDNN_MAX_CPU_ISA); '' when oneDNN does not say. */
  oneDnnIsa: string;
  /** oneDNN on worst-case 8-bit codes: 'exact', 'saturates (…)' or 'not run (…)'. */
  oneDnnProbe: string;
  kernelIsa: KernelIsa;
  kernelIsaReason: string;
  /** The clones this CPU can run. */
  kernelIsas: KernelIsa[];
}

export interface NativeInfo {
  libtorchVersion: string;
  napiVersion: number;
  threads: { intraOp: number; interOp: number; hardware: number };
  quantizedEngines: string[];
  quantizedEngine: string;
  blas: string;
  /**
   * How glibc serves LibTorch's large tensors: 'tensor-friendly' (petra raised the mmap and trim thresholds at load,
   * so activations of a few MiB are reused instead of page-faulted in on every call), 'environment' (GLIBC_TUNABLES
   * or MALLOC_* were set: left as given), 'default' (PETRA_MALLOC=default, or not glibc).
   */
  cHeap: { mode: 'tensor-friendly' | 'environment' | 'default'; mmapThreshold: number; trimThreshold: number };
  int8: NativeInt8Info;
  /** int8Gemm: CUDA int8 GEMM (torch._int_mm, LibTorch ≥ 2.1) is compiled in. */
  cuda: {
    available: boolean;
    compiled: boolean;
    int8Gemm: boolean;
    devices: NativeCudaDevice[];
    driverVersion?: number;
    runtimeVersion?: number;
  };
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
/** A TorchScript benchmark input: a per-sample shape (standard normal floats), or int64 token ids below `tokens`. */
export type ScriptInputShape = number[] | { shape: number[]; tokens: number };
export interface NativeScriptModel {
  benchmark(inputShapes: ScriptInputShape[], options?: NativeBenchOptions): Promise<NativeBenchResult[]>;
  forward(inputs: TensorData[]): TensorData;
  device(): string;
  /** The spec JSON petra's TorchScript export stores in the file ('' for any other TorchScript file). */
  petraSpec(): string;
  dispose(): void;
}

/**
 * LibTorch's memory as petra's counting CPU allocator sees it (process-wide: every thread and worker_thread), plus
 * the CUDA caching allocator's statistics per device where there is a GPU.
 */
export interface NativeMemoryStats {
  /** The counting allocator is LibTorch's CPU allocator (false with PETRA_MEMORY_TRACKING=0: the numbers are then 0). */
  tracking: boolean;
  /** Bytes of live CPU tensor storage. */
  currentBytes: number;
  /** The most `currentBytes` has been since the addon loaded or `resetPeakMemory()`. */
  peakBytes: number;
  /** The CPU memory cap (0: none); allocations beyond it fail with a DeviceError ("out of memory"). */
  capBytes: number;
  /** CPU allocations since the addon loaded, those still live, and those the cap refused. */
  allocations: number;
  liveAllocations: number;
  refusedAllocations: number;
  /** glibc's heap (mallinfo2; absent elsewhere): bytes in use (LibTorch's tensors included), free but kept, mmapped. */
  cHeap?: { inUseBytes: number; freeBytes: number; mmappedBytes: number };
  cuda: { device: string; allocatedBytes: number; peakAllocatedBytes: number; reservedBytes: number }[];
}

/**
 * A TorchScript module's frozen forward graph as plain data (native/torchscript_import.cc); value ids are LibTorch's
 * unique ids. lib/interop/torchscript-import.ts maps it onto a petra spec.
 */
export interface NativeTorchScriptValue {
  id: number;
  name: string;
  type: string;
}
/** A prim::Constant's value: numbers, booleans, null, strings, arrays, tensors (float32 / int32 data) or other. */
export type NativeTorchScriptConstant =
  | number
  | boolean
  | string
  | null
  | NativeTorchScriptConstant[]
  | { kind: 'tensor'; dtype: string; shape: number[]; data?: Float32Array | Int32Array }
  | { kind: 'other'; type: string };
export interface NativeTorchScriptNode {
  kind: string;
  inputs: number[];
  outputs: NativeTorchScriptValue[];
  /** file:line:col of the Python source (or of the serialized code), '' when unknown. */
  location: string;
  /** The submodule the op was inlined from, e.g. 'layer1.conv1'. */
  module?: string;
  value?: NativeTorchScriptConstant;
  blocks?: { inputs: NativeTorchScriptValue[]; outputs: number[]; nodes: NativeTorchScriptNode[] }[];
}
export interface NativeTorchScriptGraph {
  inputs: NativeTorchScriptValue[];
  outputs: number[];
  nodes: NativeTorchScriptNode[];
}

/** A model tensor a TorchScript submodule holds: `name` in the submodule, `from` in the model. */
export interface NativeTensorPlan {
  name: string;
  from: string;
  parameter: boolean;
}

/** An int8 layer's packed parameters, packed natively from the model's int8 weight, scale and bias tensors. */
export interface NativePackPlan {
  name: string;
  kind: 'linear' | 'conv1d' | 'conv2d';
  weight: string;
  scale: string;
  bias: string;
  perChannel: boolean;
  engine: string;
  stride?: number[];
  padding?: number[];
  dilation?: number[];
  groups?: number;
}

/** One submodule of an exported TorchScript module. */
export interface NativeSubmodulePlan {
  name: string;
  tensors: NativeTensorPlan[];
  packs: NativePackPlan[];
}

/** What saveTorchScript compiles and saves. */
export interface NativeTorchScriptPlan {
  className: string;
  source: string;
  path: string;
  modules: NativeSubmodulePlan[];
}

export interface NativeAddon {
  memoryStats(): NativeMemoryStats;
  /** bytes 0: no cap. On 'cuda:N' it sets the caching allocator's per-process memory fraction. */
  setMemoryCap(bytes: number, device?: string): void;
  resetPeakMemory(): void;
  /** Returns the C heap's free pages to the OS (glibc malloc_trim); true when it released any. */
  trimMemory(): boolean;
  benchmarkModel(model: NativeModel, options?: NativeBenchOptions): Promise<NativeBenchResult[]>;
  loadTorchScript(path: string, device: string): NativeScriptModel;
  /**
   * Compiles `source` (TorchScript: the forward method and its helpers) into a module with one submodule per entry of
   * `modules` — the model tensors it holds and the int8 packed parameters it packs — and saves it to `path`.
   */
  saveTorchScript(model: NativeModel, plan: NativeTorchScriptPlan): Promise<{ bytes: number }>;
  /** Loads and freezes (eval mode) a TorchScript module and describes its forward graph. */
  describeTorchScript(path: string): NativeTorchScriptGraph;
  buildModel(spec: ModelSpec, specJson: string, device: string, seed: number): NativeModel;
  readModelSpec(path: string): string;
  createDataset(split: { inputs: TensorData[]; target: TensorData }, device: string): NativeDataset;
  createTrainer(model: NativeModel, options: NativeTrainerOptions): NativeTrainer;
  evaluate(model: NativeModel, data: NativeDataset, options?: { batchSize?: number }): Promise<NativeMetrics>;
  /** Value ranges ([min, max]) of every graph input and node output over `batches` batches (int8 calibration). */
  calibrate(
    model: NativeModel,
    data: NativeDataset,
    options: { batches: number; batchSize: number; observer: 'minmax' | 'moving_average' },
  ): Promise<Record<string, [number, number]>>;
  info(): NativeInfo;
  /** Intra-op threads of the compute thread that runs every async operation; `onlyIfUnset` installs a default. */
  setThreads(n: number, onlyIfUnset?: boolean): void;
  setQuantizedEngine(name: string): void;
  /** Process-wide: which clone of petra's int8 kernels runs (PETRA_CPU_ISA picks one at load). */
  setKernelIsa(isa: KernelIsa): void;
  setErrorFactory(factory: (code: string, message: string) => Error): void;
}

let loaded: { addon: NativeAddon; path: string } | undefined;

/** Loads the addon once per JS environment (main thread or worker), wiring typed errors and default threads. */
export function binding(): NativeAddon {
  if (!loaded) {
    const cap = process.env.PETRA_CPU_MEMORY_CAP_MB;
    // The addon reads it once, when it loads; a value it cannot use must not silently mean "no cap".
    if (cap !== undefined && cap !== '' && !(Number(cap) > 0)) {
      throw new ConfigError(`PETRA_CPU_MEMORY_CAP_MB='${cap}' is not a positive number of MiB (unset it for no cap)`);
    }
    // oneDNN and ideep cache up to 1024 compiled kernels (primitives) each, read once at first use. A search compiles
    // new ones for every pruned shape, so with those defaults the C heap of a long search grows by ~0.8 MB per
    // candidate for its first ~30 candidates before the caches fill; 256 holds the baseline's and a candidate's
    // kernels (≤ ~170 measured) and fills within ~8 candidates (bench/soak.ts).
    process.env.ONEDNN_PRIMITIVE_CACHE_CAPACITY ??= '256';
    process.env.LRU_CACHE_CAPACITY ??= '256';
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
