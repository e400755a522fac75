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
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  renameSync,
  rmdirSync,
  rmSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import type { HostFingerprint } from '../lab/fingerprint.js';
import type { ModelSpec } from '../graph/types.js';
import {
  SqliteStorage,
  type ConstraintDef,
  type ObjectiveDef,
  type StudyRecord,
  type TrialRecord,
} from '../search/index.js';
import type { BaselineRecord } from './baseline.js';
import type { SearchConfig } from './config.js';
import type { Measurements } from './measure.js';
import type { QualityMetric } from './objectives.js';
import type { SpaceSettings } from './study-space.js';

export const DEFAULT_STUDY_DIR = 'studies';

export interface ProblemInfo {
  readonly description: string;
  readonly modelSource: string;
  readonly spec: ModelSpec;
  readonly metric: QualityMetric;
  readonly kind: 'classification' | 'regression';
  readonly rows: {
    readonly train: number;
    readonly val: number;
    readonly test: number;
    readonly finetune: number;
    readonly finetuneVal: number;
  };
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
  if (
    nameOrPath.endsWith('.sqlite') ||
    nameOrPath.includes('/') ||
    (existsSync(nameOrPath) && statSync(nameOrPath).isFile())
  )
    return resolve(nameOrPath);
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
    if (existsSync(file))
      throw new ConfigError(
        `a study already exists at ${file}; resume it (petra resume) or choose another --name`,
        'name',
      );
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    const cleanup = (): void => {
      for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
    };
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
    const row = this.#db.prepare('SELECT value FROM petra_meta WHERE key = ?').get(key) as
      { value: string } | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  set(key: string, value: unknown): void {
    this.#db
      .prepare(
        'INSERT INTO petra_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, JSON.stringify(value));
  }

  get meta(): StudyMeta {
    const m = this.get<StudyMeta>('meta');
    if (!m) throw new ConfigError(`${this.file} has no petra_meta`, 'study');
    return m;
  }

  get progress(): ProgressInfo | undefined {
    return this.get<ProgressInfo>('progress');
  }
  get generations(): GenerationInfo[] {
    return this.get<GenerationInfo[]>('generations') ?? [];
  }

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

  [Symbol.dispose](): void {
    this.close();
  }
}

// ------------------------------------------------------------------------------------------------- the study lock

/** The process that runs a study, as recorded in its lock file. */
export interface StudyLockHolder {
  readonly pid: number;
  readonly host: string;
  /** ISO time the lock was taken. */
  readonly startedAt: string;
  /** What runs it, e.g. `search` or `resume`. */
  readonly command: string;
}

export function lockFile(file: string): string {
  return `${file}.lock`;
}

const HOLDER_SCHEMA =
  'CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL, started_at TEXT NOT NULL, command TEXT NOT NULL)';

function isBusy(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
}

/**
 * One process at a time writes a study's journal — a search, a resume, a distributed search's coordinator — and it
 * holds this lock while it runs. The lock is an SQLite write reservation (BEGIN IMMEDIATE, never committed) on
 * `<study>.sqlite.lock`, which holds who took it: the operating system drops the reservation when the process ends,
 * however it ends (kill -9, the OOM killer), so a lock never goes stale and is never taken over by guesswork, and
 * it never blocks readers — reports, exports, or a second process asking who holds it. Works across processes, and
 * within one process across connections and worker_threads (SQLite tracks its locks per file). On a network file
 * system it is as reliable as the file system's locking, like the journal itself.
 */
export class StudyLock {
  readonly file: string;
  #db: Database.Database | undefined;

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.#db = db;
  }

  /** Takes the lock of study `name` (file `file`) or throws ConfigError "study 'name' is locked by pid N on host H since T". */
  static acquire(file: string, name: string, command: string): StudyLock {
    makeDirs(dirname(file));
    for (let attempt = 0; ; attempt++) {
      const db = new Database(lockFile(file), { timeout: 0 });
      try {
        db.exec('BEGIN IMMEDIATE');
      } catch (error) {
        db.close();
        if (!isBusy(error)) throw error;
        throw lockedError(name, StudyLock.holder(file));
      }
      try {
        // Who holds it: committed so others can read it, then the reservation is taken again at once.
        db.exec(HOLDER_SCHEMA);
        db.prepare('INSERT OR REPLACE INTO holder (id, pid, host, started_at, command) VALUES (1, ?, ?, ?, ?)').run(
          process.pid,
          hostname(),
          new Date().toISOString(),
          command,
        );
        db.pragma('busy_timeout = 2000'); // a reader may hold its shared lock for a moment
        db.exec('COMMIT');
        db.pragma('busy_timeout = 0');
        db.exec('BEGIN IMMEDIATE');
        return new StudyLock(file, db);
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK');
        db.close();
        // Another process took it in the instant between the commit and the new reservation: ask once more, which
        // either wins or reports that process.
        if (!isBusy(error) || attempt > 0) throw isBusy(error) ? lockedError(name, StudyLock.holder(file)) : error;
      }
    }
  }

