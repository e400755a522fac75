/** Summary statistics for latency samples (milliseconds). */
export function sortedCopy(values: ArrayLike<number>): number[] {
  return Array.from(values).sort((a, b) => a - b);
}

/** Linear-interpolated quantile of an ascending array. */
export function quantileSorted(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export interface LatencySummary {
  medianMs: number;
  meanMs: number;
  p5Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Median absolute deviation. */
  madMs: number;
  iterations: number;
}

export function summarize(samples: ArrayLike<number>): LatencySummary {
  const s = sortedCopy(samples);
  const median = quantileSorted(s, 0.5);
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  const deviations = s.map((v) => Math.abs(v - median)).sort((a, b) => a - b);
  return {
    medianMs: median,
    meanMs: mean,
    p5Ms: quantileSorted(s, 0.05),
    p95Ms: quantileSorted(s, 0.95),
    p99Ms: quantileSorted(s, 0.99),
    madMs: quantileSorted(deviations, 0.5),
    iterations: s.length,
  };
}

/** Seeded PRNG for reproducible bootstrap intervals. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
