/**
 * An evolutionary study with ask/tell and `optimize`. Its schedule (schedule.ts) decides what is asked and who
 * survives: generational (generational.ts: the same seed gives the same genomes whatever the evaluation timing) or
 * steady-state (steady-state.ts). Trials go to a `Storage`; reopening a study by name replays the told trials to
 * rebuild the population, and trials that were asked but never told are marked failed ('interrupted') and asked again.
 */
import { setMaxListeners } from 'node:events';
import { ConfigError, NumericError } from '../core/errors.js';
import { GenerationalSchedule } from './generational.js';
import { hypervolume } from './indicators.js';
import { nsga2 } from './nsga2.js';
import { checkObjectives, objectiveValues, toMinimization, totalViolation, type Values } from './objective-values.js';
import type { Seed } from './rng.js';
import { StudyState, type Member, type Schedule, type ScheduleStrategy } from './schedule.js';
import type { Selector } from './selection.js';
import type { ConstraintDef, ObjectiveDef, SearchSpace } from './space.js';
import { SteadyStateSchedule } from './steady-state.js';
import type { SearchStopper, StopDecision } from './stopping.js';
import {
  InMemoryStorage,
  type IntermediateReport,
  type Storage,
  type StudyRecord,
  type TrialOutcome,
  type TrialRecord,
} from './storage.js';

export type { Schedule } from './schedule.js';

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

export interface Trial<G> {
  readonly number: number;
  readonly generation: number;
  readonly genome: G;
}

