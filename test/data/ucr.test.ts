import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from '../../lib/core/errors.js';
import { loadUcr, parseTs } from '../../lib/data/ucr.js';
import type { TensorData } from '../../lib/data/types.js';
import { defaultUcrDir } from '../../lib/tasks/index.js';
import { UCR_DIR } from '../helpers/tiny.js';

const sum = (a: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
};

const UCR = UCR_DIR;

const expected = [
  { name: 'GunPoint', train: 50, test: 150, c: 1, t: 150, classes: 2 },
  { name: 'ItalyPowerDemand', train: 67, test: 1029, c: 1, t: 24, classes: 2 },
  { name: 'BasicMotions', train: 40, test: 40, c: 6, t: 100, classes: 4 },
  { name: 'Tecator', train: 172, test: 43, c: 1, t: 100, classes: 0 },
  { name: 'Covid3Month', train: 140, test: 61, c: 1, t: 84, classes: 0 },
];

test('all carried UCR datasets parse with the right N, C, T and classes', (t) => {
  for (const e of expected) {
    const ds = loadUcr({ dir: UCR, name: e.name });
    t.deepEqual(ds.train.inputs[0]!.shape, [e.train, e.c, e.t], e.name);
    t.deepEqual(ds.test.inputs[0]!.shape, [e.test, e.c, e.t], e.name);
    if (e.classes) {
      t.deepEqual(ds.task.kind === 'classification' && ds.task.classes, e.classes);
      t.deepEqual(ds.train.target.shape, [e.train]);
      const seen = new Set(ds.train.target.data);
      t.is(seen.size, e.classes, e.name);
    } else {
      t.deepEqual(ds.task, { kind: 'regression', targets: 1 });
      t.deepEqual(ds.test.target.shape, [e.test, 1]);
      t.true(ds.test.target.data instanceof Float32Array);
    }
    for (const v of ds.train.inputs[0]!.data) if (!Number.isFinite(v)) t.fail(`${e.name}: non-finite value`);
  }
});

test('class labels follow @classLabel order; global normalization uses train stats', (t) => {
  const ds = loadUcr({ dir: UCR, name: 'BasicMotions' });
  t.deepEqual(ds.task.kind === 'classification' && ds.task.labels, ['Standing', 'Running', 'Walking', 'Badminton']);
  const x = ds.train.inputs[0]!;
  const [n, c, T] = x.shape as [number, number, number];
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let i = 0; i < n; i++) for (let k = 0; k < T; k++) s += x.data[(i * c + ch) * T + k]!;
    t.true(Math.abs(s / (n * T)) < 1e-3);
  }
  const ps = loadUcr({ dir: UCR, name: 'GunPoint', normalize: 'per-series', valFraction: 0.2, seed: 1 });
  t.is(ps.train.target.shape[0]! + ps.val!.target.shape[0]!, 50);
  const row = ps.val!.inputs[0]!.data.subarray(0, 150);
  t.true(Math.abs(sum(row) / 150) < 1e-4);
  const reg = loadUcr({ dir: UCR, name: 'Tecator', normalize: 'none', standardizeTargets: true });
  const meta = reg.meta as { targetMean: number[]; targetStd: number[] };
  t.is(meta.targetMean.length, 1);
  t.true(meta.targetStd[0]! > 0);
  const raw = loadUcr({ dir: UCR, name: 'Tecator', normalize: 'none' });
  const y0 = raw.test.target.data[0]!;
  t.true(Math.abs(reg.test.target.data[0]! * meta.targetStd[0]! + meta.targetMean[0]! - y0) < 1e-3);
});

test('the package carries its UCR files: the default directory is inside it and every file matches SHA256SUMS', (t) => {
  const saved = process.env.PETRA_UCR_DIR;
  delete process.env.PETRA_UCR_DIR;
  try {
    t.is(defaultUcrDir().replace(/\/?$/, '/'), UCR_DIR);
  } finally {
    if (saved !== undefined) process.env.PETRA_UCR_DIR = saved;
  }
  const sums = readFileSync(join(UCR, 'SHA256SUMS'), 'utf8').trim().split('\n');
  t.is(sums.length, 10);
  for (const line of sums) {
    const [sum, file] = line.split(/\s+/) as [string, string];
    t.is(
      createHash('sha256')
        .update(readFileSync(join(UCR, file)))
        .digest('hex'),
      sum,
      file,
    );
  }
});

