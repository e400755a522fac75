/**
 * SPEA2 (Zitzler, Laumanns & Thiele 2001), the selector FedCore uses: fitness = raw fitness (strengths of the
 * dominators) + density (1 / (σₖ + 2), k = ⌊√N⌋); the archive keeps the non-dominated, filled by fitness or cut by
 * iteratively removing the most crowded point. Domination is Deb's constraint-domination; distances are measured
 * on objectives normalised to the pool's range, so objectives in different units count alike.
 */
import { constrainedDominates } from './dominance.js';
import type { Rng } from './rng.js';
import type { Candidate, Selector } from './selection.js';

function normalisedDistances(pool: readonly Candidate[]): Float64Array[] {
  const n = pool.length;
  const m = pool[0]?.objectives.length ?? 0;
  const lo = new Array<number>(m).fill(Infinity);
  const hi = new Array<number>(m).fill(-Infinity);
  for (const c of pool)
    c.objectives.forEach((v, j) => {
      lo[j] = Math.min(lo[j] as number, v);
      hi[j] = Math.max(hi[j] as number, v);
    });
  const scale = lo.map((l, j) => ((hi[j] as number) > l ? 1 / ((hi[j] as number) - l) : 0));
  const d = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let k = i + 1; k < n; k++) {
      let s = 0;
      for (let j = 0; j < m; j++) {
        const diff =
          (((pool[i] as Candidate).objectives[j] as number) - ((pool[k] as Candidate).objectives[j] as number)) *
          (scale[j] as number);
        s += diff * diff;
      }
      (d[i] as Float64Array)[k] = (d[k] as Float64Array)[i] = Math.sqrt(s);
    }
  }
  return d;
}

/** SPEA2 fitness of every candidate (< 1 exactly for the non-dominated), plus the distance matrix. */
export function spea2Fitness(pool: readonly Candidate[]): { fitness: Float64Array; distances: Float64Array[] } {
  const n = pool.length;
  const dom = (a: number, b: number): boolean => {
    const x = pool[a] as Candidate;
    const y = pool[b] as Candidate;
    return constrainedDominates(x.objectives, x.violation, y.objectives, y.violation);
  };
  const strength = new Float64Array(n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) if (i !== k && dom(i, k)) strength[i] = (strength[i] as number) + 1;
  const fitness = new Float64Array(n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) if (i !== k && dom(k, i)) fitness[i] = (fitness[i] as number) + (strength[k] as number);
  const distances = normalisedDistances(pool);
  const kth = Math.floor(Math.sqrt(n));
  for (let i = 0; i < n; i++) {
    const sorted = Array.from(distances[i] as Float64Array)
      .filter((_, k) => k !== i)
      .sort((a, b) => a - b);
    const sigma = sorted[Math.min(kth, sorted.length) - 1] ?? 0;
    fitness[i] = (fitness[i] as number) + 1 / (sigma + 2);
  }
  return { fitness, distances };
}

export function spea2(): Selector {
  return {
    name: 'spea2',
    survive(pool, size) {
      const { fitness, distances } = spea2Fitness(pool);
      const order = Array.from({ length: pool.length }, (_, i) => i).sort(
        (a, b) => (fitness[a] as number) - (fitness[b] as number) || a - b,
      );
      const archive = order.filter((i) => (fitness[i] as number) < 1);
      if (archive.length <= size) return order.slice(0, size);
      // Truncation: repeatedly drop the member whose sorted distances to the others are lexicographically smallest.
      const alive = new Set(archive);
      while (alive.size > size) {
        let worst = -1;
        let worstList: number[] = [];
        for (const i of alive) {
          const list = [...alive]
            .filter((k) => k !== i)
            .map((k) => (distances[i] as Float64Array)[k] as number)
            .sort((a, b) => a - b);
          if (worst < 0 || lexLess(list, worstList)) {
            worst = i;
            worstList = list;
          }
        }
        alive.delete(worst);
      }
      return archive.filter((i) => alive.has(i));
    },
    selectParents(population, count, rng) {
      const { fitness } = spea2Fitness(population);
      const out: number[] = [];
      for (let i = 0; i < count; i++) {
        const a = rng.int(0, population.length - 1);
        const b = rng.int(0, population.length - 1);
        out.push((fitness[a] as number) <= (fitness[b] as number) ? a : b);
      }
      return out;
    },
  };
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return (a[i] as number) < (b[i] as number);
  return a.length < b.length;
}
