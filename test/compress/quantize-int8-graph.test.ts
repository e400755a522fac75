// The int8 plumbing between quantized layers: max pooling on codes and concatenation without requantizing.
import test from 'ava';
import { Model } from '../../lib/runtime/model.js';
import { evaluate, train } from '../../lib/runtime/train.js';
import { quantize } from '../../lib/compress/quantize.js';
import { inceptionTime } from '../../lib/graph/builders.js';
import { loadUcr } from '../../lib/data/ucr.js';
import type { ModelSpec } from '../../lib/graph/types.js';
import { floatTensor, UCR_DIR } from '../helpers/tiny.js';

/** x [2, 40] → conv1d(2→5, k 5, same) → (maxpool1d) → flatten, a regression over every pooled value. */
function convSpec(pool?: { kernelSize: number; stride: number; padding: number }): ModelSpec {
  const L = 40;
  const outLen = pool ? Math.floor((L + 2 * pool.padding - pool.kernelSize) / pool.stride) + 1 : L;
  return {
    format: 'petra.graph/1',
    inputs: [{ name: 'x', shape: [2, L], dtype: 'float32' }],
    nodes: [
      {
        name: 'conv',
        op: 'conv1d',
        inputs: ['x'],
        attrs: { inChannels: 2, outChannels: 5, kernelSize: 5, padding: 'same' },
      },
      ...(pool ? [{ name: 'pool', op: 'maxpool1d' as const, inputs: ['conv'], attrs: pool }] : []),
      { name: 'flat', op: 'flatten', inputs: [pool ? 'pool' : 'conv'], attrs: {} },
    ],
    output: 'flat',
    task: { kind: 'regression', targets: 5 * outLen },
  } as ModelSpec;
}

test('int8 max_pool1d pools the codes: exactly the max of the dequantized conv outputs, for strides 1 and 2 with padding', async (t) => {
  const x = floatTensor([7, 2, 40], 3);
  const calibration = { data: { inputs: [x], target: floatTensor([7, 200], 4) }, batches: 1 };
  using plain = Model.build(convSpec(), { seed: 2 });
  const { model: qPlain } = await quantize(plain, { mode: 'static', calibration });
  using _qp = qPlain;
  const conv = (await qPlain.forward(x)).data; // [7, 5, 40] dequantized int8 conv outputs
  for (const pool of [
    { kernelSize: 3, stride: 1, padding: 1 },
    { kernelSize: 3, stride: 2, padding: 1 },
    { kernelSize: 2, stride: 2, padding: 0 },
    { kernelSize: 4, stride: 1, padding: 2 },
  ]) {
    using pooled = Model.build(convSpec(pool), { seed: 2 }); // same seed, same conv weights, same calibration ranges
    const { model: q } = await quantize(pooled, {
      mode: 'static',
      calibration: {
        ...calibration,
        data: {
          ...calibration.data,
          target: floatTensor([7, 5 * (Math.floor((40 + 2 * pool.padding - pool.kernelSize) / pool.stride) + 1)], 4),
        },
      },
    });
    using _q = q;
    const actual = (await q.forward(x)).data;
    const outLen = Math.floor((40 + 2 * pool.padding - pool.kernelSize) / pool.stride) + 1;
    const expected: number[] = [];
    for (let row = 0; row < 7 * 5; row++) {
      for (let i = 0; i < outLen; i++) {
        let m = -Infinity;
        for (let j = i * pool.stride - pool.padding; j < i * pool.stride - pool.padding + pool.kernelSize; j++)
          if (j >= 0 && j < 40) m = Math.max(m, conv[row * 40 + j]!);
        expected.push(m);
      }
    }
    t.deepEqual(Array.from(actual), expected.map(Math.fround), JSON.stringify(pool));
  }
});

test("an inception block's int8 branches carry the concat's scale (the concat copies bytes) and its ReLU; BasicMotions accuracy holds", async (t) => {
  const ds = loadUcr({ dir: UCR_DIR, name: 'BasicMotions', valFraction: 0.2, seed: 1 });
  const [c, len] = ds.train.inputs[0]!.shape.slice(1) as [number, number];
  using model = Model.build(inceptionTime({ inputShape: [c, len], classes: 4, depth: 3, filters: 16 }), { seed: 1 });
  await train(
    model,
    { train: ds.train },
    { epochs: 30, batchSize: 16, optimizer: 'adam', lr: 3e-3, schedule: 'cosine', seed: 1 },
  );
  const { model: q, report } = await quantize(model, {
    mode: 'static',
    calibration: { data: ds.train, batches: 4, batchSize: 16 },
  });
  using _q = q;
  for (const block of ['inception0', 'inception1', 'inception2']) {
    const concat = q.spec.nodes.find((n) => n.name === `${block}_concat`)!;
    const params = (name: string) => {
      const a = q.spec.nodes.find((n) => n.name === name)!.attrs as {
        outScale?: number;
        outZeroPoint?: number;
        relu?: boolean;
      };
      return [a.outScale, a.outZeroPoint];
    };
    for (const branch of concat.inputs) {
      t.deepEqual(params(branch), params(concat.name), `${branch} carries ${concat.name}'s scale and zero point`);
      t.true(
        (q.spec.nodes.find((n) => n.name === branch)!.attrs as { relu?: boolean }).relu,
        `${branch} applies the block's ReLU`,
      );
    }
    t.true(report.fusedRelu.includes(`${block}_relu`));
    t.false(q.spec.nodes.some((n) => n.name === `${block}_relu`));
  }
  const [fp32, int8] = [await evaluate(model, ds.test), await evaluate(q, ds.test)];
  t.log(
    `BasicMotions accuracy fp32 ${(fp32.accuracy! * 100).toFixed(2)}%, static int8 ${(int8.accuracy! * 100).toFixed(2)}%`,
  );
  t.true(fp32.accuracy! > 0.85);
  t.true(fp32.accuracy! - int8.accuracy! <= 0.02);
});
