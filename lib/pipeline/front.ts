/**
 * The Pareto front as a search reports it: each member with all four measures (not only the objectives), its
 * held-out figure, pipeline and model file, read from the trials' lineage.
 */
import type { PipelineGenome } from '../genome/index.js';
import type { FrontMember, TrialRecord } from '../search/index.js';
import type { Lineage } from './evaluator.js';
import { heldOutValue, measureValues } from './measure.js';
import type { QualityMetric } from './objectives.js';

/** A Pareto member with all four measures (not only the objectives). */
export interface FrontEntry {
  readonly trial: number;
  readonly generation: number;
  readonly pipeline: string;
  readonly genome: PipelineGenome;
  /** metric (under its name; on the validation split), latencyMs, throughput, sizeBytes. */
  readonly measures: Readonly<Record<string, number>>;
  /** The quality metric on the held-out test split (reported, never optimized). */
  readonly heldOut?: number;
  /** The objective values in the study's order. */
  readonly values: readonly number[];
  readonly modelFile?: string;
  /** Latency and throughput were timed again on the coordinator's host (the front mixed kinds of host). */
  readonly remeasured?: boolean;
}

export function frontEntries(
  members: readonly FrontMember<PipelineGenome>[],
  trials: readonly TrialRecord[],
  metric: QualityMetric,
): FrontEntry[] {
  const byNumber = new Map(trials.map((t) => [t.number, t] as const));
  return members
    .map((m) => {
      const t = byNumber.get(m.number);
      const lineage = t?.userAttrs as Partial<Lineage> | undefined;
      return {
        trial: m.number,
        generation: t?.generation ?? 0,
        pipeline: lineage?.pipeline ?? '',
        genome: m.genome,
        measures: lineage?.measurements ? measureValues(lineage.measurements, metric) : {},
        ...(lineage?.measurements ? { heldOut: heldOutValue(lineage.measurements, metric) } : {}),
        values: m.values,
        ...(lineage?.modelFile ? { modelFile: lineage.modelFile } : {}),
      };
    })
    .sort((a, b) => a.trial - b.trial);
}
