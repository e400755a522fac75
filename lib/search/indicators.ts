/**
 * Quality indicators of a set of objective vectors (minimisation): exact hypervolume, IGD and IGD+.
 *
 * Hypervolume is WFG (While, Bradstreet & Barone 2012): HV(S) = Σₖ exclusive HV of pₖ relative to the points after
 * it. With the points sorted by the last objective, descending, every point of pₖ's limit set shares pₖ's last
 * coordinate, so the limit set's volume is a slab times an (m−1)-dimensional hypervolume; the recursion bottoms out
 * in the 2-D dimension sweep.
 */
import { ConfigError, NumericError } from '../core/errors.js';
import { sortFlat, type Point } from './dominance.js';

type Vec = Float64Array;

/** Exact hypervolume dominated by `points` and bounded by `reference` (points not strictly better than it count 0). */
export function hypervolume(points: readonly Point[], reference: Point): number {
  const m = reference.length;
  if (m < 1) throw new ConfigError('the reference point needs at least one coordinate', 'reference');
  const kept: Vec[] = [];
  for (const p of points) {
    if (p.length !== m)
      throw new ConfigError(`a point has ${p.length} coordinates, the reference point ${m}`, 'points');
    let inside = true;
    for (let j = 0; j < m; j++) {
      const x = p[j] as number;
      if (Number.isNaN(x)) throw new NumericError('NaN coordinate in a hypervolume point');
      if (!(x < (reference[j] as number))) {
        inside = false;
        break;
      }
    }
    if (inside) kept.push(Float64Array.from(p as ArrayLike<number>));
  }
  if (kept.length === 0) return 0;
  const ref = Float64Array.from(reference as ArrayLike<number>);
  if (m === 1) return (ref[0] as number) - Math.min(...kept.map((p) => p[0] as number));
  if (m === 2) return hv2d(kept, ref); // the sweep skips dominated points by itself
  return wfg(nonDominated(kept, m), m, ref);
}

function hv2d(points: Vec[], ref: Vec): number {
  const sorted = [...points].sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number));
  let volume = 0;
  let lastY = ref[1] as number;
  for (const p of sorted) {
    const y = p[1] as number;
    if (y < lastY) {
      volume += ((ref[0] as number) - (p[0] as number)) * (lastY - y);
      lastY = y;
    }
  }
  return volume;
}

/** Points of `points` (first m coordinates) not weakly dominated by another; one copy of duplicates. */
function nonDominated(points: Vec[], m: number): Vec[] {
  if (points.length > 512) {
    // Large sets: first front of the fast sort, then drop duplicates.
    const first = sortFlat(flatten(points, m), points.length, m)[0] ?? [];
    const seen = new Set<string>();
    return first
      .map((i) => points[i] as Vec)
      .filter((p) => {
        const key = Array.prototype.slice.call(p, 0, m).join(',');
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
  }
  const out: Vec[] = [];
  for (let i = 0; i < points.length; i++) {
    const p = points[i] as Vec;
    let keep = true;
    for (let k = 0; k < points.length && keep; k++) {
      if (k === i) continue;
      const q = points[k] as Vec;
      let le = true;
      let lt = false;
      for (let j = 0; j < m; j++) {
        if ((q[j] as number) > (p[j] as number)) {
          le = false;
          break;
        }
        if ((q[j] as number) < (p[j] as number)) lt = true;
      }
      if (le && (lt || k < i)) keep = false; // strictly dominated, or a duplicate of an earlier point
    }
    if (keep) out.push(p);
  }
  return out;
}

function flatten(points: Vec[], m: number): Float64Array {
  const data = new Float64Array(points.length * m);
  points.forEach((p, i) => {
    for (let j = 0; j < m; j++) data[i * m + j] = p[j] as number;
  });
  return data;
}

function wfg(points: Vec[], m: number, ref: Vec): number {
  if (points.length === 0) return 0;
  if (m === 2) return hv2d(points, ref);
  const last = m - 1;
  const sorted = [...points].sort((a, b) => (b[last] as number) - (a[last] as number));
  let volume = 0;
  for (let k = 0; k < sorted.length; k++) {
    const p = sorted[k] as Vec;
    let box = 1;
    for (let j = 0; j < last; j++) box *= (ref[j] as number) - (p[j] as number);
    const limit: Vec[] = [];
    for (let i = k + 1; i < sorted.length; i++) {
      const q = sorted[i] as Vec;
      const w = new Float64Array(last);
      for (let j = 0; j < last; j++) w[j] = Math.max(p[j] as number, q[j] as number);
      limit.push(w);
    }
    const covered = limit.length === 0 ? 0 : wfg(nonDominated(limit, last), last, ref);
    volume += ((ref[last] as number) - (p[last] as number)) * (box - covered);
  }
  return volume;
}

function distance(a: Point, b: Point, plus: boolean): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) {
    const d = plus ? Math.max((a[j] as number) - (b[j] as number), 0) : (a[j] as number) - (b[j] as number);
    s += d * d;
  }
  return Math.sqrt(s);
}

function igdLike(approximation: readonly Point[], trueFront: readonly Point[], plus: boolean): number {
  if (trueFront.length === 0) throw new ConfigError('the reference front is empty', 'trueFront');
  if (approximation.length === 0) return Infinity;
  let sum = 0;
  for (const r of trueFront) {
    let best = Infinity;
    for (const a of approximation) best = Math.min(best, distance(a, r, plus));
    sum += best;
  }
  return sum / trueFront.length;
}

/** Inverted generational distance: mean distance from each point of the true front to the nearest found point. */
export function igd(approximation: readonly Point[], trueFront: readonly Point[]): number {
  return igdLike(approximation, trueFront, false);
}

/** IGD+ (Ishibuchi et al. 2015): like IGD but only the amount by which a found point is worse counts (Pareto-compliant). */
export function igdPlus(approximation: readonly Point[], trueFront: readonly Point[]): number {
  return igdLike(approximation, trueFront, true);
}
