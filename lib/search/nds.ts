/**
 * Divide-and-conquer non-dominated ranking: Jensen (2003) as generalised to ties by Fortin, Grenier & Parizeau (2013)
 * and made provably O(N·log^(M−1) N) by Buzdalov & Shalyto (2014, "A Provably Asymptotically Fast Version of the
 * Generalized Jensen Algorithm for Non-dominated Sorting"). Minimisation.
 *
 * Input rows must be distinct and in lexicographic order, so point ids are lexicographic ranks: a point can only be
 * dominated by a smaller id, and for distinct rows "dominates" is plain componentwise ≤. Every recursive call works
 * on ranges of one permutation of the ids and leaves each range sorted by id again when it returns, which is what the
 * 2-objective sweeps at the bottom rely on.
 *
 *   rankAll(S, k)       final ranks within S, where all of S agree on objectives above k (so only 0..k matter).
 *   rankFrom(L, H, k)   raise the ranks of H by the (final) ranks of L, where every l ≤ every h above objective k.
 *
 * Both split on the median of objective k into <, = and > parts; a part that agrees on k drops to k − 1.
 */

/**
 * Sizes at or below which comparing all pairs beats recursing (tuned on 10k×4 points): points in rankAll, |L|·|H| in
 * rankFrom. Tests set them to zero so that small inputs exercise every branch of the recursion.
 */
export interface Cutoffs {
  pairsAll: number;
  pairsFrom: number;
}
const TUNED: Cutoffs = { pairsAll: 48, pairsFrom: 2048 };

/**
 * Rank (0 = non-dominated) of each of the n distinct, lexicographically sorted rows of the row-major n×m `values`,
 * m ≥ 2 (one objective needs no sort: the caller ranks distinct values directly).
 */
export function divideAndConquerRanks(
  values: Float64Array,
  n: number,
  m: number,
  cutoffs: Cutoffs = TUNED,
): Int32Array {
  const ranker = new Ranker(values, n, m, cutoffs);
  if (n > 1) ranker.rankAll(0, n, m - 1);
  return ranker.rank;
}

class Ranker {
  readonly rank: Int32Array;
  /** Point ids, permuted within ranges by the recursion. */
  private readonly ids: Int32Array;
  /** Buffer for split and merge. */
  private readonly scratch: Int32Array;
  /** Buffer for median selection. */
  private readonly keys: Float64Array;
  /** Index of each point's objective-1 value among the distinct objective-1 values: the sweeps' tree position. */
  private readonly y: Int32Array;
  /** Prefix-maximum Fenwick tree over y. A node is empty unless its stamp is the current sweep's, so no clearing. */
  private readonly tree: Int32Array;
  private readonly treeStamp: Int32Array;
  private sweep = 0;
  /** Ends of the "<" and "=" parts from the last split. */
  private lessEnd = 0;
  private equalEnd = 0;

  constructor(
    private readonly values: Float64Array,
    n: number,
    private readonly m: number,
    private readonly cutoffs: Cutoffs,
  ) {
    this.rank = new Int32Array(n);
    this.ids = new Int32Array(n);
    for (let i = 0; i < n; i++) this.ids[i] = i;
    this.scratch = new Int32Array(n);
    this.keys = new Float64Array(n);
    this.y = new Int32Array(n);
    let distinct = 0;
    if (m >= 2 && n > 1) {
      const ys = new Float64Array(n);
      for (let i = 0; i < n; i++) ys[i] = values[i * m + 1] as number;
      ys.sort();
      for (let i = 0; i < n; i++) if (i === 0 || ys[i] !== ys[distinct - 1]) ys[distinct++] = ys[i] as number;
      for (let i = 0; i < n; i++) this.y[i] = lowerBound(ys, distinct, values[i * m + 1] as number);
    }
    this.tree = new Int32Array(distinct + 1);
    this.treeStamp = new Int32Array(distinct + 1);
  }

  rankAll(from: number, until: number, k: number): void {
    if (until - from < 2) return;
    if (until - from <= this.cutoffs.pairsAll) return this.pairsAll(from, until, k);
    if (k === 1) return this.sweepAll(from, until);
    const { values, ids, m } = this;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = from; i < until; i++) {
      const x = values[(ids[i] as number) * m + k] as number;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    if (lo === hi) return this.rankAll(from, until, k - 1);
    this.split(from, until, k, this.median(from, until, until, until, k));
    const lessEnd = this.lessEnd;
    const equalEnd = this.equalEnd;
    this.rankAll(from, lessEnd, k);
    this.rankFrom(from, lessEnd, lessEnd, equalEnd, k - 1);
    this.rankAll(lessEnd, equalEnd, k - 1);
    this.merge(from, lessEnd, equalEnd);
    this.rankFrom(from, equalEnd, equalEnd, until, k - 1);
    this.rankAll(equalEnd, until, k);
    this.merge(from, equalEnd, until);
  }

