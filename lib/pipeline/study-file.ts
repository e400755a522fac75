/**
 * One search = one SQLite file (`studies/<name>.sqlite` by default): the search core's trial journal plus a
 * `petra_meta` table holding what a resume, a report or an export needs — the configuration, the problem, the
 * baseline and its measurements, the resolved objectives and constraints, progress. Trained candidate models live
 * beside it in `<name>.models/`.
 *
 * A new study file is prepared under a temporary name and renamed into place only once it is complete, so a bad
 * configuration or a killed start never leaves a half-written study.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { HostFingerprint } from '../lab/fingerprint.js';
import type { ModelSpec } from '../spec/types.js';
import { SqliteStorage, type ConstraintDef, type ObjectiveDef, type StudyRecord, type TrialRecord } from '../search/index.js';
import type { BaselineRecord } from './baseline.js';
import type { SearchConfig } from './config.js';
import type { Measurements } from './measure.js';
import type { QualityMetric } from './objectives.js';
import type { SpaceSettings } from './space.js';

export const DEFAULT_STUDY_DIR = 'studies';

export interface ProblemInfo {
  readonly description: string;
  readonly modelSource: string;
  readonly spec: ModelSpec;
  readonly metric: QualityMetric;
  readonly kind: 'classification' | 'regression';
  readonly rows: { readonly train: number; readonly val: number; readonly test: number; readonly finetune: number; readonly finetuneVal: number };
}

export interface BaselineInfo {
  readonly record: BaselineRecord;
  /** Measured in this study's process, the way every candidate is measured. */
  readonly measurements: Measurements;
  /** The baseline's metric on the fine-tunes' validation rows (candidate-level stopping compares against it). */
  readonly valMetric?: number;
  /** The cached model file. */
  readonly modelFile: string;
}

export interface ProgressInfo {
  readonly status: 'running' | 'done' | 'stopped' | 'failed';
  /** Search time used so far, over all runs (for time budgets across resumes). */
  readonly elapsedMs: number;
  readonly reason?: string;
  readonly updatedAt: string;
  readonly runs: number;
}

export interface GenerationInfo {
  readonly generation: number;
  readonly hypervolume: number;
  readonly evaluations: number;
  readonly frontSize: number;
  readonly at: string;
}

export interface StudyMeta {
  readonly version: 1;
  readonly config: SearchConfig;
  readonly problem: ProblemInfo;
  readonly baseline: BaselineInfo;
  readonly objectives: readonly ObjectiveDef[];
  readonly constraints: readonly ConstraintDef[];
  readonly space: SpaceSettings;
  readonly host: HostFingerprint;
  readonly createdAt: string;
}

/** `name` → studies/<name>.sqlite; a path ending in .sqlite (or an existing file) is taken as is. */
export function studyPath(nameOrPath: string, dir = DEFAULT_STUDY_DIR): string {
  if (nameOrPath.endsWith('.sqlite') || nameOrPath.includes('/') || (existsSync(nameOrPath) && statSync(nameOrPath).isFile())) return resolve(nameOrPath);
  return resolve(isAbsolute(dir) ? dir : resolve(dir), `${nameOrPath}.sqlite`);
}

export function modelsDir(file: string): string {
  return file.replace(/\.sqlite$/, '') + '.models';
}

export function trialModelFile(file: string, trial: number): string {
  return join(modelsDir(file), `trial-${trial}.pt`);
}

const META_SCHEMA = 'CREATE TABLE IF NOT EXISTS petra_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)';

export class StudyFile {
  readonly file: string;
  readonly storage: SqliteStorage;
  readonly #db: Database.Database;

  private constructor(file: string) {
    this.file = file;
    this.storage = new SqliteStorage(file);
    this.#db = new Database(file);
    this.#db.exec(META_SCHEMA);
  }

  /** Opens an existing study file; throws ConfigError when there is none or it is not a petra study. */
  static open(nameOrPath: string, dir?: string): StudyFile {
    const file = studyPath(nameOrPath, dir);
    if (!existsSync(file)) throw new ConfigError(`no study '${nameOrPath}' (looked for ${file})`, 'study');
    const sf = new StudyFile(file);
    if (!sf.get('meta')) {
      sf.close();
      throw new ConfigError(`${file} is not a petra study (it has no petra_meta)`, 'study');
    }
    return sf;
  }

  /**
   * Creates the study file complete or not at all: `prepare` fills a temporary file (study record, meta), which is
   * then renamed to `file`. Throws ConfigError when `file` exists.
   */
  static create(file: string, prepare: (sf: StudyFile) => void): StudyFile {
    if (existsSync(file)) throw new ConfigError(`a study already exists at ${file}; resume it (petra resume) or choose another --name`, 'name');
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    const cleanup = (): void => { for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true }); };
    cleanup();
    try {
      const sf = new StudyFile(tmp);
      try {
        prepare(sf);
      } finally {
        sf.close();
      }
      renameSync(tmp, file);
    } finally {
      cleanup();
    }
    return new StudyFile(file);
  }

  get<T>(key: string): T | undefined {
    const row = this.#db.prepare('SELECT value FROM petra_meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  set(key: string, value: unknown): void {
    this.#db.prepare('INSERT INTO petra_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, JSON.stringify(value));
  }

  get meta(): StudyMeta {
    const m = this.get<StudyMeta>('meta');
    if (!m) throw new ConfigError(`${this.file} has no petra_meta`, 'study');
    return m;
  }

  get progress(): ProgressInfo | undefined { return this.get<ProgressInfo>('progress'); }
  get generations(): GenerationInfo[] { return this.get<GenerationInfo[]>('generations') ?? []; }

  appendGeneration(g: GenerationInfo): void {
    this.set('generations', [...this.generations.filter((x) => x.generation !== g.generation), g]);
  }

  /** The study record (one per file). */
  get study(): StudyRecord {
    const s = this.storage.listStudies()[0];
    if (!s) throw new ConfigError(`${this.file} holds no study`, 'study');
    return s;
  }

  trials(): TrialRecord[] {
    return this.storage.trials(this.study.id);
  }

  close(): void {
    this.storage.close();
    if (this.#db.open) this.#db.close();
  }

  [Symbol.dispose](): void { this.close(); }
}
