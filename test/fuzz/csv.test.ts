/**
 * Fuzzing the CSV parser and loader: any text gives records (or a finite feature matrix with targets in range), or a
 * DataError naming the file and, for row-level problems, the line.
 */
import test from 'ava';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCsv, parseCsv, type LoadCsvOptions } from '../../lib/data/csv.js';
import type { LoadedDataset } from '../../lib/data/types.js';
import { DataError } from '../../lib/core/errors.js';
import { attempt, check, fuzz, runCases, Tally, type Case } from './fuzz-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-fuzz-csv-'));
const SRC = 'fuzz.csv';

const textArb = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc
    .array(
      fc.constantFrom('a', 'b', '1', '2.5', ',', ',', '"', '""', '\n', '\r\n', '\r', ' ', '\t', 'é', '\uFEFF', ';'),
      { maxLength: 60 },
    )
    .map((p) => p.join('')),
);

test('parseCsv: any text gives records with line numbers, or a DataError naming source and line', (t) => {
  const tally = new Tally();
  fc.assert(
    fc.property(textArb, fc.constantFrom(',', ';', '\t', '|'), (text, delim) => {
      const out = tally.add(attempt(() => parseCsv(text, delim, SRC)));
      if (!out.ok) {
        check(
          out.error instanceof DataError && new RegExp(`^${SRC}:\\d+: `).test(out.error.message),
          out.error.message,
        );
        return;
      }
      let last = 0;
      for (const r of out.value) {
        check(Number.isInteger(r.line) && r.line >= 1 && r.line >= last, `line ${r.line}`);
        check(r.fields.length >= 1 && r.fields.every((f) => typeof f === 'string'), 'fields');
        last = r.line;
      }
    }),
    fuzz(1000),
  );
  tally.assertBoth(t);
});

let fileNo = 0;
function load(text: string, opts: Omit<LoadCsvOptions, 'path'>): LoadedDataset {
  const path = join(dir, `t${fileNo++}.csv`);
  writeFileSync(path, text);
  return loadCsv({ ...opts, path });
}

function checkDataset(ds: LoadedDataset): void {
  const splits = [ds.train, ds.test, ...(ds.val ? [ds.val] : [])];
  for (const s of splits) {
    const x = s.inputs[0]!;
    const [n, f] = x.shape;
    check(x.shape.length === 2 && x.data.length === n! * f!, `x shape [${x.shape}]`);
    check(x.data.every(Number.isFinite), 'non-finite feature after imputation/normalization');
    check(s.target.shape[0] === n && n! >= 1, 'target rows');
    if (ds.task.kind === 'classification') {
      const k = ds.task.classes;
      check(
        s.target.data.every((v) => Number.isInteger(v) && v >= 0 && v < k),
        'class index out of range',
      );
      check(ds.task.labels?.length === k && new Set(ds.task.labels).size === k, 'labels');
    } else {
      check(s.target.data.every(Number.isFinite), 'non-finite target');
    }
  }
}

