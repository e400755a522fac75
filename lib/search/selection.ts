/** What a selector sees of an individual, and the selector interface NSGA-II and SPEA2 implement. */
import type { Rng } from './rng.js';

export interface Candidate {
  /** Objective vector in minimisation form. */
  readonly objectives: readonly number[];
  /** Total constraint violation; 0 = feasible. */
  readonly violation: number;
}

export interface Selector {
  readonly name: string;
  /** Indices of the `size` survivors of `pool` (parents plus offspring: elitist). Deterministic. */
  survive(pool: readonly Candidate[], size: number): number[];
  /** `count` parent indices into `population` (repeats allowed). */
  selectParents(population: readonly Candidate[], count: number, rng: Rng): number[];
}
