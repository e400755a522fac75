/**
 * ONNX models run by onnxruntime-node (CPU execution provider), with the measurement lab's timing loop, so a petra
 * model, its TorchScript twin and its ONNX export are measured the same way on the same host (`benchmark`, `compare`).
 *
 * onnxruntime-node is an optional peer: it is loaded on first use, and a missing install is one ConfigError that
 * says how to add it. Its `session.run()` computes synchronously on the JS thread inside a setImmediate, so each
 * timed forward here includes that hop and the tensor wrapping (≈ 7 µs on a 2-core EPYC, measured with an Identity
 * model) which petra's native loop does not pay; the report says so. Its pool threads do not spin-wait here (see
 * `spinning`), so they leave the cores to LibTorch between runs.
 */
import { readFile } from 'node:fs/promises';
import { binding, type NativeBenchOptions, type NativeBenchResult } from '../runtime/binding.js';
import type { TensorData } from '../data/types.js';
import { ConfigError, DisposedError, ShapeError } from '../core/errors.js';
import { toMeasurement, type BenchmarkOptions, type BenchmarkReport } from '../lab/benchmark.js';
import { hostFingerprint } from '../lab/fingerprint.js';
import type { Model } from '../runtime/model.js';
import { exportOnnx, type OnnxExportOptions } from './onnx-export.js';

// The part of onnxruntime-node's API petra uses, described here so petra's types never depend on it being installed.
type OrtTensorType =
  | 'float32'
  | 'int64'
  | 'int32'
  | 'uint8'
  | 'int8'
  | 'bool'
  | 'float64'
  | 'string'
  | 'float16'
  | 'int16'
  | 'uint16'
  | 'uint32'
  | 'uint64';
interface OrtTensor {
  readonly type: string;
  readonly data: ArrayLike<number> | ArrayLike<bigint>;
  readonly dims: readonly number[];
  dispose?(): void;
}
interface OrtValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: ReadonlyArray<number | string>;
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtSessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
  executionProviders?: string[];
  extra?: Record<string, unknown>;
}
interface OrtModule {
  InferenceSession: { create(source: string | Uint8Array, options?: OrtSessionOptions): Promise<OrtSession> };
  Tensor: new (type: OrtTensorType, data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
  env: { versions?: { node?: string; common?: string } };
}

let ortPromise: Promise<OrtModule> | undefined;

/** onnxruntime-node, loaded once; a ConfigError naming the fix when it is not installed. */
export function loadOnnxRuntime(): Promise<OrtModule> {
  ortPromise ??= import('onnxruntime-node').then(
    (m: unknown) => ((m as { default?: OrtModule }).default ?? m) as OrtModule,
    (error: unknown) => {
      ortPromise = undefined;
      throw new ConfigError(
        `running ONNX models needs onnxruntime-node (${error instanceof Error ? error.message.split('\n')[0] : String(error)}): ` +
          'install it with `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node` (its CPU binaries ship in the package; the skip avoids its optional CUDA download)',
        'onnxruntime',
      );
    },
  );
  return ortPromise;
}

export interface OnnxLoadOptions {
  /** Intra-op threads (default: petra's LibTorch thread count, so both runtimes use the same cores). */
  threads?: number;
  /** onnxruntime graph optimizations (default 'all': QDQ groups fused into integer kernels). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Per-sample shapes (no batch dim), one per input, for inputs whose non-batch dimensions are symbolic. */
  inputShapes?: number[][];
  /**
   * Let onnxruntime's pool threads spin-wait for work after a run (its default; default here false). In a process
   * that also runs LibTorch they keep the cores busy after every run: a petra forward timed right after an
   * onnxruntime run (compare()'s interleaved rounds) took 44 ms instead of 0.3 ms on 2 cores until they stopped.
   */
  spinning?: boolean;
}

export interface OnnxInput {
  name: string;
  dtype: 'float32' | 'int64';
  shape: number[];
}

export interface OnnxBenchmarkReport extends BenchmarkReport {
  runtime: {
    name: 'onnxruntime-node';
    version: string;
    intraOpThreads: number;
    executionProvider: 'cpu';
    graphOptimizationLevel: string;
    note: string;
  };
}

const JS_PATH_NOTE =
  "timed around session.run() from JS: includes onnxruntime-node's setImmediate hop and tensor wrapping (a few µs per call) that petra's native loop does not pay";

function checkBenchOptions(o: NativeBenchOptions): Required<Omit<NativeBenchOptions, 'cudaGraph'>> {
  if (o.cudaGraph)
    throw new ConfigError(
      "CUDA-graph mode is for LibTorch models on a CUDA device; ONNX models run on onnxruntime's CPU provider here",
      'cudaGraph',
    );
  for (const b of o.batchSizes ?? [])
    if (!Number.isInteger(b) || b < 1) throw new ConfigError('must be positive integers', 'batchSizes');
  if (o.targetRelativeCi !== undefined && !(o.targetRelativeCi >= 0))
    throw new ConfigError('must be ≥ 0 (0: run to the iteration or time limit)', 'targetRelativeCi');
  if (o.minIterations !== undefined && !(o.minIterations >= 1)) throw new ConfigError('must be ≥ 1', 'minIterations');
  const minIterations = Math.max(1, Math.floor(o.minIterations ?? 20));
  return {
    batchSizes: o.batchSizes ?? [1],
    warmupIterations: o.warmupIterations ?? 10,
    warmupMs: o.warmupMs ?? 150,
    minIterations,
    maxIterations: Math.max(minIterations, Math.floor(o.maxIterations ?? 100000)),
    targetRelativeCi: o.targetRelativeCi ?? 0.02,
    timeCapMs: o.timeCapMs ?? 3000,
  };
}

/** The distribution-free 95% interval of the median (ranks n/2 ∓ 1.96·√n/2), as native/bench.cc computes it. */
function medianCi(samples: number[]): [number, number] {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const half = (1.96 * Math.sqrt(n)) / 2;
  return [s[Math.max(0, Math.floor(n / 2 - half))]!, s[Math.min(n - 1, Math.ceil(n / 2 + half))]!];
}

/** Seeded standard normals (Box–Muller over mulberry32): benchmark inputs like the native loop's torch::randn. */
function normals(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const th = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = r * Math.sin(th);
  }
  return out;
}

