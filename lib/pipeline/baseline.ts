/**
 * The baseline — the task's model trained by its recipe — is trained once and cached: keyed by task, data, model
 * spec, recipe and seed, stored as a saved model file plus its metrics JSON. A cache entry is written to a temporary
 * directory and renamed into place, so a killed run never leaves half an entry behind.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { NativeMetrics, NativeProgress } from '../runtime/binding.js';
import { NumericError } from '../core/errors.js';
import { canonicalJson } from '../genome/index.js';
import { buildWithWeights } from '../interop/torchscript-import.js';
import { Model } from '../runtime/model.js';
import { evaluate, train, type EpochRecord } from '../runtime/train.js';
import type { Problem } from './problem.js';

export interface BaselineRecord {
  readonly key: string;
  readonly task: string;
  readonly modelSource: string;
  readonly specName?: string;
  readonly recipe: Problem['recipe'];
  readonly seed: number;
  readonly dataKey: Problem['dataKey'];
  readonly trainedAt: string;
  readonly trainSeconds: number;
  readonly history: readonly Pick<EpochRecord, 'epoch' | 'trainLoss' | 'valMetric' | 'seconds'>[];
  readonly test: NativeMetrics;
  readonly parameters: number;
}

export interface Baseline {
  readonly model: Model;
  readonly record: BaselineRecord;
  readonly cached: boolean;
  /** The cache entry's directory (model.pt and baseline.json). */
  readonly dir: string;
}

export interface BaselineOptions {
  readonly seed: number;
  readonly device: string;
  /** Default petra-out/cache (relative to the working directory) or $PETRA_CACHE. */
  readonly cacheDir?: string;
  readonly signal?: AbortSignal;
  readonly onEpoch?: (e: EpochRecord, epochs: number) => void;
  readonly onProgress?: (p: NativeProgress & { epoch: number }) => void;
}

export function defaultCacheDir(): string {
  return resolve(process.env.PETRA_CACHE ?? join('petra-out', 'cache'));
}

export function baselineKey(problem: Problem, seed: number): string {
  const identity = canonicalJson({
    task: problem.task,
    data: problem.dataKey,
    spec: problem.spec,
    recipe: problem.recipe,
    seed,
    v: 1,
  });
  return createHash('sha256').update(identity).digest('hex').slice(0, 16);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes temporary entries left by killed runs. */
function sweep(root: string): void {
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    const m = /\.tmp-(\d+)-/.exec(name);
    if (m && !isAlive(Number(m[1]))) rmSync(join(root, name), { recursive: true, force: true });
  }
}

/** Loads the cached baseline for this problem and seed, or trains, evaluates and caches it. */
export async function obtainBaseline(problem: Problem, options: BaselineOptions): Promise<Baseline> {
  const key = baselineKey(problem, options.seed);
  const root = join(options.cacheDir ? resolve(options.cacheDir) : defaultCacheDir(), 'baselines');
  const dir = join(root, `${problem.task}-${key}`);
  const modelFile = join(dir, 'model.pt');
  const recordFile = join(dir, 'baseline.json');
  if (existsSync(recordFile) && existsSync(modelFile)) {
    const record = JSON.parse(readFileSync(recordFile, 'utf8')) as BaselineRecord;
    if (record.key === key) {
      const model = await Model.load(modelFile, { device: options.device });
      return { model, record, cached: true, dir };
    }
  }
  mkdirSync(root, { recursive: true });
  sweep(root);
  const model = problem.pretrained
    ? buildWithWeights(problem.spec, problem.pretrained.weights, { device: options.device })
    : Model.build(problem.spec, { device: options.device, seed: options.seed });
  try {
    const epochs = problem.recipe.epochs;
    // An imported model with no further epochs asked for is the baseline as it is.
    const result =
      epochs === 0
        ? { history: [] as EpochRecord[], seconds: 0 }
        : await train(
            model,
            { train: problem.dataset.train, ...(problem.dataset.val ? { val: problem.dataset.val } : {}) },
            {
              ...problem.recipe,
              seed: options.seed,
              progressIntervalMs: 250,
              ...(options.signal ? { signal: options.signal } : {}),
              ...(options.onEpoch ? { onEpoch: (e: EpochRecord) => options.onEpoch!(e, epochs) } : {}),
              ...(options.onProgress ? { onProgress: options.onProgress } : {}),
            },
          );
    const last = result.history.at(-1);
    if (last && !Number.isFinite(last.trainLoss))
      throw new NumericError(`the baseline's training loss is ${last.trainLoss}`);
    const test = await evaluate(model, problem.dataset.test);
    const record: BaselineRecord = {
      key,
      task: problem.task,
      modelSource: problem.modelSource,
      ...(problem.spec.name ? { specName: problem.spec.name } : {}),
      recipe: problem.recipe,
      seed: options.seed,
      dataKey: problem.dataKey,
      trainedAt: new Date().toISOString(),
      trainSeconds: result.seconds,
      history: result.history.map((h) => ({
        epoch: h.epoch,
        trainLoss: h.trainLoss,
        ...(h.valMetric !== undefined ? { valMetric: h.valMetric } : {}),
        seconds: h.seconds,
      })),
      test,
      parameters: model.parameterCount,
    };
    const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    mkdirSync(tmp, { recursive: true });
    try {
      await model.save(join(tmp, 'model.pt'));
      writeFileSync(join(tmp, 'baseline.json'), `${JSON.stringify(record, null, 2)}\n`);
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return { model, record, cached: false, dir };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
