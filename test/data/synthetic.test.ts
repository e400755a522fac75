import test from 'ava';
import {
  loadSyntheticImages,
  loadSyntheticTransactions,
  syntheticImages,
  syntheticTransactions,
  transactionFeatures,
} from '../../lib/data/synthetic.js';
import { gruSequenceClassifier } from '../../lib/graph/builders.js';
import type { TensorData } from '../../lib/data/types.js';

const sum = (a: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
};

function rows(t: TensorData, f: (r: Float32Array | Int32Array) => number[]): number[][] {
  const n = t.shape[0]!;
  const per = t.data.length / n;
  return Array.from({ length: n }, (_, i) => f(t.data.subarray(i * per, (i + 1) * per)));
}

/** Nearest-class-mean accuracy of test rows against train class means. */
function ncm(xtr: number[][], ytr: ArrayLike<number>, xte: number[][], yte: ArrayLike<number>, k: number): number {
  const D = xtr[0]!.length;
  const means = Array.from({ length: k }, () => new Float64Array(D));
  const cnt = new Array(k).fill(0);
  xtr.forEach((x, i) => {
    cnt[ytr[i]!]++;
    x.forEach((v, d) => (means[ytr[i]!]![d]! += v));
  });
  means.forEach((m, c) => m.forEach((_, d) => (m[d]! /= cnt[c])));
  let ok = 0;
  xte.forEach((x, i) => {
    let best = 0,
      bd = Infinity;
    means.forEach((m, c) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += (x[d]! - m[d]!) ** 2;
      if (s < bd) {
        bd = s;
        best = c;
      }
    });
    if (best === yte[i]) ok++;
  });
  return ok / xte.length;
}

test('syntheticImages is deterministic, balanced and class-structured but not trivially separable', (t) => {
  const a = syntheticImages({ n: 50, seed: 5 });
  t.deepEqual(a.x.data, syntheticImages({ n: 50, seed: 5 }).x.data);
  t.notDeepEqual(a.x.data, syntheticImages({ n: 50, seed: 6 }).x.data);
  t.deepEqual(a.x.shape, [50, 3, 32, 32]);

  const tr = syntheticImages({ n: 1000, seed: 1 });
  const te = syntheticImages({ n: 500, seed: 2 });
  const hist = new Array(10).fill(0);
  for (const y of tr.y.data) hist[y]++;
  t.deepEqual(hist, new Array(10).fill(100));
  const raw = (r: Float32Array | Int32Array) => Array.from(r);
  const acc = ncm(rows(tr.x, raw), tr.y.data, rows(te.x, raw), te.y.data, 10);
  t.true(acc > 0.13, `raw-pixel NCM ${acc} should beat chance (0.1): classes differ in statistics`);
  t.true(acc < 0.5, `raw-pixel NCM ${acc} should stay far from perfect`);
  const meanColour = (r: Float32Array | Int32Array) => {
    const p = r.length / 3;
    return [0, 1, 2].map((c) => sum(r.subarray(c * p, (c + 1) * p)) / p);
  };
  const accC = ncm(rows(tr.x, meanColour), tr.y.data, rows(te.x, meanColour), te.y.data, 10);
  t.true(accC < 0.35, `mean-colour NCM ${accC} should not solve the task`);
});

test('loadSyntheticImages returns normalized splits', (t) => {
  const ds = loadSyntheticImages({ trainSize: 200, testSize: 50, seed: 3, valFraction: 0.1, size: 16, classes: 4 });
  t.deepEqual(ds.train.inputs[0]!.shape, [180, 3, 16, 16]);
  t.deepEqual(ds.val!.target.shape, [20]);
  t.deepEqual(ds.test.inputs[0]!.shape, [50, 3, 16, 16]);
  t.deepEqual(ds.task, { kind: 'classification', classes: 4, labels: ['disc', 'square', 'ring', 'cross'] });
  const x = ds.train.inputs[0]!.data;
  t.true(Math.abs(sum(x) / x.length) < 1e-3);
});

