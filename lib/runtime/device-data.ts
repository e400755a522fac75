/**
 * Data held natively on a device: the typed arrays are copied once into tensors, so an epoch reads no JS memory.
 */
import { binding, type NativeDataset } from './binding.js';
import type { TabularSplit } from '../data/types.js';
import { DisposedError } from '../core/errors.js';

export class DeviceData {
  #native: NativeDataset | undefined;
  private constructor(native: NativeDataset) {
    this.#native = native;
  }

  static from(split: TabularSplit, options: { device?: string } = {}): DeviceData {
    return new DeviceData(
      binding().createDataset({ inputs: split.inputs, target: split.target }, options.device ?? 'cpu'),
    );
  }

  /** @internal */
  get native(): NativeDataset {
    if (!this.#native) throw new DisposedError('dataset');
    return this.#native;
  }
  get size(): number {
    return this.native.size();
  }
  get device(): string {
    return this.native.device();
  }
  get disposed(): boolean {
    return this.#native === undefined;
  }

  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Accepts either in-memory splits or already-placed data; returns placed data and whether we own it. */
export function placeData(data: TabularSplit | DeviceData, device: string): { data: DeviceData; owned: boolean } {
  if (data instanceof DeviceData) return { data, owned: false };
  return { data: DeviceData.from(data, { device }), owned: true };
}
