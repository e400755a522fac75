/**
 * What every candidate of one study is evaluated against, in one process: the problem (data, model spec, recipe,
 * metric), its splits placed natively, the baseline model each candidate starts from, the study's objective and
 * constraint definitions, and the lock that keeps timings from overlapping. The coordinator builds one for a search
 * (its in-process evaluator and the re-timing of the front use it); a queue worker builds one per study it serves.
 */
import type { Model } from '../runtime/model.js';
import type { ConstraintDef, ObjectiveDef } from '../search/index.js';
import type { SearchConfig } from './config.js';
import { Lock } from './measure.js';
import type { Problem } from './problem.js';
import { SearchData } from './search-data.js';

export interface StudyDefinitions {
  readonly objectives: readonly ObjectiveDef[];
  readonly constraints: readonly ConstraintDef[];
}

export interface StudyContext extends StudyDefinitions {
  readonly problem: Problem;
  readonly data: SearchData;
  readonly base: Model;
  readonly lock: Lock;
}

/**
 * Places the problem's splits, makes the timing lock, then asks `definitions` for the objectives and constraints —
 * which may need the baseline measured on those splits under that lock first (a new study's relative bounds). What
 * was placed is disposed again if `definitions` fails; `base` stays the caller's until the context is built.
 */
export async function openStudyContext(
  problem: Problem,
  base: Model,
  config: Pick<SearchConfig, 'finetune' | 'seed'>,
  definitions: (placed: {
    readonly data: SearchData;
    readonly lock: Lock;
  }) => StudyDefinitions | Promise<StudyDefinitions>,
): Promise<StudyContext> {
  const data = new SearchData(problem, config.finetune, config.seed);
  const lock = new Lock();
  try {
    const { objectives, constraints } = await definitions({ data, lock });
    return { problem, data, base, lock, objectives, constraints };
  } catch (error) {
    data.dispose();
    throw error;
  }
}

/** Frees the context's native data and baseline model. */
export function disposeStudyContext(context: StudyContext): void {
  context.data.dispose();
  context.base.dispose();
}
