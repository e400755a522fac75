/**
 * Synthetic datasets with real class structure, for tests, benchmarks and demos that must run without downloads:
 * CIFAR-like colour images, and card-transaction event sequences with a hidden age group.
 */
import { DataError } from '../core/errors.js';
import { applyStandardizer, createRng, fitStandardizer, splitIndices, takeRows } from './split.js';
import type { Rng } from './split.js';
import type { LoadedDataset, TabularSplit, TensorData } from './types.js';

// ---------------------------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------------------------

/** Shape names of the image classes, in class order (classes > 10 reuse shapes with other palettes/textures). */
export const SYNTHETIC_IMAGE_SHAPES = [
  'disc',
  'square',
  'ring',
  'cross',
  'triangle',
  'striped-square',
  'diamond',
  'two-discs',
  'l-shape',
  'frame',
] as const;

/** Is (u, v) — object coordinates, object radius ≈ 1 — inside shape k? */
function inside(k: number, u: number, v: number): boolean {
  const au = Math.abs(u);
  const av = Math.abs(v);
  const r2 = u * u + v * v;
  switch (k % 10) {
    case 0:
      return r2 < 0.8;
    case 1:
      return au < 0.75 && av < 0.75;
    case 2:
      return r2 < 1 && r2 > 0.4;
    case 3:
      return (au < 0.28 && av < 1) || (av < 0.28 && au < 1);
    case 4:
      return v > -0.7 && v < 0.9 && au < (0.9 - v) * 0.62;
    case 5:
      return au < 0.85 && av < 0.85 && Math.floor((u + 0.85) * 2.9) % 2 === 0;
    case 6:
      return au + av < 1.05;
    case 7:
      return (u - 0.5) ** 2 + v * v < 0.2 || (u + 0.5) ** 2 + v * v < 0.2;
    case 8:
      return (au < 0.9 && v > 0.35 && v < 0.9) || (u > -0.9 && u < -0.35 && av < 0.9);
    default:
      return au < 0.9 && av < 0.9 && Math.max(au, av) > 0.58;
  }
}

/** Foreground palettes (RGB in [0, 1]); each class draws from two of them, shared with other classes. */
const PALETTES: readonly (readonly [number, number, number])[] = [
  [0.85, 0.25, 0.2],
  [0.2, 0.7, 0.3],
  [0.25, 0.35, 0.9],
  [0.9, 0.8, 0.2],
  [0.7, 0.3, 0.8],
  [0.2, 0.8, 0.85],
];
const TEXTURE_FREQS = [0, 1.2, 2.6] as const;

export interface SyntheticImagesOptions {
  n: number;
  classes?: number;
  /** Image side (default 32); images are 3 × size × size. */
  size?: number;
  seed: number;
  /** Std of additive Gaussian pixel noise (default 0.08). */
  noise?: number;
}

/**
 * CIFAR-like 3×size×size images in roughly [0, 1]: class c is a shape (SYNTHETIC_IMAGE_SHAPES[c % 10]) with a
 * texture frequency and one of two colour palettes shared with other classes, at a random position, scale and
 * rotation, on a random background with a colour gradient, clutter blobs and pixel noise. Mean colour alone does not
 * solve it; a small CNN has to learn spatial features. Labels are balanced (i % classes, then shuffled).
 */
