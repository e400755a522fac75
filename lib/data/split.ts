/**
 * Seeded randomness, shuffling, (stratified) splits, row selection and standardization — the pieces every loader
 * shares. Everything is deterministic given a seed.
 */
import { DataError } from '../core/errors.js';
import type { TabularSplit, TensorData } from './types.js';

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
}

/** mulberry32: a tiny, fast 32-bit PRNG; good enough for shuffling and synthetic data, not for cryptography. */
export function createRng(seed: number): Rng {
  let a = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  let spare: number | undefined;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    normal: () => {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
}

/** A seeded Fisher–Yates permutation of 0..n−1. */
export function shuffleIndices(n: number, seed: number | Rng): Int32Array {
  const rng = typeof seed === 'number' ? createRng(seed) : seed;
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx;
}

function sliceRows(t: TensorData, indices: ArrayLike<number>): TensorData {
  const n = t.shape[0] ?? 0;
  const row = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const out =
    t.data instanceof Float32Array ? new Float32Array(indices.length * row) : new Int32Array(indices.length * row);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    if (r < 0 || r >= n) throw new DataError(`row index ${r} is out of range for ${n} rows`);
    out.set(t.data.subarray(r * row, (r + 1) * row), i * row);
  }
  return { data: out, shape: [indices.length, ...t.shape.slice(1)] };
}

/** The given rows (in the given order) of every tensor of a split. */
export function takeRows(split: TabularSplit, indices: ArrayLike<number>): TabularSplit {
  return { inputs: split.inputs.map((t) => sliceRows(t, indices)), target: sliceRows(split.target, indices) };
}

/** The given rows of one tensor. */
export function takeTensorRows(t: TensorData, indices: ArrayLike<number>): TensorData {
  return sliceRows(t, indices);
}

/**
 * Splits `count` rows into two index sets, the second holding ≈ fraction of them. With `labels`, the split is
 * stratified: each class contributes round(fraction · its count) rows (at least one when the class has ≥ 2 rows).
 */
export function splitIndices(
  count: number,
  fraction: number,
  seed: number,
  labels?: Int32Array,
): { keep: Int32Array; held: Int32Array } {
  if (!(fraction >= 0 && fraction < 1)) throw new DataError(`split fraction must be in [0, 1), got ${fraction}`);
  const rng = createRng(seed);
  const held: number[] = [];
  const keep: number[] = [];
  if (labels) {
    const byClass = new Map<number, number[]>();
    for (let i = 0; i < count; i++) {
      const c = labels[i]!;
      let arr = byClass.get(c);
      if (!arr) byClass.set(c, (arr = []));
      arr.push(i);
    }
    for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
      const rows = byClass.get(c)!;
      const perm = shuffleIndices(rows.length, rng);
      let k = Math.round(fraction * rows.length);
      if (fraction > 0 && k === 0 && rows.length >= 2) k = 1;
      perm.forEach((p, j) => (j < k ? held : keep).push(rows[p]!));
    }
  } else {
    const perm = shuffleIndices(count, rng);
    const k = Math.round(fraction * count);
    perm.forEach((p, j) => (j < k ? held : keep).push(p));
  }
  keep.sort((a, b) => a - b);
  held.sort((a, b) => a - b);
  return { keep: Int32Array.from(keep), held: Int32Array.from(held) };
}

export interface SplitOptions {
  /** Stratify by class (default: true when the target is an Int32Array of labels). */
  stratify?: boolean;
}

/** Holds out ≈ valFraction of the rows (stratified for classification by default), keeping row order. */
export function trainValSplit(
  split: TabularSplit,
  valFraction: number,
  seed: number,
  options: SplitOptions = {},
): { train: TabularSplit; val: TabularSplit } {
  const n = split.target.shape[0] ?? 0;
  const labels = split.target.data instanceof Int32Array ? split.target.data : undefined;
  const stratify = options.stratify ?? labels !== undefined;
  if (stratify && !labels) throw new DataError('stratify needs integer class labels as the target');
  const { keep, held } = splitIndices(n, valFraction, seed, stratify ? labels : undefined);
  return { train: takeRows(split, keep), val: takeRows(split, held) };
}

// ---------------------------------------------------------------------------------------------------------------
// Standardization
// ---------------------------------------------------------------------------------------------------------------

export interface Standardizer {
  /** Per-channel (dim 1 of [N, C, ...]) or per-feature (dim 1 of [N, F]) mean and std. */
  mean: Float32Array;
  std: Float32Array;
}

/**
 * Per-channel statistics over dim 1 of a float tensor [N, C, ...] (all other dims pooled). Non-finite values and
 * rows/positions where `mask` (shape [N, ...rest]) is 0 are ignored. A zero std becomes 1.
 */
export function fitStandardizer(t: TensorData, mask?: TensorData): Standardizer {
  if (!(t.data instanceof Float32Array)) throw new DataError('can only standardize float32 data');
  const [n = 0, c = 1] = t.shape;
  const inner = t.shape.slice(2).reduce((a, b) => a * b, 1);
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  const cnt = new Float64Array(c);
  const d = t.data;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const off = (i * c + ch) * inner;
      for (let k = 0; k < inner; k++) {
        const v = d[off + k]!;
        if (!Number.isFinite(v)) continue;
        if (mask && mask.data[i * inner + k] === 0) continue;
        sum[ch]! += v;
        sq[ch]! += v * v;
        cnt[ch]! += 1;
      }
    }
  }
  const mean = new Float32Array(c);
  const std = new Float32Array(c);
  for (let ch = 0; ch < c; ch++) {
    const m = cnt[ch]! > 0 ? sum[ch]! / cnt[ch]! : 0;
    const v = cnt[ch]! > 0 ? Math.max(0, sq[ch]! / cnt[ch]! - m * m) : 0;
    mean[ch] = m;
    std[ch] = v > 1e-12 ? Math.sqrt(v) : 1;
  }
  return { mean, std };
}

/** (x − mean) / std per channel, as a new tensor; positions where `mask` is 0 stay 0. */
export function applyStandardizer(t: TensorData, s: Standardizer, mask?: TensorData): TensorData {
  if (!(t.data instanceof Float32Array)) throw new DataError('can only standardize float32 data');
  const [n = 0, c = 1] = t.shape;
  if (c !== s.mean.length) throw new DataError(`standardizer has ${s.mean.length} channels, data has ${c}`);
  const inner = t.shape.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const off = (i * c + ch) * inner;
      const m = s.mean[ch]!;
      const sd = s.std[ch]!;
      for (let k = 0; k < inner; k++) {
        out[off + k] = mask && mask.data[i * inner + k] === 0 ? 0 : (t.data[off + k]! - m) / sd;
      }
    }
  }
  return { data: out, shape: [...t.shape] };
}

/** Fits on `train` and applies to every split given; returns the standardized tensors and the statistics. */
export function standardizeSplits<K extends string>(
  tensors: Record<K, TensorData | undefined>,
  fitOn: K,
): { tensors: Record<K, TensorData | undefined>; stats: Standardizer } {
  const base = tensors[fitOn];
  if (!base) throw new DataError(`no '${fitOn}' data to fit the standardizer on`);
  const stats = fitStandardizer(base);
  const out = {} as Record<K, TensorData | undefined>;
  for (const k of Object.keys(tensors) as K[]) {
    const t = tensors[k];
    out[k] = t ? applyStandardizer(t, stats) : undefined;
  }
  return { tensors: out, stats };
}
