import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../lib/runtime/model.js';
import { evaluate, train } from '../../lib/runtime/train.js';
import { quantize } from '../../lib/compress/quantize.js';
import { modelSize } from '../../lib/lab/size.js';
import { deriveModel } from '../../lib/compress/derive.js';
import { ConfigError } from '../../lib/core/errors.js';
import { info } from '../../lib/runtime/info.js';
import { mlp, smallCnn } from '../../lib/graph/builders.js';
import { loadFashionMnist } from '../../lib/data/idx.js';
import { floatTensor } from '../helpers/tiny.js';

// The CUDA int8 recipe (backend 'cuda' on a GPU: torch._int_mm) checked without a GPU through backend 'intmm', which
// runs the same integer arithmetic on the CPU with an exact int32 GEMM. The int32 accumulation is exact on both, so
// these outputs are the ones the GPU computes, up to float rounding in the final rescale.

const dir = mkdtempSync(join(tmpdir(), 'petra-intmm-'));
/** torch.round: halves go to the even neighbour. */
const roundHalfEven = (v: number): number => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

test('int8 GEMM: per-row activation codes × per-channel int8 weights, rescaled — matches a JS reference exactly', async (t) => {
  const spec = mlp({ inputShape: [24], hidden: [], classes: 16 }); // one linear layer, 'head': 24 → 16
  using model = Model.build(spec, { seed: 3 });
  const { model: q, report } = await quantize(model, { mode: 'dynamic', backend: 'intmm' });
  using _q = q;
  t.deepEqual(report.layers, [{ name: 'head', kind: 'int8' }]);
  t.is(report.engine, 'intmm');
  t.is(report.activationScales, 'per-row, at run time');
  t.regex(report.kernel, /int32 GEMM/);
  const tensors = q.native.tensors();
  const w = tensors['head.qweight']!;
  t.deepEqual(w.shape, [16, 24]);
  const ws = tensors['head.wscale']!.data;
  const bias = tensors['head.bias']!.data;
  const x = floatTensor([5, 24], 9, 3);
  x.data[7] = 40; // one outlier: per-row scales keep it from coarsening the other rows
  const got = (await q.forward(x)).data;
  const expected = new Float32Array(5 * 16);
  for (let r = 0; r < 5; r++) {
    const row = Array.from(x.data.subarray(r * 24, (r + 1) * 24));
    const s = Math.fround(Math.max(Math.fround(Math.max(...row.map(Math.abs)) / 127), 1e-12));
    const codes = row.map((v) => Math.max(-127, Math.min(127, roundHalfEven(Math.fround(v / s)))));
    for (let o = 0; o < 16; o++) {
      let acc = 0;
      for (let i = 0; i < 24; i++) acc += codes[i]! * w.data[o * 24 + i]!;
      expected[r * 16 + o] = acc * s * ws[o]! + bias[o]!;
    }
  }
  for (let i = 0; i < expected.length; i++)
    t.true(
      Math.abs(got[i]! - expected[i]!) <= 1e-5 * Math.max(1, Math.abs(expected[i]!)),
      `output ${i}: ${got[i]} vs ${expected[i]}`,
    );
  const float = (await model.forward(x)).data;
  t.log(`max |int8 − fp32| ${maxAbsDiff(got, float).toFixed(4)}`);
  t.true(maxAbsDiff(got, float) < 0.05 * 40);
});