const head = (extra = '') =>
  `# comment\n@problemName Toy\n@timeStamps false\n@missing true\n@univariate false\n@dimensions 2\n${extra}@classLabel true a b c\n@data\n`;

test('missing values are imputed by linear interpolation', (t) => {
  const p = parseTs(head() + '1,?,3,?:?,2,?,?:b\n?,?,5,6:1,1,1,1:c\n', 'toy.ts');
  t.is(p.missingCount, 7);
  t.deepEqual(p.x.shape, [2, 2, 4]);
  t.deepEqual([...p.x.data], [1, 2, 3, 3, 2, 2, 2, 2, 5, 5, 5, 6, 1, 1, 1, 1]);
  t.deepEqual([...p.y.data], [1, 2]);
  const z = parseTs(head() + '1,?,3:?,2,2:a\n', 'toy.ts', { impute: 'zero' });
  t.deepEqual([...z.x.data], [1, 0, 3, 0, 2, 2]);
});

test('unequal lengths: error by default, pad with a mask on request', (t) => {
  const text = head() + '1,2,3:4,5,6:a\n7,8:9,10:b\n';
  t.throws(() => parseTs(text, 'toy.ts'), { instanceOf: DataError, message: /unequal.*pad/ });
  const p = parseTs(text, 'toy.ts', { unequal: 'pad' });
  t.deepEqual(p.x.shape, [2, 2, 3]);
  t.deepEqual([...p.x.data], [1, 2, 3, 4, 5, 6, 7, 8, 0, 9, 10, 0]);
  t.deepEqual([...(p.mask as TensorData).data], [1, 1, 1, 1, 1, 0]);

  const dir = mkdtempSync(join(tmpdir(), 'petra-ucr-'));
  writeFileSync(join(dir, 'Toy_TRAIN.ts'), head() + '1,2,3:4,5,6:a\n7,8:9,10:b\n1,2,3:4,5,6:a\n7,8,9:9,10,11:c\n');
  writeFileSync(join(dir, 'Toy_TEST.ts'), head() + '1,2,3,4:4,5,6,7:c\n');
  t.throws(() => loadUcr({ dir, name: 'Toy' }), { instanceOf: DataError });
  const ds = loadUcr({ dir, name: 'Toy', unequal: 'pad' });
  t.deepEqual(ds.train.inputs[0]!.shape, [4, 2, 4]);
  const masks = (ds.meta as { masks: { train: TensorData; test: TensorData } }).masks;
  t.deepEqual([...masks.train.data], [1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0]);
  t.deepEqual([...masks.test.data], [1, 1, 1, 1]);
  t.is(ds.train.inputs[0]!.data[3], 0); // padding stays 0 after normalization
});

test('malformed .ts content is a DataError with file and line', (t) => {
  t.throws(() => parseTs(head() + '1,2:3,4:z\n', 'f.ts'), { instanceOf: DataError, message: /f\.ts:9.*'z'/ });
  t.throws(() => parseTs(head() + '1,x:3,4:a\n', 'f.ts'), { instanceOf: DataError, message: /f\.ts:9/ });
  t.throws(() => parseTs(head() + '1,2:a\n', 'f.ts'), { instanceOf: DataError, message: /dimensions 2/ });
  t.throws(() => parseTs(head() + '1,2:3:a\n', 'f.ts'), { instanceOf: DataError, message: /different lengths/ });
  t.throws(() => parseTs('@problemName x\n1,2:a\n', 'f.ts'), { instanceOf: DataError });
  t.throws(() => parseTs('@problemName x\n@data\n1,2:a\n', 'f.ts'), {
    instanceOf: DataError,
    message: /classLabel|targetLabel/,
  });
  t.throws(() => loadUcr({ dir: '/nonexistent', name: 'X' }), {
    instanceOf: DataError,
    message: /X_TRAIN\.ts.*ENOENT.*datasets\/ucr.*NAME_TEST\.ts/,
  });
  const r = parseTs('@targetLabel true\n@data\n1,2,3:0.5\n4,5,6:-1.5\n', 'r.ts');
  t.deepEqual([...r.y.data], [0.5, -1.5]);
  t.deepEqual(r.y.shape, [2, 1]);
});
