/**
 * Early stopping at three levels, each a small strategy object:
 *  - training: inside one training run (patience / min-delta, and FedCore's loss-slope rule);
 *  - search: the whole study (no hypervolume gain, time budget, evaluation budget);
 *  - candidate: one candidate's fine-tuning, stopped once even its optimistic outcome is dominated by the front.
 */
import { ConfigError } from '../core/errors.js';

// ---------------------------------------------------------------------------------------------- training level

export interface EpochRecord {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly valMetric?: number;
}

export interface StopDecision {
  readonly stop: boolean;
  readonly reason?: string;
}

/** Used by the native training loop after every epoch. */
export interface TrainingStopper {
  observe(epoch: EpochRecord): StopDecision;
  reset(): void;
}

export interface PatienceOptions {
  /** Epochs without improvement before stopping. */
  readonly patience: number;
  /** An improvement smaller than this does not count. Default 0. */
  readonly minDelta?: number;
  /** Whether lower ('min', e.g. a loss) or higher ('max', e.g. accuracy) is better. Default 'min'. */
  readonly mode?: 'min' | 'max';
  /** The value watched: the validation metric when given (default), else the training loss. */
  readonly monitor?: 'valMetric' | 'trainLoss';
}

const CONTINUE: StopDecision = { stop: false };

/** Stops after `patience` epochs without an improvement of at least `minDelta`. */
export function patienceStopper(options: PatienceOptions): TrainingStopper {
  const { patience, minDelta = 0, mode = 'min', monitor = 'valMetric' } = options;
  if (!(Number.isInteger(patience) && patience >= 1))
    throw new ConfigError('patience must be an integer ≥ 1', 'patience');
  if (!(minDelta >= 0)) throw new ConfigError('minDelta must be ≥ 0', 'minDelta');
  let best = NaN;
  let since = 0;
  return {
    observe(e) {
      const value = monitor === 'valMetric' && e.valMetric !== undefined ? e.valMetric : e.trainLoss;
      if (!Number.isFinite(value)) return { stop: true, reason: `monitored value is ${value} at epoch ${e.epoch}` };
      const improved = Number.isNaN(best) || (mode === 'min' ? value < best - minDelta : value > best + minDelta);
      if (improved) {
        best = value;
        since = 0;
        return CONTINUE;
      }
      since++;
      return since >= patience
        ? { stop: true, reason: `no improvement larger than ${minDelta} for ${patience} epochs (best ${best})` }
        : CONTINUE;
    },
    reset() {
      best = NaN;
      since = 0;
    },
  };
}

export interface LossSlopeOptions {
  /** Epochs the slope is fitted over. Default 15. */
  readonly horizon?: number;
  /** A hit is a fitted slope within ±angle degrees of flat. Default 2.5. */
  readonly angleDegrees?: number;
  /** Hits (counted over the whole run, as FedCore does) before stopping. Default 5. */
  readonly hits?: number;
  /** Which value the slope is fitted to. Default 'trainLoss' (the seed's rule). */
  readonly monitor?: 'valMetric' | 'trainLoss';
}

/** FedCore's rule: least-squares slope of the loss over the last `horizon` epochs; stop after `hits` near-flat fits. */
export function lossSlopeStopper(options: LossSlopeOptions = {}): TrainingStopper {
  const { horizon = 15, angleDegrees = 2.5, hits = 5, monitor = 'trainLoss' } = options;
  if (!(Number.isInteger(horizon) && horizon >= 2)) throw new ConfigError('horizon must be an integer ≥ 2', 'horizon');
  if (!(angleDegrees > 0 && angleDegrees < 90))
    throw new ConfigError('angleDegrees must be in (0, 90)', 'angleDegrees');
  const window: Array<[number, number]> = [];
  let count = 0;
  return {
    observe(e) {
      const value = monitor === 'valMetric' && e.valMetric !== undefined ? e.valMetric : e.trainLoss;
      if (!Number.isFinite(value)) return { stop: true, reason: `monitored value is ${value} at epoch ${e.epoch}` };
      window.push([e.epoch, value]);
      if (window.length > horizon) window.shift();
      if (window.length < horizon) return CONTINUE;
      const angle = (Math.atan(slope(window)) * 180) / Math.PI;
      if (Math.abs(angle) <= angleDegrees) count++;
      return count >= hits
        ? { stop: true, reason: `loss slope within ±${angleDegrees}° ${hits} times (last ${angle.toFixed(2)}°)` }
        : CONTINUE;
    },
    reset() {
      window.length = 0;
      count = 0;
    },
  };
}

function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  let sx = 0,
    sy = 0,
    sxx = 0,
    sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const den = n * sxx - sx * sx;
  return den === 0 ? 0 : (n * sxy - sx * sy) / den;
}

