// Dynamic int8 GRU: petra's fused recurrence against quantized::linear_dynamic per step (the same quantization
// arithmetic), on synthetic card transactions.
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../lib/runtime/model.js';
import { evaluate, train } from '../../lib/runtime/train.js';
import { quantize } from '../../lib/compress/quantize.js';
import { ConfigError } from '../../lib/core/errors.js';
import { validateSpec } from '../../lib/graph/validate.js';
import { gruSequenceClassifier } from '../../lib/graph/builders.js';
import { loadSyntheticTransactions, transactionFeatures } from '../../lib/data/synthetic.js';
import type { TabularSplit, TensorData } from '../../lib/data/types.js';
import { floatTensor, intTensor } from '../helpers/tiny.js';
import { dynamicLinear, int8GruFinalState, maxAbsDiff } from '../helpers/int8-reference.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-qgru-'));
/** Share of elements that differ by more than float rounding. */
const shareDiffering = (a: ArrayLike<number>, b: ArrayLike<number>, tolerance = 1e-5) => {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > tolerance) n++;
  return n / a.length;
};
/** Rows [start, start + count) of every input. */
const rows = (inputs: TensorData[], start: number, count: number): TensorData[] =>
  inputs.map((x) => {
    const per = x.shape.slice(1).reduce((a, b) => a * b, 1);
    return {
      ...x,
      data: x.data.slice(start * per, (start + count) * per),
      shape: [count, ...x.shape.slice(1)],
    } as TensorData;
  });

test('fused int8 recurrence = quantized::linear_dynamic per step on a trained 2-layer bidirectional GRU; accuracy kept', async (t) => {
  const T = 32;
  const ds = loadSyntheticTransactions({ clients: 1500, seqLen: T, seed: 3, valFraction: 0.1, testFraction: 0.3 });
  const spec = gruSequenceClassifier({
    seqLen: T,
    ...transactionFeatures,
    hiddenSize: 32,
    numLayers: 2,
    bidirectional: true,
    classes: 4,
  });
  using model = Model.build(spec, { seed: 1 });
  await train(model, { train: ds.train }, { epochs: 3, batchSize: 64, optimizer: 'adam', lr: 3e-3, seed: 1 });
  const { model: fused, report } = await quantize(model, { mode: 'dynamic', gruRecurrence: 'fused' });
  using _f = fused;
  const { model: perStep } = await quantize(model, { mode: 'dynamic', gruRecurrence: 'linear_dynamic' });
  using _p = perStep;
  t.true(report.layers.some((l) => l.name === 'gru' && l.kind === 'int8'));
  t.true(
    report.notes.some((n) => /fused int8 loop at every batch size/.test(n)),
    report.notes.join('; '),
  );

  const test1: TabularSplit = ds.test;
  const [a, b, f] = [
    await fused.forward(test1.inputs),
    await perStep.forward(test1.inputs),
    await model.forward(test1.inputs),
  ];
  const same = maxAbsDiff(a.data, b.data);
  const toFloat = maxAbsDiff(b.data, f.data);
  const differing = shareDiffering(a.data, b.data);
  t.log(
    `logits over ${test1.target.shape[0]} clients: max |fused − linear_dynamic| ${same.toExponential(2)} (${(differing * 100).toFixed(1)}% beyond 1e-5), max |linear_dynamic − fp32| ${toFloat.toFixed(4)}`,
  );
  // The same codes give the same logits to float rounding; where a hidden value sits on a rounding boundary, the two
  // paths' float rounding can pick neighbouring codes, a difference of one quantization step that later steps carry.
  t.true(same < toFloat / 5, 'the two int8 paths agree far more closely than int8 agrees with float');
  t.true(differing < 0.5, 'most logits agree to float rounding');
  for (const start of [0, 7, 100]) {
    const one = rows(test1.inputs, start, 1);
    t.true(
      maxAbsDiff((await fused.forward(one)).data, (await perStep.forward(one)).data) < toFloat / 5,
      `batch 1, client ${start}`,
    );
  }
  const [fp32, q1, q2] = [await evaluate(model, test1), await evaluate(fused, test1), await evaluate(perStep, test1)];
  t.log(
    `accuracy fp32 ${(fp32.accuracy! * 100).toFixed(2)}%, int8 fused ${(q1.accuracy! * 100).toFixed(2)}%, int8 linear_dynamic ${(q2.accuracy! * 100).toFixed(2)}%`,
  );
  t.true(fp32.accuracy! > 0.4, 'the GRU learned something (chance is 25%)');
  t.true(Math.abs(q1.accuracy! - fp32.accuracy!) <= 0.01);
  t.true(Math.abs(q1.accuracy! - q2.accuracy!) <= 0.005);

  const path = join(dir, 'gru-fused.pt');
  await fused.save(path);
  using back = await Model.load(path);
  t.is((back.spec.nodes.find((n) => n.name === 'gru')!.attrs as { recurrence?: string }).recurrence, 'fused');
  t.deepEqual(Array.from((await back.forward(test1.inputs)).data), Array.from(a.data));
});

