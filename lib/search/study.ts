/**
 * A generational evolutionary study with ask/tell and `optimize`. Generation g's genomes are drawn from a random
 * stream seeded by (seed, g) and from the survivors of generation g−1, and survival looks at a generation only once
 * all of it is told, ordered by slot; so the same seed gives the same genomes whatever the evaluation timing.
 * Trials go to a `Storage`; reopening a study by name replays the told trials to rebuild the population, and
 * trials that were asked but never told are marked failed ('interrupted') and asked again.
 */
import { ConfigError, NumericError } from '../errors.js';
import { dominates } from './dominance.js';
import { hypervolume } from './indicators.js';
import { nsga2 } from './nsga2.js';
import { checkObjectives, objectiveValues, toMinimization, totalViolation, type Values } from './objective-values.js';
import { Rng, type Seed } from './rng.js';
import type { Candidate, Selector } from './selection.js';
import type { ConstraintDef, ObjectiveDef, SearchSpace } from './space.js';
import type { SearchStopper, StopDecision } from './stopping.js';
import { InMemoryStorage, type IntermediateReport, type Storage, type StudyRecord, type TrialOutcome, type TrialRecord } from './storage.js';

export interface StudyOptions<G> {
  /** Needed to reopen the study from a persistent storage. Default: a fresh unique name. */
  readonly name?: string;
  readonly space: SearchSpace<G>;
  readonly objectives: readonly ObjectiveDef[];
  readonly constraints?: readonly ConstraintDef[];
  /** Default NSGA-II. */
  readonly selector?: Selector;
  /** Default a new InMemoryStorage. */
  readonly storage?: Storage;
  /** Survivors kept, and offspring made, per generation. Default 20. */
  readonly populationSize?: number;
  readonly seed?: Seed;
  /** Probability that a pair of parents is recombined. Default 0.9. */
  readonly crossoverProbability?: number;
  /** Probability that a child is mutated. Default 1. */
  readonly mutationProbability?: number;
  /** Genomes evaluated first (part of generation 0), e.g. known-good pipelines. */
  readonly initialGenomes?: readonly G[];
  /** Tries at making a genome not seen before, before accepting a duplicate. Default 10. */
  readonly dedupAttempts?: number;
  /** Hypervolume reference in the objectives' own units and directions. Default: derived from generation 0. */
  readonly referencePoint?: readonly number[];
  /**
   * 'generational' (default): each generation is made, evaluated and selected whole, so the same seed gives the same
   * study whatever the evaluation order. 'steady-state' (asynchronous NSGA-II): after generation 0 is asked, every
   * ask makes one offspring of the current population and every told trial enters survival at once ((μ+1)
   * selection), so parallel evaluators never wait at a generation barrier; the study then depends on the order in
   * which results arrive. Generation numbers count populationSize tells.
   */
  readonly schedule?: Schedule;
}

export type Schedule = 'generational' | 'steady-state';

export interface Trial<G> {
  readonly number: number;
  readonly generation: number;
  readonly genome: G;
}

export type EvaluationResult =
  | { readonly objectives: Values; readonly constraints?: Values; readonly userAttrs?: Readonly<Record<string, unknown>> }
  | { readonly status: 'failed' | 'pruned'; readonly reason: string; readonly userAttrs?: Readonly<Record<string, unknown>> };

export interface EvaluationContext {
  readonly trialId: number;
  readonly generation: number;
  readonly signal: AbortSignal;
  /** Records an intermediate result (e.g. per fine-tuning epoch). */
  report(intermediate: IntermediateReport): void;
  /**
   * Objective vectors (own units and directions) of the front as it stood when this trial's generation began, for
   * the candidate-level stopper. Frozen per generation, so what stops a candidate does not depend on which of its
   * generation's trials happened to finish first: the same seed gives the same study at any concurrency, in one
   * process or across many workers.
   */
  front(): number[][];
}

export type Evaluator<G> = (genome: G, ctx: EvaluationContext) => Promise<EvaluationResult>;

export interface FrontMember<G> {
  readonly number: number;
  readonly genome: G;
  readonly values: readonly number[];
}

