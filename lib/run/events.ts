/**
 * What a search reports while it runs. Rendering the events (progress bar, JSON lines) is the caller's business; a
 * listener that throws is ignored, never the end of the search.
 */
import type { QueueStatus } from '../distributed/coordinator.js';
import type { BaselineRecord } from '../pipeline/baseline.js';
import type { Budget } from '../pipeline/config.js';
import type { FrontEntry } from '../pipeline/front.js';
import type { EpochEvent } from '../pipeline/evaluator.js';
import type { Measurements } from '../pipeline/measure.js';
import type { QualityMetric } from '../pipeline/objectives.js';
import type { ConstraintDef, ObjectiveDef, TrialState } from '../search/index.js';

export interface SearchEvents {
  phase: { phase: 'loading' | 'baseline' | 'measuring' | 'searching' | 'done'; message: string };
  baselineEpoch: { epoch: number; epochs: number; trainLoss: number; valMetric?: number; seconds: number };
  baseline: { cached: boolean; record: BaselineRecord; measurements: Measurements; metric: QualityMetric };
  start: {
    name: string;
    file: string;
    resumed: boolean;
    objectives: readonly ObjectiveDef[];
    constraints: readonly ConstraintDef[];
    budget: Budget;
    done: number;
    elapsedMs: number;
  };
  trialStart: { trial: number; generation: number; pipeline: string };
  epoch: EpochEvent;
  trial: {
    trial: number;
    generation: number;
    state: TrialState;
    pipeline: string;
    reason?: string;
    seconds: number;
    measures?: Record<string, number>;
    feasible: boolean;
    evaluations: number;
    elapsedMs: number;
  };
  generation: {
    generation: number;
    hypervolume: number;
    evaluations: number;
    front: readonly FrontEntry[];
    elapsedMs: number;
  };
  front: { front: readonly FrontEntry[] };
  /** The candidate queue's connection: up (connected, or back after an outage) or down (waiting for Redis). */
  queue: QueueStatus;
}

export type SearchEventName = keyof SearchEvents;
export type Emit = <K extends SearchEventName>(event: K, payload: SearchEvents[K]) => void;

/** `emit` with each listener error swallowed: a listener's error must not end the search. */
export function safeEmitter(emit: Emit): Emit {
  return (event, payload) => {
    try {
      emit(event, payload);
    } catch {
      /* a listener's error must not end the search */
    }
  };
}
