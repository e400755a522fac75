import test from 'ava';
import fc from 'fast-check';
import { constrainedDominates, constrainedNonDominatedSort, crowdingDistance, dominates, nonDominatedSort } from '../../lib/search/index.js';

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
const pointSets = fc.integer({ min: 1, max: 5 }).chain((m) =>
  fc.array(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: m, maxLength: m }), { minLength: 0, maxLength: 60 }));

test('non-dominated sort matches brute force on random sets with ties and duplicates (1–5 objectives)', (t) => {
  fc.assert(fc.property(pointSets, (points) => {
    const expected = bruteFronts(points.length, (a, b) => dominates(points[a]!, points[b]!));
    t.deepEqual(sorted(nonDominatedSort(points)), expected);
  }), { numRuns: 400 });
});

test('constrained sort matches brute-force constraint-domination', (t) => {
  const sets = pointSets.chain((points) => fc.tuple(fc.constant(points), fc.array(fc.constantFrom(0, 0, 0, 0.5, 1, 2), { minLength: points.length, maxLength: points.length })));
  fc.assert(fc.property(sets, ([points, violation]) => {
    const expected = bruteFronts(points.length, (a, b) => constrainedDominates(points[a]!, violation[a]!, points[b]!, violation[b]!));
    t.deepEqual(sorted(constrainedNonDominatedSort(points, violation)), expected);
  }), { numRuns: 300 });
});

test('constraint-domination: feasible beats infeasible, smaller violation wins', (t) => {
  t.true(constrainedDominates([10, 10], 0, [0, 0], 0.1));
  t.true(constrainedDominates([10, 10], 0.1, [0, 0], 0.2));
  t.false(constrainedDominates([0, 0], 0.2, [10, 10], 0.2));
  t.true(constrainedDominates([0, 1], 0, [1, 1], 0));
});

test('crowding distance: hand-computed cases', (t) => {
  // Points on a line: ends are infinite, the middle gets (2−0)/4 + (2−0)/4 per neighbour gap, normalised.
  const pts = [[0, 4], [1, 3], [2, 2], [4, 0]];
  const d = crowdingDistance(pts, [0, 1, 2, 3]);
  t.is(d[0], Infinity);
  t.is(d[3], Infinity);
  t.is(d[1], (2 - 0) / 4 + (4 - 2) / 4); // objective 0: neighbours 0 and 2; objective 1: neighbours 4 and 2
  t.is(d[2], (4 - 1) / 4 + (3 - 0) / 4);
  t.deepEqual([...crowdingDistance(pts, [0, 1])], [Infinity, Infinity]);
  // A constant objective adds nothing.
  const flat = crowdingDistance([[0, 1], [1, 1], [3, 1]], [0, 1, 2]);
  t.is(flat[1], 3 / 3);
});
