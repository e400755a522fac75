/**
 * The generational schedule. Generation g's genomes are drawn from a random stream seeded by (seed, g) and from the
 * survivors of generation g−1, and survival looks at a generation only once all of it is told, ordered by slot; so
 * the same seed gives the same genomes whatever the evaluation timing. The front a candidate compares itself with is
 * frozen when its generation begins, for the same reason.
 */
import { ConfigError } from '../core/errors.js';
import { toMinimization } from './objective-values.js';
import { Rng } from './rng.js';
import type { Ask, Member, ScheduleStrategy, StudyState } from './schedule.js';
import type { TrialRecord } from './storage.js';

/** Generation `state.generation`'s genomes: the initial genomes (generation 0), samples, or offspring of the population. */
export function breedGeneration<G>(state: StudyState<G>): G[] {
  const {
    space,
    selector,
    seed,
    populationSize: size,
    crossoverProbability: px,
    mutationProbability: pm,
  } = state.setup;
  const rng = new Rng(seed, 'generation', state.generation);
  const batch: G[] = [];
  const fresh = (make: () => G): G => state.fresh(make);
  if (state.generation === 0)
    for (const g of state.setup.initialGenomes) if (batch.length < size) batch.push(fresh(() => g));
  if (state.population.length === 0) {
    while (batch.length < size) batch.push(fresh(() => space.sample(rng)));
  } else {
    while (batch.length < size) {
      const [i, k] = selector.selectParents(state.population, 2, rng) as [number, number];
      const a = (state.population[i] as Member<G>).genome;
      const b = (state.population[k] as Member<G>).genome;
      const vary = (g: G): G => (rng.bool(pm) ? space.mutate(g, rng) : g);
      const [c1, c2] = rng.bool(px) ? space.crossover(a, b, rng) : [a, b];
      batch.push(fresh(() => vary(c1)));
      if (batch.length < size) batch.push(fresh(() => vary(c2)));
    }
  }
  return batch;
}

export class GenerationalSchedule<G> implements ScheduleStrategy<G> {
  private readonly state: StudyState<G>;
  private batch: G[] = [];
  /** Slots of the current batch still to ask (re-asked interrupted ones included), in order. */
  private pendingSlots: number[] = [];
  private told: Member<G>[] = [];
  private toldSlots = new Set<number>();
  /** The archive's objective vectors when the current generation began (see EvaluationContext.front). */
  private generationFront: number[][] = [];

  constructor(state: StudyState<G>) {
    this.state = state;
    this.startGeneration();
  }

  next(): Ask<G> | undefined {
    const slot = this.pendingSlots.shift();
    return slot === undefined ? undefined : { genome: this.batch[slot] as G, generation: this.state.generation, slot };
  }

  accept(slot: number, member: Member<G> | undefined): void {
    this.toldSlots.add(slot);
    if (!member) return;
    this.told.push(member);
    this.state.archiveMember(member);
  }

  afterTell(): void {
    this.maybeFinishGeneration(true);
  }

  askFront(): number[][] {
    return this.generationFront;
  }

  /** Rebuilds population, front and the current generation from stored trials (see the file comment). */
  replay(trials: readonly TrialRecord[], interrupt: (trial: number) => void): void {
    const { space, objectives } = this.state.setup;
    const bySlot = new Map<string, TrialRecord>();
    for (const t of trials) bySlot.set(`${t.generation}:${t.slot}`, t); // the latest trial of a slot wins
    for (;;) {
      const slots: number[] = [];
      for (let slot = 0; slot < this.batch.length; slot++) {
        const t = bySlot.get(`${this.state.generation}:${slot}`);
        if (!t) {
          slots.push(slot);
          continue;
        }
        const genome = this.batch[slot] as G;
        if (t.key !== space.key(genome)) {
          throw new ConfigError(
            `stored trial ${t.number} does not match the genome this study's seed and space give; was the space changed?`,
            'space',
          );
        }
        if (t.state === 'running') {
          interrupt(t.number);
          slots.push(slot);
          continue;
        }
        const values = t.values ?? [];
        this.accept(
          slot,
          t.state === 'complete'
            ? {
                number: t.number,
                slot,
                genome,
                values,
                objectives: toMinimization(objectives, values),
                violation: t.violation ?? 0,
              }
            : undefined,
        );
      }
      if (!this.maybeFinishGeneration(false)) {
        this.pendingSlots = slots;
        return;
      }
    }
  }

  private maybeFinishGeneration(live: boolean): boolean {
    const state = this.state;
    if (this.toldSlots.size < this.batch.length) return false;
    const pool = [...state.population, ...this.told.sort((a, b) => a.slot - b.slot)];
    state.survive(pool);
    state.fixReference(pool);
    const finished = state.generation;
    state.generation++;
    this.startGeneration();
    if (live) state.hooks.generationEnded(finished);
    return true;
  }

  private startGeneration(): void {
    const batch = breedGeneration(this.state);
    this.batch = batch;
    this.generationFront = this.state.archiveValues();
    this.pendingSlots = batch.map((_, i) => i);
    this.told = [];
    this.toldSlots = new Set();
  }
}
