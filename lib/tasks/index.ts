/**
 * Built-in tasks: real data plus the model family petra uses for it. The search and the CLI refer to tasks by name;
 * users bring their own data through lib/data and their own spec JSON.
 */
import { join } from 'node:path';
import { packageRoot } from '../runtime/loader.js';
import { loadFashionMnist } from '../data/idx.js';
import { loadUcr } from '../data/ucr.js';
import { loadSyntheticTransactions, transactionFeatures } from '../data/synthetic.js';
import type { LoadedDataset } from '../data/types.js';
import { ConfigError } from '../core/errors.js';
import { gruSequenceClassifier, inceptionTime, smallCnn, cnn1d, resnetCifar } from '../graph/builders.js';
import type { ModelSpec } from '../graph/types.js';
import type { TrainOptions } from '../runtime/train.js';

export interface TaskDefinition {
  name: string;
  description: string;
  load(dataDir?: string): LoadedDataset;
  model(ds: LoadedDataset): ModelSpec;
  /** Baseline training recipe. */
  training: Omit<TrainOptions, 'signal' | 'onEpoch' | 'onProgress' | 'stopper'>;
}

/**
 * Where UCR files are found when no directory is given: $PETRA_UCR_DIR, else the package's own datasets/ucr, which
 * carries the files the built-in tasks use (see its README for provenance and licence).
 */
export function defaultUcrDir(): string {
  return process.env.PETRA_UCR_DIR ?? join(packageRoot(), 'datasets', 'ucr');
}

function ucrTask(name: string, file: string, kind: 'classification' | 'regression', epochs: number): TaskDefinition {
  return {
    name,
    description: `UCR/UEA ${file} (${kind}), InceptionTime`,
    load: (dir) => loadUcr({ dir: dir ?? defaultUcrDir(), name: file, valFraction: 0.2, seed: 1 }),
    model: (ds) => {
      const [c, len] = ds.train.inputs[0]!.shape.slice(1) as [number, number];
      return ds.task.kind === 'classification'
        ? inceptionTime({ inputShape: [c, len], classes: ds.task.classes, depth: 3, filters: 16 })
        : inceptionTime({ inputShape: [c, len], targets: ds.task.targets, depth: 3, filters: 16 });
    },
    training: { epochs, batchSize: 16, optimizer: 'adam', lr: 3e-3, schedule: 'cosine' },
  };
}

export const TASKS: Record<string, TaskDefinition> = {
  'fashion-mnist': {
    name: 'fashion-mnist',
    description: 'Fashion-MNIST (Debian dataset-fashion-mnist), small CNN',
    load: (dir) => loadFashionMnist({ ...(dir ? { dir } : {}), valFraction: 0.1, seed: 1 }),
    model: () => smallCnn({ inputShape: [1, 28, 28], classes: 10 }),
    training: { epochs: 2, batchSize: 64, optimizer: 'sgd', lr: 0.05, momentum: 0.9, schedule: 'cosine' },
  },
  'fashion-mnist-resnet': {
    name: 'fashion-mnist-resnet',
    description: 'Fashion-MNIST, ResNet-8 (CIFAR-style, 1 input channel)',
    load: (dir) => loadFashionMnist({ ...(dir ? { dir } : {}), valFraction: 0.1, seed: 1 }),
    model: () => resnetCifar({ depth: 8, inputShape: [1, 28, 28], classes: 10 }),
    training: { epochs: 2, batchSize: 64, optimizer: 'sgd', lr: 0.05, momentum: 0.9, schedule: 'cosine' },
  },
  gunpoint: {
    ...ucrTask('gunpoint', 'GunPoint', 'classification', 60),
    description: 'UCR GunPoint (classification), 1D CNN',
    model: (ds) => cnn1d({ inputShape: ds.train.inputs[0]!.shape.slice(1) as [number, number], classes: 2 }),
  },
  basicmotions: ucrTask('basicmotions', 'BasicMotions', 'classification', 60),
  tecator: ucrTask('tecator', 'Tecator', 'regression', 60),
  covid3month: ucrTask('covid3month', 'Covid3Month', 'regression', 60),
  transactions: {
    name: 'transactions',
    description: 'synthetic card-transaction sequences (age group), GRU',
    load: () => loadSyntheticTransactions({ clients: 6000, seqLen: 64, seed: 1, valFraction: 0.1, testFraction: 0.2 }),
    model: () => gruSequenceClassifier({ seqLen: 64, ...transactionFeatures, hiddenSize: 64, classes: 4 }),
    training: { epochs: 8, batchSize: 64, optimizer: 'adam', lr: 2e-3, schedule: 'cosine' },
  },
};

export function getTask(name: string): TaskDefinition {
  const task = Object.hasOwn(TASKS, name) ? TASKS[name] : undefined; // 'constructor' is not a task
  if (!task) throw new ConfigError(`unknown task '${name}'; known: ${Object.keys(TASKS).join(', ')}`, 'task');
  return task;
}