  private rankFrom(lFrom: number, lUntil: number, hFrom: number, hUntil: number, k: number): void {
    const { values, ids, m } = this;
    // Both ranges are sorted by objective 0: an h below every l, or an l above every h, takes no part.
    if (lFrom === lUntil) return;
    const lFirst = values[(ids[lFrom] as number) * m] as number;
    while (hFrom < hUntil && (values[(ids[hFrom] as number) * m] as number) < lFirst) hFrom++;
    if (hFrom === hUntil) return;
    const hLast = values[(ids[hUntil - 1] as number) * m] as number;
    while ((values[(ids[lUntil - 1] as number) * m] as number) > hLast) lUntil--;
    if ((lUntil - lFrom) * (hUntil - hFrom) <= this.cutoffs.pairsFrom)
      return this.pairsFrom(lFrom, lUntil, hFrom, hUntil, k);
    if (k === 1) return this.sweepFrom(lFrom, lUntil, hFrom, hUntil);
    let lMin = Infinity;
    let lMax = -Infinity;
    let hMin = Infinity;
    let hMax = -Infinity;
    for (let i = lFrom; i < lUntil; i++) {
      const x = values[(ids[i] as number) * m + k] as number;
      if (x < lMin) lMin = x;
      if (x > lMax) lMax = x;
    }
    for (let i = hFrom; i < hUntil; i++) {
      const x = values[(ids[i] as number) * m + k] as number;
      if (x < hMin) hMin = x;
      if (x > hMax) hMax = x;
    }
    if (lMin > hMax) return; // every l is worse than every h in objective k
    if (lMax <= hMin) return this.rankFrom(lFrom, lUntil, hFrom, hUntil, k - 1);
    const median = this.median(lFrom, lUntil, hFrom, hUntil, k);
    this.split(lFrom, lUntil, k, median);
    const lLess = this.lessEnd;
    const lEqual = this.equalEnd;
    this.split(hFrom, hUntil, k, median);
    const hLess = this.lessEnd;
    const hEqual = this.equalEnd;
    // L< against H< and L> against H> still need objective k. L< or L= against H= or H> has l ≤ h in objective k, so
    // k − 1 objectives are left; L= or L> against H< can never dominate.
    this.rankFrom(lFrom, lLess, hFrom, hLess, k);
    this.rankFrom(lEqual, lUntil, hEqual, hUntil, k);
    this.merge(lFrom, lLess, lEqual);
    this.merge(hLess, hEqual, hUntil);
    this.rankFrom(lFrom, lEqual, hLess, hUntil, k - 1);
    this.merge(lFrom, lEqual, lUntil);
    this.merge(hFrom, hLess, hUntil);
  }

  /** Two objectives left: in id order (objective 0 ascending) each point takes 1 + the best rank at y ≤ its y. */
  private sweepAll(from: number, until: number): void {
    const { ids, rank, y } = this;
    this.sweep++;
    for (let i = from; i < until; i++) {
      const p = ids[i] as number;
      const r = Math.max(rank[p] as number, this.query(y[p] as number) + 1);
      rank[p] = r;
      this.insert(y[p] as number, r);
    }
  }

  private sweepFrom(lFrom: number, lUntil: number, hFrom: number, hUntil: number): void {
    const { ids, rank, y, values, m } = this;
    this.sweep++;
    let l = lFrom;
    for (let i = hFrom; i < hUntil; i++) {
      const p = ids[i] as number;
      const x = values[p * m] as number;
      for (; l < lUntil && (values[(ids[l] as number) * m] as number) <= x; l++) {
        const q = ids[l] as number;
        this.insert(y[q] as number, rank[q] as number);
      }
      const r = this.query(y[p] as number) + 1;
      if (r > (rank[p] as number)) rank[p] = r;
    }
  }

  private pairsAll(from: number, until: number, k: number): void {
    const { ids, rank } = this;
    for (let i = from + 1; i < until; i++) {
      const p = ids[i] as number;
      for (let j = from; j < i; j++) {
        const q = ids[j] as number;
        if ((rank[q] as number) >= (rank[p] as number) && this.weaklyBetter(q, p, k)) rank[p] = (rank[q] as number) + 1;
      }
    }
  }

