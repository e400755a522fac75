/**
 * The steady-state schedule (asynchronous NSGA-II): after generation 0 (made as the generational schedule makes it)
 * is asked, every ask makes one offspring of the current population from the offspring's own random stream, and every
 * told trial enters survival at once ((μ+1) selection), so parallel evaluators never wait at a generation barrier. The
 * study then depends on the order in which results arrive. A generation is populationSize tells; its end feeds the
 * stopper and the hypervolume series.
 */
import { breedGeneration } from './generational.js';
import { toMinimization } from './objective-values.js';
import { Rng } from './rng.js';
import type { Ask, Member, ScheduleStrategy, StudyState } from './schedule.js';
import type { TrialRecord } from './storage.js';

export class SteadyStateSchedule<G> implements ScheduleStrategy<G> {
  private readonly state: StudyState<G>;
  /** Generation 0's genomes, and its slots still to ask. */
  private readonly batch: G[];
  private pendingSlots: number[];
  /** Trials told so far (interrupted ones not counted), offspring made, trials to ask again. */
  private told = 0;
  private offspringMade = 0;
  private reasks: Ask<G>[] = [];

  constructor(state: StudyState<G>) {
    this.state = state;
    this.batch = breedGeneration(state);
    this.pendingSlots = this.batch.map((_, i) => i);
  }

  /** Interrupted trials first, then generation 0's slots, then an offspring of the current population. */
  next(): Ask<G> | undefined {
    const again = this.reasks.shift();
    if (again) return again;
    const slot = this.pendingSlots.shift();
    if (slot !== undefined) return { genome: this.batch[slot] as G, generation: 0, slot };
    return this.offspring();
  }

  /** (μ+1) survival: the told member competes with the population at once. */
  accept(_slot: number, member: Member<G> | undefined): void {
    this.told++;
    if (!member) return;
    this.state.archiveMember(member);
    this.state.survive([...this.state.population, member]);
  }

  afterTell(): void {
    this.maybeCountGeneration(true);
  }

  /** No generation to freeze the front for: the stopper sees the front as it is at the ask. */
  askFront(): number[][] {
    return this.state.archiveValues();
  }

  /**
   * Told trials re-enter survival in the order they were told; running ones are marked 'interrupted' and asked again
   * first with their generation and slot (so a queue re-attaches to their jobs); generation-0 slots never asked are
   * asked after them.
   */
  replay(trials: readonly TrialRecord[], interrupt: (trial: number) => void): void {
    const { space, objectives, populationSize } = this.state.setup;
    const latest = new Map<number, TrialRecord>();
    for (const t of trials) {
      latest.set(t.slot, t); // trials come in number order: the latest of a slot wins
      this.state.seen(t.key);
      this.offspringMade = Math.max(this.offspringMade, t.slot - populationSize + 1);
    }
    for (const t of latest.values()) {
      if (t.state === 'running') interrupt(t.number);
      if (t.state === 'running' || t.failReason === 'interrupted') {
        this.reasks.push({ genome: space.decode(t.genome), generation: t.generation, slot: t.slot });
      }
    }
    this.pendingSlots = this.pendingSlots.filter((slot) => !latest.has(slot));
    const told = trials
      .filter((t) => t.state !== 'running' && t.failReason !== 'interrupted')
      .sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0) || a.number - b.number);
    for (const t of told) {
      const values = t.values ?? [];
      this.accept(
        t.slot,
        t.state === 'complete'
          ? {
              number: t.number,
              slot: t.slot,
              genome: space.decode(t.genome),
              values,
              objectives: toMinimization(objectives, values),
              violation: t.violation ?? 0,
            }
          : undefined,
      );
      this.maybeCountGeneration(false);
    }
  }

  /** One child of two parents of the current population, from the offspring's own random stream. */
  private offspring(): Ask<G> | undefined {
    const state = this.state;
    const { space, selector, seed, populationSize, crossoverProbability, mutationProbability } = state.setup;
    if (state.population.length < 2) return undefined;
    const k = this.offspringMade++;
    const rng = new Rng(seed, 'offspring', k);
    const [i, j] = selector.selectParents(state.population, 2, rng) as [number, number];
    const a = (state.population[i] as Member<G>).genome;
    const b = (state.population[j] as Member<G>).genome;
    const [child] = rng.bool(crossoverProbability) ? space.crossover(a, b, rng) : [a];
    const genome = state.fresh(() => (rng.bool(mutationProbability) ? space.mutate(child, rng) : child));
    return { genome, generation: state.generation, slot: populationSize + k };
  }

  /** A generation is populationSize tells; its end fixes the hypervolume reference if none exists yet. */
  private maybeCountGeneration(live: boolean): void {
    const state = this.state;
    if (this.told < (state.generation + 1) * state.setup.populationSize) return;
    state.fixReference(state.population);
    const finished = state.generation++;
    if (live) state.hooks.generationEnded(finished);
  }
}