test('syntheticTransactions: deterministic, valid codes, balanced labels, groups differ', (t) => {
  const d = syntheticTransactions({ clients: 800, seqLen: 32, seed: 9 });
  t.deepEqual(d.mcc.data, syntheticTransactions({ clients: 800, seqLen: 32, seed: 9 }).mcc.data);
  t.deepEqual(d.numeric.shape, [800, 32, 2]);
  const hist = [0, 0, 0, 0];
  for (const a of d.age.data) hist[a]!++;
  t.deepEqual(hist, [200, 200, 200, 200]);
  const card = transactionFeatures.categorical;
  for (const [k, tensor] of [
    [0, d.mcc],
    [1, d.type],
    [2, d.hour],
  ] as const) {
    for (const v of tensor.data)
      if (v < 0 || v >= card[k].cardinality || !Number.isInteger(v)) {
        t.fail(`bad code ${v}`);
        return;
      }
  }
  // long tail: the top 10 MCCs carry a large share, yet many categories occur
  const mccHist = new Array(100).fill(0);
  for (const m of d.mcc.data) mccHist[m]++;
  const sorted = [...mccHist].sort((a, b) => b - a);
  t.true(sorted.slice(0, 10).reduce((a, b) => a + b, 0) / d.mcc.data.length > 0.4);
  t.true(mccHist.filter((c) => c > 0).length > 70);
  // groups differ in activity hours (young later in the day) but overlap
  const meanHour = [0, 1, 2, 3].map((g) => {
    let s = 0,
      n = 0;
    d.age.data.forEach((a, c) => {
      if (a === g)
        for (let k = 0; k < 32; k++) {
          s += d.hour.data[c * 32 + k]!;
          n++;
        }
    });
    return s / n;
  });
  t.true(meanHour[0]! > meanHour[3]! + 1, `mean hours ${meanHour}`);
  // aggregated per-client features are informative but far from perfect with a nearest-class-mean classifier
  const agg = (dd: typeof d) =>
    Array.from({ length: dd.age.shape[0]! }, (_, c) => {
      const h = new Array(24 + 5 + 2).fill(0);
      for (let k = 0; k < 32; k++) {
        const o = c * 32 + k;
        h[dd.hour.data[o]!]! += 1 / 32;
        h[24 + dd.type.data[o]!]! += 1 / 32;
        h[29] += dd.numeric.data[2 * o]! / 32;
        h[30] += dd.numeric.data[2 * o + 1]! / 32;
      }
      return h;
    });
  const te = syntheticTransactions({ clients: 400, seqLen: 32, seed: 10 });
  const acc = ncm(agg(d), d.age.data, agg(te), te.age.data, 4);
  t.true(acc > 0.33 && acc < 0.8, `NCM on aggregates ${acc}`);
});

test('loadSyntheticTransactions matches gruSequenceClassifier inputs', (t) => {
  const ds = loadSyntheticTransactions({ clients: 400, seqLen: 24, seed: 1, valFraction: 0.1, testFraction: 0.2 });
  const spec = gruSequenceClassifier({ seqLen: 24, ...transactionFeatures, hiddenSize: 32, classes: 4 });
  t.is(ds.train.inputs.length, spec.inputs.length);
  spec.inputs.forEach((inp, i) => {
    const tensor = ds.train.inputs[i]!;
    t.deepEqual(tensor.shape.slice(1), inp.shape);
    t.is(tensor.data instanceof Int32Array, inp.dtype === 'int64');
  });
  t.is(ds.train.target.shape[0]! + ds.val!.target.shape[0]! + ds.test.target.shape[0]!, 400);
  t.is(ds.test.target.shape[0], 80);
  const num = ds.train.inputs[3]!.data;
  let s0 = 0;
  for (let i = 0; i < num.length; i += 2) s0 += num[i]!;
  t.true(Math.abs(s0 / (num.length / 2)) < 1e-3);
});