/** Stops as soon as any of the given stoppers does. */
export function anyTrainingStopper(...stoppers: TrainingStopper[]): TrainingStopper {
  return {
    observe(e) {
      // Every stopper observes every epoch, so their windows stay complete.
      const decisions = stoppers.map((s) => s.observe(e));
      return decisions.find((d) => d.stop) ?? CONTINUE;
    },
    reset() {
      for (const s of stoppers) s.reset();
    },
  };
}

// ------------------------------------------------------------------------------------------------ search level

export interface SearchProgress {
  readonly generation: number;
  /** Trials told so far (failed ones included). */
  readonly evaluations: number;
  readonly elapsedMs: number;
  /** Hypervolume of the current front (normalised or raw; only its changes matter). */
  readonly hypervolume: number;
}

export interface SearchStopper {
  /** Called after each completed generation. */
  update(progress: SearchProgress): StopDecision;
  reset(): void;
}

/** Stops when the hypervolume has not grown by more than `minGain` (relative) for `generations` generations. */
export function noImprovementStopper(options: { generations: number; minGain?: number }): SearchStopper {
  const { generations, minGain = 1e-9 } = options;
  if (!(Number.isInteger(generations) && generations >= 1))
    throw new ConfigError('generations must be an integer ≥ 1', 'generations');
  let best = -Infinity;
  let since = 0;
  return {
    update(p) {
      if (best === -Infinity || p.hypervolume > best + minGain * Math.abs(best)) {
        best = p.hypervolume;
        since = 0;
        return CONTINUE;
      }
      since++;
      return since >= generations
        ? { stop: true, reason: `no hypervolume gain for ${generations} generations` }
        : CONTINUE;
    },
    reset() {
      best = -Infinity;
      since = 0;
    },
  };
}

export function timeBudgetStopper(ms: number): SearchStopper {
  if (!(ms > 0)) throw new ConfigError('the time budget must be > 0 ms', 'timeBudgetMs');
  return {
    update: (p) => (p.elapsedMs >= ms ? { stop: true, reason: `time budget of ${ms} ms used` } : CONTINUE),
    reset() {},
  };
}

export function evaluationBudgetStopper(evaluations: number): SearchStopper {
  if (!(Number.isInteger(evaluations) && evaluations >= 1))
    throw new ConfigError('the evaluation budget must be an integer ≥ 1', 'evaluations');
  return {
    update: (p) =>
      p.evaluations >= evaluations ? { stop: true, reason: `evaluation budget of ${evaluations} used` } : CONTINUE,
    reset() {},
  };
}

export function anySearchStopper(...stoppers: SearchStopper[]): SearchStopper {
  return {
    update(p) {
      const decisions = stoppers.map((s) => s.update(p));
      return decisions.find((d) => d.stop) ?? CONTINUE;
    },
    reset() {
      for (const s of stoppers) s.reset();
    },
  };
}

// --------------------------------------------------------------------------------------------- candidate level

export interface CandidateStopperOptions {
  /** Never stop before this many epochs of fine-tuning. */
  readonly minEpochs: number;
  /** Per-objective margin (in the objective's own units) by which a front point must be better. Default 0. */
  readonly margin?: number | readonly number[];
  /** 'min'/'max' per objective. */
  readonly directions: ReadonlyArray<'min' | 'max'>;
}

export interface CandidateStopper {
  /**
   * `optimistic` is the best objective vector the candidate could still reach (e.g. its current latency and size
   * with the accuracy it would have if fine-tuning recovered everything); `front` is the current front's vectors
   * (the evaluator context's `front()`). Stops when some front point is better by the margin in every objective.
   */
  check(epoch: number, optimistic: readonly number[], front: ReadonlyArray<readonly number[]>): StopDecision;
}

export function candidateStopper(options: CandidateStopperOptions): CandidateStopper {
  const { minEpochs, margin = 0, directions } = options;
  if (!(Number.isInteger(minEpochs) && minEpochs >= 0))
    throw new ConfigError('minEpochs must be an integer ≥ 0', 'minEpochs');
  const marginAt = (j: number): number => (typeof margin === 'number' ? margin : (margin[j] ?? 0));
  return {
    check(epoch, optimistic, front) {
      if (epoch < minEpochs) return CONTINUE;
      if (optimistic.length !== directions.length)
        throw new ConfigError(
          `expected ${directions.length} optimistic values, got ${optimistic.length}`,
          'optimistic',
        );
      for (const point of front) {
        let all = true;
        for (let j = 0; j < directions.length && all; j++) {
          const better =
            directions[j] === 'max'
              ? (point[j] as number) >= (optimistic[j] as number) + marginAt(j)
              : (point[j] as number) <= (optimistic[j] as number) - marginAt(j);
          all = better;
        }
        if (all)
          return {
            stop: true,
            reason: `optimistic outcome [${optimistic.join(', ')}] is dominated by front point [${point.join(', ')}] at epoch ${epoch}`,
          };
      }
      return CONTINUE;
    },
  };
}
