/**
 * What one candidate evaluation sends over Redis: the genome, the study's configuration (the task reference: task
 * name or data path, model, recipe settings), where the study and its baseline model live on the shared filesystem
 * (never weights), the baseline's figures the candidate is scaled against, and the front its early stopping compares
 * with. Workers treat a job as untrusted input: `parseCandidateJob` checks every field before anything runs, and a
 * job that fails the check is failed with a JobPayloadError naming the field.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { PetraError } from '../core/errors.js';
import { normalizeConfig, type SearchConfig, type SearchConfigInput } from '../pipeline/config.js';
import type { SpaceSettings } from '../pipeline/study-space.js';

export const JOB_VERSION = 1;
/** Jobs above this many bytes of JSON are refused before parsing their parts (a genome and a front are small). */
export const MAX_JOB_BYTES = 1 << 20;

/** A job that is not a well-formed candidate evaluation; `path` names the field at fault. */
export class JobPayloadError extends PetraError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`job.${path}: ${message}`, 'ERR_PETRA_CONFIG', options);
    this.path = path;
  }
}

/** The baseline's figures a candidate's paired timing is scaled by, and its validation metric. */
export interface BaselineFigures {
  readonly metric: number;
  readonly latencyMs: number;
  readonly throughput: number;
  readonly sizeBytes: number;
  readonly valMetric?: number;
}

export interface CandidateJob {
  readonly v: typeof JOB_VERSION;
  readonly study: {
    readonly name: string;
    /** Absolute path of the study's SQLite file; candidates' models are saved beside it (shared filesystem). */
    readonly file: string;
    readonly createdAt: string;
  };
  /** The study's configuration with every path made absolute. */
  readonly config: SearchConfig;
  readonly space: SpaceSettings;
  readonly baseline: BaselineFigures & {
    /** Absolute path of the baseline model file, and its SHA-256 so a worker never pairs with another file. */
    readonly modelFile: string;
    readonly sha256: string;
  };
  readonly trial: number;
  readonly generation: number;
  /** The genome as the space encodes it; the worker decodes and validates it. */
  readonly genome: unknown;
  /** Objective vectors of the front when the generation began (the candidate stopper's reference). */
  readonly front: readonly (readonly number[])[];
}

/** The result a worker returns for a job: the study's EvaluationResult, as JSON. */
export type CandidateResult =
  | {
      readonly objectives: Readonly<Record<string, number>>;
      readonly constraints?: Readonly<Record<string, number>>;
      readonly userAttrs?: Readonly<Record<string, unknown>>;
    }
  | {
      readonly status: 'failed' | 'pruned';
      readonly reason: string;
      readonly userAttrs?: Readonly<Record<string, unknown>>;
    };

/**
 * The job id: the same study, generation and genome give the same id, so a resumed coordinator that asks an
 * interrupted trial again re-attaches to the job already queued, running or finished instead of evaluating it twice.
 */
export function candidateJobId(job: Pick<CandidateJob, 'study' | 'generation'>, genomeKey: string): string {
  const study = createHash('sha256').update(`${job.study.file}\n${job.study.createdAt}`).digest('hex').slice(0, 16);
  const genome = createHash('sha256').update(genomeKey).digest('hex').slice(0, 24);
  return `${job.study.name}.${study}.g${job.generation}.${genome}`;
}

type Json = Record<string, unknown>;

function object(v: unknown, path: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new JobPayloadError(path, `must be an object, got ${kind(v)}`);
  return v as Json;
}

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function string(v: unknown, path: string, max = 4096): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    throw new JobPayloadError(path, `must be a non-empty string of at most ${max} characters`);
  if (v.includes('\0')) throw new JobPayloadError(path, 'must not contain NUL');
  return v;
}

function absolutePath(v: unknown, path: string): string {
  const s = string(v, path);
  if (!isAbsolute(s)) throw new JobPayloadError(path, `must be an absolute path, got '${s}'`);
  return s;
}

function finite(v: unknown, path: string, { positive = false } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (positive && !(v > 0))) {
    throw new JobPayloadError(path, `must be a finite${positive ? ' positive' : ''} number, got ${String(v)}`);
  }
  return v;
}

function integer(v: unknown, path: string, min: number): number {
  if (!Number.isSafeInteger(v) || (v as number) < min)
    throw new JobPayloadError(path, `must be an integer ≥ ${min}, got ${String(v)}`);
  return v as number;
}

