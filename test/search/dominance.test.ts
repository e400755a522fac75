import test from 'ava';
import fc from 'fast-check';
import {
  constrainedDominates,
  constrainedNonDominatedSort,
  crowdingDistance,
  dominates,
  nonDominatedRanks,
  nonDominatedSort,
  Rng,
  sortFlat,
} from '../../lib/search/index.js';
import { divideAndConquerRanks } from '../../lib/search/nds.js';

/** Brute force: peel off the points no remaining point dominates. */
function bruteFronts(n: number, dom: (a: number, b: number) => boolean): number[][] {
  const left = new Set(Array.from({ length: n }, (_, i) => i));
  const fronts: number[][] = [];
  while (left.size) {
    const front = [...left].filter((i) => ![...left].some((k) => k !== i && dom(k, i)));
    for (const i of front) left.delete(i);
    fronts.push(front.sort((a, b) => a - b));
  }
  return fronts;
}
const sorted = (fronts: number[][]): number[][] => fronts.map((f) => [...f].sort((a, b) => a - b));

// Small integer coordinates make ties and exact duplicates common.
const pointSets = fc
  .integer({ min: 1, max: 5 })
  .chain((m) =>
    fc.array(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: m, maxLength: m }), { minLength: 0, maxLength: 60 }),
  );

test('non-dominated sort matches brute force on random sets with ties and duplicates (1–5 objectives)', (t) => {
  fc.assert(
    fc.property(pointSets, (points) => {
      const expected = bruteFronts(points.length, (a, b) => dominates(points[a]!, points[b]!));
      t.deepEqual(sorted(nonDominatedSort(points)), expected);
    }),
    { numRuns: 400 },
  );
});

/**
 * The simple O(M·N²) sort (Deb et al. 2002): count each point's dominators, then peel fronts. Its own dominance test,
 * so it shares nothing with the code under test.
 */
function referenceRanks(points: readonly (readonly number[])[]): Int32Array {
  const n = points.length;
  const better = (a: readonly number[], b: readonly number[]): boolean => {
    let strictly = false;
    for (let j = 0; j < a.length; j++) {
      if (a[j]! > b[j]!) return false;
      if (a[j]! < b[j]!) strictly = true;
    }
    return strictly;
  };
  const dominated: number[][] = Array.from({ length: n }, () => []);
  const dominators = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (let k = i + 1; k < n; k++) {
      if (better(points[i]!, points[k]!)) {
        dominated[i]!.push(k);
        dominators[k]++;
      } else if (better(points[k]!, points[i]!)) {
        dominated[k]!.push(i);
        dominators[i]++;
      }
    }
  }
  const rank = new Int32Array(n);
  let front = [...dominators.keys()].filter((i) => dominators[i] === 0);
  for (let r = 0; front.length > 0; r++) {
    const next: number[] = [];
    for (const i of front) {
      rank[i] = r;
      for (const k of dominated[i]!) if (--dominators[k] === 0) next.push(k);
    }
    front = next;
  }
  return rank;
}

/** Fronts are a partition of the indices, each listing its members in lexicographic order of objectives, ties by index. */
function frontsAreOrdered(points: readonly (readonly number[])[], fronts: number[][]): boolean {
  const lexicographic = (a: number, b: number): number => {
    for (let j = 0; j < points[a]!.length; j++)
      if (points[a]![j] !== points[b]![j]) return points[a]![j]! < points[b]![j]! ? -1 : 1;
    return a - b;
  };
  const seen = fronts.flat();
  if (seen.length !== points.length || new Set(seen).size !== points.length) return false;
  return fronts.every((f) => f.length > 0 && f.every((p, k) => k === 0 || lexicographic(f[k - 1]!, p) < 0));
}

// n up to 300 reaches the divide-and-conquer splits and the 2-objective sweeps, not only the small-set pair loops.
// Coordinates from 0..range with a tiny range make many points tie in some objectives and coincide in all.
const largePointSets = fc
  .record({
    m: fc.integer({ min: 1, max: 6 }),
    n: fc.integer({ min: 0, max: 300 }),
    range: fc.constantFrom(0, 1, 2, 3, 5, 20, 1_000_000),
  })
  .chain(({ m, n, range }) =>
    fc
      .array(fc.integer({ min: 0, max: range }), { minLength: n * m, maxLength: n * m })
      .map((flat) => Array.from({ length: n }, (_, i) => flat.slice(i * m, i * m + m))),
  );

test('non-dominated ranks equal the simple O(M·N²) sort: up to 300 points, 1–6 objectives, heavy ties', (t) => {
  fc.assert(
    fc.property(largePointSets, (points) => {
      t.deepEqual([...nonDominatedRanks(points)], [...referenceRanks(points)]);
    }),
    { numRuns: 250 },
  );
});

