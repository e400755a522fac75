/**
 * Fuzzing the UCR/UEA `.ts` parser: any text gives a consistent [N, C, T] tensor with finite values and labels
 * in range, or a DataError naming the source (and the line, for line-level problems).
 */
import test from 'ava';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_TS_VALUES, parseTs, readTs, type ParsedTs, type ParseTsOptions } from '../../lib/data/ucr.js';
import { DataError } from '../../lib/core/errors.js';
import { attempt, check, fuzz, runCases, Tally, type Case } from './fuzz-helpers.js';

const SRC = 'fuzz.ts';

function checkParsed(r: ParsedTs): void {
  const [n, c, T] = r.x.shape;
  check(r.x.shape.length === 3 && n! >= 1 && c! >= 1 && T! >= 1, `x shape [${r.x.shape}]`);
  check(r.x.data.length === n! * c! * T!, 'x data length');
  check(r.x.data.every(Number.isFinite), 'x has non-finite values after imputation');
  check(r.y.shape[0] === n && r.y.data.length === n, 'y length');
  if (r.y.data instanceof Int32Array) {
    const k = r.header.classLabels!.length;
    check(
      r.y.data.every((v) => v >= 0 && v < k),
      'class index out of range',
    );
  } else {
    check(r.y.data.every(Number.isFinite), 'non-finite regression target');
  }
  if (r.mask) check(r.mask.shape.join() === `${n},${T}` && r.mask.data.every((v) => v === 0 || v === 1), 'mask');
}

function checkError(e: DataError): void {
  check(e instanceof DataError, `${e.name}: ${e.message}`);
  check(
    e.message.startsWith(`${SRC}:`) || e.message.startsWith(`${SRC} `) || e.message.startsWith(SRC),
    `error does not name the source: ${e.message}`,
  );
}

const LINES = [
  '@problemName Fuzz',
  '@classLabel true a b',
  '@classLabel true a',
  '@classLabel true a a',
  '@classLabel false',
  '@targetLabel true',
  '@targetLabel maybe',
  '@data',
  '@dimensions 2',
  '@dimensions 0',
  '@dimensions -1',
  '@dimensions 1.5',
  '@seriesLength 3',
  '@timeStamps false',
  '@timeStamps true',
  '@missing true',
  '@equalLength false',
  '@univariate true',
  '#comment',
  '',
  '   ',
  '1,2,3:a',
  '1,2,3:b',
  '1,2:3,4:a',
  '1,2:3,4:b',
  '?,NaN,1:a',
  'nan,?,?:b',
  '1e39,1:a',
  '1,2:1e39',
  '-Infinity,1:a',
  ':a',
  '1,2,:b',
  'x,y:a',
  '1,,2:a',
  '1,2,3',
  '1,2,3:c',
  '1,2,3:é',
  '1,2:0.5',
  '1,2:',
  '\uFEFF@data',
  '@data extra',
  'garbage before data',
];
const HEADERS = [
  '@classLabel true a b',
  '@targetLabel true',
  '@classLabel true a b c é',
  '@dimensions 2',
  '@missing true',
  '#c',
];
const DATA = LINES.slice(LINES.indexOf('1,2,3:a'));
const textArb = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .array(fc.constantFrom(...LINES), { maxLength: 12 })
      .chain((ls) => fc.constantFrom('\n', '\r\n').map((nl) => ls.join(nl))),
  },
  // header lines, @data, then data lines: reaches the data parser far more often
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...HEADERS.slice(0, 3)),
        fc.array(fc.constantFrom(...HEADERS), { maxLength: 2 }),
        fc.array(
          fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom('1,2,3:a', '4,5,6:b', '1,2,3:c', '1,2,3:é', '1,2:0.5') },
            { weight: 1, arbitrary: fc.constantFrom(...DATA) },
          ),
          { minLength: 1, maxLength: 5 },
        ),
      )
      .map(([l, h, d]) => [l, ...h, '@data', ...d].join('\n')),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
);

test('any text: a consistent, finite [N, C, T] tensor or a DataError naming the source', (t) => {
  const tally = new Tally();
  fc.assert(
    fc.property(
      textArb,
      fc.constantFrom<ParseTsOptions>({}, { unequal: 'pad' }, { impute: 'zero', unequal: 'pad' }),
      (text, opts) => {
        const out = tally.add(attempt(() => parseTs(text, SRC, opts)));
        if (out.ok) checkParsed(out.value);
        else checkError(out.error);
      },
    ),
    fuzz(800),
  );
  tally.assertBoth(t);
});

