/**
 * From a search configuration to the problem itself: the data (a built-in task's, or the user's IDX / UCR / CSV
 * files), the model spec (the task's, a builder by name, or the user's spec JSON) and the baseline training recipe.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { loadCsv } from '../data/csv.js';
import { loadIdxDataset } from '../data/idx.js';
import { shuffleIndices, takeRows, trainValSplit } from '../data/split.js';
import type { LoadedDataset, TabularSplit, TensorData } from '../data/types.js';
import { loadUcr } from '../data/ucr.js';
import { ConfigError, DataError } from '../core/errors.js';
import { isTorchScriptFile, torchScriptToSpec } from '../interop/torchscript-import.js';
import { cnn1d, inceptionTime, mlp, resnetCifar, smallCnn, type ResnetCifarDepth } from '../graph/builders.js';
import type { ModelSpec } from '../graph/types.js';
import { validateSpec } from '../graph/validate.js';
import { getTask, TASKS, type TaskDefinition } from '../tasks/index.js';
import type { DataLimits, SearchConfig, UserData } from './config.js';
import { defaultMetric, type QualityMetric } from './objectives.js';

export type Recipe = TaskDefinition['training'];

export interface Problem {
  /** Task name (built-in) or 'custom'. */
  readonly task: string;
  readonly description: string;
  /** The loaded data with its selection split: the loader's validation rows or rows carved from train. */
  readonly dataset: LoadedDataset & { readonly val: TabularSplit };
  readonly spec: ModelSpec;
  /** How `model` was given (for the cache key and the report). */
  readonly modelSource: string;
  readonly recipe: Recipe;
  readonly metric: QualityMetric;
  /** Identifies the data for the baseline cache (source and subsets). */
  readonly dataKey: Readonly<Record<string, unknown>>;
  /**
   * Weights the baseline starts from instead of a seeded initialization: those of a TorchScript module given as the
   * model (`buildWithWeights(spec, weights)` in lib/interop/torchscript-import.ts). The spec's name carries the
   * file's hash, so the baseline cache tells different weights apart.
   */
  readonly pretrained?: { readonly file: string; readonly weights: Readonly<Record<string, TensorData>> };
}

/** Validation rows a carved selection split aims for (the report notes a smaller one: its quality steps are coarse). */
export const MIN_SELECTION_ROWS = 30;

export const MODEL_BUILDERS = [
  'small-cnn',
  'resnet8',
  'resnet14',
  'resnet20',
  'resnet32',
  'inception-time',
  'cnn1d',
  'mlp',
] as const;

/** The first `limit` rows of a seeded shuffle (the same rows for the same seed). */
export function subset(split: TabularSplit, limit: number | undefined, seed: number): TabularSplit {
  const n = split.target.shape[0] ?? 0;
  if (limit === undefined || limit >= n) return split;
  return takeRows(split, shuffleIndices(n, seed).subarray(0, limit));
}

function applyLimits(ds: LoadedDataset, limits: DataLimits, seed: number): LoadedDataset {
  const out: LoadedDataset = {
    ...ds,
    train: subset(ds.train, limits.train, seed),
    test: subset(ds.test, limits.test, seed + 1),
  };
  if (ds.val) out.val = subset(ds.val, limits.val, seed + 2);
  return out;
}

function mustExist(path: string, what: string): void {
  if (!existsSync(path)) throw new ConfigError(`${what} '${path}' does not exist`, 'data');
}

function loadUserData(d: UserData, seed: number): { dataset: LoadedDataset; description: string } {
  const path = resolve(d.path);
  mustExist(path, 'data path');
  switch (d.format) {
    case 'idx': {
      if (!statSync(path).isDirectory())
        throw new ConfigError(
          `IDX data is a directory with train-images-idx3-ubyte[.gz] etc.; '${d.path}' is a file`,
          'data',
        );
      const file = (stem: string): string => {
        for (const candidate of [`${stem}.gz`, stem])
          if (existsSync(join(path, candidate))) return join(path, candidate);
        throw new ConfigError(`'${d.path}' has no ${stem}[.gz] (IDX data needs the MNIST file layout)`, 'data');
      };
      const dataset = loadIdxDataset({
        name: basename(path),
        train: { imagesPath: file('train-images-idx3-ubyte'), labelsPath: file('train-labels-idx1-ubyte') },
        test: { imagesPath: file('t10k-images-idx3-ubyte'), labelsPath: file('t10k-labels-idx1-ubyte') },
        valFraction: 0.1,
        seed,
      });
      return { dataset, description: `IDX images from ${d.path}` };
    }
    case 'ucr': {
      let dir = path;
      let name = d.name;
      if (statSync(path).isFile()) {
        dir = dirname(path);
        name ??= basename(path).replace(/_(TRAIN|TEST)\.ts$/i, '');
      } else if (!name) {
        const trains = readdirSync(path).filter((f) => f.endsWith('_TRAIN.ts'));
        if (trains.length !== 1)
          throw new ConfigError(
            `'${d.path}' holds ${trains.length} *_TRAIN.ts files; name one (--data ${join(d.path, trains[0] ?? 'Name_TRAIN.ts')})`,
            'data',
          );
        name = trains[0]!.replace(/_TRAIN\.ts$/, '');
      }
      mustExist(join(dir, `${name}_TRAIN.ts`), 'UCR train file');
      mustExist(join(dir, `${name}_TEST.ts`), 'UCR test file');
      const dataset = loadUcr({ dir, name, valFraction: 0.2, seed });
      return { dataset, description: `UCR/UEA ${name} (${dataset.task.kind}) from ${dir}` };
    }
    case 'csv': {
      const dataset = loadCsv({
        path,
        target: d.target,
        task: d.kind,
        testFraction: d.testFraction ?? 0.2,
        valFraction: 0.1,
        seed,
      });
      return { dataset, description: `CSV ${d.path} (${d.kind}, target ${d.target})` };
    }
  }
}