export function syntheticImages(opts: SyntheticImagesOptions): { x: TensorData; y: TensorData } {
  const { n, seed } = opts;
  const classes = opts.classes ?? 10;
  const S = opts.size ?? 32;
  const noise = opts.noise ?? 0.08;
  if (!Number.isInteger(n) || n < 1) throw new DataError(`n must be a positive integer, got ${n}`);
  if (!Number.isInteger(classes) || classes < 2 || classes > 30)
    throw new DataError(`classes must be an integer in 2..30, got ${classes}`);
  if (!Number.isInteger(S) || S < 8) throw new DataError(`size must be an integer ≥ 8, got ${S}`);
  const rng = createRng(seed);
  const x = new Float32Array(n * 3 * S * S);
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = labels[i]!;
    labels[i] = labels[j]!;
    labels[j] = t;
  }
  const plane = S * S;
  const px = new Float32Array(3);
  for (let s = 0; s < n; s++) {
    const c = labels[s]!;
    const shape = c % 10;
    const group = Math.floor(c / 10);
    const palette = PALETTES[(rng.next() < 0.5 ? c + group : c + 3 + group) % PALETTES.length]!;
    const freq = TEXTURE_FREQS[(c + group) % 3]!;
    const fg = palette.map((v) => clamp01(v + 0.12 * rng.normal()));
    // background: base colour + gradient
    const bg = [0.25 + 0.5 * rng.next(), 0.25 + 0.5 * rng.next(), 0.25 + 0.5 * rng.next()];
    const gdir = rng.next() * 2 * Math.PI;
    const gamp = 0.25 * rng.next();
    const gx = Math.cos(gdir) * gamp;
    const gy = Math.sin(gdir) * gamp;
    // object pose
    const cx = S * (0.3 + 0.4 * rng.next());
    const cy = S * (0.3 + 0.4 * rng.next());
    const scale = S * (0.2 + 0.12 * rng.next());
    const rot = rng.next() * 2 * Math.PI;
    const cr = Math.cos(rot),
      sr = Math.sin(rot);
    const phase = rng.next() * 2 * Math.PI;
    // clutter: small blobs of random colour
    const blobs = 3 + rng.int(5);
    const clutter: { x: number; y: number; r2: number; col: number[]; square: boolean }[] = [];
    for (let b = 0; b < blobs; b++) {
      const r = 1 + 2.5 * rng.next();
      clutter.push({
        x: S * rng.next(),
        y: S * rng.next(),
        r2: r * r,
        col: [rng.next(), rng.next(), rng.next()],
        square: rng.next() < 0.5,
      });
    }
    const base = s * 3 * plane;
    for (let yy = 0; yy < S; yy++) {
      for (let xx = 0; xx < S; xx++) {
        const nx = xx / S - 0.5,
          ny = yy / S - 0.5;
        for (let ch = 0; ch < 3; ch++) px[ch] = bg[ch]! + gx * nx * 2 + gy * ny * 2;
        for (const b of clutter) {
          const dx = xx - b.x,
            dy = yy - b.y;
          const hit = b.square ? dx * dx < b.r2 && dy * dy < b.r2 : dx * dx + dy * dy < b.r2;
          if (hit) for (let ch = 0; ch < 3; ch++) px[ch] = b.col[ch]!;
        }
        // 2×2 supersampled coverage for soft edges
        let cover = 0;
        for (let sy = 0; sy < 2; sy++) {
          for (let sx = 0; sx < 2; sx++) {
            const dx = (xx + 0.25 + 0.5 * sx - cx) / scale;
            const dy = (yy + 0.25 + 0.5 * sy - cy) / scale;
            const u = cr * dx + sr * dy;
            const v = -sr * dx + cr * dy;
            if (inside(shape, u, v)) cover += 0.25;
          }
        }
        if (cover > 0) {
          const dx = (xx + 0.5 - cx) / scale,
            dy = (yy + 0.5 - cy) / scale;
          const u = cr * dx + sr * dy;
          const tex = freq === 0 ? 1 : 0.7 + 0.3 * Math.sin(2 * Math.PI * freq * u + phase);
          for (let ch = 0; ch < 3; ch++) px[ch] = px[ch]! * (1 - cover) + fg[ch]! * tex * cover;
        }
        const o = yy * S + xx;
        for (let ch = 0; ch < 3; ch++) x[base + ch * plane + o] = px[ch]! + noise * rng.normal();
      }
    }
  }
  return { x: { data: x, shape: [n, 3, S, S] }, y: { data: labels, shape: [n] } };
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

export interface LoadSyntheticImagesOptions {
  trainSize: number;
  testSize: number;
  seed: number;
  /** Held out of the training images (default 0). */
  valFraction?: number;
  classes?: number;
  size?: number;
  noise?: number;
  /** Per-channel standardization with train statistics (default true). */
  normalize?: boolean;
}

