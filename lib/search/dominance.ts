/**
 * Pareto dominance, non-dominated sorting and crowding distance. Everything here minimises: callers turn 'max'
 * objectives into 'min' first (see objectives.ts).
 *
 * The sort is ENS-BS (Zhang et al. 2015, "An Efficient Approach to Nondominated Sorting"): points are visited in
 * lexicographic order, so a point can only be dominated by points already placed, and the front of each point is
 * found by a binary search over fronts. Worst case O(M·N²), in practice far less; no pairwise N² matrix is built.
 */

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
      const d = (data[a * m + j] as number) - (data[b * m + j] as number);
      if (d !== 0) return d;
    }
    return a - b;
  });

  // Each front keeps its members' objectives 1..m-1 contiguously. q precedes p lexicographically and equal rows are
  // adjacent (handled below), so q dominates p iff q ≤ p in objectives 1..m-1; objective 0 needs no test.
  const w = m - 1;
  const fronts: number[][] = [];
  const frontValues: Float64Array[] = [];
  const row = new Float64Array(w);
  const dominatedByFront = (f: number): boolean => {
    const values = frontValues[f] as Float64Array;
    const size = (fronts[f] as number[]).length;
    if (w === 2 || w === 3) {
      // Unrolled for the common 3- and 4-objective cases (the hot loop of the whole search).
      const r0 = row[0] as number;
      const r1 = row[1] as number;
      const r2 = w === 3 ? (row[2] as number) : Infinity;
      for (let k = (size - 1) * w; k >= 0; k -= w) {
        if ((values[k] as number) <= r0 && (values[k + 1] as number) <= r1 && (w === 2 || (values[k + 2] as number) <= r2)) return true;
      }
      return false;
    }
    outer: for (let k = (size - 1) * w; k >= 0; k -= w) {
      for (let j = 0; j < w; j++) if ((values[k + j] as number) > (row[j] as number)) continue outer;
      return true;
    }
    return false;
  };
  const append = (f: number, p: number): void => {
    if (f === fronts.length) { fronts.push([]); frontValues.push(new Float64Array(Math.max(16, w * 16))); }
    const members = fronts[f] as number[];
    let values = frontValues[f] as Float64Array;
    if ((members.length + 1) * w > values.length) {
      const grown = new Float64Array(values.length * 2);
      grown.set(values);
      frontValues[f] = values = grown;
    }
    values.set(row, members.length * w);
    members.push(p);
  };

  let previous = -1;
  let previousFront = -1;
  for (const p of order) {
    for (let j = 0; j < w; j++) row[j] = data[p * m + 1 + j] as number;
    if (previous >= 0 && sameRow(data, previous, p, m)) {
      append(previousFront, p);
      previous = p;
      continue;
    }
    let lo = 0;
    let hi = fronts.length; // the answer lies in [lo, hi]; fronts.length means "a new front"
    if (w === 0) lo = hi; // one objective: every distinct value is its own front
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (dominatedByFront(mid)) lo = mid + 1;
      else hi = mid;
    }
    append(lo, p);
    previous = p;
    previousFront = lo;
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
  nonDominatedSort(points).forEach((front, r) => { for (const i of front) ranks[i] = r; });
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
  const fronts = nonDominatedSort(feasible.map((i) => points[i] as Point)).map((f) => f.map((k) => feasible[k] as number));
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
      distance[i] = (distance[i] as number) + ((values[local[k + 1] as number] as number) - (values[local[k - 1] as number] as number)) / (hi - lo);
    }
  }
  return distance;
}