const name = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('x', 'y', 'id', 'é', '日本', ' x ', '', 'a b') },
  {
    weight: 6,
    arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }).filter((n) => !/[,"\r\n\uFEFF]/.test(n)),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) }, // may hold a delimiter, a quote or a newline
);
const numberCell = fc.oneof(
  { weight: 10, arbitrary: fc.double({ min: -1e4, max: 1e4, noNaN: true }).map(String) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 3 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('', 'NaN', 'na', '?', ' 7 ', '"1.5"') },
);
const HOSTILE = [
  '',
  'NaN',
  'inf',
  'Infinity',
  '1e39',
  '-1e39',
  'abc',
  '"1,5"',
  '"a\nb"',
  'café',
  '🚀',
  '""',
  '"',
  'x"y',
  '"a"b',
];
const tableArb = fc
  .record({
    // mostly distinct names, sometimes a duplicate
    names: fc.oneof(
      { weight: 4, arbitrary: fc.uniqueArray(name, { minLength: 2, maxLength: 4, selector: (n) => n.trim() }) },
      { weight: 1, arbitrary: fc.array(name, { minLength: 2, maxLength: 4 }) },
    ),
    rows: fc.integer({ min: 0, max: 14 }),
    ragged: fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }), // (fc.option's freq is 1/P(null))
    hostile: fc.oneof(
      { weight: 2, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...HOSTILE)) },
    ),
    bom: fc.boolean(),
    crlf: fc.boolean(),
    task: fc.constantFrom('classification', 'regression') as fc.Arbitrary<'classification' | 'regression'>,
    testFraction: fc.constantFrom(0.25, 0.25, 0.25, 0.5, 0, 0.99, NaN, 1, -0.1),
    valFraction: fc.constantFrom(0, 0, 0.3),
  })
  .chain((f) =>
    fc.tuple(
      fc.constant(f),
      fc.array(
        fc
          .tuple(
            fc.array(numberCell, { minLength: f.names.length - 1, maxLength: f.names.length - 1 }),
            f.task === 'classification'
              ? fc.constantFrom('p', 'q', 'café', '🚀', '1', '2')
              : fc.double({ min: -100, max: 100, noNaN: true }).map(String),
          )
          .map(([xs, y]) => [...xs, y]),
        { minLength: f.rows, maxLength: f.rows },
      ),
    ),
  );

test('loadCsv on generated tables (duplicate/unicode headers, ragged rows, NaN/Inf, BOM, CRLF, odd fractions)', (t) => {
  const tally = new Tally();
  fc.assert(
    fc.property(tableArb, ([f, rows]) => {
      if (f.hostile && rows.length) {
        const [r, k, v] = f.hostile;
        rows[r % rows.length]![k % f.names.length] = v;
      }
      const lines = [f.names.join(','), ...rows.map((r) => r.join(','))];
      if (f.ragged !== null && lines.length > 1) {
        const k = 1 + (f.ragged % (lines.length - 1));
        lines[k] = `${lines[k]},extra`;
      }
      const text = (f.bom ? '\uFEFF' : '') + lines.join(f.crlf ? '\r\n' : '\n');
      const target = f.names[f.names.length - 1]!.trim();
      const out = tally.add(
        attempt(() =>
          load(text, { target, task: f.task, testFraction: f.testFraction, valFraction: f.valFraction, seed: 1 }),
        ),
      );
      if (out.ok) {
        checkDataset(out.value);
        const total =
          out.value.train.target.shape[0]! + out.value.test.target.shape[0]! + (out.value.val?.target.shape[0] ?? 0);
        check(total === rows.length, `rows ${total} vs ${rows.length}`);
      } else {
        check(out.error instanceof DataError, out.error.message);
        check(
          /t\d+\.csv/.test(out.error.message) || /split fraction/.test(out.error.message),
          `error does not name the file: ${out.error.message}`,
        );
      }
    }),
    fuzz(250),
  );
  tally.assertBoth(t);
});

interface CsvInput {
  text: string;
  opts?: Partial<Omit<LoadCsvOptions, 'path'>>;
}
const c = (id: string, text: string, expect: RegExp | 'ok', opts?: CsvInput['opts']): Case<CsvInput> => ({
  id,
  input: opts ? { text, opts } : { text },
  expect,
});
const rows = (n: number, f: (i: number) => string): string => Array.from({ length: n }, (_, i) => f(i)).join('\n');
const CLS = (extra = ''): string => `a,b,y\n${rows(8, (i) => `${i},${i % 3},${i % 2 ? 'p' : 'q'}`)}${extra}`;

