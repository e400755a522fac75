/**
 * NSGA-II (Deb et al. 2002): survivors by constraint-domination fronts, the last front cut by crowding distance;
 * parents by binary tournament on (rank, crowding distance).
 */
import { constrainedNonDominatedSort, crowdingDistance } from './dominance.js';
import type { Rng } from './rng.js';
import type { Candidate, Selector } from './selection.js';

/** Rank and crowding distance of every candidate. */
export function rankAndCrowding(pool: readonly Candidate[]): {
  rank: Int32Array;
  crowding: Float64Array;
  fronts: number[][];
} {
  const points = pool.map((c) => c.objectives);
  const fronts = constrainedNonDominatedSort(
    points,
    pool.map((c) => c.violation),
  );
  const rank = new Int32Array(pool.length);
  const crowding = new Float64Array(pool.length);
  fronts.forEach((front, r) => {
    const d = crowdingDistance(points, front);
    front.forEach((i, k) => {
      rank[i] = r;
      crowding[i] = d[k] as number;
    });
  });
  return { rank, crowding, fronts };
}

export function nsga2(): Selector {
  return {
    name: 'nsga2',
    survive(pool, size) {
      const { crowding, fronts } = rankAndCrowding(pool);
      const out: number[] = [];
      for (const front of fronts) {
        if (out.length + front.length <= size) {
          out.push(...front);
          continue;
        }
        const byCrowding = [...front].sort((a, b) => (crowding[b] as number) - (crowding[a] as number) || a - b);
        out.push(...byCrowding.slice(0, size - out.length));
        break;
      }
      return out;
    },
    selectParents(population, count, rng) {
      const { rank, crowding } = rankAndCrowding(population);
      const better = (a: number, b: number): number =>
        rank[a] !== rank[b]
          ? (rank[a] as number) < (rank[b] as number)
            ? a
            : b
          : (crowding[a] as number) > (crowding[b] as number)
            ? a
            : (crowding[b] as number) > (crowding[a] as number)
              ? b
              : rng.bool()
                ? a
                : b;
      const out: number[] = [];
      for (let i = 0; i < count; i++)
        out.push(better(rng.int(0, population.length - 1), rng.int(0, population.length - 1)));
      return out;
    },
  };
}
