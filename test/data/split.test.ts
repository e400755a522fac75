import test from 'ava';
import { DataError } from '../../lib/core/errors.js';
import {
  applyStandardizer,
  createRng,
  fitStandardizer,
  shuffleIndices,
  splitIndices,
  takeRows,
  trainValSplit,
} from '../../lib/data/split.js';
import type { TabularSplit } from '../../lib/data/types.js';

function toy(n: number): TabularSplit {
  const x = Float32Array.from({ length: n * 2 }, (_, i) => i);
  const y = Int32Array.from({ length: n }, (_, i) => (i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2));
  return { inputs: [{ data: x, shape: [n, 2] }], target: { data: y, shape: [n] } };
}

test('rng is deterministic, uniform-ish, and normal() has unit variance', (t) => {
  const a = createRng(42),
    b = createRng(42),
    c = createRng(43);
  const sa = Array.from({ length: 5 }, () => a.next());
  t.deepEqual(
    sa,
    Array.from({ length: 5 }, () => b.next()),
  );
  t.notDeepEqual(
    sa,
    Array.from({ length: 5 }, () => c.next()),
  );
  const r = createRng(1);
  let s = 0,
    q = 0;
  const counts = new Array(5).fill(0);
  for (let i = 0; i < 20000; i++) {
    const v = r.normal();
    s += v;
    q += v * v;
    counts[r.int(5)]++;
  }
  t.true(Math.abs(s / 20000) < 0.05);
  t.true(Math.abs(q / 20000 - 1) < 0.05);
  for (const k of counts) t.true(Math.abs(k - 4000) < 300);
});

test('shuffleIndices is a seeded permutation', (t) => {
  const p = shuffleIndices(100, 7);
  t.deepEqual(
    [...p].sort((a, b) => a - b),
    Array.from({ length: 100 }, (_, i) => i),
  );
  t.deepEqual(p, shuffleIndices(100, 7));
  t.notDeepEqual(p, shuffleIndices(100, 8));
});

test('trainValSplit is deterministic, disjoint and stratified', (t) => {
  const s = toy(1000);
  const a = trainValSplit(s, 0.2, 3);
  const b = trainValSplit(s, 0.2, 3);
  t.deepEqual(a.val.target.data, b.val.target.data);
  t.is(a.train.target.shape[0]! + a.val.target.shape[0]!, 1000);
  t.is(a.val.target.shape[0], 200);
  const hist = (y: Int32Array) => [0, 1, 2].map((k) => y.filter((v) => v === k).length);
  t.deepEqual(hist(a.val.target.data as Int32Array), [140, 40, 20]);
  // rows stay aligned: feature 0 of row r is 2r, and label follows r
  const vx = a.val.inputs[0]!.data;
  const vy = a.val.target.data;
  for (let i = 0; i < 200; i++) {
    const r = vx[2 * i]! / 2;
    t.is(vy[i], r % 10 < 7 ? 0 : r % 10 < 9 ? 1 : 2);
  }
  const seen = new Set([...a.train.inputs[0]!.data].filter((_, i) => i % 2 === 0));
  for (let i = 0; i < 200; i++) t.false(seen.has(vx[2 * i]!));
  const un = trainValSplit(s, 0.2, 3, { stratify: false });
  t.is(un.val.target.shape[0], 200);
  t.throws(() => splitIndices(10, 1, 0), { instanceOf: DataError });
});

test('takeRows and standardizer', (t) => {
  const s = toy(4);
  const r = takeRows(s, [3, 1]);
  t.deepEqual([...r.inputs[0]!.data], [6, 7, 2, 3]);
  t.deepEqual(r.inputs[0]!.shape, [2, 2]);
  const x = { data: Float32Array.from([1, 10, 3, 30, 5, 50]), shape: [3, 2] };
  const st = fitStandardizer(x);
  t.deepEqual([...st.mean], [3, 30]);
  const z = applyStandardizer(x, st);
  t.true(Math.abs(z.data[0]! + 1.2247) < 1e-3);
  // per-channel over [N, C, T]
  const y = { data: Float32Array.from([1, 3, 100, 100, 5, 7, 100, 100]), shape: [2, 2, 2] };
  const sy = fitStandardizer(y);
  t.deepEqual([...sy.mean], [4, 100]);
  t.is(sy.std[1], 1); // constant channel → std 1
});