export interface StudyEvents<G> {
  evaluation: { trial: TrialRecord; genome: G };
  generation: { generation: number; populationSize: number; front: readonly FrontMember<G>[]; hypervolume: number; evaluations: number };
  frontChanged: { front: readonly FrontMember<G>[] };
}

export interface OptimizeBudget {
  /** Trials to ask in this call. */
  readonly evaluations?: number;
  /** Generations to complete in this call. */
  readonly generations?: number;
  readonly timeMs?: number;
  /** Evaluations running at once. Default 1. */
  readonly concurrency?: number;
  /** Checked after each generation. */
  readonly stopper?: SearchStopper;
  readonly signal?: AbortSignal;
}

export interface OptimizeResult<G> {
  readonly front: readonly FrontMember<G>[];
  readonly evaluations: number;
  readonly generations: number;
  readonly reason: string;
}

interface Member<G> extends Candidate {
  readonly number: number;
  readonly slot: number;
  readonly genome: G;
  readonly values: readonly number[];
}

let unnamed = 0;

export class Study<G> {
  readonly name: string;
  readonly space: SearchSpace<G>;
  readonly objectives: readonly ObjectiveDef[];
  readonly constraints: readonly ConstraintDef[];
  readonly selector: Selector;
  readonly storage: Storage;
  readonly populationSize: number;
  readonly seed: Seed;
  private readonly record: StudyRecord;
  private readonly options: StudyOptions<G>;
  private readonly listeners: { [K in keyof StudyEvents<G>]: Array<(e: StudyEvents<G>[K]) => void> } = { evaluation: [], generation: [], frontChanged: [] };

  private generationIndex = 0;
  private population: Member<G>[] = [];
  private batch: G[] = [];
  /** Slots of the current batch still to ask (re-asked interrupted ones included), in order. */
  private pendingSlots: number[] = [];
  private readonly inFlight = new Map<number, { slot: number; genome: G }>();
  private told: Member<G>[] = [];
  private toldSlots = new Set<number>();
  private readonly seenKeys = new Set<string>();
  private archive: Member<G>[] = [];
  /** The archive's objective vectors when the current generation began (see EvaluationContext.front). */
  private generationFront: number[][] = [];
  private reference: number[] | undefined;
  private evaluations = 0;
  private readonly steady: boolean;
  /** Steady-state: trials told so far (interrupted ones not counted), offspring made, trials to ask again. */
  private steadyTold = 0;
  private offspringMade = 0;
  private reasks: Array<{ genome: G; generation: number; slot: number }> = [];

  /** Creates the study, or reopens the one of that name in `storage` and rebuilds its state. */
  static open<G>(options: StudyOptions<G>): Study<G> {
    return new Study(options);
  }

  private constructor(options: StudyOptions<G>) {
    this.options = options;
    this.space = options.space;
    this.objectives = options.objectives;
    this.constraints = options.constraints ?? [];
    checkObjectives(this.objectives, this.constraints);
    this.selector = options.selector ?? nsga2();
    this.storage = options.storage ?? new InMemoryStorage();
    this.populationSize = options.populationSize ?? 20;
    if (!(Number.isInteger(this.populationSize) && this.populationSize >= 2)) throw new ConfigError('populationSize must be an integer ≥ 2', 'populationSize');
    this.seed = options.seed ?? 0;
    this.steady = (options.schedule ?? 'generational') === 'steady-state';
    this.name = options.name ?? `study-${process.pid}-${Date.now()}-${unnamed++}`;
    if (options.referencePoint) {
      if (options.referencePoint.length !== this.objectives.length) throw new ConfigError('the reference point needs one value per objective', 'referencePoint');
      this.reference = toMinimization(this.objectives, options.referencePoint);
    }
    const existing = this.storage.loadStudy(this.name);
    if (existing) {
      this.checkCompatible(existing);
      this.record = existing;
      this.startGeneration();
      if (this.steady) this.replaySteady(this.storage.trials(existing.id));
      else this.replay(this.storage.trials(existing.id));
      this.evaluations = this.storage.trials(existing.id).filter((t) => t.state !== 'running').length;
    } else {
      this.record = this.storage.createStudy({
        name: this.name,
        objectives: this.objectives,
        constraints: this.constraints,
        userAttrs: { seed: this.seed, populationSize: this.populationSize, selector: this.selector.name, ...(this.steady ? { schedule: 'steady-state' } : {}) },
      });
      this.startGeneration();
    }
  }

