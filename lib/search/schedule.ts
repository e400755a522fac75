/**
 * A study's schedule: when genomes are made and when told trials compete for survival. The generational schedule
 * (generational.ts) makes, evaluates and selects each generation whole; the steady-state one (steady-state.ts) asks
 * generation 0 the same way, then makes one offspring per ask and lets every told trial compete at once. Both work on
 * the StudyState the study shares with them: the study asks, tells, stores and emits; the schedule decides what is
 * asked next and who survives.
 */
import { dominates } from './dominance.js';
import type { Seed } from './rng.js';
import type { Candidate, Selector } from './selection.js';
import type { ObjectiveDef, SearchSpace } from './space.js';
import type { TrialRecord } from './storage.js';

export type Schedule = 'generational' | 'steady-state';

/** A told, complete trial as selection sees it. */
export interface Member<G> extends Candidate {
  readonly number: number;
  readonly slot: number;
  readonly genome: G;
  readonly values: readonly number[];
}

/** A trial to ask: its genome, the generation it belongs to and its slot. */
export interface Ask<G> {
  readonly genome: G;
  readonly generation: number;
  readonly slot: number;
}

export interface ScheduleStrategy<G> {
  /** The next trial to ask; undefined while nothing can be asked until results are told. */
  next(): Ask<G> | undefined;
  /** Takes a told trial in (`member` undefined when it failed or was pruned). */
  accept(slot: number, member: Member<G> | undefined): void;
  /** Called after each tell (not replayed ones): ends the generation, and emits 'generation', if that tell completed one. */
  afterTell(): void;
  /** The front's objective vectors a trial asked now compares itself with (EvaluationContext.front). */
  askFront(): number[][];
  /** Rebuilds the schedule from a reopened study's stored trials; `interrupt` marks a trial left running as failed. */
  replay(trials: readonly TrialRecord[], interrupt: (trial: number) => void): void;
}

/** What breeding and survival need to know about the study. */
export interface StudySetup<G> {
  readonly space: SearchSpace<G>;
  readonly objectives: readonly ObjectiveDef[];
  readonly selector: Selector;
  readonly populationSize: number;
  readonly seed: Seed;
  readonly crossoverProbability: number;
  readonly mutationProbability: number;
  readonly initialGenomes: readonly G[];
  readonly dedupAttempts: number;
}

/** Study events a schedule causes. */
export interface StudyHooks {
  /** A member entered the archive of non-dominated trials. */
  frontChanged(): void;
  /** Generation `finished` ended (live runs only). */
  generationEnded(finished: number): void;
}

/** What a study and its schedule share: the population, the archive, the generation count and the genomes seen. */
export class StudyState<G> {
  readonly setup: StudySetup<G>;
  readonly hooks: StudyHooks;
  population: Member<G>[] = [];
  /** Feasible, non-dominated trials among everything told so far. */
  archive: Member<G>[] = [];
  generation = 0;
  /** Hypervolume reference in minimisation form; fixed once set. */
  reference: number[] | undefined;
  private readonly seenKeys = new Set<string>();

  constructor(setup: StudySetup<G>, hooks: StudyHooks) {
    this.setup = setup;
    this.hooks = hooks;
  }

  /** A genome not seen before in this study, if `dedupAttempts` tries of `make` find one. */
  fresh(make: () => G): G {
    const { space, dedupAttempts } = this.setup;
    let g = make();
    for (let k = 1; k < dedupAttempts && this.seenKeys.has(space.key(g)); k++) g = make();
    this.seenKeys.add(space.key(g));
    return g;
  }

  /** Records a stored genome's key as seen (a replayed trial). */
  seen(key: string): void {
    this.seenKeys.add(key);
  }

  archiveMember(member: Member<G>): void {
    if (member.violation > 0) return;
    if (this.archive.some((a) => dominates(a.objectives, member.objectives))) return;
    this.archive = this.archive.filter((a) => !dominates(member.objectives, a.objectives));
    this.archive.push(member);
    this.hooks.frontChanged();
  }

  /** The archive's objective vectors (own units and directions), copied. */
  archiveValues(): number[][] {
    return this.archive.map((m) => [...m.values]);
  }

  /** Selects the next population from `pool` (elitist: parents and offspring compete). */
  survive(pool: readonly Member<G>[]): void {
    this.population = this.setup.selector.survive(pool, this.setup.populationSize).map((i) => pool[i] as Member<G>);
  }

  /** Sets the hypervolume reference from `pool` unless one exists (see deriveReference). */
  fixReference(pool: readonly Member<G>[]): void {
    if (!this.reference) this.reference = this.deriveReference(pool);
  }

  /** Worst feasible value per objective plus 10% of the range: fixed from then on, so hypervolumes stay comparable. */
  private deriveReference(pool: readonly Member<G>[]): number[] | undefined {
    const feasible = pool.filter((m) => m.violation <= 0);
    if (feasible.length === 0) return undefined;
    return this.setup.objectives.map((_, j) => {
      const values = feasible.map((m) => m.objectives[j] as number);
      const hi = Math.max(...values);
      const lo = Math.min(...values);
      return hi + 0.1 * (hi - lo) + 1e-9 * Math.max(1, Math.abs(hi));
    });
  }
}