/** An ONNX model in an onnxruntime CPU session. */
export class OnnxModel {
  readonly source: string;
  readonly inputs: OnnxInput[];
  readonly outputName: string;
  readonly device = 'cpu';
  readonly threads: number;
  readonly graphOptimizationLevel: string;
  #ort: OrtModule;
  #session: OrtSession | undefined;

  private constructor(
    source: string,
    ort: OrtModule,
    session: OrtSession,
    inputs: OnnxInput[],
    threads: number,
    level: string,
  ) {
    this.source = source;
    this.#ort = ort;
    this.#session = session;
    this.inputs = inputs;
    this.outputName = session.outputNames[0]!;
    this.threads = threads;
    this.graphOptimizationLevel = level;
  }

  /** Loads an .onnx file (or its bytes) into a CPU session. */
  static async load(source: string | Uint8Array, options: OnnxLoadOptions = {}): Promise<OnnxModel> {
    const ort = await loadOnnxRuntime();
    const threads = options.threads ?? binding().info().threads.intraOp;
    if (!Number.isInteger(threads) || threads < 1)
      throw new ConfigError(`must be a positive integer, got ${String(threads)}`, 'threads');
    const level = options.graphOptimizationLevel ?? 'all';
    const bytes =
      typeof source === 'string'
        ? await readFile(source).catch((e: unknown) => {
            throw new ConfigError(`cannot read '${source}': ${e instanceof Error ? e.message : String(e)}`, 'model');
          })
        : source;
    let session: OrtSession;
    try {
      const spin = options.spinning === true ? '1' : '0';
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: level,
        executionProviders: ['cpu'],
        extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
      });
    } catch (e) {
      throw new ConfigError(
        `onnxruntime cannot load ${typeof source === 'string' ? `'${source}'` : 'the model'}: ${e instanceof Error ? e.message : String(e)}`,
        'model',
      );
    }
    const meta = session.inputMetadata ?? [];
    const inputs = session.inputNames.map((name, i): OnnxInput => {
      const m = meta.find((x) => x.name === name);
      const given = options.inputShapes?.[i];
      const dims = (m?.shape ?? []).slice(1);
      const shape = given ?? dims.map((d) => (typeof d === 'number' && d > 0 ? d : Number.NaN));
      if (shape.some((d) => !Number.isInteger(d) || d < 1)) {
        void session.release();
        throw new ConfigError(
          `input '${name}' has symbolic dimensions [${dims.join(', ')}]: give its per-sample shape (inputShapes / --input)`,
          'inputShapes',
        );
      }
      const type = m?.type ?? 'float32';
      if (type !== 'float32' && type !== 'int64') {
        void session.release();
        throw new ConfigError(`input '${name}' is ${type}: petra feeds float32 and int64 inputs`, 'model');
      }
      return { name, dtype: type, shape };
    });
    return new OnnxModel(typeof source === 'string' ? source : '<bytes>', ort, session, inputs, threads, level);
  }

  /** Exports a petra model in memory (exportOnnx) and loads it. */
  static async fromModel(model: Model, options: OnnxLoadOptions & OnnxExportOptions = {}): Promise<OnnxModel> {
    return OnnxModel.load(exportOnnx(model, options).bytes, options);
  }

  get session(): OrtSession {
    if (!this.#session) throw new DisposedError('ONNX model');
    return this.#session;
  }

  #tensor(input: OnnxInput, data: Float32Array | Int32Array, dims: number[]): OrtTensor {
    if (input.dtype === 'int64') {
      const v = new BigInt64Array(data.length);
      for (let i = 0; i < data.length; i++) v[i] = BigInt(Math.trunc(data[i]!));
      return new this.#ort.Tensor('int64', v, dims);
    }
    return new this.#ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), dims);
  }

  /** Inference over all samples in batches (like Model.forward); returns the output rows as float32. */
  async forward(inputs: TensorData | TensorData[], options: { batchSize?: number } = {}): Promise<TensorData> {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    if (list.length !== this.inputs.length)
      throw new ShapeError(`the model takes ${this.inputs.length} input(s), got ${list.length}`);
    const n = list[0]!.shape[0]!;
    list.forEach((t, i) => {
      const want = this.inputs[i]!.shape;
      if (t.shape[0] !== n || t.shape.length !== want.length + 1 || want.some((d, k) => t.shape[k + 1] !== d)) {
        throw new ShapeError(
          `input '${this.inputs[i]!.name}' must be [N, ${want.join(', ')}] with the same N for all inputs, got [${t.shape.join(', ')}]`,
        );
      }
    });
    const batch = options.batchSize ?? 256;
    if (!Number.isInteger(batch) || batch < 1) throw new ConfigError('must be a positive integer', 'batchSize');
    const chunks: Float32Array[] = [];
    let rowShape: number[] = [];
    for (let start = 0; start < n; start += batch) {
      const len = Math.min(batch, n - start);
      const feeds: Record<string, OrtTensor> = {};
      list.forEach((t, i) => {
        const input = this.inputs[i]!;
        const row = input.shape.reduce((a, b) => a * b, 1);
        feeds[input.name] = this.#tensor(input, t.data.subarray(start * row, (start + len) * row), [
          len,
          ...input.shape,
        ]);
      });
      const out = (await this.session.run(feeds))[this.outputName]!;
      rowShape = out.dims.slice(1) as number[];
      chunks.push(out.data instanceof Float32Array ? out.data : Float32Array.from(out.data as ArrayLike<number>));
    }
    const total = chunks.reduce((a, c) => a + c.length, 0);
    const data = new Float32Array(total);
    let offset = 0;
    for (const c of chunks) {
      data.set(c, offset);
      offset += c.length;
    }
    return { data, shape: [n, ...rowShape] };
  }

  /**
   * The lab's timing loop (native/bench.cc's, in JS): warm up, then time single forwards until the median's 95% CI
   * is within `targetRelativeCi` or the time cap. Float inputs are seeded normals, int64 inputs zeros.
   */
  async timeForwards(options: NativeBenchOptions = {}): Promise<NativeBenchResult[]> {
    const o = checkBenchOptions(options);
    const session = this.session;
    const results: NativeBenchResult[] = [];
    for (const batch of o.batchSizes) {
      const feeds: Record<string, OrtTensor> = {};
      this.inputs.forEach((input, i) => {
        const count = batch * input.shape.reduce((a, b) => a * b, 1);
        feeds[input.name] =
          input.dtype === 'int64'
            ? new this.#ort.Tensor('int64', new BigInt64Array(count), [batch, ...input.shape])
            : new this.#ort.Tensor('float32', normals(count, 1 + i), [batch, ...input.shape]);
      });
      const call = async (): Promise<number> => {
        const t0 = performance.now();
        await session.run(feeds);
        return performance.now() - t0;
      };
      const rssBefore = process.memoryUsage.rss();
      let rssPeak = rssBefore;
      const warmStart = performance.now();
      for (let i = 0; i < o.warmupIterations || (performance.now() - warmStart < o.warmupMs && i < 100000); i++)
        await call();
      const samples: number[] = [];
      let converged = false;
      const started = performance.now();
      while (samples.length < o.maxIterations) {
        samples.push(await call());
        const n = samples.length;
        if (n % 10 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
        if (n >= o.minIterations && n % 5 === 0) {
          const [lo, hi] = medianCi(samples);
          const sorted = [...samples].sort((a, b) => a - b);
          const med = sorted[Math.floor(n / 2)]!;
          if (med > 0 && (hi - lo) / med <= o.targetRelativeCi) {
            converged = true;
            break;
          }
        }
        if (performance.now() - started >= o.timeCapMs && n >= Math.min(o.minIterations, 5)) break;
      }
      const [ciLowMs, ciHighMs] = medianCi(samples);
      results.push({
        batchSize: batch,
        samplesMs: Float64Array.from(samples),
        ciLowMs,
        ciHighMs,
        converged,
        peakBytes: Math.max(0, rssPeak - rssBefore),
        peakKind: 'cpu-rss-delta',
      });
    }
    return results;
  }

  /** Latency and throughput per batch size, in the lab's report shape (plus the runtime that ran it). */
  async benchmark(options: BenchmarkOptions = {}): Promise<OnnxBenchmarkReport> {
    const results = await this.timeForwards(options);
    const versions = this.#ort.env.versions ?? {};
    return {
      device: 'cpu',
      cudaGraph: false,
      batches: results.map(toMeasurement),
      host: hostFingerprint('cpu'),
      runtime: {
        name: 'onnxruntime-node',
        version: versions.node ?? versions.common ?? 'unknown',
        intraOpThreads: this.threads,
        executionProvider: 'cpu',
        graphOptimizationLevel: this.graphOptimizationLevel,
        note: JS_PATH_NOTE,
      },
    };
  }

  dispose(): void {
    const s = this.#session;
    this.#session = undefined;
    if (s) void s.release().catch(() => undefined);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
