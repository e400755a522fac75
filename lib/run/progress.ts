/**
 * A run's bookkeeping: the study file's 'progress' entry (status, time used across runs, run count) and generation
 * log, kept current from the study's events, which are reported as search events as they happen.
 */
import type { PipelineGenome } from '../genome/index.js';
import type { Lineage } from '../pipeline/evaluator.js';
import { frontEntries, type FrontEntry } from '../pipeline/front.js';
import { measureValues } from '../pipeline/measure.js';
import type { QualityMetric } from '../pipeline/objectives.js';
import type { StudyFile } from '../pipeline/study-file.js';
import type { Study } from '../search/index.js';
import type { Emit } from './events.js';

/** Time used by this study across runs, and the 'progress' entry this run writes. */
export class RunProgress {
  /** Time the earlier runs used. */
  readonly elapsedBefore: number;
  private readonly studyFile: StudyFile;
  private readonly runs: number;
  private readonly started = Date.now();

  constructor(studyFile: StudyFile) {
    this.studyFile = studyFile;
    const before = studyFile.progress;
    this.elapsedBefore = before?.elapsedMs ?? 0;
    this.runs = (before?.runs ?? 0) + 1;
  }

  elapsed(): number {
    return this.elapsedBefore + (Date.now() - this.started);
  }

  /** Marks the study running with this run counted. */
  start(): void {
    this.studyFile.set('progress', {
      status: 'running',
      elapsedMs: this.elapsedBefore,
      updatedAt: new Date().toISOString(),
      runs: this.runs,
    });
  }

  /** Keeps the time used current while running. */
  running(): void {
    this.studyFile.set('progress', {
      status: 'running',
      elapsedMs: this.elapsed(),
      updatedAt: new Date().toISOString(),
      runs: this.runs,
    });
  }

  failed(error: unknown): void {
    this.studyFile.set('progress', {
      status: 'failed',
      elapsedMs: this.elapsed(),
      reason: error instanceof Error ? error.message : String(error),
      updatedAt: new Date().toISOString(),
      runs: this.runs,
    });
  }

  end(status: 'done' | 'stopped', reason: string): void {
    this.studyFile.set('progress', {
      status,
      elapsedMs: this.elapsed(),
      reason,
      updatedAt: new Date().toISOString(),
      runs: this.runs,
    });
  }
}

export interface StudyEventOptions {
  readonly study: Study<PipelineGenome>;
  readonly studyFile: StudyFile;
  readonly metric: QualityMetric;
  readonly progress: RunProgress;
  /** Trials counted before this run (the 'trial' and 'generation' events count on from there). */
  readonly done: number;
  readonly emit: Emit;
}

/**
 * Reports the study's trials, front changes and generations as search events, keeping the progress entry and the
 * generation log current. Returns the functions that unsubscribe.
 */
export function wireStudyEvents(o: StudyEventOptions): Array<() => void> {
  const { study, studyFile, metric, progress, emit } = o;
  let evaluations = o.done;
  const entries = (): FrontEntry[] => frontEntries(study.front(), studyFile.trials(), metric);
  return [
    study.on('evaluation', ({ trial }) => {
      if (!/^(interrupted|aborted)/.test(trial.failReason ?? '')) evaluations++;
      const lineage = trial.userAttrs as Partial<Lineage>;
      progress.running();
      emit('trial', {
        trial: trial.number,
        generation: trial.generation,
        state: trial.state,
        pipeline: lineage.pipeline ?? '',
        ...(trial.failReason ? { reason: trial.failReason } : {}),
        seconds: lineage.seconds ?? 0,
        ...(lineage.measurements ? { measures: measureValues(lineage.measurements, metric) } : {}),
        feasible: trial.state === 'complete' && (trial.violation ?? 0) <= 0,
        evaluations,
        elapsedMs: progress.elapsed(),
      });
    }),
    study.on('frontChanged', () => emit('front', { front: entries() })),
    study.on('generation', (g) => {
      const front = entries();
      studyFile.appendGeneration({
        generation: g.generation,
        hypervolume: g.hypervolume,
        evaluations: g.evaluations,
        frontSize: front.length,
        at: new Date().toISOString(),
      });
      emit('generation', {
        generation: g.generation,
        hypervolume: g.hypervolume,
        evaluations,
        front,
        elapsedMs: progress.elapsed(),
      });
    }),
  ];
}
