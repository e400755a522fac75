import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from '../../lib/core/errors.js';
import { loadCsv, parseCsv } from '../../lib/data/csv.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-csv-'));

test('parseCsv handles quotes, embedded delimiters, doubled quotes, newlines and CRLF', (t) => {
  const r = parseCsv('a,b,c\r\n"x, y","say ""hi""",3\n\n"multi\nline", ,"" \n');
  t.deepEqual(
    r.map((x) => x.fields),
    [
      ['a', 'b', 'c'],
      ['x, y', 'say "hi"', '3'],
      ['multi\nline', ' ', ''],
    ],
  );
  t.deepEqual(
    r.map((x) => x.line),
    [1, 2, 4],
  );
  t.deepEqual(
    parseCsv('a;b\n1;2', ';').map((x) => x.fields),
    [
      ['a', 'b'],
      ['1', '2'],
    ],
  );
  t.throws(() => parseCsv('a,b\n"open,2\n', ',', 'f.csv'), {
    instanceOf: DataError,
    message: /f\.csv:2.*unterminated/,
  });
  t.throws(() => parseCsv('a,b\n1,x"y"\n', ',', 'f.csv'), { instanceOf: DataError, message: /f\.csv:2/ });
});

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

test('loadCsv: classification with string labels, quoted fields, stratified splits, normalization', (t) => {
  const lines = ['"id","f 1","f,2",species'];
  for (let i = 0; i < 60; i++)
    lines.push(`${i},${i % 3},"${(i * 0.5).toFixed(1)}",${['setosa', 'virginica', '"versi, color"'][i % 3]}`);
  const p = write('iris.csv', lines.join('\n') + '\n');
  const ds = loadCsv({
    path: p,
    target: 'species',
    task: 'classification',
    testFraction: 0.2,
    valFraction: 0.25,
    seed: 1,
    ignore: ['id'],
  });
  t.deepEqual(ds.task, { kind: 'classification', classes: 3, labels: ['setosa', 'versi, color', 'virginica'] });
  t.deepEqual(ds.train.inputs[0]!.shape, [36, 2]);
  t.deepEqual(ds.val!.target.shape, [12]);
  t.deepEqual(ds.test.target.shape, [12]);
  t.deepEqual((ds.meta as { features: string[] }).features, ['f 1', 'f,2']);
  for (const s of [ds.train, ds.val!, ds.test]) {
    const h = [0, 0, 0];
    for (const v of s.target.data) h[v]!++;
    t.is(new Set(h).size, 1); // balanced in every split
  }
  // label and feature stay aligned: feature 'f 1' is (i % 3), label index of setosa=0, virginica=2, versi=1
  const m = ds.meta as { normalization: { mean: number[]; std: number[] } };
  const x = ds.test.inputs[0]!.data;
  ds.test.target.data.forEach((y, i) => {
    const f1 = Math.round(x[2 * i]! * m.normalization.std[0]! + m.normalization.mean[0]!);
    t.is([0, 2, 1][f1], y);
  });
  const again = loadCsv({
    path: p,
    target: 'species',
    task: 'classification',
    testFraction: 0.2,
    valFraction: 0.25,
    seed: 1,
    ignore: ['id'],
  });
  t.deepEqual(again.test.inputs[0]!.data, ds.test.inputs[0]!.data);
});

test('loadCsv: regression, missing values imputed, no header, custom delimiter', (t) => {
  const p = write('reg.tsv', '1\t2\t3.5\n2\t\t4.5\n3\tNA\t5.5\n4\t8\t6.5\n5\t10\t7.5\n');
  const ds = loadCsv({
    path: p,
    target: '2',
    task: 'regression',
    header: false,
    delimiter: '\t',
    testFraction: 0.4,
    seed: 2,
    normalize: false,
  });
  t.deepEqual(ds.task, { kind: 'regression', targets: 1 });
  t.deepEqual(ds.train.target.shape, [3, 1]);
  for (const s of [ds.train, ds.test]) for (const v of s.inputs[0]!.data) t.true(Number.isFinite(v));
});

test('loadCsv: malformed rows are DataErrors naming the line', (t) => {
  const short = write('short.csv', 'a,b,y\n1,2,x\n3,4\n5,6,z\n');
  t.throws(() => loadCsv({ path: short, target: 'y', task: 'classification', testFraction: 0.2 }), {
    instanceOf: DataError,
    message: /short\.csv:3.*3 fields, got 2/,
  });
  const nan = write('nan.csv', 'a,b,y\n1,2,x\n3,abc,y\n');
  t.throws(() => loadCsv({ path: nan, target: 'y', task: 'classification', testFraction: 0.2 }), {
    instanceOf: DataError,
    message: /nan\.csv:3.*'b'/,
  });
  const quoted = write('q.csv', 'a,y\n"1,2",x\n"3\n4",y\n5,6,7\n');
  t.throws(() => loadCsv({ path: quoted, target: 'y', task: 'classification', testFraction: 0.2 }), {
    instanceOf: DataError,
    message: /q\.csv:(2|5)/,
  });
  t.throws(() => loadCsv({ path: short, target: 'nope', task: 'classification', testFraction: 0.2 }), {
    instanceOf: DataError,
    message: /nope/,
  });
  t.throws(() => loadCsv({ path: join(dir, 'missing.csv'), target: 'y', task: 'regression', testFraction: 0.2 }), {
    instanceOf: DataError,
    message: /missing\.csv/,
  });
});
