// QNNPACK runs on LibTorch's one process-wide pthreadpool, which at::set_num_threads recreates without waiting for work
// in flight, and LibTorch calls it in every new thread's lazy init: concurrent forwards of QNNPACK int8 models (an
// overflow compute thread starting mid-forward) hung the process. native/compute_thread.h's QnnpackMutex keeps pool
// resizes and QNNPACK forwards apart. Run in a child process so that a regression fails this test instead of hanging
// the suite.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('concurrent forwards of QNNPACK int8 models (petra and TorchScript) finish', (t) => {
  const child = spawnSync(
    process.execPath,
    ['--import=tsx', fileURLToPath(new URL('./helpers/qnnpack-concurrent.ts', import.meta.url))],
    {
      encoding: 'utf8',
      timeout: 120_000,
      killSignal: 'SIGKILL',
    },
  );
  t.not(child.signal, 'SIGKILL', 'hung: killed after 120 s');
  t.is(child.status, 0, child.stderr);
  t.regex(child.stdout, /done/);
});
