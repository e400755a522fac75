// Runs inside a worker_thread for test/native/worker.test.ts.
import { parentPort, workerData } from 'node:worker_threads';
if (!parentPort) throw new Error('test/helpers/train-worker.ts runs inside a worker_thread');
const port = parentPort;
const { Model } = await import('../../lib/runtime/model.js');
const { train, evaluate } = await import('../../lib/runtime/train.js');
const { mlp } = await import('../../lib/graph/builders.js');
const { blobs } = await import('./tiny.js');
const { ShapeError } = await import('../../lib/core/errors.js');
const data = blobs(512, 8, workerData.seed);
const model = Model.build(mlp({ inputShape: [8], hidden: [16], classes: 2 }), { seed: workerData.seed });
await train(model, { train: data }, { epochs: 2, batchSize: 32 });
const m = await evaluate(model, data);
let typed = false;
try {
  await model.forward({ data: new Float32Array(3), shape: [1, 3] });
} catch (e: unknown) {
  typed = e instanceof ShapeError;
}
model.dispose();
port.postMessage({ accuracy: m.accuracy, typed });