export type EvaluationResult =
  | {
      readonly objectives: Values;
      readonly constraints?: Values;
      readonly userAttrs?: Readonly<Record<string, unknown>>;
    }
  | {
      readonly status: 'failed' | 'pruned';
      readonly reason: string;
      readonly userAttrs?: Readonly<Record<string, unknown>>;
    };

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
  generation: {
    generation: number;
    populationSize: number;
    front: readonly FrontMember<G>[];
    hypervolume: number;
    evaluations: number;
  };
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
  private readonly listeners: { [K in keyof StudyEvents<G>]: Array<(e: StudyEvents<G>[K]) => void> } = {
    evaluation: [],
    generation: [],
    frontChanged: [],
  };

  /** Population, archive and generation count, shared with the schedule. */
  private readonly state: StudyState<G>;
  private readonly schedule: ScheduleStrategy<G>;
  private readonly inFlight = new Map<number, { slot: number; genome: G }>();
  private evaluations = 0;

  /** Creates the study, or reopens the one of that name in `storage` and rebuilds its state. */
  static open<G>(options: StudyOptions<G>): Study<G> {
    return new Study(options);
  }

  private constructor(options: StudyOptions<G>) {
    this.space = options.space;
    this.objectives = options.objectives;
    this.constraints = options.constraints ?? [];
    checkObjectives(this.objectives, this.constraints);
    this.selector = options.selector ?? nsga2();
    this.storage = options.storage ?? new InMemoryStorage();
    this.populationSize = options.populationSize ?? 20;
    if (!(Number.isInteger(this.populationSize) && this.populationSize >= 2))
      throw new ConfigError('populationSize must be an integer ≥ 2', 'populationSize');
    this.seed = options.seed ?? 0;
    const schedule: Schedule = options.schedule === 'steady-state' ? 'steady-state' : 'generational';
    this.name = options.name ?? `study-${process.pid}-${Date.now()}-${unnamed++}`;
    this.state = new StudyState<G>(
      {
        space: this.space,
        objectives: this.objectives,
        selector: this.selector,
        populationSize: this.populationSize,
        seed: this.seed,
        crossoverProbability: options.crossoverProbability ?? 0.9,
        mutationProbability: options.mutationProbability ?? 1,
        initialGenomes: options.initialGenomes ?? [],
        dedupAttempts: options.dedupAttempts ?? 10,
      },
      {
        frontChanged: () => this.emit('frontChanged', { front: this.front() }),
        generationEnded: (finished) => {
          this.emit('generation', {
            generation: finished,
            populationSize: this.state.population.length,
            front: this.front(),
            hypervolume: this.hypervolume(),
            evaluations: this.evaluations,
          });
        },
      },
    );
    if (options.referencePoint) {
      if (options.referencePoint.length !== this.objectives.length)
        throw new ConfigError('the reference point needs one value per objective', 'referencePoint');
      this.state.reference = toMinimization(this.objectives, options.referencePoint);
    }
    const existing = this.storage.loadStudy(this.name);
    if (existing) {
      this.checkCompatible(existing, schedule);
      this.record = existing;
    } else {
      this.record = this.storage.createStudy({
        name: this.name,
        objectives: this.objectives,
        constraints: this.constraints,
        userAttrs: {
          seed: this.seed,
          populationSize: this.populationSize,
          selector: this.selector.name,
          ...(schedule === 'steady-state' ? { schedule: 'steady-state' } : {}),
        },
      });
    }
    this.schedule =
      schedule === 'steady-state' ? new SteadyStateSchedule(this.state) : new GenerationalSchedule(this.state);
    if (existing) {
      this.schedule.replay(this.storage.trials(existing.id), (n) =>
        this.storage.finishTrial(existing.id, n, { state: 'failed', failReason: 'interrupted' }),
      );
      this.evaluations = this.storage.trials(existing.id).filter((t) => t.state !== 'running').length;
    }
  }

  get studyId(): number {
    return this.record.id;
  }
  get generation(): number {
    return this.state.generation;
  }
  get evaluationCount(): number {
    return this.evaluations;
  }

  on<K extends keyof StudyEvents<G>>(event: K, listener: (e: StudyEvents<G>[K]) => void): () => void {
    const list = this.listeners[event] as Array<(e: StudyEvents<G>[K]) => void>;
    list.push(listener);
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /**
   * The next trial: of the current generation, or (steady-state, once generation 0 is asked) an offspring of the
   * current population. Undefined while nothing can be asked until results are told.
   */
  ask(): Trial<G> | undefined {
    const next = this.schedule.next();
    return next && this.asked(next.genome, next.generation, next.slot);
  }

  private asked(genome: G, generation: number, slot: number): Trial<G> {
    const t = this.storage.createTrial(this.record.id, {
      generation,
      slot,
      genome: this.space.encode(genome),
      key: this.space.key(genome),
    });
    this.inFlight.set(t.number, { slot, genome });
    return { number: t.number, generation, genome };
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
      outcome = {
        state: result.status,
        failReason: result.reason,
        ...(result.userAttrs ? { userAttrs: result.userAttrs } : {}),
      };
    } else {
      const values = objectiveValues(this.objectives, result.objectives);
      const { violation, values: constraints } = totalViolation(
        this.constraints,
        this.objectives,
        values,
        result.constraints,
      );
      outcome = {
        state: 'complete',
        values,
        constraints,
        violation,
        ...(result.userAttrs ? { userAttrs: result.userAttrs } : {}),
      };
      member = {
        number,
        slot: flight.slot,
        genome: flight.genome,
        values,
        objectives: toMinimization(this.objectives, values),
        violation,
      };
    }
    this.storage.finishTrial(this.record.id, number, outcome);
    this.inFlight.delete(number);
    this.evaluations++;
    this.schedule.accept(flight.slot, member);
    const trial = this.storage.trial(this.record.id, number) as TrialRecord;
    this.emit('evaluation', { trial, genome: flight.genome });
    this.schedule.afterTell();
  }

  /** Records intermediate results of a running trial. */
  report(number: number, intermediate: IntermediateReport): void {
    if (!this.inFlight.has(number)) throw new ConfigError(`trial ${number} is not running`, 'number');
    this.storage.addIntermediate(this.record.id, number, intermediate);
  }

  /** Feasible, non-dominated trials among everything told so far. */
  front(): FrontMember<G>[] {
    return this.state.archive.map((m) => ({ number: m.number, genome: m.genome, values: m.values }));
  }

  /**
   * Hypervolume (minimisation form, against the study's reference point; 0 before one exists) of the current
   * population's feasible members. The population, not the whole archive, so its cost stays bounded by the
   * population size; elitist survival keeps it from shrinking much.
   */
  hypervolume(): number {
    const reference = this.state.reference;
    if (!reference) return 0;
    return hypervolume(
      this.state.population.filter((m) => m.violation <= 0).map((m) => m.objectives),
      reference,
    );
  }

  /** The current population (survivors of the last finished generation). */
  populationMembers(): FrontMember<G>[] {
    return this.state.population.map((m) => ({ number: m.number, genome: m.genome, values: m.values }));
  }

  /** Runs the evaluator until the budget is used, the stopper fires or the signal aborts. */
  async optimize(evaluator: Evaluator<G>, budget: OptimizeBudget = {}): Promise<OptimizeResult<G>> {
    const concurrency = budget.concurrency ?? 1;
    if (!(Number.isInteger(concurrency) && concurrency >= 1))
      throw new ConfigError('concurrency must be an integer ≥ 1', 'concurrency');
    const started = Date.now();
    const startGeneration = this.state.generation;
    const controller = new AbortController();
    // Every running evaluation listens to this signal (a queue runs a whole generation at once): without a higher
    // limit Node warns of a listener leak at 11 concurrent candidates.
    setMaxListeners(concurrency + 10, controller.signal);
    const onAbort = (): void => controller.abort(budget.signal?.reason);
    budget.signal?.addEventListener('abort', onAbort, { once: true });
    let asked = 0;
    let reason = '';
    let fatal: unknown;
    const running = new Map<number, Promise<void>>();
    const stopGeneration = this.on('generation', (g) => {
      const decision: StopDecision | undefined = budget.stopper?.update({
        generation: g.generation,
        evaluations: g.evaluations,
        elapsedMs: Date.now() - started,
        hypervolume: g.hypervolume,
      });
      if (decision?.stop && !reason) reason = decision.reason ?? 'stopper';
      if (budget.generations !== undefined && this.state.generation - startGeneration >= budget.generations && !reason)
        reason = `${budget.generations} generations done`;
    });
    const run = (trial: Trial<G>): Promise<void> => {
      const front = this.schedule.askFront();
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
            this.tell(trial.number, {
              status: 'failed',
              reason: controller.signal.aborted ? `aborted: ${message}` : message,
            });
          },
        )
        .catch((error: unknown) => {
          fatal ??= error;
          controller.abort(error);
        })
        .finally(() => running.delete(trial.number));
    };
    try {
      for (;;) {
        if (!reason && controller.signal.aborted) reason = 'aborted';
        if (!reason && budget.timeMs !== undefined && Date.now() - started >= budget.timeMs)
          reason = `time budget of ${budget.timeMs} ms used`;
        if (!reason && budget.evaluations !== undefined && asked >= budget.evaluations)
          reason = `evaluation budget of ${budget.evaluations} used`;
        while (
          !reason &&
          running.size < concurrency &&
          (budget.evaluations === undefined || asked < budget.evaluations)
        ) {
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
    return {
      front: this.front(),
      evaluations: asked,
      generations: this.state.generation - startGeneration,
      reason: reason || 'budget used',
    };
  }

  // ------------------------------------------------------------------------------------------------ internals

  private emit<K extends keyof StudyEvents<G>>(event: K, payload: StudyEvents<G>[K]): void {
    for (const l of this.listeners[event]) l(payload);
  }

  private checkCompatible(existing: StudyRecord, schedule: Schedule): void {
    const same = JSON.stringify(existing.objectives) === JSON.stringify(this.objectives);
    if (!same)
      throw new ConfigError(
        `study "${this.name}" was created with objectives ${JSON.stringify(existing.objectives)}`,
        'objectives',
      );
    const attrs = existing.userAttrs;
    if ((attrs['schedule'] ?? 'generational') !== schedule) {
      throw new ConfigError(
        `study "${this.name}" was created with the ${String(attrs['schedule'] ?? 'generational')} schedule`,
        'schedule',
      );
    }
    if (attrs['seed'] !== this.seed || attrs['populationSize'] !== this.populationSize) {
      throw new ConfigError(
        `study "${this.name}" was created with seed ${String(attrs['seed'])} and population ${String(attrs['populationSize'])}`,
        'seed',
      );
    }
  }
}
