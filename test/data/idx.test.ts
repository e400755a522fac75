import test from 'ava';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataError } from '../../lib/core/errors.js';
import { encodeIdx, loadFashionMnist, loadIdxDataset, parseIdx, readIdx } from '../../lib/data/idx.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-idx-'));

test('IDX round trip for every dtype, raw and gzipped', (t) => {
  const cases = [
    { dtype: 'uint8', data: Uint8Array.from([0, 1, 255, 7, 8, 9]) },
    { dtype: 'int8', data: Int8Array.from([-128, 1, 127, -7, 8, 9]) },
    { dtype: 'int16', data: Int16Array.from([-30000, 1, 300, -7, 8, 9]) },
    { dtype: 'int32', data: Int32Array.from([-2e9, 1, 70000, -7, 8, 9]) },
    { dtype: 'float32', data: Float32Array.from([0.5, -1.25, 3e8, 7, 8, 9]) },
    { dtype: 'float64', data: Float64Array.from([Math.PI, -1e-300, 3, 7, 8, 9]) },
  ] as const;
  for (const c of cases) {
    const bytes = encodeIdx({ dtype: c.dtype, shape: [2, 3], data: c.data });
    const raw = join(dir, `${c.dtype}.idx`);
    const gz = join(dir, `${c.dtype}.idx.gz`);
    writeFileSync(raw, bytes);
    writeFileSync(gz, gzipSync(bytes));
    for (const p of [raw, gz]) {
      const r = readIdx(p);
      t.is(r.dtype, c.dtype);
      t.deepEqual(r.shape, [2, 3]);
      t.deepEqual([...r.data], [...c.data]);
    }
  }
  // header is big-endian: [2, 3] → 00 00 00 02 00 00 00 03
  const b = encodeIdx({ dtype: 'uint8', shape: [2, 3], data: new Uint8Array(6) });
  t.deepEqual([...b.subarray(0, 12)], [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]);
});

test('bad IDX files are DataErrors naming the path', (t) => {
  const good = encodeIdx({ dtype: 'uint8', shape: [4, 4], data: new Uint8Array(16) });
  const trunc = join(dir, 'trunc.gz');
  writeFileSync(trunc, gzipSync(good.subarray(0, 20)));
  const magic = join(dir, 'magic');
  writeFileSync(magic, Buffer.from([1, 2, 8, 1, 0, 0, 0, 1, 5]));
  const code = join(dir, 'code');
  writeFileSync(code, Buffer.from([0, 0, 0x0a, 1, 0, 0, 0, 1, 5]));
  const badgz = join(dir, 'bad.gz');
  writeFileSync(badgz, Buffer.from([0x1f, 0x8b, 1, 2, 3]));
  for (const [p, re] of [
    [trunc, /truncated/],
    [magic, /magic/],
    [code, /dtype code/],
    [badgz, /gzip/],
    [join(dir, 'missing.gz'), /ENOENT/],
  ] as const) {
    const err = t.throws(() => readIdx(p), { instanceOf: DataError });
    t.true(err!.message.includes(p));
    t.regex(err!.message, re);
  }
  t.throws(() => parseIdx(new Uint8Array([0, 0, 8])), { instanceOf: DataError });
});

test('loadIdxDataset on a tiny custom dataset with a stratified val split', (t) => {
  const n = 20;
  const img = encodeIdx({
    dtype: 'uint8',
    shape: [n, 2, 3],
    data: Uint8Array.from({ length: n * 6 }, (_, i) => i % 256),
  });
  const lab = encodeIdx({ dtype: 'uint8', shape: [n], data: Uint8Array.from({ length: n }, (_, i) => i % 2) });
  writeFileSync(join(dir, 'img.gz'), gzipSync(img));
  writeFileSync(join(dir, 'lab'), lab);
  const files = { imagesPath: join(dir, 'img.gz'), labelsPath: join(dir, 'lab') };
  const ds = loadIdxDataset({ train: files, test: files, valFraction: 0.2, seed: 1 });
  t.deepEqual(ds.train.inputs[0]!.shape, [16, 1, 2, 3]);
  t.deepEqual(ds.val!.target.shape, [4]);
  t.deepEqual(ds.task, { kind: 'classification', classes: 2 });
  t.is(ds.test.inputs[0]!.data[1], Math.fround(1 / 255));
  t.throws(() => loadIdxDataset({ train: { ...files, labelsPath: join(dir, 'uint8.idx') }, test: files }), {
    instanceOf: DataError,
    message: /labels/,
  });
});

const FM = '/usr/share/datasets/fashion-mnist';
const hasFm = existsSync(join(FM, 'train-images-idx3-ubyte.gz'));

(hasFm ? test : test.skip)('Fashion-MNIST loads 60000/10000, normalized, balanced labels', (t) => {
  const ds = loadFashionMnist();
  t.deepEqual(ds.train.inputs[0]!.shape, [60000, 1, 28, 28]);
  t.deepEqual(ds.test.inputs[0]!.shape, [10000, 1, 28, 28]);
  t.deepEqual(ds.train.target.shape, [60000]);
  t.is(ds.task.kind, 'classification');
  const hist = (y: Int32Array | Float32Array) => {
    const h = new Array(10).fill(0);
    for (const v of y) h[v]++;
    return h;
  };
  t.deepEqual(hist(ds.train.target.data), new Array(10).fill(6000));
  t.deepEqual(hist(ds.test.target.data), new Array(10).fill(1000));
  const x = ds.train.inputs[0]!.data;
  let s = 0,
    q = 0;
  for (const v of x) {
    s += v;
    q += v * v;
  }
  const m = s / x.length;
  t.true(Math.abs(m) < 0.01, `mean ${m}`);
  t.true(Math.abs(Math.sqrt(q / x.length - m * m) - 1) < 0.01);
  const small = loadFashionMnist({ limitTrain: 1000, limitTest: 100, valFraction: 0.1, seed: 3 });
  t.is(small.train.target.shape[0]! + small.val!.target.shape[0]!, 1000);
  t.true(Math.abs(small.val!.target.shape[0]! - 100) <= 5); // per-class rounding
  t.is(small.test.target.shape[0], 100);
  t.throws(() => loadFashionMnist({ dir: join(dir, 'nope') }), { instanceOf: DataError, message: /nope/ });
});
