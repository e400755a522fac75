/**
 * A Storage in one SQLite file (better-sqlite3, WAL mode). Every ask and every tell is its own committed
 * transaction, so killing the process (even `kill -9`) loses only the trials in flight; reopening the study by name
 * (Study.open with the same name and this storage) rebuilds it from what was told.
 */
import Database from 'better-sqlite3';
import { ConfigError, LoadError } from '../core/errors.js';
import type {
  IntermediateReport,
  NewTrial,
  Storage,
  StudyInfo,
  StudyRecord,
  TrialOutcome,
  TrialRecord,
  TrialState,
} from './storage.js';

interface StudyRow {
  id: number;
  name: string;
  info: string;
  created_at: number;
}
interface TrialRow {
  number: number;
  generation: number;
  slot: number;
  genome: string;
  key: string;
  state: string;
  outcome: string | null;
  started_at: number;
  finished_at: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS studies (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, info TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
  study_id INTEGER NOT NULL, number INTEGER NOT NULL, generation INTEGER NOT NULL, slot INTEGER NOT NULL,
  genome TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, outcome TEXT,
  started_at INTEGER NOT NULL, finished_at INTEGER, PRIMARY KEY (study_id, number));
CREATE TABLE IF NOT EXISTS intermediate (
  study_id INTEGER NOT NULL, number INTEGER NOT NULL, seq INTEGER NOT NULL, report TEXT NOT NULL,
  PRIMARY KEY (study_id, number, seq));
`;

export class SqliteStorage implements Storage {
  private readonly db: Database.Database;

  /** Opens (creating if needed) the journal at `file`; ':memory:' works too. */
  constructor(file: string) {
    try {
      this.db = new Database(file);
    } catch (error) {
      throw new LoadError(
        `could not open the SQLite journal ${file} with better-sqlite3 (is its native binding built? run \`npm rebuild better-sqlite3\`)`,
        { cause: error },
      );
    }
    this.db.pragma('journal_mode = WAL');
    // With WAL, NORMAL survives a killed process (only an OS crash could lose the last commits).
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
  }

  createStudy(info: StudyInfo): StudyRecord {
    if (this.loadStudy(info.name)) throw new ConfigError(`a study named "${info.name}" already exists`, 'name');
    const createdAt = Date.now();
    const r = this.db
      .prepare('INSERT INTO studies (name, info, created_at) VALUES (?, ?, ?)')
      .run(info.name, JSON.stringify(info), createdAt);
    return { ...info, id: Number(r.lastInsertRowid), createdAt };
  }

  loadStudy(name: string): StudyRecord | undefined {
    const row = this.db.prepare('SELECT * FROM studies WHERE name = ?').get(name) as StudyRow | undefined;
    return row ? toStudy(row) : undefined;
  }

  listStudies(): StudyRecord[] {
    return (this.db.prepare('SELECT * FROM studies ORDER BY id').all() as StudyRow[]).map(toStudy);
  }

  createTrial(studyId: number, trial: NewTrial): TrialRecord {
    const startedAt = Date.now();
    const insert = this.db.transaction(() => {
      const { n } = this.db.prepare('SELECT COUNT(*) AS n FROM trials WHERE study_id = ?').get(studyId) as {
        n: number;
      };
      this.db
        .prepare(
          'INSERT INTO trials (study_id, number, generation, slot, genome, key, state, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(studyId, n, trial.generation, trial.slot, JSON.stringify(trial.genome), trial.key, 'running', startedAt);
      return n;
    });
    const number = insert.immediate();
    return { ...trial, number, state: 'running', userAttrs: {}, intermediate: [], startedAt };
  }

  finishTrial(studyId: number, number: number, outcome: TrialOutcome): void {
    const r = this.db
      .prepare('UPDATE trials SET state = ?, outcome = ?, finished_at = ? WHERE study_id = ? AND number = ?')
      .run(outcome.state, JSON.stringify(outcome), Date.now(), studyId, number);
    if (r.changes !== 1) throw new ConfigError(`no trial ${number} in study ${studyId}`, 'number');
  }

  addIntermediate(studyId: number, number: number, report: IntermediateReport): void {
    this.db
      .prepare(
        'INSERT INTO intermediate (study_id, number, seq, report) VALUES (?, ?, (SELECT COUNT(*) FROM intermediate WHERE study_id = ? AND number = ?), ?)',
      )
      .run(studyId, number, studyId, number, JSON.stringify(report));
  }

  trials(studyId: number): TrialRecord[] {
    const rows = this.db.prepare('SELECT * FROM trials WHERE study_id = ? ORDER BY number').all(studyId) as TrialRow[];
    const reports = new Map<number, IntermediateReport[]>();
    for (const r of this.db
      .prepare('SELECT number, report FROM intermediate WHERE study_id = ? ORDER BY number, seq')
      .all(studyId) as Array<{ number: number; report: string }>) {
      reports.set(r.number, [...(reports.get(r.number) ?? []), JSON.parse(r.report) as IntermediateReport]);
    }
    return rows.map((row) => toTrial(row, reports.get(row.number) ?? []));
  }

  trial(studyId: number, number: number): TrialRecord | undefined {
    const row = this.db.prepare('SELECT * FROM trials WHERE study_id = ? AND number = ?').get(studyId, number) as
      TrialRow | undefined;
    if (!row) return undefined;
    const reports = (
      this.db
        .prepare('SELECT report FROM intermediate WHERE study_id = ? AND number = ? ORDER BY seq')
        .all(studyId, number) as Array<{ report: string }>
    ).map((r) => JSON.parse(r.report) as IntermediateReport);
    return toTrial(row, reports);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toStudy(row: StudyRow): StudyRecord {
  return { ...(JSON.parse(row.info) as StudyInfo), id: row.id, createdAt: row.created_at };
}

function toTrial(row: TrialRow, intermediate: IntermediateReport[]): TrialRecord {
  const outcome = row.outcome ? (JSON.parse(row.outcome) as TrialOutcome) : undefined;
  return {
    number: row.number,
    generation: row.generation,
    slot: row.slot,
    genome: JSON.parse(row.genome) as unknown,
    key: row.key,
    state: row.state as TrialState,
    ...(outcome?.values ? { values: outcome.values } : {}),
    ...(outcome?.constraints ? { constraints: outcome.constraints } : {}),
    ...(outcome?.violation !== undefined ? { violation: outcome.violation } : {}),
    ...(outcome?.failReason !== undefined ? { failReason: outcome.failReason } : {}),
    userAttrs: outcome?.userAttrs ?? {},
    intermediate,
    startedAt: row.started_at,
    ...(row.finished_at !== null ? { finishedAt: row.finished_at } : {}),
  };
}
