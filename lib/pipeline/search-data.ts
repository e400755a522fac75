/**
 * The splits a search works on, placed natively once per device and shared by every candidate: the fine-tune
 * subset of train, the validation rows early stopping watches (a subset of the selection split), the selection split
 * the quality objective is measured on (validation rows carved from the training data), and the held-out test split,
 * which is measured and reported but never optimized.
 */
import type { TabularSplit } from '../data/types.js';
import { DeviceData } from '../runtime/device-data.js';
import type { FinetuneSettings } from './config.js';
import type { QualitySplits } from './measure.js';
import { subset, type Problem } from './problem.js';

export type SplitName = 'finetune' | 'val' | 'select' | 'test';

export class SearchData {
  readonly splits: Readonly<Record<SplitName, TabularSplit>>;
  readonly #placed = new Map<string, DeviceData>();

  constructor(problem: Problem, finetune: FinetuneSettings, seed: number) {
    const ds = problem.dataset;
    this.splits = {
      finetune: subset(ds.train, finetune.samples, seed + 11),
      val: subset(ds.val, finetune.valSamples, seed + 12),
      select: ds.val,
      test: ds.test,
    };
  }

  /** The split as native data on `device` (created on first use, kept until dispose). */
  on(split: SplitName, device: string): DeviceData {
    const key = `${split}@${device}`;
    let d = this.#placed.get(key);
    if (!d || d.disposed) {
      d = DeviceData.from(this.splits[split], { device });
      this.#placed.set(key, d);
    }
    return d;
  }

  /** The selection and test splits on `device`, as measureModel takes them. */
  quality(device: string): QualitySplits {
    return { select: this.on('select', device), test: this.on('test', device) };
  }

  rows(split: SplitName): number {
    return this.splits[split].target.shape[0] ?? 0;
  }

  dispose(): void {
    for (const d of this.#placed.values()) d.dispose();
    this.#placed.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
