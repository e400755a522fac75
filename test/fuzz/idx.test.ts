/**
 * Fuzzing the IDX reader (raw and gzipped) and the IDX image loader: any byte string gives an array whose data
 * length matches its shape, or a DataError naming the source — never another error, a hang or a huge allocation.
 */
import test from 'ava';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { encodeIdx, loadIdxSplit, parseIdx, readIdx, type IdxArray, type IdxDtype } from '../../lib/data/idx.js';
import { ConfigError, DataError } from '../../lib/core/errors.js';
import { attempt, check, fuzz, runCases, Tally, type Case } from './fuzz-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-fuzz-idx-'));
const SRC = 'fuzz.idx';

const DTYPES: readonly IdxDtype[] = ['uint8', 'int8', 'int16', 'int32', 'float32', 'float64'];
const CODE: Record<IdxDtype, number> = {
  uint8: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
};

/** Raw header bytes: magic 00 00, dtype code, ndims, big-endian uint32 dims. */
function header(code: number, dims: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length);
  out[2] = code;
  out[3] = dims.length;
  const v = new DataView(out.buffer);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d >>> 0, false));
  return out;
}
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

/** A parse result must be self-consistent: data length = product of the shape, a known dtype. */
function checkArray(a: IdxArray): void {
  check(DTYPES.includes(a.dtype), `dtype ${a.dtype}`);
  const count = a.shape.reduce((x, y) => x * y, 1);
  check(a.data.length === count, `data length ${a.data.length} vs shape [${a.shape}]`);
  check(
    a.shape.every((d) => Number.isInteger(d) && d >= 0),
    `shape [${a.shape}]`,
  );
}

/** A small valid IDX array. */
const idxArray = fc
  .record({ dtype: fc.constantFrom(...DTYPES), shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }) })
  .chain(({ dtype, shape }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const value =
      dtype === 'float32' || dtype === 'float64'
        ? fc.double({ noDefaultInfinity: false, noNaN: false }).map((v) => (dtype === 'float32' ? Math.fround(v) : v))
        : fc.integer({
            min: dtype === 'uint8' ? 0 : dtype === 'int8' ? -128 : dtype === 'int16' ? -32768 : -(2 ** 31),
            max: dtype === 'uint8' ? 255 : dtype === 'int8' ? 127 : dtype === 'int16' ? 32767 : 2 ** 31 - 1,
          });
    return fc.array(value, { minLength: n, maxLength: n }).map((vals) => ({ dtype, shape, vals }));
  });
const ARRAY_CTOR = {
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'dims'; at: number; value: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(200) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(60), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  // overwrite one header dimension with anything up to 2^32 - 1 (huge declared sizes)
  fc.record({
    kind: fc.constant('dims' as const),
    at: fc.nat(3),
    value: fc.oneof(fc.nat(8), fc.constantFrom(2 ** 31, 2 ** 32 - 1, 0x7fffffff, 65536)),
  }),
);
function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const b = new Uint8Array(bytes);
  switch (m.kind) {
    case 'truncate':
      return b.subarray(0, Math.min(m.at, b.length));
    case 'set':
      if (m.at < b.length) b[m.at] = m.value;
      return b;
    case 'append':
      return cat(b, m.bytes);
    case 'dims': {
      const o = 4 + 4 * m.at;
      if (o + 4 <= b.length) new DataView(b.buffer).setUint32(o, m.value, false);
      return b;
    }
  }
}

/** A plausible header (valid or invalid dtype code, small dims) and a body of about the declared length. */
const headerThenBytes = fc
  .record({
    code: fc.constantFrom(0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x00, 0x0a, 0xff),
    dims: fc.array(fc.nat(3), { maxLength: 3 }),
    delta: fc.constantFrom(0, 0, 0, -1, 1, -4),
    seed: fc.uint8Array({ maxLength: 200 }),
  })
  .map(({ code, dims, delta, seed }) => {
    const size = ({ 8: 1, 9: 1, 11: 2, 12: 4, 13: 4, 14: 8 } as Record<number, number>)[code] ?? 1;
    const want = Math.max(0, dims.reduce((a, b) => a * b, 1) * size + delta);
    const body = new Uint8Array(want).map((_, i) => seed[i % Math.max(1, seed.length)] ?? 0);
    return cat(header(code, dims), body);
  });

test('any byte string: an array consistent with its shape, or a DataError naming the source', (t) => {
  const tally = new Tally();
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 40 }).map((b) => cat(Uint8Array.of(0, 0), b)),
        headerThenBytes,
      ),
      (bytes) => {
        const out = tally.add(attempt(() => parseIdx(bytes, SRC)));
        if (out.ok) checkArray(out.value);
        else check(out.error instanceof DataError && out.error.message.startsWith(`${SRC}:`), out.error.message);
      },
    ),
    fuzz(600),
  );
  tally.assertBoth(t);
});

