// In inference petra folds each BatchNorm into the convolution that alone feeds it (native/graph_module.h), as
// onnxruntime and torch.jit.freeze do. The reference is the same model exported to TorchScript, whose BatchNorms run
// as their own ops: outputs must agree to float rounding, before and after more training (the folded weights are
// cached, and a stale cache after the weights or running statistics change would show here as a large difference).
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveTorchScript } from '../../lib/interop/torchscript-export.js';
import { TorchScriptModel } from '../../lib/lab/benchmark.js';
import { info, setThreads } from '../../lib/runtime/info.js';
import { Model } from '../../lib/runtime/model.js';
import { train } from '../../lib/runtime/train.js';
import { FAMILIES, maxAbsDiff, trainedModel } from '../interop/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'petra-bn-fold-'));
const N = 48;

/** max |petra − TorchScript| over N samples, relative to the largest output. */
async function differenceFromUnfolded(model: Model, data: (typeof FAMILIES)[number]['data'], name: string) {
  const path = join(dir, `${name}.pt`);
  await saveTorchScript(model, path);
  const x = data(N, 7).inputs;
  // One thread on both sides, as TorchScriptModel's synchronous forward runs.
  const threads = info().threads.intraOp;
  setThreads(1);
  try {
    const ours = await model.forward(x, { batchSize: N });
    using script = TorchScriptModel.load(path);
    const theirs = script.native.forward(x);
    const scale = Math.max(1, ...Array.from(theirs.data as Float32Array, Math.abs));
    return maxAbsDiff(ours.data, theirs.data) / scale;
  } finally {
    setThreads(threads);
  }
}

for (const f of FAMILIES.filter((x) => ['small CNN', 'ResNet', 'InceptionTime'].includes(x.name))) {
  test.serial(
    `${f.name}: folded BatchNorms give the unfolded outputs, and follow further training and loading`,
    async (t) => {
      using model = await trainedModel(f);
      t.true(
        model.spec.nodes.some((n) => n.op.startsWith('batchnorm')),
        'the family has BatchNorms to fold',
      );
      const before = await differenceFromUnfolded(model, f.data, `${f.name}-1`);
      t.log(`after one epoch: ${before.toExponential(2)}`);
      t.true(before <= 1e-5, `${before}`);

      // More training moves the convolution weights and the running statistics the fold was computed from.
      await train(
        model,
        { train: f.data(128, 21) },
        { epochs: 1, batchSize: 32, optimizer: 'adam', lr: 1e-2, seed: 4 },
      );
      const after = await differenceFromUnfolded(model, f.data, `${f.name}-2`);
      t.log(`after another epoch: ${after.toExponential(2)}`);
      t.true(after <= 1e-5, `${after}`);

      // A loaded model plans its folds before its weights are read in: they arrive through the same tensors.
      const file = join(dir, `${f.name}-saved.pt`);
      await model.save(file);
      using loaded = await Model.load(file);
      const x = f.data(N, 9).inputs;
      const [ours, theirs] = [await model.forward(x), await loaded.forward(x)];
      t.is(maxAbsDiff(ours.data, theirs.data), 0, 'the loaded model folds the loaded weights');
    },
  );
}