function sampleShape(ds: LoadedDataset): number[] {
  return ds.train.inputs[0]!.shape.slice(1);
}

function head(ds: LoadedDataset): { classes: number } | { targets: number } {
  return ds.task.kind === 'classification' ? { classes: ds.task.classes } : { targets: ds.task.targets };
}

/** A model spec by builder name, sized to the data. */
export function builtinModel(name: string, ds: LoadedDataset): ModelSpec {
  const shape = sampleShape(ds);
  const needs = (rank: number, what: string): void => {
    if (shape.length !== rank || ds.train.inputs.length !== 1) {
      throw new ConfigError(
        `model '${name}' needs ${what} inputs; this data has [${shape.join(', ')}] (${ds.train.inputs.length} input(s))`,
        'model',
      );
    }
  };
  const r = /^resnet(\d+)$/.exec(name);
  if (r) {
    needs(3, 'image [C, H, W]');
    if (ds.task.kind !== 'classification')
      throw new ConfigError(`model '${name}' is a classifier; this data is ${ds.task.kind}`, 'model');
    return resnetCifar({
      depth: Number(r[1]) as ResnetCifarDepth,
      inputShape: shape as [number, number, number],
      classes: ds.task.classes,
    });
  }
  switch (name) {
    case 'small-cnn':
      needs(3, 'image [C, H, W]');
      if (ds.task.kind !== 'classification')
        throw new ConfigError(`model '${name}' is a classifier; this data is ${ds.task.kind}`, 'model');
      return smallCnn({ inputShape: shape as [number, number, number], classes: ds.task.classes });
    case 'inception-time':
      needs(2, 'series [C, T]');
      return inceptionTime({ inputShape: shape as [number, number], ...head(ds), depth: 3, filters: 16 });
    case 'cnn1d':
      needs(2, 'series [C, T]');
      return cnn1d({ inputShape: shape as [number, number], ...head(ds) });
    case 'mlp':
      return mlp({ inputShape: shape, hidden: [128, 64], ...head(ds) });
    default:
      throw new ConfigError(
        `unknown model '${name}'; give a spec JSON file or one of ${MODEL_BUILDERS.join(', ')}`,
        'model',
      );
  }
}

function loadSpecFile(path: string, ds: LoadedDataset): ModelSpec {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(
      `could not read the model spec ${path}: ${error instanceof Error ? error.message : String(error)}`,
      'model',
    );
  }
  const spec = validateSpec(json);
  if (spec.inputs.length !== ds.train.inputs.length) {
    throw new ConfigError(`the spec has ${spec.inputs.length} input(s), the data ${ds.train.inputs.length}`, 'model');
  }
  spec.inputs.forEach((inp, i) => {
    const data = ds.train.inputs[i]!.shape.slice(1);
    if (inp.shape.join('x') !== data.join('x'))
      throw new ConfigError(
        `spec input '${inp.name}' is [${inp.shape.join(', ')}], the data [${data.join(', ')}]`,
        `model.inputs[${i}]`,
      );
  });
  if (spec.task.kind !== ds.task.kind)
    throw new ConfigError(`the spec is for ${spec.task.kind}, the data is ${ds.task.kind}`, 'model.task');
  return spec;
}

/** A TorchScript module as the model: imported with the data's input shapes, dtypes and task. */
function importTorchScriptModel(
  path: string,
  ds: LoadedDataset,
): { spec: ModelSpec; weights: Record<string, TensorData> } {
  const { spec, weights } = torchScriptToSpec(path, {
    inputShape: ds.train.inputs.map((t) => t.shape.slice(1)),
    inputDtype: ds.train.inputs.map((t) => (t.data instanceof Int32Array ? 'int64' : 'float32')),
    task:
      ds.task.kind === 'classification'
        ? { kind: 'classification', classes: ds.task.classes }
        : { kind: 'regression', targets: ds.task.targets },
  });
  return { spec, weights };
}