/** Synthetic CIFAR-like image classification as a LoadedDataset (train/test generated from independent streams). */
export function loadSyntheticImages(opts: LoadSyntheticImagesOptions): LoadedDataset {
  const classes = opts.classes ?? 10;
  const common = {
    classes,
    ...(opts.size !== undefined ? { size: opts.size } : {}),
    ...(opts.noise !== undefined ? { noise: opts.noise } : {}),
  };
  const tr = syntheticImages({ n: opts.trainSize, seed: opts.seed, ...common });
  const te = syntheticImages({ n: opts.testSize, seed: opts.seed ^ 0x5bd1e995, ...common });
  let train: TabularSplit = { inputs: [tr.x], target: tr.y };
  let test: TabularSplit = { inputs: [te.x], target: te.y };
  let val: TabularSplit | undefined;
  if ((opts.valFraction ?? 0) > 0) {
    const { keep, held } = splitIndices(opts.trainSize, opts.valFraction!, opts.seed + 1, tr.y.data as Int32Array);
    val = takeRows(train, held);
    train = takeRows(train, keep);
  }
  const meta: Record<string, unknown> = {
    shapes: Array.from({ length: classes }, (_, c) => SYNTHETIC_IMAGE_SHAPES[c % 10]),
  };
  if (opts.normalize ?? true) {
    const stats = fitStandardizer(train.inputs[0]!);
    train = { inputs: [applyStandardizer(train.inputs[0]!, stats)], target: train.target };
    test = { inputs: [applyStandardizer(test.inputs[0]!, stats)], target: test.target };
    if (val) val = { inputs: [applyStandardizer(val.inputs[0]!, stats)], target: val.target };
    meta.normalization = { mean: Array.from(stats.mean), std: Array.from(stats.std) };
  }
  const ds: LoadedDataset = {
    name: 'synthetic-images',
    task: { kind: 'classification', classes, labels: meta.shapes as string[] },
    train,
    test,
    meta,
  };
  if (val) ds.val = val;
  return ds;
}

// ---------------------------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------------------------

export const MCC_COUNT = 100;
export const TRANSACTION_TYPES = ['purchase', 'online', 'cash', 'transfer', 'refund'] as const;
export const AGE_GROUPS = ['18-25', '26-40', '41-60', '60+'] as const;

/** The feature layout `loadSyntheticTransactions` produces; spread it into `gruSequenceClassifier`. */
export const transactionFeatures = {
  categorical: [
    { name: 'mcc', cardinality: MCC_COUNT, embeddingDim: 16 },
    { name: 'type', cardinality: TRANSACTION_TYPES.length, embeddingDim: 4 },
    { name: 'hour', cardinality: 24, embeddingDim: 6 },
  ],
  numericFeatures: 2,
  numericNames: ['log_amount', 'log_gap_hours'],
} as const;

/** The fixed "world": category popularity, amount levels and age-group tastes; independent of the data seed. */
interface World {
  basePop: Float64Array; // long-tail popularity per MCC
  groupLogit: Float64Array[]; // per group, additive log-preference per MCC
  mccAmount: Float64Array; // mean log amount per MCC
}

let worldCache: World | undefined;
function world(): World {
  if (worldCache) return worldCache;
  const rng = createRng(20240611);
  const basePop = new Float64Array(MCC_COUNT);
  for (let m = 0; m < MCC_COUNT; m++) basePop[m] = 1 / (m + 1) ** 1.1; // Zipf-like long tail
  const groupLogit = AGE_GROUPS.map(() => {
    const g = new Float64Array(MCC_COUNT);
    for (let m = 0; m < MCC_COUNT; m++) g[m] = 0.3 * rng.normal();
    return g;
  });
  const mccAmount = new Float64Array(MCC_COUNT);
  for (let m = 0; m < MCC_COUNT; m++) mccAmount[m] = 3.2 + 0.9 * rng.normal(); // e^3.2 ≈ 25
  worldCache = { basePop, groupLogit, mccAmount };
  return worldCache;
}