test('mutated valid IDX files (raw, gzipped, or with the gzip stream itself mutated)', (t) => {
  const tally = new Tally();
  fc.assert(
    fc.property(
      idxArray,
      fc.array(mutation, { maxLength: 3 }),
      fc.constantFrom('raw', 'gz-then-mutate', 'mutate-then-gz'),
      ({ dtype, shape, vals }, muts, how) => {
        const original = encodeIdx({ dtype, shape, data: ARRAY_CTOR[dtype].from(vals) });
        let bytes = how === 'mutate-then-gz' ? muts.reduce(mutate, original) : original;
        if (how !== 'raw') bytes = gzipSync(bytes);
        if (how !== 'mutate-then-gz') bytes = muts.reduce(mutate, bytes);
        const out = tally.add(attempt(() => parseIdx(bytes, SRC)));
        if (!out.ok) {
          check(out.error instanceof DataError && out.error.message.startsWith(`${SRC}:`), out.error.message);
          return;
        }
        checkArray(out.value);
        if (muts.length === 0) {
          check(out.value.dtype === dtype && out.value.shape.join() === shape.join(), 'round trip');
          check(Object.is([...out.value.data].join(), [...ARRAY_CTOR[dtype].from(vals)].join()), 'round trip data');
        }
      },
    ),
    fuzz(500),
  );
  tally.assertBoth(t);
});

test('gzipped headers declaring any size are checked against the compressed length before inflating', (t) => {
  const tally = new Tally();
  fc.assert(
    fc.property(
      fc.constantFrom(...DTYPES),
      fc.array(fc.oneof(fc.nat(6), fc.constantFrom(2 ** 31, 2 ** 32 - 1, 100_000, 1 << 20)), {
        minLength: 1,
        maxLength: 3,
      }),
      fc.uint8Array({ maxLength: 64 }),
      (dtype, dims, body) => {
        const gz = gzipSync(cat(header(CODE[dtype], dims), body));
        const before = process.memoryUsage().arrayBuffers;
        const out = tally.add(attempt(() => parseIdx(gz, SRC)));
        if (out.ok) checkArray(out.value);
        else check(out.error instanceof DataError, out.error.message);
        // nothing near the declared size was allocated
        check(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, 'allocated more than 64 MiB');
      },
    ),
    fuzz(300),
  );
  tally.assertBoth(t);
});

/** A gzip member whose header carries an FCOMMENT of `commentBytes` bytes (placing the IDX header far in). */
function gzipWithComment(data: Uint8Array, commentBytes: number): Uint8Array {
  const head = Uint8Array.of(0x1f, 0x8b, 8, 0x10, 0, 0, 0, 0, 0, 255);
  const comment = cat(new Uint8Array(commentBytes).fill(0x61), Uint8Array.of(0));
  const trailer = new Uint8Array(8);
  new DataView(trailer.buffer).setUint32(0, crc32(data), true);
  new DataView(trailer.buffer).setUint32(4, data.length, true);
  return cat(head, comment, deflateRawSync(data), trailer);
}

const good = encodeIdx({ dtype: 'uint8', shape: [2, 2], data: Uint8Array.of(1, 2, 3, 4) });
const goodGz = gzipSync(good);
/** A tiny gzip (≈ 20 kB) of a header declaring 1000 bytes followed by 20 MB of zeros. */
const bomb = gzipSync(cat(header(0x08, [1000]), new Uint8Array(20 * 2 ** 20)));