test('non-dominated ranks equal the simple sort on real coordinates, including ±0 and ±∞', (t) => {
  const sets = fc.integer({ min: 1, max: 5 }).chain((m) =>
    fc.array(
      fc.array(fc.oneof(fc.double({ noNaN: true }), fc.constantFrom(0, -0, 1, Infinity, -Infinity)), {
        minLength: m,
        maxLength: m,
      }),
      { maxLength: 150 },
    ),
  );
  fc.assert(
    fc.property(sets, (points) => {
      t.deepEqual([...nonDominatedRanks(points)], [...referenceRanks(points)]);
    }),
    { numRuns: 200 },
  );
});

test('fronts list their members in lexicographic order, ties by index (NSGA-II tie-breaks depend on it)', (t) => {
  fc.assert(
    fc.property(largePointSets, (points) => {
      const fronts = nonDominatedSort(points);
      t.true(frontsAreOrdered(points, fronts));
      t.deepEqual(sortFlat(Float64Array.from(points.flat()), points.length, points[0]?.length ?? 0), fronts);
    }),
    { numRuns: 100 },
  );
});

test('divide and conquer with no pair-loop cutoffs (every split, every sweep) equals the simple sort', (t) => {
  // Small sets with tiny coordinate ranges: ties at a split's median and between L and H are the hard cases.
  const sets = fc
    .integer({ min: 2, max: 6 })
    .chain((m) =>
      fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: m, maxLength: m }), { maxLength: 80 }),
    );
  fc.assert(
    fc.property(sets, (points) => {
      const rows = [...new Map(points.map((p) => [p.join(','), p])).values()].sort((a, b) => {
        for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return a[j]! - b[j]!;
        return 0;
      });
      const m = rows[0]?.length ?? 0;
      const ranks = divideAndConquerRanks(Float64Array.from(rows.flat()), rows.length, m, {
        pairsAll: 0,
        pairsFrom: 0,
      });
      t.deepEqual([...ranks], [...referenceRanks(rows)]);
    }),
    { numRuns: 400 },
  );
});

test('3000 points on one front (sphere) and 3000 random points: ranks equal the simple sort', (t) => {
  const rng = new Rng('dominance-test');
  for (const m of [2, 3, 4, 5]) {
    const sphere = Array.from({ length: 3000 }, () => {
      const v = Array.from({ length: m }, () => Math.abs(rng.normal()));
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    });
    const ranks = nonDominatedRanks(sphere);
    t.true(
      ranks.every((r) => r === 0),
      `sphere, ${m} objectives`,
    );
    t.deepEqual([...ranks], [...referenceRanks(sphere)]);
    // Random points, a fifth of them rounded onto a coarse grid so ties and duplicates appear at scale too.
    const random = Array.from({ length: 3000 }, (_, i) =>
      Array.from({ length: m }, () => (i % 5 === 0 ? Math.round(rng.random() * 8) / 8 : rng.random())),
    );
    t.deepEqual([...nonDominatedRanks(random)], [...referenceRanks(random)], `random, ${m} objectives`);
  }
});

test('constrained sort matches brute-force constraint-domination', (t) => {
  const sets = pointSets.chain((points) =>
    fc.tuple(
      fc.constant(points),
      fc.array(fc.constantFrom(0, 0, 0, 0.5, 1, 2), { minLength: points.length, maxLength: points.length }),
    ),
  );
  fc.assert(
    fc.property(sets, ([points, violation]) => {
      const expected = bruteFronts(points.length, (a, b) =>
        constrainedDominates(points[a]!, violation[a]!, points[b]!, violation[b]!),
      );
      t.deepEqual(sorted(constrainedNonDominatedSort(points, violation)), expected);
    }),
    { numRuns: 300 },
  );
});

test('constraint-domination: feasible beats infeasible, smaller violation wins', (t) => {
  t.true(constrainedDominates([10, 10], 0, [0, 0], 0.1));
  t.true(constrainedDominates([10, 10], 0.1, [0, 0], 0.2));
  t.false(constrainedDominates([0, 0], 0.2, [10, 10], 0.2));
  t.true(constrainedDominates([0, 1], 0, [1, 1], 0));
});

test('crowding distance: hand-computed cases', (t) => {
  // Points on a line: ends are infinite, the middle gets (2−0)/4 + (2−0)/4 per neighbour gap, normalised.
  const pts = [
    [0, 4],
    [1, 3],
    [2, 2],
    [4, 0],
  ];
  const d = crowdingDistance(pts, [0, 1, 2, 3]);
  t.is(d[0], Infinity);
  t.is(d[3], Infinity);
  t.is(d[1], (2 - 0) / 4 + (4 - 2) / 4); // objective 0: neighbours 0 and 2; objective 1: neighbours 4 and 2
  t.is(d[2], (4 - 1) / 4 + (3 - 0) / 4);
  t.deepEqual([...crowdingDistance(pts, [0, 1])], [Infinity, Infinity]);
  // A constant objective adds nothing.
  const flat = crowdingDistance(
    [
      [0, 1],
      [1, 1],
      [3, 1],
    ],
    [0, 1, 2],
  );
  t.is(flat[1], 3 / 3);
});