test('CNN plan: linear layers int8, layers without an int8 CUDA kernel listed with the reason; accuracy kept; saves smaller', async (t) => {
  const ds = loadFashionMnist({ limitTrain: 8000, limitTest: 2000 });
  using model = Model.build(smallCnn({ inputShape: [1, 28, 28], classes: 10 }), { seed: 1 });
  await train(model, { train: ds.train }, { epochs: 1, lr: 0.05, seed: 1 });
  const fp32 = await evaluate(model, ds.test);
  const { model: q, report } = await quantize(model, {
    mode: 'static',
    backend: 'intmm',
    calibration: { data: ds.train },
  });
  using _q = q;
  const kinds = Object.fromEntries(report.layers.map((l) => [l.name, l.kind]));
  t.log(report.layers.map((l) => `${l.name}: ${l.kind}${l.reason ? ` (${l.reason})` : ''}`).join('\n'));
  t.is(kinds['fc1'], 'int8');
  t.is(kinds['block1_conv'], 'fp32', 'on the CPU a conv without an int8 path stays fp32');
  t.regex(report.layers.find((l) => l.name === 'block1_conv')!.reason!, /no int8 convolution kernel on CUDA.*fp16/);
  t.is(kinds['head'], 'fp32', '128→10: not multiples of 8');
  t.regex(report.layers.find((l) => l.name === 'head')!.reason!, /multiples of 8/);
  t.true(report.notes.some((n) => /calibration data was not used/.test(n)));
  const int8 = await evaluate(q, ds.test);
  t.log(`accuracy fp32 ${(fp32.accuracy! * 100).toFixed(2)}% → int8 GEMM ${(int8.accuracy! * 100).toFixed(2)}%`);
  t.true(fp32.accuracy! - int8.accuracy! <= 0.01);
  const path = join(dir, 'cnn-intmm.pt');
  await q.save(path);
  using back = await Model.load(path);
  const x = { data: ds.test.inputs[0]!.data.subarray(0, 64 * 784), shape: [64, 1, 28, 28] };
  t.deepEqual(Array.from((await back.forward(x)).data), Array.from((await q.forward(x)).data));
  const [a, b] = [await modelSize(model), await modelSize(q)];
  t.log(`file ${a.fileBytes} → ${b.fileBytes} bytes`);
  t.true(b.fileBytes < a.fileBytes * 0.5, 'fc1 (most of the weights) is stored as int8');
});

test('half-precision layers (attrs.dtype): weights stored in bfloat16, output float32 and close to the float layer', async (t) => {
  const spec = mlp({ inputShape: [32], hidden: [64], classes: 4 });
  using model = Model.build(spec, { seed: 2 });
  const halfSpec = structuredClone(spec);
  for (const n of halfSpec.nodes) if (n.op === 'linear') (n.attrs as { dtype?: string }).dtype = 'bfloat16';
  using half = deriveModel(model, halfSpec, {});
  t.true(
    half
      .parameters()
      .filter((p) => p.name.endsWith('.weight'))
      .every((p) => p.dtype === 'BFloat16'),
  );
  const x = floatTensor([8, 32], 4);
  const [a, b] = [await model.forward(x), await half.forward(x)];
  t.true(b.data instanceof Float32Array);
  t.true(maxAbsDiff(a.data, b.data) < 0.05, `max diff ${maxAbsDiff(a.data, b.data)}`);
  const path = join(dir, 'bf16.pt');
  await half.save(path);
  using back = await Model.load(path);
  t.deepEqual(Array.from((await back.forward(x)).data), Array.from(b.data));
  t.true((await modelSize(back)).fileBytes < (await modelSize(model)).fileBytes * 0.7);
  const bad = structuredClone(spec);
  (bad.nodes.find((n) => n.op === 'relu')!.attrs as { dtype?: string }).dtype = 'float16';
  t.throws(() => Model.build(bad), { instanceOf: ConfigError, message: /dtype/ });
});

test('backend rules: cuda needs a CUDA model, CPU engines refuse one, unknown backends are ConfigErrors', async (t) => {
  using model = Model.build(mlp({ inputShape: [8], hidden: [8], classes: 2 }), { seed: 1 });
  await t.throwsAsync(quantize(model, { mode: 'dynamic', backend: 'cuda' }), {
    instanceOf: ConfigError,
    message: /intmm/,
  });
  await t.throwsAsync(quantize(model, { mode: 'dynamic', backend: 'tensorrt' as 'cuda' }), {
    instanceOf: ConfigError,
    message: /unknown backend/,
  });
  const { model: q } = await quantize(model, { mode: 'dynamic', backend: 'intmm' });
  using _q = q;
  await t.throwsAsync(quantize(q, { mode: 'dynamic', backend: 'intmm' }), {
    instanceOf: ConfigError,
    message: /already quantized/,
  });
  t.is(typeof info().cuda.int8Gemm, 'boolean');
});