test('the fused int8 recurrence computes the dynamic-int8 GRU arithmetic of an independent reference (exact gates)', async (t) => {
  const [B, T, I, H] = [6, 5, 7, 16];
  const spec = {
    format: 'petra.graph/1' as const,
    inputs: [{ name: 'x', shape: [T, I], dtype: 'float32' as const }],
    nodes: [
      {
        name: 'gru',
        op: 'gru' as const,
        inputs: ['x'],
        attrs: { inputSize: I, hiddenSize: H, output: 'last' as const },
      },
      { name: 'head', op: 'linear' as const, inputs: ['gru'], attrs: { inFeatures: H, outFeatures: 3 } },
    ],
    output: 'head',
    task: { kind: 'classification' as const, classes: 3 },
  };
  using model = Model.build(spec, { seed: 8 });
  const { model: q } = await quantize(model, { mode: 'dynamic', gruRecurrence: 'fused' });
  using _q = q;
  const w = q.native.tensors();
  const x = floatTensor([B, T, I], 12);
  const h = int8GruFinalState(w, 'gru', x.data, B, T, I, H);
  const expected = dynamicLinear(h, B, H, w['head.qweight']!.data, w['head.wscale']!.data, w['head.bias']!.data);
  const actual = (await q.forward(x)).data;
  const fp32 = (await model.forward(x)).data;
  t.log(
    `max |petra fused − reference| ${maxAbsDiff(actual, expected).toExponential(2)}, max |int8 − fp32| ${maxAbsDiff(actual, fp32).toFixed(4)}`,
  );
  t.true(maxAbsDiff(actual, expected) < 1e-4);
});

test("recurrence 'auto' computes what both forced recurrences compute, on each side of batch × hidden² = 2^18 and 2^19", async (t) => {
  // Which side 'auto' takes only changes speed (bench/qgru.ts shows it taking the faster one); here: the same logits
  // as one of the forced paths, and the two paths within one quantization step of each other.
  const spec = gruSequenceClassifier({
    seqLen: 4,
    categorical: [{ name: 'mcc', cardinality: 20, embeddingDim: 4 }],
    numericFeatures: 2,
    hiddenSize: 16,
    classes: 3,
  });
  using model = Model.build(spec, { seed: 4 });
  const variants = await Promise.all(
    (['auto', 'fused', 'linear_dynamic'] as const).map((r) => quantize(model, { mode: 'dynamic', gruRecurrence: r })),
  );
  using auto = variants[0]!.model;
  using fused = variants[1]!.model;
  using perStep = variants[2]!.model;
  t.true(variants[0]!.report.notes.some((n) => /while batch × hidden² ≤ 2\^18/.test(n)));
  for (const batch of [3, 1024, 1025, 2048, 2049]) {
    // 16² · 1024 = 2^18 (AVX2 machines), 16² · 2048 = 2^19 (AVX-512)
    const inputs = [intTensor([batch, 4], 20, batch), floatTensor([batch, 4, 2], batch)];
    const run = (m: Model) => m.forward(inputs, { batchSize: batch }); // one native call: the batch the rule sees
    const [a, f, p, fp32] = [await run(auto), await run(fused), await run(perStep), await run(model)];
    t.is(
      Math.min(maxAbsDiff(a.data, f.data), maxAbsDiff(a.data, p.data)),
      0,
      `batch ${batch}: auto runs one of the two`,
    );
    t.true(maxAbsDiff(f.data, p.data) < 5e-3, `batch ${batch}: the two agree up to a rounding-boundary code`);
    t.true(maxAbsDiff(a.data, fp32.data) < 0.05);
  }
});

test('stacked int8 GRUs (a bidirectional one returning every step) match across recurrences; bad values are ConfigErrors', async (t) => {
  const spec = {
    format: 'petra.graph/1' as const,
    inputs: [{ name: 'x', shape: [12, 6], dtype: 'float32' as const }],
    nodes: [
      {
        name: 'seq',
        op: 'gru' as const,
        inputs: ['x'],
        attrs: { inputSize: 6, hiddenSize: 24, bidirectional: true, output: 'sequence' as const },
      },
      {
        name: 'last',
        op: 'gru' as const,
        inputs: ['seq'],
        attrs: { inputSize: 48, hiddenSize: 16, output: 'last' as const },
      },
      { name: 'head', op: 'linear' as const, inputs: ['last'], attrs: { inFeatures: 16, outFeatures: 3 } },
    ],
    output: 'head',
    task: { kind: 'classification' as const, classes: 3 },
  };
  using model = Model.build(spec, { seed: 5 });
  const x = floatTensor([5, 12, 6], 9);
  const { model: fused, report } = await quantize(model, { mode: 'dynamic', gruRecurrence: 'fused' });
  using _f = fused;
  const { model: perStep } = await quantize(model, { mode: 'dynamic', gruRecurrence: 'linear_dynamic' });
  using _p = perStep;
  t.deepEqual(
    report.layers.map((l) => `${l.name}:${l.kind}`),
    ['seq:int8', 'last:int8', 'head:int8'],
  );
  const [a, b, f] = [await fused.forward(x), await perStep.forward(x), await model.forward(x)];
  t.deepEqual(a.shape, [5, 3]);
  t.log(
    `max |fused − linear_dynamic| ${maxAbsDiff(a.data, b.data).toExponential(2)}, max |int8 − fp32| ${maxAbsDiff(a.data, f.data).toFixed(4)}`,
  );
  t.true(maxAbsDiff(a.data, b.data) < maxAbsDiff(b.data, f.data) / 5);
  t.true(maxAbsDiff(a.data, f.data) < 0.05);
  await t.throwsAsync(quantize(model, { mode: 'dynamic', gruRecurrence: 'sometimes' as never }), {
    instanceOf: ConfigError,
    message: /gruRecurrence/,
  });
  const bad = structuredClone(fused.spec);
  (bad.nodes[0]!.attrs as Record<string, unknown>).recurrence = 'unrolled';
  t.throws(() => validateSpec(bad), { instanceOf: ConfigError, message: /'auto', 'fused' or 'linear_dynamic'/ });
});
