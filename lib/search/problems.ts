/**
 * Standard multi-objective test problems (all minimise) with their true fronts, used by the tests and the benchmark.
 * `trueFront(n)` samples the Pareto front densely; `trueHypervolume` is exact where a closed form exists.
 */
import { nonDominatedSort } from './dominance.js';
import { hypervolume } from './indicators.js';
import { RealVectorSpace } from './real-space.js';

export interface TestProblem {
  readonly name: string;
  readonly space: RealVectorSpace;
  readonly objectiveCount: number;
  evaluate(x: readonly number[]): number[];
  /** Constraint values g(x) ≤ 0 (positive = violated amount), when the problem has constraints. */
  constraints?(x: readonly number[]): number[];
  trueFront(points: number): number[][];
  /** Hypervolume of the continuous true front for this reference point. */
  trueHypervolume(reference: readonly number[]): number;
}

const zdtG = (x: readonly number[]): number => {
  let s = 0;
  for (let i = 1; i < x.length; i++) s += x[i] as number;
  return 1 + (9 * s) / (x.length - 1);
};

function zdt(
  name: string,
  n: number,
  h: (f1: number, g: number) => number,
  front: (f1: number) => number,
  hv: (r: readonly number[]) => number,
  sampled = false,
): TestProblem {
  const problem: TestProblem = {
    name,
    space: RealVectorSpace.box(n),
    objectiveCount: 2,
    evaluate(x) {
      const f1 = x[0] as number;
      const g = zdtG(x);
      return [f1, g * h(f1, g)];
    },
    trueFront(points) {
      const out: number[][] = [];
      for (let i = 0; i < points; i++) {
        const f1 = i / (points - 1);
        out.push([f1, front(f1)]);
      }
      return out;
    },
    trueHypervolume: sampled ? (r) => hypervolume(problem.trueFront(20001), r) : hv,
  };
  return problem;
}

/** ZDT1 (convex). HV in closed form for a reference point (r₁, r₂) with both ≥ 1. */
export function zdt1(n = 30): TestProblem {
  return zdt(
    'ZDT1',
    n,
    (f1, g) => 1 - Math.sqrt(f1 / g),
    (f1) => 1 - Math.sqrt(f1),
    // ∫₀¹ (r₂ − 1 + √f₁) df₁ + (r₁ − 1)·r₂
    (r) => (r[1] as number) - 1 + 2 / 3 + ((r[0] as number) - 1) * (r[1] as number),
  );
}

/** ZDT2 (concave). */
export function zdt2(n = 30): TestProblem {
  return zdt(
    'ZDT2',
    n,
    (f1, g) => 1 - (f1 / g) ** 2,
    (f1) => 1 - f1 * f1,
    // ∫₀¹ (r₂ − 1 + f₁²) df₁ + (r₁ − 1)·r₂
    (r) => (r[1] as number) - 1 + 1 / 3 + ((r[0] as number) - 1) * (r[1] as number),
  );
}

/** ZDT3 (disconnected). The true front is the non-dominated part of f₂ = 1 − √f₁ − f₁ sin(10πf₁); HV from 20,001 samples. */
export function zdt3(n = 30): TestProblem {
  return zdt(
    'ZDT3',
    n,
    (f1, g) => 1 - Math.sqrt(f1 / g) - (f1 / g) * Math.sin(10 * Math.PI * f1),
    (f1) => 1 - Math.sqrt(f1) - f1 * Math.sin(10 * Math.PI * f1),
    () => 0,
    true,
  );
}