export const IDX_CASES: readonly Case<Uint8Array>[] = [
  { id: 'idx-empty-file', input: new Uint8Array(0), expect: /too short/ },
  { id: 'idx-3-bytes', input: Uint8Array.of(0, 0, 8), expect: /too short/ },
  { id: 'idx-wrong-magic', input: Uint8Array.of(1, 2, 8, 1, 0, 0, 0, 1, 5), expect: /magic/ },
  { id: 'idx-unknown-dtype', input: Uint8Array.of(0, 0, 0x0a, 1, 0, 0, 0, 1, 5), expect: /dtype code 0a/ },
  { id: 'idx-truncated-header', input: Uint8Array.of(0, 0, 8, 3, 0, 0, 0, 1), expect: /truncated IDX header/ },
  {
    id: 'idx-truncated-data',
    input: good.subarray(0, good.length - 1),
    expect: /truncated IDX data.*needs 16 bytes, file has 15/,
  },
  { id: 'idx-trailing-bytes', input: cat(good, Uint8Array.of(9)), expect: /1 unexpected trailing bytes/ },
  {
    id: 'idx-2^31-items-100-bytes',
    input: cat(header(0x08, [2 ** 31]), new Uint8Array(92)),
    expect: /needs 2147483656 bytes, file has 100/,
  },
  { id: 'idx-255-dims-of-2^32-1', input: header(0x0e, new Array(255).fill(2 ** 32 - 1)), expect: /truncated IDX data/ },
  { id: 'idx-0-dims-scalar', input: cat(header(0x0c, []), Uint8Array.of(0, 0, 0, 7)), expect: 'ok' },
  { id: 'idx-zero-dim', input: header(0x08, [0, 28, 28]), expect: 'ok' },
  {
    id: 'idx-float-nan-inf',
    input: encodeIdx({ dtype: 'float32', shape: [3], data: Float32Array.of(NaN, Infinity, -Infinity) }),
    expect: 'ok',
  },
  { id: 'gz-garbage', input: Uint8Array.of(0x1f, 0x8b, 1, 2, 3), expect: /corrupt gzip/ },
  { id: 'gz-truncated', input: goodGz.subarray(0, goodGz.length - 6), expect: /truncated or corrupt gzip/ },
  { id: 'gz-of-garbage', input: gzipSync(Buffer.from('hello, this is not an IDX file')), expect: /magic/ },
  {
    id: 'gz-header-2^31-items',
    input: gzipSync(cat(header(0x08, [2 ** 31]), new Uint8Array(92))),
    expect: /declares shape \[2147483648\].*more than a \d+-byte gzip file can hold/,
  },
  { id: 'gz-bomb-beyond-declared', input: bomb, expect: /decompresses to more than the 1008 bytes/ },
  {
    id: 'gz-header-beyond-window',
    input: gzipWithComment(good, 10_000),
    expect: /no IDX header in the first 8192 bytes/,
  },
  { id: 'gz-long-comment-ok', input: gzipWithComment(good, 100), expect: 'ok' },
  { id: 'gz-two-members', input: cat(gzipSync(good.subarray(0, 10)), gzipSync(good.subarray(10))), expect: 'ok' },
];

test('explicit bad IDX inputs give the documented outcome (test/README.md)', (t) => {
  const before = process.memoryUsage().arrayBuffers;
  runCases(
    t,
    IDX_CASES,
    (b) => parseIdx(b, SRC),
    (v) => checkArray(v),
  );
  t.true(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, 'no case allocates its declared size');
});

// ------------------------------------------------------------------------------------------------ loadIdxSplit

function writeIdx(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

interface SplitInput {
  images: IdxArray;
  labels: IdxArray;
  limit?: number;
}
const splitCase = (
  id: string,
  images: IdxArray,
  labels: IdxArray,
  expect: RegExp | 'ok',
  extra: Partial<SplitInput> = {},
): Case<SplitInput> => ({ id, input: { images, labels, ...extra }, expect });
const img = (dtype: IdxDtype, shape: number[], vals?: number[]): IdxArray => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype, shape, data: ARRAY_CTOR[dtype].from(vals ?? Array.from({ length: n }, (_, i) => i % 7)) };
};

let fileNo = 0;
function runSplit(s: SplitInput): ReturnType<typeof loadIdxSplit> {
  const k = fileNo++;
  const imagesPath = writeIdx(`img${k}`, encodeIdx(s.images));
  const labelsPath = writeIdx(`lab${k}.gz`, gzipSync(encodeIdx(s.labels)));
  return loadIdxSplit({ imagesPath, labelsPath }, s.limit !== undefined ? { limit: s.limit } : {});
}
function checkSplit(r: ReturnType<typeof loadIdxSplit>): void {
  const x = r.inputs[0]!;
  check(x.shape.length === 4 && x.data.length === x.shape.reduce((a, b) => a * b, 1), `x shape [${x.shape}]`);
  check(x.data.every(Number.isFinite), 'non-finite input');
  check(r.target.shape[0] === x.shape[0] && r.target.data.length === x.shape[0], 'label count');
  check(
    r.target.data.every((v) => Number.isInteger(v) && v >= 0),
    'labels are class indices',
  );
}