/** Every path in the configuration the worker will open, made absolute against the coordinator's directory. */
export function absoluteConfig(config: SearchConfig, resolvePath: (p: string) => string): SearchConfig {
  return {
    ...config,
    ...(config.data ? { data: { ...config.data, path: resolvePath(config.data.path) } } : {}),
    // A model that names a spec file (as resolveProblem tells them apart), not a builder.
    ...(config.model && (config.model.endsWith('.json') || existsSync(config.model))
      ? { model: resolvePath(config.model) }
      : {}),
    ...(config.cacheDir ? { cacheDir: resolvePath(config.cacheDir) } : {}),
  };
}

/**
 * Checks a job received from Redis. Returns it typed, with the configuration re-normalized (so it holds exactly
 * what `normalizeConfig` accepts); throws JobPayloadError for anything else. The genome is checked against the
 * study's space by the worker, which builds that space.
 */
export function parseCandidateJob(data: unknown): CandidateJob {
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(data) ?? '');
  } catch (cause) {
    throw new JobPayloadError('', 'is not JSON', { cause });
  }
  if (bytes > MAX_JOB_BYTES)
    throw new JobPayloadError('', `is ${bytes} bytes; a candidate job is at most ${MAX_JOB_BYTES}`);
  const o = object(data, '');
  if (o['v'] !== JOB_VERSION)
    throw new JobPayloadError(
      'v',
      `this worker reads job version ${JOB_VERSION}, got ${String(o['v'])}; run the same petra version on the coordinator and the workers`,
    );

  const s = object(o['study'], 'study');
  const study = {
    name: string(s['name'], 'study.name', 100),
    file: absolutePath(s['file'], 'study.file'),
    createdAt: string(s['createdAt'], 'study.createdAt', 64),
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(study.name))
    throw new JobPayloadError('study.name', `'${study.name}' is not a study name`);
  if (!study.file.endsWith('.sqlite')) throw new JobPayloadError('study.file', 'must be a .sqlite study file');

  let config: SearchConfig;
  try {
    config = normalizeConfig(object(o['config'], 'config') as SearchConfigInput);
  } catch (cause) {
    if (cause instanceof JobPayloadError) throw cause;
    throw new JobPayloadError('config', cause instanceof Error ? cause.message : String(cause), { cause });
  }
  if (config.data && !isAbsolute(config.data.path))
    throw new JobPayloadError('config.data.path', 'must be an absolute path');
  if (config.cacheDir && !isAbsolute(config.cacheDir))
    throw new JobPayloadError('config.cacheDir', 'must be an absolute path');

  const sp = object(o['space'], 'space');
  if (!Array.isArray(sp['backends']) || sp['backends'].length > 8)
    throw new JobPayloadError('space.backends', 'must be a list of quantized engines');
  const space: SpaceSettings = { backends: sp['backends'].map((b, i) => string(b, `space.backends[${i}]`, 32)) };

  const b = object(o['baseline'], 'baseline');
  const sha256 = string(b['sha256'], 'baseline.sha256', 64);
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new JobPayloadError('baseline.sha256', 'must be 64 hex digits');
  const baseline = {
    modelFile: absolutePath(b['modelFile'], 'baseline.modelFile'),
    sha256,
    metric: finite(b['metric'], 'baseline.metric'),
    latencyMs: finite(b['latencyMs'], 'baseline.latencyMs', { positive: true }),
    throughput: finite(b['throughput'], 'baseline.throughput', { positive: true }),
    sizeBytes: finite(b['sizeBytes'], 'baseline.sizeBytes', { positive: true }),
    ...(b['valMetric'] !== undefined ? { valMetric: finite(b['valMetric'], 'baseline.valMetric') } : {}),
  };

  const trial = integer(o['trial'], 'trial', 0);
  const generation = integer(o['generation'], 'generation', 0);
  if (o['genome'] === undefined) throw new JobPayloadError('genome', 'is missing');
  const f = o['front'];
  if (!Array.isArray(f) || f.length > 100_000)
    throw new JobPayloadError('front', 'must be a list of objective vectors');
  const front = f.map((row, i) => {
    if (!Array.isArray(row) || row.length !== config.objectives.length) {
      throw new JobPayloadError(`front[${i}]`, `must hold ${config.objectives.length} objective values`);
    }
    return row.map((v, j) => finite(v, `front[${i}][${j}]`));
  });
  return { v: JOB_VERSION, study, config, space, baseline, trial, generation, genome: o['genome'], front };
}
