/**
 * The programmatic search for backend services: `search({...})` returns at once with a study handle — events, an
 * AbortSignal, a `done` promise — while the search runs. Native work runs off the event loop either way; with
 * `worker: true` the whole search (data loading, bookkeeping included) runs in a worker_thread and only events
 * cross over, so the host's event loop never waits on it.
 */
import { parseQueueUrl } from '../distributed/connection.js';
import { AbortError, ConfigError } from '../core/errors.js';
import { normalizeConfig, type Budget, type SearchConfigInput } from '../pipeline/config.js';
import { studyPath, StudyFile } from '../pipeline/study-file.js';
import { loadReportData, type ReportData } from '../report/data.js';
import { writeReport } from '../report/html.js';
import type { SearchEventName, SearchEvents } from '../run/events.js';
import type { SearchOutcome } from '../run/outcome.js';
import type { SearchRequest } from '../run/request.js';
import { runSearch } from '../run/runner.js';
import { runSearchInThread } from '../run/thread.js';

export type { SearchEvents, SearchEventName } from '../run/events.js';
export type { SearchOutcome } from '../run/outcome.js';
export type { FrontEntry } from '../pipeline/front.js';
export type {
  SearchConfig,
  SearchConfigInput,
  Budget,
  UserData,
  DataLimits,
  FinetuneSettings,
  MeasureSettings,
} from '../pipeline/config.js';
export type { ObjectiveKey, QualityMetric, ConstraintInput, Bound } from '../pipeline/objectives.js';
export type { ReportData, ReportTrial } from '../report/data.js';

export interface SearchOptions extends SearchConfigInput {
  /** Where study files go (default ./studies). */
  readonly studyDir?: string;
  /** Aborting it stops the search (the trial in flight is cut short; `petra resume` continues the study). */
  readonly signal?: AbortSignal;
  /** Run the search in a worker_thread; events are relayed to this thread. */
  readonly worker?: boolean;
  /**
   * Evaluate candidates on `petra worker` processes through a BullMQ queue on this Redis (`redis://host:6379`,
   * `rediss://…` for TLS, a password in the URL); this process keeps the study and its journal.
   */
  readonly queue?: string;
  /**
   * Free space (MiB) the study, cache and output directories must have before the search starts (default
   * PETRA_MIN_FREE_MB or 64; 0: no check). Each is also created and proved writable first, so a read-only or full
   * disk fails at once with a clear message instead of after the baseline has trained.
   */
  readonly minFreeMB?: number;
  /** Other directories this search's caller will write to (a report's), checked the same way up front. */
  readonly outputDirs?: readonly string[];
}

export interface ResumeOptions {
  readonly studyDir?: string;
  readonly signal?: AbortSignal;
  /** A new total budget (e.g. more evaluations than the study was started with). */
  readonly budget?: Budget | string;
  readonly worker?: boolean;
  /** As in SearchOptions: a resumed coordinator re-attaches to the jobs its predecessor queued. */
  readonly queue?: string;
  /** As in SearchOptions. */
  readonly minFreeMB?: number;
  readonly outputDirs?: readonly string[];
}

function preflightOf(o: { minFreeMB?: number; outputDirs?: readonly string[] }): {
  minFreeBytes?: number;
  outputDirs?: readonly string[];
} {
  if (o.minFreeMB !== undefined && !(typeof o.minFreeMB === 'number' && o.minFreeMB >= 0)) {
    throw new ConfigError(`must be a number of MiB ≥ 0, got ${String(o.minFreeMB)}`, 'minFreeMB');
  }
  return {
    ...(o.minFreeMB !== undefined ? { minFreeBytes: Math.round(o.minFreeMB * 1024 * 1024) } : {}),
    ...(o.outputDirs?.length ? { outputDirs: [...o.outputDirs] } : {}),
  };
}