  get studyId(): number { return this.record.id; }
  get generation(): number { return this.generationIndex; }
  get evaluationCount(): number { return this.evaluations; }

  on<K extends keyof StudyEvents<G>>(event: K, listener: (e: StudyEvents<G>[K]) => void): () => void {
    const list = this.listeners[event] as Array<(e: StudyEvents<G>[K]) => void>;
    list.push(listener);
    return () => { const i = list.indexOf(listener); if (i >= 0) list.splice(i, 1); };
  }

  /**
   * The next trial: of the current generation, or (steady-state, once generation 0 is asked) an offspring of the
   * current population. Undefined while nothing can be asked until results are told.
   */
  ask(): Trial<G> | undefined {
    const again = this.reasks.shift();
    if (again) return this.asked(again.genome, again.generation, again.slot);
    const slot = this.pendingSlots.shift();
    if (slot !== undefined) return this.asked(this.batch[slot] as G, this.steady ? 0 : this.generationIndex, slot);
    return this.steady ? this.offspring() : undefined;
  }

  private asked(genome: G, generation: number, slot: number): Trial<G> {
    const t = this.storage.createTrial(this.record.id, { generation, slot, genome: this.space.encode(genome), key: this.space.key(genome) });
    this.inFlight.set(t.number, { slot, genome });
    return { number: t.number, generation, genome };
  }

  /** Steady-state: one child of two parents of the current population, from the offspring's own random stream. */
  private offspring(): Trial<G> | undefined {
    if (this.population.length < 2) return undefined;
    const k = this.offspringMade++;
    const rng = new Rng(this.seed, 'offspring', k);
    const [i, j] = this.selector.selectParents(this.population, 2, rng) as [number, number];
    const a = (this.population[i] as Member<G>).genome;
    const b = (this.population[j] as Member<G>).genome;
    const [child] = rng.bool(this.options.crossoverProbability ?? 0.9) ? this.space.crossover(a, b, rng) : [a];
    const genome = this.fresh(() => (rng.bool(this.options.mutationProbability ?? 1) ? this.space.mutate(child, rng) : child));
    return this.asked(genome, this.generationIndex, this.populationSize + k);
  }

  /**
   * Records a result. Throws ConfigError for a wrong objective count or unknown names and NumericError for NaN/±Inf
   * (the trial then stays open, to be told again).
   */
  tell(number: number, result: EvaluationResult): void {
    const flight = this.inFlight.get(number);
    if (!flight) throw new ConfigError(`trial ${number} is not awaiting a result`, 'number');
    let outcome: TrialOutcome;
    let member: Member<G> | undefined;
    if ('status' in result) {
      outcome = { state: result.status, failReason: result.reason, ...(result.userAttrs ? { userAttrs: result.userAttrs } : {}) };
    } else {
      const values = objectiveValues(this.objectives, result.objectives);
      const { violation, values: constraints } = totalViolation(this.constraints, this.objectives, values, result.constraints);
      outcome = { state: 'complete', values, constraints, violation, ...(result.userAttrs ? { userAttrs: result.userAttrs } : {}) };
      member = { number, slot: flight.slot, genome: flight.genome, values, objectives: toMinimization(this.objectives, values), violation };
    }
    this.storage.finishTrial(this.record.id, number, outcome);
    this.inFlight.delete(number);
    this.evaluations++;
    if (this.steady) this.acceptSteady(member);
    else this.accept(flight.slot, member);
    const trial = this.storage.trial(this.record.id, number) as TrialRecord;
    this.emit('evaluation', { trial, genome: flight.genome });
    if (this.steady) this.maybeCountGeneration(true);
    else this.maybeFinishGeneration(true);
  }

  /** Records intermediate results of a running trial. */
  report(number: number, intermediate: IntermediateReport): void {
    if (!this.inFlight.has(number)) throw new ConfigError(`trial ${number} is not running`, 'number');
    this.storage.addIntermediate(this.record.id, number, intermediate);
  }

