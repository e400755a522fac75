/**
 * A box-bounded real-vector space with the classic operators of Deb's NSGA-II: simulated binary crossover (SBX)
 * and polynomial mutation. Used by the benchmark problems (ZDT, DTLZ, BNH, SRN).
 */
import { ConfigError } from '../core/errors.js';
import type { Rng } from './rng.js';
import type { ExportedParam, SearchSpace } from './space.js';

export interface RealSpaceOptions {
  /** Distribution index of SBX (larger = children closer to parents). Default 15. */
  readonly crossoverEta?: number;
  /** Per-variable probability of SBX exchange. Default 0.5 (as in pymoo). */
  readonly crossoverVariableProbability?: number;
  /** Distribution index of polynomial mutation. Default 20. */
  readonly mutationEta?: number;
  /** Per-variable mutation probability. Default 1 / dimension. */
  readonly mutationProbability?: number;
}

export class RealVectorSpace implements SearchSpace<number[]> {
  readonly lower: readonly number[];
  readonly upper: readonly number[];
  private readonly etaC: number;
  private readonly pxVar: number;
  private readonly etaM: number;
  private readonly pm: number;

  constructor(lower: readonly number[], upper: readonly number[], options: RealSpaceOptions = {}) {
    if (lower.length === 0 || lower.length !== upper.length)
      throw new ConfigError('lower and upper need the same, non-zero length', 'bounds');
    lower.forEach((l, i) => {
      if (!(Number.isFinite(l) && Number.isFinite(upper[i]) && l < (upper[i] as number)))
        throw new ConfigError(`bad bounds [${l}, ${upper[i]}]`, `bounds[${i}]`);
    });
    this.lower = [...lower];
    this.upper = [...upper];
    this.etaC = options.crossoverEta ?? 15;
    this.pxVar = options.crossoverVariableProbability ?? 0.5;
    this.etaM = options.mutationEta ?? 20;
    this.pm = options.mutationProbability ?? 1 / lower.length;
  }

  /** A space of `dimension` variables in [low, high] each. */
  static box(dimension: number, low = 0, high = 1, options?: RealSpaceOptions): RealVectorSpace {
    return new RealVectorSpace(
      new Array<number>(dimension).fill(low),
      new Array<number>(dimension).fill(high),
      options,
    );
  }

  get dimension(): number {
    return this.lower.length;
  }

  sample(rng: Rng): number[] {
    return this.lower.map((l, i) => rng.uniform(l, this.upper[i] as number));
  }

  /** Polynomial mutation (Deb & Agrawal), the bounded variant used by NSGA-II's reference code. */
  mutate(genome: number[], rng: Rng): number[] {
    const eta = this.etaM;
    return genome.map((x, i) => {
      if (!rng.bool(this.pm)) return x;
      const lo = this.lower[i] as number;
      const hi = this.upper[i] as number;
      const d1 = (x - lo) / (hi - lo);
      const d2 = (hi - x) / (hi - lo);
      const u = rng.random();
      const power = 1 / (eta + 1);
      let dq: number;
      if (u < 0.5) {
        const v = 2 * u + (1 - 2 * u) * Math.pow(1 - d1, eta + 1);
        dq = Math.pow(v, power) - 1;
      } else {
        const v = 2 * (1 - u) + 2 * (u - 0.5) * Math.pow(1 - d2, eta + 1);
        dq = 1 - Math.pow(v, power);
      }
      return Math.min(hi, Math.max(lo, x + dq * (hi - lo)));
    });
  }

  /** Simulated binary crossover (Deb & Agrawal 1995), bounded variant. */
  crossover(a: number[], b: number[], rng: Rng): [number[], number[]] {
    const c1 = [...a];
    const c2 = [...b];
    const eta = this.etaC;
    for (let i = 0; i < a.length; i++) {
      if (!rng.bool(this.pxVar)) continue;
      const x1 = Math.min(a[i] as number, b[i] as number);
      const x2 = Math.max(a[i] as number, b[i] as number);
      if (x2 - x1 < 1e-14) continue;
      const lo = this.lower[i] as number;
      const hi = this.upper[i] as number;
      const u = rng.random();
      const child = (beta: number): number => {
        const alpha = 2 - Math.pow(beta, -(eta + 1));
        const bq = u <= 1 / alpha ? Math.pow(u * alpha, 1 / (eta + 1)) : Math.pow(1 / (2 - u * alpha), 1 / (eta + 1));
        return bq;
      };
      const bq1 = child(1 + (2 * (x1 - lo)) / (x2 - x1));
      const bq2 = child(1 + (2 * (hi - x2)) / (x2 - x1));
      let y1 = Math.min(hi, Math.max(lo, 0.5 * (x1 + x2 - bq1 * (x2 - x1))));
      let y2 = Math.min(hi, Math.max(lo, 0.5 * (x1 + x2 + bq2 * (x2 - x1))));
      if (rng.bool()) [y1, y2] = [y2, y1];
      c1[i] = y1;
      c2[i] = y2;
    }
    return [c1, c2];
  }

  key(genome: number[]): string {
    return genome.join(',');
  }

  encode(genome: number[]): unknown {
    return [...genome];
  }

  decode(json: unknown): number[] {
    if (
      !Array.isArray(json) ||
      json.length !== this.dimension ||
      !json.every((x) => typeof x === 'number' && Number.isFinite(x))
    ) {
      throw new ConfigError(`expected an array of ${this.dimension} finite numbers`, 'genome');
    }
    json.forEach((x: number, i) => {
      if (x < (this.lower[i] as number) || x > (this.upper[i] as number))
        throw new ConfigError(`${x} is outside [${this.lower[i]}, ${this.upper[i]}]`, `genome[${i}]`);
    });
    return [...(json as number[])];
  }

  exportParams(genome: number[]): Record<string, ExportedParam> {
    const out: Record<string, ExportedParam> = {};
    genome.forEach((x, i) => {
      out[`x${i}`] = {
        value: x,
        distribution: { kind: 'float', low: this.lower[i] as number, high: this.upper[i] as number, log: false },
      };
    });
    return out;
  }
}