/** Per-group behaviour. */
const GROUP = [
  // peak activity hour, spread (h), mean gap (h), amount offset (log), type probabilities
  { peak: 19, spread: 4, gap: 18, amount: -0.2, types: [0.5, 0.3, 0.06, 0.12, 0.02] },
  { peak: 17, spread: 4, gap: 20, amount: 0.05, types: [0.55, 0.25, 0.07, 0.11, 0.02] },
  { peak: 15, spread: 4, gap: 23, amount: 0.15, types: [0.6, 0.17, 0.1, 0.11, 0.02] },
  { peak: 13, spread: 4, gap: 27, amount: 0.0, types: [0.63, 0.1, 0.16, 0.09, 0.02] },
] as const;

function sampleCategorical(p: ArrayLike<number>, total: number, rng: Rng): number {
  let r = rng.next() * total;
  for (let k = 0; k < p.length; k++) {
    r -= p[k]!;
    if (r <= 0) return k;
  }
  return p.length - 1;
}

export interface SyntheticTransactionsOptions {
  clients: number;
  seqLen?: number;
  seed: number;
}

export interface SyntheticTransactions {
  /** Int32 [N, T] each. */
  mcc: TensorData;
  type: TensorData;
  hour: TensorData;
  /** Float32 [N, T, 2]: raw log amount, raw log(1 + gap hours). */
  numeric: TensorData;
  /** Int32 [N]: age group 0..3 (balanced). */
  age: TensorData;
}

/**
 * Card-transaction histories, one per client: merchant category (long-tailed over 100 MCCs), amount (log-normal,
 * MCC-dependent), time gap (exponential, with the hour of day following a daily rhythm) and transaction type. Each
 * client's hidden age group shifts category tastes, amounts, active hours, gaps and type mix; per-client noise makes
 * the groups overlap, so the task is learnable but not trivial.
 */
export function syntheticTransactions(opts: SyntheticTransactionsOptions): SyntheticTransactions {
  const N = opts.clients;
  const T = opts.seqLen ?? 64;
  if (!Number.isInteger(N) || N < 1) throw new DataError(`clients must be a positive integer, got ${N}`);
  if (!Number.isInteger(T) || T < 1) throw new DataError(`seqLen must be a positive integer, got ${T}`);
  const w = world();
  const rng = createRng(opts.seed);
  const mcc = new Int32Array(N * T);
  const type = new Int32Array(N * T);
  const hour = new Int32Array(N * T);
  const numeric = new Float32Array(N * T * 2);
  const age = Int32Array.from({ length: N }, (_, i) => i % 4);
  for (let i = N - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = age[i]!;
    age[i] = age[j]!;
    age[j] = t;
  }
  const pref = new Float64Array(MCC_COUNT);
  const typeP = new Float64Array(TRANSACTION_TYPES.length);
  for (let c = 0; c < N; c++) {
    const g = age[c]!;
    const gp = GROUP[g]!;
    // client-level personality: own category tastes, a blend toward a random other group, own rhythm and spend
    const other = rng.int(4);
    const blend = 0.6 * rng.next();
    let total = 0;
    for (let m = 0; m < MCC_COUNT; m++) {
      const logit = (1 - blend) * w.groupLogit[g]![m]! + blend * w.groupLogit[other]![m]! + 1.0 * rng.normal();
      pref[m] = w.basePop[m]! * Math.exp(logit);
      total += pref[m]!;
    }
    let tTotal = 0;
    for (let k = 0; k < typeP.length; k++) {
      typeP[k] = gp.types[k]! * Math.exp(0.5 * rng.normal());
      tTotal += typeP[k]!;
    }
    const peak = gp.peak + 3.5 * rng.normal();
    const spread = gp.spread * (0.8 + 0.5 * rng.next());
    const meanGap = gp.gap * Math.exp(0.6 * rng.normal());
    const spend = gp.amount + 0.6 * rng.normal();
    let time = 24 * 365 * rng.next();
    for (let t = 0; t < T; t++) {
      // next event: exponential gap in days, hour of day from the client's rhythm (80%) or uniform (20%)
      const gapH = -Math.log(1 - rng.next()) * meanGap;
      const day = Math.floor((time + gapH) / 24);
      const h = rng.next() < 0.8 ? ((Math.round(peak + spread * rng.normal()) % 24) + 24) % 24 : rng.int(24);
      let next = day * 24 + h + rng.next();
      if (next <= time) next = time + 0.05 + rng.next();
      const gap = next - time;
      time = next;
      const m = sampleCategorical(pref, total, rng);
      const ty = sampleCategorical(typeP, tTotal, rng);
      let logAmt = w.mccAmount[m]! + spend + 0.6 * rng.normal();
      if (ty === 2) logAmt = Math.log(20 * (1 + rng.int(10))) + 0.5 * spend; // cash: round sums
      const o = c * T + t;
      mcc[o] = m;
      type[o] = ty;
      hour[o] = Math.floor(time % 24);
      numeric[2 * o] = logAmt;
      numeric[2 * o + 1] = Math.log1p(gap);
    }
  }
  return {
    mcc: { data: mcc, shape: [N, T] },
    type: { data: type, shape: [N, T] },
    hour: { data: hour, shape: [N, T] },
    numeric: { data: numeric, shape: [N, T, 2] },
    age: { data: age, shape: [N] },
  };
}