export const CSV_CASES: readonly Case<CsvInput>[] = [
  c('csv-empty-file', '', /no data rows/),
  c('csv-header-only', 'a,b,y\n', /no data rows/),
  c('csv-bom-header-ok', `\uFEFF${CLS()}`, 'ok'),
  c('csv-crlf-quoted-newline-ok', CLS().replace(/\n/g, '\r\n').replace('0,0,q', '"0","0","q\r\nq"'), 'ok'),
  c(
    'csv-duplicate-header',
    `a,a,y\n${rows(8, (i) => `${i},${i},${i % 2}`)}`,
    /:1: duplicate column name 'a' \(columns 1 and 2\)/,
  ),
  c('csv-ragged-row', `${CLS()}\n1,2`, /:10: expected 3 fields, got 2/),
  c('csv-nan-features-imputed', CLS().replace('3,0,p', 'NaN,,p').replace('4,1,q', 'na,?,q'), 'ok'),
  c('csv-inf-feature', CLS().replace('3,0,p', 'Infinity,0,p'), /:5: column 'a' value "Infinity" is not a number/),
  c('csv-float32-overflow-feature', CLS().replace('3,0,p', '1e39,0,p'), /:5: column 'a' value "1e39" is not a number/),
  c(
    'csv-float32-overflow-target',
    `a,y\n${rows(8, (i) => `${i},${i === 5 ? '1e39' : i}`)}`,
    /:7: target "1e39" is not a number/,
    { task: 'regression' },
  ),
  c('csv-unterminated-quote', `${CLS()}\n"1,2,p`, /:10: unterminated quoted field/),
  c('csv-stray-quote', `${CLS()}\n1,x"y",p`, /:10: stray quote/),
  c('csv-text-after-quote', `${CLS()}\n"1"x,2,p`, /:10: unexpected character "x" after a closing quote/),
  c('csv-unicode-labels-ok', `a,y\n${rows(8, (i) => `${i},${['café', '日本', '🚀'][i % 3]}`)}`, 'ok'),
  c('csv-one-class', `a,y\n${rows(6, (i) => `${i},k`)}`, /target 'y' has only one class/),
  c('csv-missing-target', CLS().replace('3,0,p', '3,0,'), /:5: missing target 'y'/),
  c(
    'csv-regression-text-target',
    `a,y\n${rows(6, (i) => `${i},${i === 2 ? 'abc' : i}`)}`,
    /:4: target "abc" is not a number/,
    { task: 'regression' },
  ),
  c('csv-no-target-column', CLS(), /no column 'nope'/, { target: 'nope' }),
  c('csv-ignored-column-missing', CLS(), /ignored column 'zz' does not exist/, { ignore: ['zz'] }),
  c('csv-text-feature', CLS().replace('3,0,p', 'abc,0,p'), /:5: column 'a' value "abc" is not a number \(use ignore/),
  c('csv-too-few-rows-for-split', 'a,y\n1,p\n2,q\n', /2 rows leave no test rows with testFraction 0\.25/),
  c('csv-test-fraction-nan', CLS(), /split fraction must be in \[0, 1\), got NaN/, { testFraction: NaN }),
  c('csv-test-fraction-one', CLS(), /split fraction must be in \[0, 1\), got 1/, { testFraction: 1 }),
  c('csv-bad-delimiter', CLS(), /invalid delimiter/, { delimiter: '"' }),
  c('csv-semicolon-delimiter-ok', CLS().replace(/,/g, ';'), 'ok', { delimiter: ';' }),
];

test('explicit bad CSV inputs give the documented outcome (test/README.md)', (t) => {
  runCases(
    t,
    CSV_CASES,
    ({ text, opts }) => load(text, { target: 'y', task: 'classification', testFraction: 0.25, ...opts }),
    (ds, cs) => {
      checkDataset(ds);
      if (cs.id === 'csv-bom-header-ok') t.deepEqual((ds.meta as { features: string[] }).features, ['a', 'b']);
      if (cs.id === 'csv-unicode-labels-ok' && ds.task.kind === 'classification')
        t.deepEqual(ds.task.labels, ['café', '日本', '🚀']);
    },
  );
});
