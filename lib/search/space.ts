/**
 * The abstractions every search runs through. A `SearchSpace<G>` knows how to make and vary genomes of type G; a
 * `ProblemDefinition` says what is measured. NSGA-II/SPEA2 and the study only see these, so the pure-math benchmark
 * problems (real vectors) and the pipeline genome use the same machinery.
 */
import type { Rng } from './rng.js';

export type Direction = 'min' | 'max';

export interface ObjectiveDef {
  readonly name: string;
  readonly direction: Direction;
}

/**
 * A constraint on a measured value: `value ≤ upper` and/or `value ≥ lower`. If the evaluator reports no value under
 * `name`, the objective of that name is used, so `{ name: 'latencyMs', upper: 5 }` constrains an objective directly.
 */
export interface ConstraintDef {
  readonly name: string;
  readonly upper?: number;
  readonly lower?: number;
}

/** How a genome is described to Optuna-style tools: a flat parameter map with distributions. */
export type ExportedParam =
  | { value: number; distribution: { kind: 'float'; low: number; high: number; log: boolean } }
  | { value: number; distribution: { kind: 'int'; low: number; high: number; log: boolean } }
  | {
      value: string | number | boolean | null;
      distribution: { kind: 'categorical'; choices: ReadonlyArray<string | number | boolean | null> };
    };

export interface SearchSpace<G> {
  /** A random valid genome. */
  sample(rng: Rng): G;
  /** A varied, valid copy; never modifies `genome`. */
  mutate(genome: G, rng: Rng): G;
  /** Two valid children; never modifies the parents. */
  crossover(a: G, b: G, rng: Rng): [G, G];
  /** Equal keys mean equal genomes (used to avoid evaluating a genome twice). */
  key(genome: G): string;
  /** A JSON-safe form for storage; `decode(encode(g))` equals `g`. */
  encode(genome: G): unknown;
  /** Parses a stored genome; throws ConfigError when it is not one. */
  decode(json: unknown): G;
  /** Optional flat parameter view for dashboards (Optuna export). */
  exportParams?(genome: G): Record<string, ExportedParam>;
}
