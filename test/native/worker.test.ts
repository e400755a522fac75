import test from 'ava';
import { Worker } from 'node:worker_threads';

// better-sqlite3's lesson: per-environment state must make the addon work in worker_threads, several at once,
// alongside the main thread, and survive a worker's teardown.
const bootstrap = new URL('../helpers/ts-worker.mjs', import.meta.url);
const script = new URL('../helpers/train-worker.ts', import.meta.url).href;

function runWorker(seed: number): Promise<{ accuracy: number; typed: boolean }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(bootstrap, { workerData: { seed, script } });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}`));
    });
  });
}

test('the addon loads, trains and throws typed errors inside worker_threads, two at once', async (t) => {
  const { info } = await import('../../lib/runtime/info.js');
  t.truthy(info().libtorchVersion); // loaded on the main thread as well
  const results = await Promise.all([runWorker(1), runWorker(2)]);
  for (const r of results) {
    t.true(r.accuracy > 0.9);
    t.true(r.typed, 'errors keep their class inside the worker');
  }
  const again = await runWorker(3); // a fresh environment after two were torn down
  t.true(again.accuracy > 0.9);
});