  /** Feasible, non-dominated trials among everything told so far. */
  front(): FrontMember<G>[] {
    return this.archive.map((m) => ({ number: m.number, genome: m.genome, values: m.values }));
  }

  /**
   * Hypervolume (minimisation form, against the study's reference point; 0 before one exists) of the current
   * population's feasible members. The population, not the whole archive, so its cost stays bounded by the
   * population size; elitist survival keeps it from shrinking much.
   */
  hypervolume(): number {
    if (!this.reference) return 0;
    return hypervolume(this.population.filter((m) => m.violation <= 0).map((m) => m.objectives), this.reference);
  }

  /** The current population (survivors of the last finished generation). */
  populationMembers(): FrontMember<G>[] {
    return this.population.map((m) => ({ number: m.number, genome: m.genome, values: m.values }));
  }

  /** Runs the evaluator until the budget is used, the stopper fires or the signal aborts. */
  async optimize(evaluator: Evaluator<G>, budget: OptimizeBudget = {}): Promise<OptimizeResult<G>> {
    const concurrency = budget.concurrency ?? 1;
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new ConfigError('concurrency must be an integer ≥ 1', 'concurrency');
    const started = Date.now();
    const startGeneration = this.generationIndex;
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(budget.signal?.reason);
    budget.signal?.addEventListener('abort', onAbort, { once: true });
    let asked = 0;
    let reason = '';
    let fatal: unknown;
    const running = new Map<number, Promise<void>>();
    const stopGeneration = this.on('generation', (g) => {
      const decision: StopDecision | undefined = budget.stopper?.update({ generation: g.generation, evaluations: g.evaluations, elapsedMs: Date.now() - started, hypervolume: g.hypervolume });
      if (decision?.stop && !reason) reason = decision.reason ?? 'stopper';
      if (budget.generations !== undefined && this.generationIndex - startGeneration >= budget.generations && !reason) reason = `${budget.generations} generations done`;
    });
    const run = (trial: Trial<G>): Promise<void> => {
      // Steady-state has no generation to freeze the front for: the stopper sees the front as it is at the ask.
      const front = this.steady ? this.archive.map((m) => [...m.values]) : this.generationFront;
      const ctx: EvaluationContext = {
        trialId: trial.number,
        generation: trial.generation,
        signal: controller.signal,
        report: (r) => this.report(trial.number, r),
        front: () => front.map((v) => [...v]),
      };
      return Promise.resolve()
        .then(() => evaluator(trial.genome, ctx))
        .then(
          (result) => {
            try {
              this.tell(trial.number, result);
            } catch (error) {
              if (!(error instanceof NumericError)) throw error;
              this.tell(trial.number, { status: 'failed', reason: error.message });
            }
          },
          (error: unknown) => {
            const message = error instanceof Error ? error.message : String(error);
            this.tell(trial.number, { status: 'failed', reason: controller.signal.aborted ? `aborted: ${message}` : message });
          },
        )
        .catch((error: unknown) => { fatal ??= error; controller.abort(error); })
        .finally(() => running.delete(trial.number));
    };
    try {
      for (;;) {
        if (!reason && controller.signal.aborted) reason = 'aborted';
        if (!reason && budget.timeMs !== undefined && Date.now() - started >= budget.timeMs) reason = `time budget of ${budget.timeMs} ms used`;
        if (!reason && budget.evaluations !== undefined && asked >= budget.evaluations) reason = `evaluation budget of ${budget.evaluations} used`;
        while (!reason && running.size < concurrency && (budget.evaluations === undefined || asked < budget.evaluations)) {
          const trial = this.ask();
          if (!trial) break;
          asked++;
          running.set(trial.number, run(trial));
        }
        if (running.size === 0) break;
        await Promise.race(running.values());
        if (fatal) break;
      }
      await Promise.all(running.values());
    } finally {
      stopGeneration();
      budget.signal?.removeEventListener('abort', onAbort);
    }
    if (fatal) throw fatal;
    return { front: this.front(), evaluations: asked, generations: this.generationIndex - startGeneration, reason: reason || 'budget used' };
  }

  // ------------------------------------------------------------------------------------------------ internals

