/**
 * How a search ends: after a queue search, the front re-timed on this host when it mixes kinds of host
 * (distributed/remeasure.ts), and the outcome — counts, time, the baseline's figures and the front with all its
 * measures.
 */
import { dirname } from 'node:path';
import type { NativeMetrics } from '../runtime/binding.js';
import { describeHost, remeasuredFront, remeasureFront, type RemeasuredFront } from '../distributed/remeasure.js';
import type { PipelineGenome } from '../genome/index.js';
import { hostFingerprint } from '../lab/fingerprint.js';
import type { SearchConfig } from '../pipeline/config.js';
import type { StudyContext } from '../pipeline/context.js';
import { frontEntries, type FrontEntry } from '../pipeline/front.js';
import { heldOutValue, measureValues } from '../pipeline/measure.js';
import type { QualityMetric } from '../pipeline/objectives.js';
import type { StudyFile, StudyMeta } from '../pipeline/study-file.js';
import type { ConstraintDef, ObjectiveDef, Study } from '../search/index.js';
import { countedTrials } from './budget.js';
import type { Emit } from './events.js';

export interface SearchOutcome {
  readonly name: string;
  readonly file: string;
  readonly reason: string;
  readonly status: 'done' | 'stopped';
  /** Trials told in this run / in the study so far (interrupted and aborted ones not counted). */
  readonly evaluations: number;
  readonly totalEvaluations: number;
  readonly failed: number;
  readonly generations: number;
  readonly elapsedMs: number;
  readonly objectives: readonly ObjectiveDef[];
  readonly constraints: readonly ConstraintDef[];
  readonly baseline: Readonly<Record<string, number>>;
  readonly baselineTest: NativeMetrics;
  /** The baseline's quality metric on the held-out test split. */
  readonly baselineHeldOut: number;
  readonly front: readonly FrontEntry[];
}

export interface RetimeOptions {
  readonly study: Study<PipelineGenome>;
  readonly studyFile: StudyFile;
  readonly context: StudyContext;
  readonly config: SearchConfig;
  readonly meta: StudyMeta;
  readonly emit: Emit;
}

/** Re-times the front members timed on another kind of host, if the front mixes kinds, and stores the new figures. */
export async function retimeMixedFront(o: RetimeOptions): Promise<void> {
  const { studyFile } = o;
  const remeasured = await remeasureFront({
    front: o.study.front().map((m) => m.number),
    trials: studyFile.trials(),
    studyDir: dirname(studyFile.file),
    context: o.context,
    settings: o.config.measure,
    baseline: o.meta.baseline.measurements,
    host: hostFingerprint(o.config.device),
  });
  if (remeasured) {
    studyFile.set('remeasured', remeasured);
    o.emit('queue', {
      state: 'up',
      message: `the front was timed on different kinds of host: ${Object.keys(remeasured.trials).length} member(s) re-timed on this one (${describeHost(remeasured.host)})`,
    });
  }
}

export interface OutcomeOptions {
  readonly study: Study<PipelineGenome>;
  readonly studyFile: StudyFile;
  readonly config: SearchConfig;
  readonly meta: StudyMeta;
  readonly metric: QualityMetric;
  readonly status: 'done' | 'stopped';
  readonly reason: string;
  /** Trials counted before this run. */
  readonly done: number;
  readonly elapsedMs: number;
}

/** The outcome from the study file as it stands: the front with re-timed figures where there are any. */
export function searchOutcome(o: OutcomeOptions): SearchOutcome {
  const { study, studyFile, config, meta, metric } = o;
  const trials = studyFile.trials();
  return {
    name: config.name,
    file: studyFile.file,
    reason: o.reason,
    status: o.status,
    evaluations: countedTrials(trials) - o.done,
    totalEvaluations: countedTrials(trials),
    failed: trials.filter((t) => t.state === 'failed').length,
    generations: study.generation,
    elapsedMs: o.elapsedMs,
    objectives: meta.objectives,
    constraints: meta.constraints,
    baseline: measureValues(meta.baseline.measurements, metric),
    baselineTest: meta.baseline.measurements.test,
    baselineHeldOut: heldOutValue(meta.baseline.measurements, metric),
    front: remeasuredFront(
      frontEntries(study.front(), trials, metric),
      meta.objectives,
      studyFile.get<RemeasuredFront>('remeasured'),
    ),
  };
}