export interface LoadSyntheticTransactionsOptions {
  clients: number;
  seqLen?: number;
  seed: number;
  /** Fractions of clients held out (stratified by age group). */
  valFraction?: number;
  testFraction: number;
}

/**
 * Age-group classification (4 classes) from transaction sequences. Inputs, in `gruSequenceClassifier` order:
 * mcc, type, hour (Int32 [N, T]) and numeric (Float32 [N, T, 2]: log amount and log(1 + gap hours), standardized
 * with train statistics).
 */
export function loadSyntheticTransactions(opts: LoadSyntheticTransactionsOptions): LoadedDataset {
  const d = syntheticTransactions({
    clients: opts.clients,
    seed: opts.seed,
    ...(opts.seqLen !== undefined ? { seqLen: opts.seqLen } : {}),
  });
  const all: TabularSplit = { inputs: [d.mcc, d.type, d.hour, d.numeric], target: d.age };
  const labels = d.age.data as Int32Array;
  const outer = splitIndices(opts.clients, opts.testFraction, opts.seed + 1, labels);
  let train = takeRows(all, outer.keep);
  const test = takeRows(all, outer.held);
  let val: TabularSplit | undefined;
  if ((opts.valFraction ?? 0) > 0) {
    const inner = splitIndices(
      train.target.shape[0]!,
      opts.valFraction!,
      opts.seed + 2,
      train.target.data as Int32Array,
    );
    val = takeRows(train, inner.held);
    train = takeRows(train, inner.keep);
  }
  // Standardize the numeric features over all (client, step) pairs of the training split.
  const [, T = 0, F = 2] = d.numeric.shape;
  const flat = (t: TensorData): TensorData => ({ data: t.data, shape: [(t.shape[0] ?? 0) * T, F] });
  const stats = fitStandardizer(flat(train.inputs[3]!));
  for (const s of [train, val, test]) {
    if (!s) continue;
    const z = applyStandardizer(flat(s.inputs[3]!), stats);
    s.inputs[3] = { data: z.data, shape: [...s.inputs[3]!.shape] };
  }
  const ds: LoadedDataset = {
    name: 'synthetic-transactions',
    task: { kind: 'classification', classes: AGE_GROUPS.length, labels: [...AGE_GROUPS] },
    train,
    test,
    meta: {
      features: transactionFeatures,
      numericNormalization: { mean: Array.from(stats.mean), std: Array.from(stats.std) },
    },
  };
  if (val) ds.val = val;
  return ds;
}