  private emit<K extends keyof StudyEvents<G>>(event: K, payload: StudyEvents<G>[K]): void {
    for (const l of this.listeners[event]) l(payload);
  }

  private checkCompatible(existing: StudyRecord): void {
    const same = JSON.stringify(existing.objectives) === JSON.stringify(this.objectives);
    if (!same) throw new ConfigError(`study "${this.name}" was created with objectives ${JSON.stringify(existing.objectives)}`, 'objectives');
    const attrs = existing.userAttrs;
    if ((attrs['schedule'] ?? 'generational') !== (this.steady ? 'steady-state' : 'generational')) {
      throw new ConfigError(`study "${this.name}" was created with the ${String(attrs['schedule'] ?? 'generational')} schedule`, 'schedule');
    }
    if (attrs['seed'] !== this.seed || attrs['populationSize'] !== this.populationSize) {
      throw new ConfigError(`study "${this.name}" was created with seed ${String(attrs['seed'])} and population ${String(attrs['populationSize'])}`, 'seed');
    }
  }

  private accept(slot: number, member: Member<G> | undefined): void {
    this.toldSlots.add(slot);
    if (!member) return;
    this.told.push(member);
    this.archiveMember(member);
  }

  private archiveMember(member: Member<G>): void {
    if (member.violation > 0) return;
    if (this.archive.some((a) => dominates(a.objectives, member.objectives))) return;
    this.archive = this.archive.filter((a) => !dominates(member.objectives, a.objectives));
    this.archive.push(member);
    this.emit('frontChanged', { front: this.front() });
  }

  /** Steady-state survival: the told member competes with the population at once ((μ+1) selection). */
  private acceptSteady(member: Member<G> | undefined): void {
    this.steadyTold++;
    if (!member) return;
    this.archiveMember(member);
    const pool = [...this.population, member];
    this.population = this.selector.survive(pool, this.populationSize).map((i) => pool[i] as Member<G>);
  }

  /** Steady-state: a generation is populationSize tells; its end feeds the stopper and the hypervolume series. */
  private maybeCountGeneration(live: boolean): void {
    if (this.steadyTold < (this.generationIndex + 1) * this.populationSize) return;
    if (!this.reference) this.reference = this.deriveReference(this.population);
    const finished = this.generationIndex++;
    if (live) {
      this.emit('generation', { generation: finished, populationSize: this.population.length, front: this.front(), hypervolume: this.hypervolume(), evaluations: this.evaluations });
    }
  }

  private maybeFinishGeneration(live: boolean): boolean {
    if (this.toldSlots.size < this.batch.length) return false;
    const pool = [...this.population, ...this.told.sort((a, b) => a.slot - b.slot)];
    this.population = this.selector.survive(pool, this.populationSize).map((i) => pool[i] as Member<G>);
    if (!this.reference) this.reference = this.deriveReference(pool);
    const finished = this.generationIndex;
    this.generationIndex++;
    this.startGeneration();
    if (live) {
      this.emit('generation', { generation: finished, populationSize: this.population.length, front: this.front(), hypervolume: this.hypervolume(), evaluations: this.evaluations });
    }
    return true;
  }

  /** Worst feasible value per objective plus 10% of the range: fixed from then on, so hypervolumes stay comparable. */
  private deriveReference(pool: readonly Member<G>[]): number[] | undefined {
    const feasible = pool.filter((m) => m.violation <= 0);
    if (feasible.length === 0) return undefined;
    return this.objectives.map((_, j) => {
      const values = feasible.map((m) => m.objectives[j] as number);
      const hi = Math.max(...values);
      const lo = Math.min(...values);
      return hi + 0.1 * (hi - lo) + 1e-9 * Math.max(1, Math.abs(hi));
    });
  }