/** DTLZ2 with m objectives and k = 10 distance variables; front = unit sphere in the positive orthant. */
export function dtlz2(m = 3, k = 10): TestProblem {
  const n = m + k - 1;
  return {
    name: `DTLZ2(${m})`,
    space: RealVectorSpace.box(n),
    objectiveCount: m,
    evaluate(x) {
      let g = 0;
      for (let i = m - 1; i < n; i++) g += ((x[i] as number) - 0.5) ** 2;
      const f: number[] = [];
      for (let i = 0; i < m; i++) {
        let v = 1 + g;
        for (let j = 0; j < m - 1 - i; j++) v *= Math.cos(((x[j] as number) * Math.PI) / 2);
        if (i > 0) v *= Math.sin(((x[m - 1 - i] as number) * Math.PI) / 2);
        f.push(v);
      }
      return f;
    },
    trueFront(points) {
      const out: number[][] = [];
      const side = Math.max(2, Math.round(Math.sqrt(points)));
      for (let a = 0; a < side; a++)
        for (let b = 0; b < side; b++) {
          const t = (a / (side - 1)) * (Math.PI / 2);
          const p = (b / (side - 1)) * (Math.PI / 2);
          out.push(
            m === 3 ? [Math.cos(t) * Math.cos(p), Math.cos(t) * Math.sin(p), Math.sin(t)] : [Math.cos(t), Math.sin(t)],
          );
        }
      return out;
    },
    // Points of the box beyond the unit sphere are dominated, those inside are not: Π rᵢ − (volume of the unit-ball orthant).
    trueHypervolume(r) {
      const ballOrthant = m === 2 ? Math.PI / 4 : m === 3 ? Math.PI / 6 : Math.PI ** 2 / 32;
      return r.reduce((a, b) => a * b, 1) - ballOrthant;
    },
  };
}

/** BNH (Binh & Korn): two objectives, two constraints, convex front. */
export function bnh(): TestProblem {
  return {
    name: 'BNH',
    space: new RealVectorSpace([0, 0], [5, 3]),
    objectiveCount: 2,
    evaluate: ([x, y]) => [4 * x! * x! + 4 * y! * y!, (x! - 5) ** 2 + (y! - 5) ** 2],
    constraints: ([x, y]) => [(x! - 5) ** 2 + y! * y! - 25, 7.7 - ((x! - 8) ** 2 + (y! + 3) ** 2)],
    trueFront(points) {
      // x = y on [0, 3], then y = 3 with x on [3, 5] (Deb 2001).
      const out: number[][] = [];
      for (let i = 0; i < points; i++) {
        const t = (i / (points - 1)) * 5;
        const x = t;
        const y = Math.min(t, 3);
        out.push([4 * x * x + 4 * y * y, (x - 5) ** 2 + (y - 5) ** 2]);
      }
      return out;
    },
    trueHypervolume(r) {
      return hypervolume(this.trueFront(20001), r);
    },
  };
}

/** SRN (Srinivas & Deb): two objectives, two constraints that cut the unconstrained front; mostly x₁ = −2.5. */
export function srn(): TestProblem {
  return {
    name: 'SRN',
    space: new RealVectorSpace([-20, -20], [20, 20]),
    objectiveCount: 2,
    evaluate: ([x, y]) => [2 + (x! - 2) ** 2 + (y! - 1) ** 2, 9 * x! - (y! - 1) ** 2],
    constraints: ([x, y]) => [x! * x! + y! * y! - 225, x! - 3 * y! + 10],
    trueFront(points) {
      // Pareto-critical interior points lie on x₁ = −2.5; the rest of the front lies on the two constraint
      // boundaries. Sample all three curves and keep the non-dominated part.
      const f = (x: number, y: number): number[] => [2 + (x - 2) ** 2 + (y - 1) ** 2, 9 * x - (y - 1) ** 2];
      const feasible = (x: number, y: number): boolean => x * x + y * y <= 225 + 1e-9 && x - 3 * y + 10 <= 1e-9;
      const candidates: number[][] = [];
      for (let i = 0; i < points; i++) {
        const u = i / (points - 1);
        const y = -20 + 40 * u;
        if (feasible(-2.5, y)) candidates.push(f(-2.5, y));
        const a = 2 * Math.PI * u;
        if (feasible(15 * Math.cos(a), 15 * Math.sin(a))) candidates.push(f(15 * Math.cos(a), 15 * Math.sin(a)));
        const x = -20 + 40 * u;
        if (feasible(x, (x + 10) / 3)) candidates.push(f(x, (x + 10) / 3));
      }
      return (nonDominatedSort(candidates)[0] ?? []).map((i) => candidates[i] as number[]);
    },
    trueHypervolume(r) {
      return hypervolume(this.trueFront(20001), r);
    },
  };
}