function defaultRecipe(spec: ModelSpec): Recipe {
  const ops = new Set(spec.nodes.map((n) => n.op));
  if (ops.has('conv2d'))
    return { epochs: 5, batchSize: 64, optimizer: 'sgd', lr: 0.05, momentum: 0.9, schedule: 'cosine' };
  if (ops.has('conv1d') || ops.has('gru'))
    return { epochs: 40, batchSize: 16, optimizer: 'adam', lr: 3e-3, schedule: 'cosine' };
  return { epochs: 20, batchSize: 64, optimizer: 'adam', lr: 1e-3, schedule: 'cosine' };
}

/** Loads the data and resolves the model and recipe; throws ConfigError / DataError with the path at fault. */
export function resolveProblem(config: SearchConfig): Problem {
  let dataset: LoadedDataset;
  let description: string;
  let task: TaskDefinition | undefined;
  if (config.task === 'custom') {
    if (!config.data) throw new ConfigError(`task 'custom' needs data (--data <path>)`, 'data');
    ({ dataset, description } = loadUserData(config.data, config.seed));
  } else {
    task = getTask(config.task);
    const dir = config.data?.path;
    if (dir) mustExist(resolve(dir), 'data directory');
    try {
      dataset = task.load(dir ? resolve(dir) : undefined);
    } catch (error) {
      if (error instanceof DataError && /ENOENT|no such file/i.test(error.message)) {
        throw new DataError(
          `${task.name}: ${error.message} (install its data, e.g. \`sh scripts/setup-debian.sh\`, or point --data at it)`,
          { cause: error },
        );
      }
      throw error;
    }
    description = task.description;
  }
  dataset = applyLimits(dataset, config.limits, config.seed);
  let spec: ModelSpec;
  let modelSource: string;
  let pretrained: Problem['pretrained'];
  if (
    config.model &&
    !config.model.endsWith('.json') &&
    existsSync(config.model) &&
    isTorchScriptFile(resolve(config.model))
  ) {
    const imported = importTorchScriptModel(resolve(config.model), dataset);
    spec = imported.spec;
    pretrained = { file: resolve(config.model), weights: imported.weights };
    modelSource = `TorchScript ${config.model}`;
  } else if (config.model && (config.model.endsWith('.json') || existsSync(config.model))) {
    mustExist(resolve(config.model), 'model spec');
    spec = loadSpecFile(resolve(config.model), dataset);
    modelSource = `spec ${config.model}`;
  } else if (config.model) {
    spec = builtinModel(config.model, dataset);
    modelSource = config.model;
  } else if (task) {
    spec = task.model(dataset);
    modelSource = `${task.name} default`;
  } else {
    const rank = sampleShape(dataset).length;
    const name =
      rank === 3 && dataset.task.kind === 'classification' ? 'small-cnn' : rank === 2 ? 'inception-time' : 'mlp';
    spec = builtinModel(name, dataset);
    modelSource = name;
  }
  const recipe: Recipe = { ...(task ? task.training : defaultRecipe(spec)) };
  if (config.baselineEpochs !== undefined) recipe.epochs = config.baselineEpochs;
  // An imported model is the baseline as its user trained it, unless asked to train it further.
  else if (pretrained) recipe.epochs = 0;
  const metric = config.metric ?? defaultMetric(dataset.task.kind);
  if ((metric === 'accuracy' || metric === 'macroF1') !== (dataset.task.kind === 'classification')) {
    throw new ConfigError(`metric '${metric}' does not fit a ${dataset.task.kind} task`, 'metric');
  }
  let val = dataset.val;
  if (!val) {
    // The search selects on validation rows carved from the training data (stratified by class), never on the test
    // split: 10% of the rows, at least MIN_SELECTION_ROWS where that leaves two thirds for training.
    const n = dataset.train.target.shape[0]!;
    const fraction = Math.min(1 / 3, Math.max(0.1, MIN_SELECTION_ROWS / n));
    const carved = trainValSplit(dataset.train, fraction, config.seed + 3);
    if (carved.val.target.shape[0] === 0)
      throw new DataError(`${n} training rows leave no validation rows to select on`);
    dataset = { ...dataset, train: carved.train };
    val = carved.val;
  }
  const dataKey = {
    task: config.task,
    data: config.data ?? null,
    limits: config.limits,
    rows: { train: dataset.train.target.shape[0], test: dataset.test.target.shape[0] },
  };
  return {
    task: config.task,
    description,
    dataset: { ...dataset, val },
    spec,
    modelSource,
    recipe,
    metric,
    dataKey,
    ...(pretrained ? { pretrained } : {}),
  };
}

export function knownTasks(): string[] {
  return Object.keys(TASKS);
}