  /** Builds the current generation's batch from its random stream and the population. */
  private startGeneration(): void {
    const rng = new Rng(this.seed, 'generation', this.generationIndex);
    const size = this.populationSize;
    const batch: G[] = [];
    const fresh = (make: () => G): G => this.fresh(make);
    if (this.generationIndex === 0) for (const g of this.options.initialGenomes ?? []) if (batch.length < size) batch.push(fresh(() => g));
    if (this.population.length === 0) {
      while (batch.length < size) batch.push(fresh(() => this.space.sample(rng)));
    } else {
      const px = this.options.crossoverProbability ?? 0.9;
      const pm = this.options.mutationProbability ?? 1;
      while (batch.length < size) {
        const [i, k] = this.selector.selectParents(this.population, 2, rng) as [number, number];
        const a = (this.population[i] as Member<G>).genome;
        const b = (this.population[k] as Member<G>).genome;
        const vary = (g: G): G => (rng.bool(pm) ? this.space.mutate(g, rng) : g);
        const [c1, c2] = rng.bool(px) ? this.space.crossover(a, b, rng) : [a, b];
        batch.push(fresh(() => vary(c1)));
        if (batch.length < size) batch.push(fresh(() => vary(c2)));
      }
    }
    this.batch = batch;
    this.generationFront = this.archive.map((m) => [...m.values]);
    this.pendingSlots = batch.map((_, i) => i);
    this.told = [];
    this.toldSlots = new Set();
  }

  /** A genome not seen before in this study, if `dedupAttempts` tries of `make` find one. */
  private fresh(make: () => G): G {
    const attempts = this.options.dedupAttempts ?? 10;
    let g = make();
    for (let k = 1; k < attempts && this.seenKeys.has(this.space.key(g)); k++) g = make();
    this.seenKeys.add(this.space.key(g));
    return g;
  }

  /**
   * Steady-state resume: told trials re-enter survival in the order they were told; running ones are marked
   * 'interrupted' and asked again first with their generation and slot (so a queue re-attaches to their jobs);
   * generation-0 slots never asked are asked after them.
   */
  private replaySteady(trials: readonly TrialRecord[]): void {
    const latest = new Map<number, TrialRecord>();
    for (const t of trials) {
      latest.set(t.slot, t); // trials come in number order: the latest of a slot wins
      this.seenKeys.add(t.key);
      this.offspringMade = Math.max(this.offspringMade, t.slot - this.populationSize + 1);
    }
    for (const t of latest.values()) {
      if (t.state === 'running') this.storage.finishTrial(this.record.id, t.number, { state: 'failed', failReason: 'interrupted' });
      if (t.state === 'running' || t.failReason === 'interrupted') {
        this.reasks.push({ genome: this.space.decode(t.genome), generation: t.generation, slot: t.slot });
      }
    }
    this.pendingSlots = this.pendingSlots.filter((slot) => !latest.has(slot));
    const told = trials.filter((t) => t.state !== 'running' && t.failReason !== 'interrupted')
      .sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0) || a.number - b.number);
    for (const t of told) {
      const values = t.values ?? [];
      this.acceptSteady(t.state === 'complete'
        ? { number: t.number, slot: t.slot, genome: this.space.decode(t.genome), values, objectives: toMinimization(this.objectives, values), violation: t.violation ?? 0 }
        : undefined);
      this.maybeCountGeneration(false);
    }
  }

  /** Rebuilds population, front and the current generation from stored trials (see the file comment). */
  private replay(trials: readonly TrialRecord[]): void {
    const bySlot = new Map<string, TrialRecord>();
    for (const t of trials) bySlot.set(`${t.generation}:${t.slot}`, t); // the latest trial of a slot wins
    for (;;) {
      const slots: number[] = [];
      for (let slot = 0; slot < this.batch.length; slot++) {
        const t = bySlot.get(`${this.generationIndex}:${slot}`);
        if (!t) { slots.push(slot); continue; }
        const genome = this.batch[slot] as G;
        if (t.key !== this.space.key(genome)) {
          throw new ConfigError(`stored trial ${t.number} does not match the genome this study's seed and space give; was the space changed?`, 'space');
        }
        if (t.state === 'running') {
          this.storage.finishTrial(this.record.id, t.number, { state: 'failed', failReason: 'interrupted' });
          slots.push(slot);
          continue;
        }
        const values = t.values ?? [];
        this.accept(slot, t.state === 'complete'
          ? { number: t.number, slot, genome, values, objectives: toMinimization(this.objectives, values), violation: t.violation ?? 0 }
          : undefined);
      }
      if (!this.maybeFinishGeneration(false)) { this.pendingSlots = slots; return; }
    }
  }
}
