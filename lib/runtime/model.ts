/**
 * A LibTorch model built from a graph spec. Lifetime is covered twice: the native finalizer frees it when
 * garbage-collected, and `dispose()` (idempotent, also `using`) frees it now.
 */
import { binding, type NativeModel, type NativeParameterInfo } from './binding.js';
import type { TensorData } from '../data/types.js';
import { DisposedError } from '../core/errors.js';
import { validateSpec } from '../graph/validate.js';
import type { ModelSpec } from '../graph/types.js';

export type Device = 'cpu' | `cuda` | `cuda:${number}`;

export interface BuildOptions {
  device?: Device | string;
  /** Seeds weight initialization; the same seed gives the same weights. */
  seed?: number;
}

export class Model {
  readonly spec: ModelSpec;
  #native: NativeModel | undefined;

  private constructor(spec: ModelSpec, native: NativeModel) {
    this.spec = spec;
    this.#native = native;
  }

  /** Validates the spec (errors name the offending path) and builds the module on the device. */
  static build(spec: unknown, options: BuildOptions = {}): Model {
    const valid = validateSpec(spec);
    const native = binding().buildModel(valid, JSON.stringify(valid), options.device ?? 'cpu', options.seed ?? -1);
    return new Model(valid, native);
  }

  /** @internal Wraps a native model made by a compression operator (derive, quantize) with its spec. */
  static fromNative(spec: ModelSpec, native: NativeModel): Model {
    return new Model(spec, native);
  }

  /** Loads a file written by `save()`: spec and weights, onto the device. */
  static async load(path: string, options: { device?: Device | string } = {}): Promise<Model> {
    const spec = JSON.parse(binding().readModelSpec(path)) as unknown;
    const model = Model.build(spec, { device: options.device ?? 'cpu' });
    try {
      await model.native.loadWeights(path);
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  }

  /** @internal The native handle; throws once disposed. */
  get native(): NativeModel {
    if (!this.#native) throw new DisposedError('model');
    return this.#native;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }
  get device(): string {
    return this.native.device();
  }
  get parameterCount(): number {
    return this.native.parameterCount();
  }
  parameters(): NativeParameterInfo[] {
    return this.native.parameters();
  }

  to(device: Device | string): this {
    this.native.to(device);
    return this;
  }

  /** Inference (eval mode, no autograd) over all samples in batches; returns the output rows. */
  async forward(inputs: TensorData | TensorData[], options: { batchSize?: number } = {}): Promise<TensorData> {
    return this.native.forward(Array.isArray(inputs) ? inputs : [inputs], options.batchSize ?? 256);
  }

  /** Writes spec and weights to one file that `Model.load` reads back with identical outputs. */
  async save(path: string): Promise<void> {
    return this.native.save(path);
  }

  /** An independent deep copy (same spec, same weights, same device). */
  clone(): Model {
    return new Model(this.spec, this.native.clone());
  }

  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
