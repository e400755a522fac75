/**
 * Pareto dominance, non-dominated sorting and crowding distance. Everything here minimises: callers turn 'max'
 * objectives into 'min' first (see objective-values.ts).
 *
 * The sort ranks the distinct points by divide and conquer (nds.ts, O(N·log^(M−1) N) for M ≥ 2 objectives) and
 * lists each front's members in lexicographic order of their objectives, ties by index.
 */
import { divideAndConquerRanks } from './nds.js';

export type Point = ArrayLike<number>;

/** a dominates b: no worse in every objective and better in at least one. */
export function dominates(a: Point, b: Point): boolean {
  let better = false;
  for (let j = 0; j < a.length; j++) {
    const x = a[j] as number;
    const y = b[j] as number;
    if (x > y) return false;
    if (x < y) better = true;
  }
  return better;
}

/**
 * Deb's constraint-domination: a feasible point beats an infeasible one, of two infeasible ones the smaller total
 * violation wins, and two feasible ones compare by Pareto dominance. Violation ≤ 0 means feasible.
 */
export function constrainedDominates(a: Point, violationA: number, b: Point, violationB: number): boolean {
  const va = Math.max(0, violationA);
  const vb = Math.max(0, violationB);
  if (va === 0 && vb === 0) return dominates(a, b);
  return va < vb;
}

/** Fronts of indices into `points`, best first. Equal points share a front. */
export function nonDominatedSort(points: readonly Point[]): number[][] {
  const n = points.length;
  if (n === 0) return [];
  const m = (points[0] as Point).length;
  const data = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const p = points[i] as Point;
    for (let j = 0; j < m; j++) data[i * m + j] = p[j] as number;
  }
  return sortFlat(data, n, m);
}

/** The same sort on a row-major n×m matrix (avoids copying when the caller already has one). */
export function sortFlat(data: Float64Array, n: number, m: number): number[][] {
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => {
    for (let j = 0; j < m; j++) {
      // Compared rather than subtracted: ∞ − ∞ is NaN, which would leave infinite rows out of lexicographic order.
      const x = data[a * m + j] as number;
      const y = data[b * m + j] as number;
      if (x < y) return -1;
      if (x > y) return 1;
    }
    return a - b;
  });

  // The ranking wants distinct rows in lexicographic order; equal rows are adjacent in `order` and share one row.
  const rowOf = new Int32Array(n);
  const distinct = new Float64Array(n * m);
  let rows = 0;
  for (let k = 0; k < n; k++) {
    const p = order[k] as number;
    if (k > 0 && sameRow(data, order[k - 1] as number, p, m)) {
      rowOf[p] = rows - 1;
      continue;
    }
    distinct.set(data.subarray(p * m, p * m + m), rows * m);
    rowOf[p] = rows++;
  }
  const rank =
    m <= 1
      ? Int32Array.from({ length: rows }, (_, i) => i) // one objective: every distinct value is its own front
      : divideAndConquerRanks(distinct, rows, m);

  // Members of a front in lexicographic order (ties by index), as NSGA-II's tie-breaks have always seen them.
  const fronts: number[][] = [];
  for (const p of order) {
    const r = rank[rowOf[p] as number] as number;
    while (fronts.length <= r) fronts.push([]);
    (fronts[r] as number[]).push(p);
  }
  return fronts;
}

function sameRow(data: Float64Array, a: number, b: number, m: number): boolean {
  for (let j = 0; j < m; j++) if (data[a * m + j] !== data[b * m + j]) return false;
  return true;
}

/** Rank (0 = first front) of every point. */
export function nonDominatedRanks(points: readonly Point[]): Int32Array {
  const ranks = new Int32Array(points.length);
  nonDominatedSort(points).forEach((front, r) => {
    for (const i of front) ranks[i] = r;
  });
  return ranks;
}

/**
 * Fronts under Deb's constraint-domination: the fronts of the feasible points, then the infeasible points in order
 * of increasing total violation (equal violations share a front).
 */
export function constrainedNonDominatedSort(points: readonly Point[], violations: ArrayLike<number>): number[][] {
  const feasible: number[] = [];
  const infeasible: number[] = [];
  for (let i = 0; i < points.length; i++) ((violations[i] as number) > 0 ? infeasible : feasible).push(i);
  const fronts = nonDominatedSort(feasible.map((i) => points[i] as Point)).map((f) =>
    f.map((k) => feasible[k] as number),
  );
  infeasible.sort((a, b) => (violations[a] as number) - (violations[b] as number) || a - b);
  let last = NaN;
  for (const i of infeasible) {
    const v = violations[i] as number;
    if (v === last) (fronts[fronts.length - 1] as number[]).push(i);
    else fronts.push([i]);
    last = v;
  }
  return fronts;
}

/**
 * Crowding distance of each member of `front` (same order as `front`): boundary points get Infinity, others the sum
 * over objectives of the normalised gap between their neighbours. Objectives with no spread are skipped.
 */
export function crowdingDistance(points: readonly Point[], front: readonly number[]): Float64Array {
  const size = front.length;
  const distance = new Float64Array(size);
  if (size === 0) return distance;
  if (size <= 2) return distance.fill(Infinity);
  const m = (points[front[0] as number] as Point).length;
  const local = Array.from({ length: size }, (_, k) => k);
  const values = new Float64Array(size);
  for (let j = 0; j < m; j++) {
    for (let k = 0; k < size; k++) values[k] = (points[front[k] as number] as Point)[j] as number;
    local.sort((a, b) => (values[a] as number) - (values[b] as number) || a - b);
    const lo = values[local[0] as number] as number;
    const hi = values[local[size - 1] as number] as number;
    distance[local[0] as number] = Infinity;
    distance[local[size - 1] as number] = Infinity;
    if (!(hi > lo)) continue;
    for (let k = 1; k < size - 1; k++) {
      const i = local[k] as number;
      distance[i] =
        (distance[i] as number) +
        ((values[local[k + 1] as number] as number) - (values[local[k - 1] as number] as number)) / (hi - lo);
    }
  }
  return distance;
}