  private pairsFrom(lFrom: number, lUntil: number, hFrom: number, hUntil: number, k: number): void {
    const { ids, rank } = this;
    const { values, m } = this;
    for (let i = hFrom; i < hUntil; i++) {
      const p = ids[i] as number;
      const x = values[p * m] as number;
      for (let j = lFrom; j < lUntil; j++) {
        const q = ids[j] as number;
        if ((values[q * m] as number) > x) break; // L is sorted by objective 0
        if ((rank[q] as number) >= (rank[p] as number) && this.weaklyBetter(q, p, k)) rank[p] = (rank[q] as number) + 1;
      }
    }
  }

  /** q ≤ p in objectives 0..k. */
  private weaklyBetter(q: number, p: number, k: number): boolean {
    const { values, m } = this;
    for (let j = 0; j <= k; j++) if ((values[q * m + j] as number) > (values[p * m + j] as number)) return false;
    return true;
  }

  /** Lower median of objective k over the points in [aFrom, aUntil) and [bFrom, bUntil). */
  private median(aFrom: number, aUntil: number, bFrom: number, bUntil: number, k: number): number {
    const { values, ids, m, keys } = this;
    let size = 0;
    for (let i = aFrom; i < aUntil; i++) keys[size++] = values[(ids[i] as number) * m + k] as number;
    for (let i = bFrom; i < bUntil; i++) keys[size++] = values[(ids[i] as number) * m + k] as number;
    return select(keys, size, (size - 1) >> 1);
  }

  /** Stable three-way partition of [from, until) by objective k against `pivot`; sets lessEnd and equalEnd. */
  private split(from: number, until: number, k: number, pivot: number): void {
    const { values, ids, m, scratch } = this;
    let less = 0;
    let equal = 0;
    for (let i = from; i < until; i++) {
      const x = values[(ids[i] as number) * m + k] as number;
      if (x < pivot) less++;
      else if (x === pivot) equal++;
    }
    let a = from;
    let b = from + less;
    let c = from + less + equal;
    for (let i = from; i < until; i++) {
      const p = ids[i] as number;
      const x = values[p * m + k] as number;
      if (x < pivot) scratch[a++] = p;
      else if (x === pivot) scratch[b++] = p;
      else scratch[c++] = p;
    }
    ids.set(scratch.subarray(from, until), from);
    this.lessEnd = from + less;
    this.equalEnd = from + less + equal;
  }

  /** Merge the id-sorted runs [from, mid) and [mid, until). */
  private merge(from: number, mid: number, until: number): void {
    const { ids, scratch } = this;
    if (from === mid || mid === until || (ids[mid - 1] as number) < (ids[mid] as number)) return;
    let a = from;
    let b = mid;
    let out = from;
    while (a < mid && b < until)
      scratch[out++] = (ids[a] as number) < (ids[b] as number) ? (ids[a++] as number) : (ids[b++] as number);
    while (a < mid) scratch[out++] = ids[a++] as number;
    while (b < until) scratch[out++] = ids[b++] as number;
    ids.set(scratch.subarray(from, until), from);
  }

  /** Highest rank inserted at a position ≤ pos in this sweep, −1 if none. */
  private query(pos: number): number {
    const { tree, treeStamp, sweep } = this;
    let best = -1;
    for (let i = pos + 1; i > 0; i -= i & -i)
      if (treeStamp[i] === sweep && (tree[i] as number) > best) best = tree[i] as number;
    return best;
  }

  private insert(pos: number, r: number): void {
    const { tree, treeStamp, sweep } = this;
    for (let i = pos + 1; i < tree.length; i += i & -i) {
      if (treeStamp[i] !== sweep) {
        treeStamp[i] = sweep;
        tree[i] = r;
      } else if ((tree[i] as number) < r) tree[i] = r;
    }
  }
}

function lowerBound(sorted: Float64Array, size: number, x: number): number {
  let lo = 0;
  let hi = size;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The k-th smallest of keys[0..size) (Hoare's quickselect; reorders keys). */
function select(keys: Float64Array, size: number, k: number): number {
  let lo = 0;
  let hi = size - 1;
  while (lo < hi) {
    const pivot = keys[(lo + hi) >>> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((keys[i] as number) < pivot) i++;
      while ((keys[j] as number) > pivot) j--;
      if (i <= j) {
        const t = keys[i] as number;
        keys[i++] = keys[j] as number;
        keys[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return keys[k] as number;
  }
  return keys[k] as number;
}