/** Labels as the format allows them: no whitespace, ':' or ',' — any other unicode. */
const label = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 6 })
  .filter((s) => !/[\s:,#@]/.test(s) && s.trim() === s && s !== '?');
const value = fc.oneof(
  { weight: 40, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('?', 'NaN', 'nan', 'Infinity', '1e39', '-3.5e38', '', 'abc', '0x10', ' 7 ') },
);

/** A valid-looking classification or regression file, then possibly damaged. */
const fileArb = fc
  .record({
    labels: fc.uniqueArray(label, { minLength: 2, maxLength: 4 }),
    regression: fc.boolean(),
    channels: fc.integer({ min: 1, max: 3 }),
    rows: fc.array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.nat()), { minLength: 1, maxLength: 6 }),
    bom: fc.boolean(),
    crlf: fc.boolean(),
  })
  .chain((f) =>
    fc.tuple(
      fc.constant(f),
      fc.array(fc.array(value, { minLength: 5 * f.channels, maxLength: 5 * f.channels }), {
        minLength: f.rows.length,
        maxLength: f.rows.length,
      }),
      fc.option(fc.tuple(fc.constantFrom('truncate', 'insert', 'drop-line'), fc.nat(), fc.string({ maxLength: 3 })), {
        freq: 2,
      }), // damaged half the time
    ),
  );

test('generated .ts files, intact or damaged (truncated, a char inserted, a line dropped)', (t) => {
  const tally = new Tally();
  fc.assert(
    fc.property(fileArb, fc.constantFrom<ParseTsOptions>({}, { unequal: 'pad' }), ([f, vals, damage], opts) => {
      const head = [
        '@problemName fuzz',
        f.regression ? '@targetLabel true' : `@classLabel true ${f.labels.join(' ')}`,
        `@dimensions ${f.channels}`,
        '@data',
      ];
      const body = f.rows.map(([len, lab], r) => {
        const chans = Array.from({ length: f.channels }, (_, c) => vals[r]!.slice(c * 5, c * 5 + len).join(','));
        return `${chans.join(':')}:${f.regression ? String(lab % 100) : f.labels[lab % f.labels.length]}`;
      });
      let text = (f.bom ? '\uFEFF' : '') + [...head, ...body].join(f.crlf ? '\r\n' : '\n');
      if (damage) {
        const [kind, at, s] = damage;
        const i = at % (text.length + 1);
        if (kind === 'truncate') text = text.slice(0, i);
        else if (kind === 'insert') text = text.slice(0, i) + s + text.slice(i);
        else {
          const ls = text.split('\n');
          ls.splice(at % ls.length, 1);
          text = ls.join('\n');
        }
      }
      const out = tally.add(attempt(() => parseTs(text, SRC, opts)));
      if (!out.ok) {
        checkError(out.error);
        return;
      }
      checkParsed(out.value);
      if (!damage && !f.regression) {
        // labels (unicode included) come back as indices into the header's order
        const want = f.rows.map(([, lab]) => lab % f.labels.length);
        check([...out.value.y.data].join() === want.join(), 'labels round trip');
        check(out.value.header.classLabels!.join(' ') === f.labels.join(' '), 'classLabels');
      }
    }),
    fuzz(500),
  );
  tally.assertBoth(t);
});

const CLS = '@problemName t\n@classLabel true a b\n@data\n';
const REG = '@problemName t\n@targetLabel true\n@data\n';
/** One long series and many short ones: padded, the tensor would need more than MAX_TS_VALUES floats. */
const blowUp = `${CLS}${'0,'.repeat(300_000)}0:a\n${'1:b\n'.repeat(1_000)}`;

interface TsInput {
  text: string;
  opts?: ParseTsOptions;
}
const c = (id: string, text: string, expect: RegExp | 'ok', opts?: ParseTsOptions): Case<TsInput> => ({
  id,
  input: opts ? { text, opts } : { text },
  expect,
});

