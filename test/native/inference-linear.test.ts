import test from 'ava';
import { decompose } from '../../lib/compress/index.js';
import { mlp } from '../../lib/graph/builders.js';
import { info, setThreads } from '../../lib/runtime/info.js';
import { Model } from '../../lib/runtime/model.js';
import { floatTensor } from '../helpers/tiny.js';

// fp32 Linear layers run in inference on every intra-op thread (native/inference_linear.cc: each OpenMP thread runs
// the one-threaded BLAS on a slice of the output). Only the output is sliced, never a dot product, so the answer must
// be torch::linear's — which is what runs at one thread — up to float rounding (the BLAS may use other edge kernels
// for a slice). A wrong slice, bias or row offset would be off by far more.
async function outputsAt(threads: number, model: Model, rows: readonly number[], features: number) {
  setThreads(threads);
  const out = [];
  for (const n of rows) out.push((await model.forward(floatTensor([n, features], n))).data as Float32Array);
  return out;
}

function maxRelativeDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

const cases = [
  // 1024 output features: split by columns (batch 1 is a GEMV bound by reading W; batch 64 a GEMM).
  { name: 'wide linear layers (columns split)', spec: mlp({ inputShape: [1024], hidden: [1024, 512], classes: 3 }) },
  // 24 output features, too few to split: the rows are split instead.
  { name: 'narrow linear layers (rows split)', spec: mlp({ inputShape: [768], hidden: [24], classes: 2 }) },
];

for (const c of cases) {
  test.serial(`${c.name}: the same outputs on 1 and 2 threads`, async (t) => {
    const before = info().threads.intraOp;
    using model = Model.build(c.spec, { seed: 3 });
    const features = c.spec.inputs[0]!.shape[0]!;
    try {
      const rows = [1, 7, 64, 300];
      const one = await outputsAt(1, model, rows, features);
      const two = await outputsAt(2, model, rows, features);
      rows.forEach((n, i) => {
        t.is(two[i]!.length, one[i]!.length);
        const d = maxRelativeDifference(two[i]!, one[i]!);
        t.log(`batch ${n}: max relative difference ${d.toExponential(2)}`);
        t.true(d <= 1e-6, `batch ${n}: ${d}`);
      });
    } finally {
      setThreads(before);
    }
  });
}

test.serial('low-rank linear layers: the same outputs on 1 and 2 threads', async (t) => {
  const before = info().threads.intraOp;
  using dense = Model.build(mlp({ inputShape: [512], hidden: [512], classes: 4 }), { seed: 5 });
  const { model } = await decompose(dense, { rule: 'fixed_ratio', threshold: 0.5 });
  using low = model;
  t.true(low.spec.nodes.some((n) => n.op === 'lowrank_linear'));
  try {
    const one = await outputsAt(1, low, [1, 64], 512);
    const two = await outputsAt(2, low, [1, 64], 512);
    for (let i = 0; i < 2; i++) t.true(maxRelativeDifference(two[i]!, one[i]!) <= 1e-6);
  } finally {
    setThreads(before);
  }
});