export const IDX_SPLIT_CASES: readonly Case<SplitInput>[] = [
  splitCase('split-ok', img('uint8', [3, 2, 2]), img('uint8', [3], [0, 1, 2]), 'ok'),
  splitCase(
    'split-float-nan-pixel',
    img('float32', [2, 1, 2], [0, NaN, 1, 2]),
    img('uint8', [2], [0, 1]),
    /pixel value NaN at flat index 1/,
  ),
  splitCase(
    'split-float-inf-pixel',
    img('float64', [2, 1, 1], [Infinity, 1]),
    img('uint8', [2], [0, 1]),
    /pixel value Infinity at flat index 0/,
  ),
  splitCase(
    'split-float64-beyond-float32',
    img('float64', [1, 1, 1], [1e300]),
    img('uint8', [1], [0]),
    /not a finite float32/,
  ),
  splitCase(
    'split-label-2^32',
    img('uint8', [2, 1, 1]),
    img('float64', [2], [0, 2 ** 32]),
    /label 4294967296 at index 1/,
  ),
  splitCase('split-label-negative', img('uint8', [2, 1, 1]), img('int8', [2], [0, -1]), /label -1 at index 1/),
  splitCase('split-label-fraction', img('uint8', [2, 1, 1]), img('float32', [2], [0, 1.5]), /label 1.5 at index 1/),
  splitCase('split-label-nan', img('uint8', [2, 1, 1]), img('float32', [2], [NaN, 1]), /label NaN at index 0/),
  splitCase('split-count-mismatch', img('uint8', [3, 1, 1]), img('uint8', [2], [0, 1]), /2 labels for 3 images/),
  splitCase('split-images-rank-2', img('uint8', [3, 4]), img('uint8', [3], [0, 1, 0]), /expected images of shape/),
  splitCase(
    'split-labels-rank-2',
    img('uint8', [2, 1, 1]),
    img('uint8', [2, 1], [0, 1]),
    /expected labels of shape \[N\]/,
  ),
  splitCase('split-zero-images', img('uint8', [0, 2, 2]), img('uint8', [0]), /holds no images/),
  splitCase('split-zero-height', img('uint8', [2, 0, 5]), img('uint8', [2], [0, 1]), /has a zero dimension/),
  splitCase(
    'split-negative-limit',
    img('uint8', [2, 1, 1]),
    img('uint8', [2], [0, 1]),
    /limit: must be a non-negative integer/,
    { limit: -1 },
  ),
];

test('explicit bad IDX image/label pairs give the documented outcome (test/README.md)', (t) => {
  runCases(t, IDX_SPLIT_CASES, runSplit, checkSplit);
  const err = t.throws(
    () => runSplit({ images: img('uint8', [1, 1, 1]), labels: img('uint8', [1], [0]), limit: 1.5 }),
    { instanceOf: ConfigError },
  );
  t.is(err?.path, 'limit');
  t.throws(() => readIdx(join(dir, 'missing.gz')), { instanceOf: DataError, message: /missing\.gz.*ENOENT/ });
});

test('random image/label files: a finite [N, C, H, W] split or a DataError', (t) => {
  const tally = new Tally();
  const arr = (dtypes: readonly IdxDtype[], rank: fc.Arbitrary<number>, value: fc.Arbitrary<number>, n: number) =>
    fc
      .tuple(
        fc.constantFrom(...dtypes),
        rank.chain((r) =>
          fc.array(
            fc.oneof(
              { weight: 8, arbitrary: fc.integer({ min: 1, max: 3 }) },
              { weight: 1, arbitrary: fc.constant(0) },
            ),
            { minLength: r, maxLength: r },
          ),
        ),
      )
      .chain(([dtype, rest]) => {
        const shape = [n, ...rest];
        const count = shape.reduce((a, b) => a * b, 1);
        return fc.array(value, { minLength: count, maxLength: count }).map((vals) => img(dtype, shape, vals));
      });
  const input = fc
    .oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: fc.constant(0) })
    .chain((n) =>
      fc.record({
        images: arr(
          DTYPES,
          fc.integer({ min: 1, max: 3 }),
          fc.oneof(
            { weight: 40, arbitrary: fc.integer({ min: 0, max: 127 }) },
            { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, 1e39) },
          ),
          n,
        ),
        labels: fc
          .integer({ min: 0, max: 1 })
          .chain((extra) =>
            arr(
              ['uint8', 'int8', 'int32', 'float32'],
              fc.constant(extra),
              fc.oneof(
                { weight: 20, arbitrary: fc.integer({ min: 0, max: 9 }) },
                { weight: 1, arbitrary: fc.constantFrom(-1, -2, 0.5, NaN) },
              ),
              n,
            ),
          ),
      }),
    );
  fc.assert(
    fc.property(input, (s) => {
      const out = tally.add(attempt(() => runSplit(s)));
      if (out.ok) checkSplit(out.value);
      else check(out.error instanceof DataError && /img\d+|lab\d+/.test(out.error.message), out.error.message);
    }),
    fuzz(120),
  );
  tally.assertBoth(t);
});
