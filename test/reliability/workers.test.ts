// A service that runs petra in worker_threads creates and disposes them for hours: 50 workers, a few at a time, each
// loading the addon and training a tiny model, must all exit cleanly and leave the process's memory where it was
// after warm-up (per-environment state freed at teardown; LibTorch's tensors all returned).
import test from 'ava';
import { Worker } from 'node:worker_threads';
import { memoryStats, setThreads, trimMemory } from '../../lib/runtime/info.js';

const bootstrap = new URL('../helpers/ts-worker.mjs', import.meta.url);
const script = new URL('../helpers/train-worker.ts', import.meta.url).href;

function runWorker(seed: number): Promise<{ accuracy: number; typed: boolean; code: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(bootstrap, { workerData: { seed, script } });
    let result: { accuracy: number; typed: boolean } | undefined;
    w.once('message', (m: { accuracy: number; typed: boolean }) => {
      result = m;
    });
    w.once('error', reject);
    w.once('exit', (code) =>
      result ? resolve({ ...result, code }) : reject(new Error(`worker ${seed} exited with ${code} before reporting`)),
    );
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('50 worker_threads created and disposed in waves: all exit cleanly, RSS after warm-up stays within 5%', async (t) => {
  setThreads(1); // process-wide, workers included: on 2 shared cores a second OpenMP thread only spins
  const total = 50;
  const wave = 5;
  const rss: number[] = [];
  const tensors: number[] = [];
  let done = 0;
  for (let start = 0; start < total; start += wave) {
    const results = await Promise.all(Array.from({ length: wave }, (_, i) => runWorker(start + i + 1)));
    for (const r of results) {
      t.is(r.code, 0);
      t.true(r.accuracy > 0.9, `accuracy ${r.accuracy}`);
      t.true(r.typed, 'typed errors inside the worker');
    }
    done += results.length;
    trimMemory(); // what a search does after each candidate; keeps the C heap's free pages from counting
    rss.push(process.memoryUsage.rss());
    tensors.push(memoryStats().currentBytes);
  }
  t.is(done, total);
  // Warm-up: the first two waves (V8 code caches, tsx's transform cache, LibTorch's thread pools and kernels).
  const warm = median(rss.slice(2, 5));
  const end = median(rss.slice(-3));
  const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
  t.log(
    `RSS per wave (MB): ${rss.map(mb).join(' ')}; after warm-up ${mb(warm)} → end ${mb(end)} (${(((end - warm) / warm) * 100).toFixed(1)}%)`,
  );
  t.true(end <= warm * 1.05, `RSS grew from ${mb(warm)} MB to ${mb(end)} MB`);
  t.is(tensors.at(-1), tensors[0], 'every tensor the workers made was freed');
});
