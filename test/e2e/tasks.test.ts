// The other task families end to end, tiny: UCR regression (RMSE, minimised), event sequences (GRU), and users'
// own data (a UCR file) with their own model spec JSON.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeIdx } from '../../lib/data/idx.js';
import { createRng } from '../../lib/data/split.js';
import { search } from '../../lib/search-api.js';
import { cnn1d } from '../../lib/graph/builders.js';
import { UCR_DIR } from '../helpers/tiny.js';
import { tempDir } from './helpers/tiny.js';

const small = (dir: string) => ({
  studyDir: join(dir, 'studies'),
  cacheDir: join(dir, 'cache'),
  population: 2,
  budget: '3evals',
  seed: 2,
  finetune: { maxEpochs: 1 },
  measure: { timeCapMs: 100, repeats: 1 },
});

test('UCR regression (Tecator, InceptionTime): the metric objective is RMSE, minimised', async (t) => {
  const dir = tempDir('tecator');
  const outcome = await search({
    ...small(dir),
    task: 'tecator',
    baselineEpochs: 4,
    objectives: 'metric,size',
    stages: ['prune', 'quantize'],
  }).done;
  t.deepEqual(outcome.objectives, [
    { name: 'rmse', direction: 'min' },
    { name: 'sizeBytes', direction: 'min' },
  ]);
  t.true(outcome.front.length > 0);
  for (const f of outcome.front) t.true(f.measures['rmse']! > 0);
  t.true(outcome.baseline['rmse']! > 0);
});

test('event sequences (synthetic card transactions, GRU): accuracy, latency, size', async (t) => {
  const dir = tempDir('transactions');
  const outcome = await search({
    ...small(dir),
    task: 'transactions',
    baselineEpochs: 1,
    limits: { train: 800, val: 200, test: 300 },
  }).done;
  t.is(outcome.totalEvaluations, 3);
  t.true(outcome.front.length > 0);
  t.true(outcome.baseline['accuracy']! > 0);
});

test('your own data and model: a UCR file and a spec JSON', async (t) => {
  const dir = tempDir('custom');
  const spec = join(dir, 'fcn.json');
  writeFileSync(spec, JSON.stringify(cnn1d({ inputShape: [1, 150], classes: 2, widths: [16, 32, 16] })));
  const handle = search({
    ...small(dir),
    data: { format: 'ucr', path: join(UCR_DIR, 'GunPoint_TRAIN.ts') },
    model: spec,
    baselineEpochs: 5,
    budget: '2evals',
  });
  const outcome = await handle.done;
  t.is(outcome.totalEvaluations, 2);
  t.true(outcome.front.length > 0);
  const data = (await import('../../lib/search-api.js')).readStudy(outcome.file);
  t.regex(data.meta.problem.description, /GunPoint/);
  t.regex(data.meta.problem.modelSource, /fcn\.json/);
});

test('your own CSV (tabular classification, MLP by default)', async (t) => {
  const dir = tempDir('csv');
  const rng = createRng(5);
  const lines = ['id,x1,x2,x3,x4,label'];
  for (let i = 0; i < 600; i++) {
    const y = i % 3;
    const f = [0, 1, 2, 3].map((k) => (rng.normal() + (k === y ? 2 : 0)).toFixed(4));
    lines.push(`${i},${f.join(',')},${['a', 'b', 'c'][y]}`);
  }
  const file = join(dir, 'data.csv');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const outcome = await search({
    ...small(dir),
    data: { format: 'csv', path: file, target: 'label', kind: 'classification' },
    baselineEpochs: 5,
    budget: '2evals',
  }).done;
  t.is(outcome.totalEvaluations, 2);
  t.true(outcome.baseline['accuracy']! > 0.5);
});

test('your own IDX images (MNIST layout, small CNN by default)', async (t) => {
  const dir = tempDir('idx');
  const data = join(dir, 'images');
  mkdirSync(data);
  const rng = createRng(9);
  const write = (stem: string, n: number): void => {
    const labels = new Uint8Array(n).map((_, i) => i % 2);
    const pixels = new Uint8Array(n * 12 * 12).map((_, k) => {
      const i = Math.floor(k / 144);
      const col = k % 12;
      return Math.min(255, Math.round(rng.next() * 60 + (labels[i] === 1 && col < 6 ? 150 : 0)));
    });
    writeFileSync(
      join(data, `${stem}-images-idx3-ubyte`),
      encodeIdx({ dtype: 'uint8', shape: [n, 12, 12], data: pixels }),
    );
    writeFileSync(join(data, `${stem}-labels-idx1-ubyte`), encodeIdx({ dtype: 'uint8', shape: [n], data: labels }));
  };
  write('train', 400);
  write('t10k', 100);
  const outcome = await search({
    ...small(dir),
    data: { format: 'idx', path: data },
    baselineEpochs: 2,
    budget: '2evals',
  }).done;
  t.is(outcome.totalEvaluations, 2);
  t.true(outcome.baseline['accuracy']! > 0.8);
});