export interface StudyHandle {
  readonly name: string;
  /** The study's SQLite file. */
  readonly file: string;
  /** Aborted when `abort()` is called or the caller's signal aborts. */
  readonly signal: AbortSignal;
  /** Resolves when the search ends (budget, stall rule or abort); rejects on a bad configuration or data. */
  readonly done: Promise<SearchOutcome>;
  on<K extends SearchEventName>(event: K, listener: (payload: SearchEvents[K]) => void): () => void;
  abort(reason?: unknown): void;
  /** Writes the HTML report (default petra-out/<name>.html) and returns its path. */
  report(out?: string): string;
}

type Listeners = { [K in SearchEventName]?: Array<(p: SearchEvents[K]) => void> };

function makeHandle(
  name: string,
  file: string,
  studyDir: string | undefined,
  signal: AbortSignal | undefined,
  start: (
    emit: <K extends SearchEventName>(e: K, p: SearchEvents[K]) => void,
    signal: AbortSignal,
  ) => Promise<SearchOutcome>,
): StudyHandle {
  const controller = new AbortController();
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  const listeners: Listeners = {};
  const emit = <K extends SearchEventName>(event: K, payload: SearchEvents[K]): void => {
    for (const l of (listeners[event] ?? []) as Array<(p: SearchEvents[K]) => void>) l(payload);
  };
  // Started on the next microtask, so listeners attached right after search() returns see every event.
  const done = Promise.resolve().then(() => start(emit, controller.signal));
  return {
    name,
    file,
    signal: controller.signal,
    done,
    on(event, listener) {
      const list = (listeners[event] ??= []) as Array<typeof listener>;
      list.push(listener);
      return () => {
        const i = list.indexOf(listener);
        if (i >= 0) list.splice(i, 1);
      };
    },
    abort(reason?: unknown) {
      controller.abort(reason ?? new AbortError('the search was aborted'));
    },
    report(out?: string) {
      return writeReport(loadReportData(file, studyDir), out ?? `petra-out/${name}.html`);
    },
  };
}

/**
 * Starts a search. Configuration mistakes (unknown task or objective, contradictory constraints, a bad budget)
 * throw ConfigError here, synchronously; problems found later (missing data files) reject `done`. Nothing is
 * written until the baseline is ready and every check has passed, except the study's lock file (`<name>.sqlite.lock`,
 * taken once the data has loaded: a second search or resume of the same study is refused with who runs it).
 */
export function search(options: SearchOptions): StudyHandle {
  const { studyDir, signal, worker, queue, minFreeMB, outputDirs, ...input } = options;
  const config = normalizeConfig(input);
  if (queue !== undefined) parseQueueUrl(queue);
  const file = studyPath(config.name, studyDir);
  const request: SearchRequest = {
    kind: 'new',
    config,
    ...(studyDir ? { studyDir } : {}),
    ...(queue ? { queue: { url: queue } } : {}),
    ...preflightOf({ ...(minFreeMB !== undefined ? { minFreeMB } : {}), ...(outputDirs ? { outputDirs } : {}) }),
  };
  return makeHandle(config.name, file, studyDir, signal, (emit, s) =>
    worker ? runSearchInThread(request, emit, s) : runSearch(request, emit, s),
  );
}

/** Continues a study (after a kill, an abort or with a bigger budget) from its file. */
export function resumeSearch(study: string, options: ResumeOptions = {}): StudyHandle {
  const sf = StudyFile.open(study, options.studyDir);
  const name = sf.study.name;
  const file = sf.file;
  sf.close();
  const budget =
    typeof options.budget === 'string' ? normalizeConfig({ budget: options.budget }).budget : options.budget;
  if (options.queue !== undefined) parseQueueUrl(options.queue);
  const request: SearchRequest = {
    kind: 'resume',
    study: file,
    ...(options.studyDir ? { studyDir: options.studyDir } : {}),
    ...(budget ? { budget } : {}),
    ...(options.queue ? { queue: { url: options.queue } } : {}),
    ...preflightOf(options),
  };
  return makeHandle(name, file, options.studyDir, options.signal, (emit, s) =>
    options.worker ? runSearchInThread(request, emit, s) : runSearch(request, emit, s),
  );
}

/** Reads a study file for display: trials, Pareto members, hypervolume series, baseline. */
export function readStudy(study: string, studyDir?: string): ReportData {
  return loadReportData(study, studyDir);
}
