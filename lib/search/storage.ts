/**
 * Where trials live, kept apart from the study (as Optuna keeps storage apart from sampler and study). A storage
 * records every asked trial (state 'running') and every told one; the study rebuilds its state from these records.
 * The interface is synchronous because both implementations are (memory, better-sqlite3).
 */
import { ConfigError } from '../core/errors.js';
import type { ConstraintDef, ObjectiveDef } from './space.js';

export type TrialState = 'running' | 'complete' | 'failed' | 'pruned';

export interface StudyInfo {
  readonly name: string;
  readonly objectives: readonly ObjectiveDef[];
  readonly constraints: readonly ConstraintDef[];
  /** Free-form settings (seed, population size, selector, …) kept for resumption and display. */
  readonly userAttrs: Readonly<Record<string, unknown>>;
}

export interface StudyRecord extends StudyInfo {
  readonly id: number;
  readonly createdAt: number;
}

export interface IntermediateReport {
  readonly step: number;
  /** A single number for Optuna-style displays (e.g. validation accuracy). */
  readonly value?: number;
  readonly [key: string]: unknown;
}

export interface NewTrial {
  readonly generation: number;
  /** Position in the generation's batch; re-asked trials reuse their slot. */
  readonly slot: number;
  /** The genome's storage form (SearchSpace.encode). */
  readonly genome: unknown;
  readonly key: string;
}

export interface TrialOutcome {
  readonly state: Exclude<TrialState, 'running'>;
  /** Objective values in the user's directions, declaration order. */
  readonly values?: readonly number[];
  readonly constraints?: readonly number[];
  readonly violation?: number;
  readonly userAttrs?: Readonly<Record<string, unknown>>;
  readonly failReason?: string;
}

export interface TrialRecord extends NewTrial {
  readonly number: number;
  readonly state: TrialState;
  readonly values?: readonly number[];
  readonly constraints?: readonly number[];
  readonly violation?: number;
  readonly userAttrs: Readonly<Record<string, unknown>>;
  readonly failReason?: string;
  readonly intermediate: readonly IntermediateReport[];
  readonly startedAt: number;
  readonly finishedAt?: number;
}

export interface Storage {
  /** Throws ConfigError when a study of that name exists. */
  createStudy(info: StudyInfo): StudyRecord;
  loadStudy(name: string): StudyRecord | undefined;
  listStudies(): StudyRecord[];
  /** Records an asked trial (state 'running') and returns it with its number (0, 1, … within the study). */
  createTrial(studyId: number, trial: NewTrial): TrialRecord;
  finishTrial(studyId: number, number: number, outcome: TrialOutcome): void;
  addIntermediate(studyId: number, number: number, report: IntermediateReport): void;
  /** All trials of a study, by number. */
  trials(studyId: number): TrialRecord[];
  trial(studyId: number, number: number): TrialRecord | undefined;
  close(): void;
}

/** Keeps everything in memory: fast, for tests and for searches that need no persistence. */
export class InMemoryStorage implements Storage {
  private readonly studies: StudyRecord[] = [];
  private readonly trialsByStudy = new Map<number, TrialRecord[]>();

  createStudy(info: StudyInfo): StudyRecord {
    if (this.loadStudy(info.name)) throw new ConfigError(`a study named "${info.name}" already exists`, 'name');
    const record: StudyRecord = { ...structuredClone(info), id: this.studies.length, createdAt: Date.now() };
    this.studies.push(record);
    this.trialsByStudy.set(record.id, []);
    return record;
  }

  loadStudy(name: string): StudyRecord | undefined {
    return this.studies.find((s) => s.name === name);
  }

  listStudies(): StudyRecord[] {
    return [...this.studies];
  }

  createTrial(studyId: number, trial: NewTrial): TrialRecord {
    const list = this.list(studyId);
    const record: TrialRecord = {
      ...trial,
      number: list.length,
      state: 'running',
      userAttrs: {},
      intermediate: [],
      startedAt: Date.now(),
    };
    list.push(record);
    return record;
  }

  finishTrial(studyId: number, number: number, outcome: TrialOutcome): void {
    const list = this.list(studyId);
    const t = this.existing(list, number);
    list[number] = {
      ...t,
      ...structuredClone(outcome),
      userAttrs: { ...t.userAttrs, ...outcome.userAttrs },
      finishedAt: Date.now(),
    };
  }

  addIntermediate(studyId: number, number: number, report: IntermediateReport): void {
    const list = this.list(studyId);
    const t = this.existing(list, number);
    list[number] = { ...t, intermediate: [...t.intermediate, structuredClone(report)] };
  }

  trials(studyId: number): TrialRecord[] {
    return [...this.list(studyId)];
  }

  trial(studyId: number, number: number): TrialRecord | undefined {
    return this.list(studyId)[number];
  }

  close(): void {}

  private list(studyId: number): TrialRecord[] {
    const list = this.trialsByStudy.get(studyId);
    if (!list) throw new ConfigError(`no study with id ${studyId}`, 'studyId');
    return list;
  }

  private existing(list: TrialRecord[], number: number): TrialRecord {
    const t = list[number];
    if (!t) throw new ConfigError(`no trial ${number}`, 'number');
    return t;
  }
}