  /** Who holds the lock of the study at `file` now; undefined when nobody does. Never blocks the holder. */
  static holder(file: string): StudyLockHolder | undefined {
    if (!existsSync(lockFile(file))) return undefined;
    let db: Database.Database;
    try {
      db = new Database(lockFile(file), { timeout: 1000 });
    } catch {
      return undefined;
    }
    try {
      db.pragma('busy_timeout = 0');
      try {
        db.exec('BEGIN IMMEDIATE');
        db.exec('ROLLBACK');
        return undefined; // free
      } catch (error) {
        if (!isBusy(error)) return undefined;
      }
      db.pragma('busy_timeout = 1000');
      const row = db.prepare('SELECT pid, host, started_at AS startedAt, command FROM holder WHERE id = 1').get() as
        StudyLockHolder | undefined;
      return row ? { ...row } : { pid: 0, host: '', startedAt: '', command: '' };
    } catch {
      return { pid: 0, host: '', startedAt: '', command: '' };
    } finally {
      db.close();
    }
  }

  get held(): boolean {
    return this.#db !== undefined;
  }

  /** Idempotent. Leaves the (tiny) lock file in place: removing it could let two processes lock two different files. */
  release(): void {
    const db = this.#db;
    this.#db = undefined;
    if (!db) return;
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
    } finally {
      db.close();
    }
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** Throws the "study is locked" ConfigError when a process holds the lock of the study at `file`. */
export function assertNotLocked(file: string, name: string): void {
  const h = StudyLock.holder(file);
  if (h) throw lockedError(name, h);
}

function lockedError(name: string, h: StudyLockHolder | undefined): ConfigError {
  const who =
    h && h.pid
      ? `pid ${h.pid} on host ${h.host} since ${h.startedAt}${h.command ? ` (petra ${h.command})` : ''}`
      : 'another process (it is starting)';
  return new ConfigError(
    `study '${name}' is locked by ${who}: one process at a time runs a study; wait for it to end or stop it (Ctrl-C), then \`petra resume ${name}\` (reports and exports work meanwhile)`,
  );
}

// ------------------------------------------------------------------------------------------------- output checks

/** Free space a search's output directories must have before it starts (PETRA_MIN_FREE_MB overrides). */
export const DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024;

export function minFreeBytesFromEnv(): number {
  const text = process.env.PETRA_MIN_FREE_MB;
  if (text === undefined || text === '') return DEFAULT_MIN_FREE_BYTES;
  const mb = Number(text);
  if (!(mb >= 0)) throw new ConfigError(`PETRA_MIN_FREE_MB='${text}' is not a number of MiB ≥ 0`);
  return Math.round(mb * 1024 * 1024);
}

function bytesText(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}

function why(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  switch (e.code) {
    case 'EROFS':
      return 'read-only file system';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'ENOTDIR':
    case 'EEXIST':
      return 'a file is in the way';
    case 'ENOENT':
      return 'the file system does not allow creating it';
    default:
      return e.message ?? String(error);
  }
}

/**
 * mkdir -p that cannot spin (Node's recursive mkdir loops for ever where a parent refuses with ENOENT, as /proc does);
 * returns the directories it created, outermost first.
 */
export function makeDirs(dir: string): string[] {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  const created: string[] = [];
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
      created.push(d);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && statSync(d).isDirectory()) continue;
      throw error;
    }
  }
  if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  return created;
}

/**
 * Proves before a search starts that it can write where it will: `dir` is created (with its parents), a probe file
 * is written and removed, and its file system has at least `minFreeBytes` free. Leaves nothing behind (directories it
 * had to create are removed again), so a search that fails later on a bad configuration still writes nothing.
 * Throws ConfigError naming the directory, what it is for and why (read-only, permission denied, how much is free).
 */
export function checkOutputDir(dir: string, what: string, minFreeBytes = DEFAULT_MIN_FREE_BYTES): void {
  const at = resolve(dir);
  let created: string[] = [];
  try {
    created = makeDirs(at);
  } catch (error) {
    throw new ConfigError(
      `cannot create the ${what} directory ${at}: ${why(error)} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      undefined,
      { cause: error },
    );
  }
  try {
    const probe = join(at, `.petra-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      const fd = openSync(probe, 'wx');
      try {
        writeSync(fd, Buffer.alloc(4096));
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      throw new ConfigError(
        `cannot write to the ${what} directory ${at}: ${why(error)} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        undefined,
        { cause: error },
      );
    } finally {
      try {
        unlinkSync(probe);
      } catch {
        /* never created */
      }
    }
    if (minFreeBytes > 0) {
      const fs = statfsSync(at);
      const free = fs.bavail * fs.bsize;
      if (free < minFreeBytes) {
        throw new ConfigError(
          `only ${bytesText(free)} free on the file system of the ${what} directory ${at} (of ${bytesText(fs.blocks * fs.bsize)}); a search needs at least ${bytesText(minFreeBytes)} there (set by PETRA_MIN_FREE_MB, the minFreeMB option or --min-free)`,
        );
      }
    }
  } finally {
    for (const d of created.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        /* someone else put something there meanwhile */
      }
    }
  }
}
