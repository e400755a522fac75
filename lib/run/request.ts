/**
 * What a search is asked to do — start a study or resume one, in this process or through a candidate queue — and
 * what is checked before anything is loaded or written: the configuration, a free study name, writable directories
 * with room to spare.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { defaultCacheDir } from '../pipeline/baseline.js';
import { normalizeConfig, type Budget, type SearchConfig, type SearchConfigInput } from '../pipeline/config.js';
import { assertNotLocked, checkOutputDir, minFreeBytesFromEnv, StudyFile, studyPath } from '../pipeline/study-file.js';

/** Where candidates are evaluated when not in this process: a BullMQ queue on Redis that `petra worker`s serve. */
export interface QueueRunOptions {
  readonly url: string;
  /** How often awaited jobs and the connection are checked (default 1000 ms). */
  readonly watchdogMs?: number;
}

/** Checks made before a search starts (see checkOutputDir). */
export interface PreflightOptions {
  /** Other directories the caller will write to (e.g. the HTML report's), proved writable up front too. */
  readonly outputDirs?: readonly string[];
  /** Free space each output directory's file system must have (default PETRA_MIN_FREE_MB or 64 MiB; 0: no check). */
  readonly minFreeBytes?: number;
}

export type SearchRequest = PreflightOptions &
  (
    | {
        readonly kind: 'new';
        readonly config: SearchConfigInput;
        readonly studyDir?: string;
        readonly queue?: QueueRunOptions;
      }
    | {
        readonly kind: 'resume';
        readonly study: string;
        readonly studyDir?: string;
        readonly budget?: Budget;
        readonly queue?: QueueRunOptions;
      }
  );

/** The configuration and study file a request names, and the study file itself when it resumes one. */
export interface ResolvedRequest {
  readonly config: SearchConfig;
  readonly file: string;
  readonly existing?: StudyFile;
}

export function studyExists(file: string, name: string): ConfigError {
  return new ConfigError(
    `a study named '${name}' already exists (${file}); resume it with \`petra resume ${name}\` or choose another --name`,
    'name',
  );
}

/** Normalizes a new study's configuration (its name must be free) or opens the study to resume, with a new budget if given. */
export function resolveRequest(request: SearchRequest): ResolvedRequest {
  if (request.kind === 'new') {
    const config = normalizeConfig(request.config);
    const file = studyPath(config.name, request.studyDir);
    if (existsSync(file)) {
      assertNotLocked(file, config.name); // running: say so rather than "resume it"
      throw studyExists(file, config.name);
    }
    return { config, file };
  }
  const existing = StudyFile.open(request.study, request.studyDir);
  const stored = existing.meta.config;
  return {
    config: request.budget ? { ...stored, budget: { ...request.budget } } : stored,
    file: existing.file,
    existing,
  };
}

/** Read-only or full disks fail here, with the directory and the numbers, not after the baseline has trained. */
export function preflight(request: PreflightOptions, config: SearchConfig, file: string): void {
  const minFree = request.minFreeBytes ?? minFreeBytesFromEnv();
  checkOutputDir(dirname(file), 'study', minFree);
  checkOutputDir(config.cacheDir ? resolve(config.cacheDir) : defaultCacheDir(), 'baseline cache', minFree);
  for (const dir of request.outputDirs ?? []) checkOutputDir(dir, 'output', minFree);
}
