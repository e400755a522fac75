/** What is left of a study's budget when a run starts, and the search core's budget for this run. */
import type { Budget, SearchConfig } from '../pipeline/config.js';
import { noImprovementStopper, type OptimizeBudget, type TrialRecord } from '../search/index.js';

/** Trials that count against the evaluation budget: told, and not cut off by a kill or an abort. */
export function countedTrials(trials: readonly TrialRecord[]): number {
  return trials.filter((t) => t.state !== 'running' && !/^(interrupted|aborted)/.test(t.failReason ?? '')).length;
}

export interface RemainingBudget {
  readonly evaluations: number | undefined;
  readonly timeMs: number | undefined;
  readonly generations: number | undefined;
}

/** The budget less what earlier runs used: trials counted, time spent, generations done. */
export function remainingBudget(budget: Budget, done: number, elapsedMs: number, generation: number): RemainingBudget {
  return {
    evaluations: budget.evaluations !== undefined ? budget.evaluations - done : undefined,
    timeMs: budget.timeMs !== undefined ? budget.timeMs - elapsedMs : undefined,
    generations: budget.generations !== undefined ? budget.generations - generation : undefined,
  };
}

/** Why there is nothing left to do, when an earlier run used the budget up. */
export function exhaustedReason(remaining: RemainingBudget, budget: Budget): string | undefined {
  return [
    remaining.evaluations !== undefined && remaining.evaluations <= 0
      ? `evaluation budget of ${budget.evaluations} used`
      : '',
    remaining.timeMs !== undefined && remaining.timeMs <= 0 ? `time budget used` : '',
    remaining.generations !== undefined && remaining.generations <= 0 ? `${budget.generations} generations done` : '',
  ].find(Boolean);
}

/** This run's budget for Study.optimize: what remains, `concurrency` evaluations at once, the stall rule, the abort. */
export function optimizeBudget(
  remaining: RemainingBudget,
  concurrency: number,
  config: SearchConfig,
  signal: AbortSignal | undefined,
): OptimizeBudget {
  return {
    ...(remaining.evaluations !== undefined ? { evaluations: remaining.evaluations } : {}),
    ...(remaining.timeMs !== undefined ? { timeMs: remaining.timeMs } : {}),
    ...(remaining.generations !== undefined ? { generations: remaining.generations } : {}),
    concurrency,
    stopper: noImprovementStopper({ generations: config.stallGenerations }),
    ...(signal ? { signal } : {}),
  };
}
