import test from 'ava';
import { readdirSync } from 'node:fs';
import { info, setThreads } from '../../lib/runtime/info.js';
import { Model } from '../../lib/runtime/model.js';
import { smallCnn } from '../../lib/graph/builders.js';

// Async operations run on one long-lived compute thread, or on a short-lived one while it is busy
// (native/compute_thread.h): libgomp keeps a team of worker threads per thread that opens a parallel region, and
// several teams on few cores make every op pay a futex wake-up (ResNet-20 batch 1 went from 0.94 ms to 2.9 ms on
// 2 cores). So however many libuv threads carried the calls, once they are done the process keeps one compute thread
// and one team: (threads − 1) OpenMP workers, not that many per libuv thread.
const osThreads = (): number => readdirSync('/proc/self/task').length;

test('after concurrent async operations, one compute thread and one OpenMP team remain', async (t) => {
  if (process.platform !== 'linux') return t.pass('thread counting reads /proc');
  const threads = 3; // even on 2 cores: the bound below then separates one team (2 workers) from four (8)
  setThreads(threads);
  t.is(info().threads.intraOp, threads);
  const model = Model.build(smallCnn({ inputShape: [1, 28, 28], classes: 10 }), { seed: 1 });
  const batch = 128; // large enough that conv and elementwise kernels open parallel regions
  const input = { data: new Float32Array(batch * 28 * 28).fill(0.5), shape: [batch, 1, 28, 28] };
  const before = osThreads();
  const libuvPool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const outputs = await Promise.all(Array.from({ length: 24 }, () => model.forward(input)));
  for (let i = 0; i < 4; i++) await model.forward(input); // sequential: these land on the long-lived thread
  await new Promise((resolve) => setTimeout(resolve, 200)); // short-lived threads' OpenMP workers finish exiting
  const gained = osThreads() - before;
  // At most: the libuv pool (if this was its first use) + the compute thread + its team's workers.
  t.log(`gained ${gained}`);
  t.true(gained <= libuvPool + 1 + (threads - 1), `gained ${gained} OS threads`);
  // Concurrent calls still get their own, identical answers.
  for (const o of outputs) t.deepEqual(o.data, outputs[0]!.data);
  model.dispose();
});