export const TS_CASES: readonly Case<TsInput>[] = [
  c('ts-empty-file', '', /no @data line/),
  c('ts-bom-ok', `\uFEFF${CLS}1,2:a\n3,4:b\n`, 'ok'),
  c('ts-crlf-ok', `${CLS}1,2:a\r\n3,4:b\r\n`.replace(/\n/g, '\r\n'), 'ok'),
  c('ts-no-label-header', '@data\n1,2:a\n', /neither @classLabel true nor @targetLabel true/),
  c('ts-one-class-label', '@classLabel true a\n@data\n1:a\n', /:1: @classLabel true needs at least two labels/),
  c('ts-duplicate-class-labels', '@classLabel true a a b\n@data\n1:a\n', /class label 'a' is listed twice/),
  c('ts-unicode-labels-ok', '@classLabel true café 日本 🚀\n@data\n1,2:日本\n3,4:🚀\n5,6:café\n', 'ok'),
  c('ts-missing-values-imputed', `${CLS}?,NaN,3:a\n1,nan,?:b\n`, 'ok'),
  c('ts-infinity-value', `${CLS}Infinity,1:a\n`, /:4: channel 0, position 0: 'Infinity' is not a number/),
  c('ts-inf-word-value', `${CLS}1,inf:a\n`, /:4: channel 0, position 1: 'inf'/),
  c(
    'ts-float32-overflow-value',
    `${CLS}1e39,1:a\n`,
    /:4: channel 0, position 0: '1e39' is not a number \(finite in float32\)/,
  ),
  c('ts-float32-overflow-target', `${REG}1,2:1e39\n`, /:4: target '1e39' is not a number/),
  c('ts-nan-target', `${REG}1,2:NaN\n`, /:4: target 'NaN'/),
  c('ts-ragged-channels', `${CLS}1,2:3:a\n`, /:4: channels have different lengths \(2, 1\)/),
  c('ts-unequal-lengths', `${CLS}1,2:a\n1,2,3:b\n`, /unequal lengths \(2\.\.3\)/),
  c('ts-unequal-lengths-pad-ok', `${CLS}1,2:a\n1,2,3:b\n`, 'ok', { unequal: 'pad' }),
  c('ts-channel-count-changes', `${CLS}1,2:3,4:a\n1,2:b\n`, /:5: 1 channels, earlier lines have 2/),
  c('ts-dimensions-mismatch', `@dimensions 3\n${CLS}1,2:3,4:a\n`, /@dimensions 3, data has 2 channels/),
  c('ts-dimensions-zero', '@dimensions 0\n', /:1: @dimensions needs a positive integer/),
  c('ts-dimensions-negative', '@dimensions -2\n', /:1: @dimensions needs a positive integer/),
  c('ts-serieslength-fraction', '@seriesLength 1.5\n', /:1: @seriesLength needs a positive integer/),
  c('ts-timestamps', `@timeStamps true\n${CLS}1:a\n`, /@timeStamps true is not supported/),
  c('ts-bad-bool', '@missing maybe\n', /:1: expected true or false, got 'maybe'/),
  c('ts-unknown-label', `${CLS}1,2:c\n`, /:4: class label 'c' is not among @classLabel a b/),
  c('ts-empty-channel', `${CLS}:a\n`, /:4: channel 0 is empty/),
  c('ts-no-label-separator', `${CLS}1,2,3\n`, /:4: expected values then ':' then a label/),
  c('ts-no-series', CLS, /no series after @data/),
  c('ts-truncated-mid-line', `${CLS}1,2:a\n3,`, /:5:/),
  c('ts-line-before-data', 'hello\n@data\n', /:1: unexpected line before @data/),
  c('ts-padding-blow-up', blowUp, new RegExp(`more than ${MAX_TS_VALUES} values`), { unequal: 'pad' }),
];

test('explicit bad .ts inputs give the documented outcome (test/README.md)', (t) => {
  runCases(
    t,
    TS_CASES,
    ({ text, opts }) => parseTs(text, SRC, opts ?? {}),
    (v, cs) => {
      checkParsed(v);
      if (cs.id === 'ts-unicode-labels-ok') t.deepEqual([...v.y.data], [1, 2, 0]);
      if (cs.id === 'ts-missing-values-imputed') t.is(v.missingCount, 4);
    },
  );
  const dir = mkdtempSync(join(tmpdir(), 'petra-fuzz-ts-'));
  writeFileSync(join(dir, 'bom.ts'), `\uFEFF${CLS}1,2:a\n3,4:b\n`);
  t.deepEqual(readTs(join(dir, 'bom.ts')).x.shape, [2, 1, 2]);
  t.throws(() => readTs(join(dir, 'nope.ts')), { instanceOf: DataError, message: /nope\.ts.*ENOENT/ });
});
