// petra's counting CPU allocator: LibTorch's tensor memory is counted (current, peak, live allocations), a cap turns
// an allocation beyond it into a DeviceError ("out of memory") that leaves the process and later work intact, and
// PETRA_CPU_MEMORY_CAP_MB sets the cap for a whole process.
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError, DeviceError } from '../../lib/core/errors.js';
import { info, memoryStats, resetPeakMemory, setMemoryCap } from '../../lib/runtime/info.js';
import { Model } from '../../lib/runtime/model.js';
import { mlp } from '../../lib/graph/builders.js';
import { train } from '../../lib/runtime/train.js';
import { blobs } from '../helpers/tiny.js';

const tsx = import.meta.resolve('tsx');

test.serial("tensor memory is counted: a model's weights appear on build and are gone on dispose", (t) => {
  const before = memoryStats();
  t.true(before.tracking, "the counting allocator is LibTorch's CPU allocator");
  t.is(before.capBytes, 0);
  const model = Model.build(mlp({ inputShape: [64], hidden: [256], classes: 10 }), { seed: 1 });
  const weights = (64 * 256 + 256 + 256 * 10 + 10) * 4;
  const built = memoryStats();
  t.true(
    built.currentBytes - before.currentBytes >= weights,
    `${built.currentBytes - before.currentBytes} ≥ ${weights}`,
  );
  t.true(built.liveAllocations > before.liveAllocations);
  t.true(built.peakBytes >= built.currentBytes);
  model.dispose();
  const after = memoryStats();
  t.is(after.currentBytes, before.currentBytes);
  t.is(after.liveAllocations, before.liveAllocations);
  t.deepEqual(info().memory.tracking, true, 'info() reports it too');
});

test.serial(
  'a memory cap fails the allocation that would cross it with a DeviceError; lifting it lets the same work run',
  async (t) => {
    const data = blobs(256, 16, 3);
    using model = Model.build(mlp({ inputShape: [16], hidden: [512, 512], classes: 2 }), { seed: 1 });
    await train(model, { train: data }, { epochs: 1, batchSize: 32 });
    resetPeakMemory();
    const { currentBytes, refusedAllocations } = memoryStats();
    setMemoryCap(currentBytes + 64 * 1024);
    try {
      // Adam's state alone (2 × 1 MB of moments) does not fit in 64 kB more.
      const error = await t.throwsAsync(
        train(model, { train: data }, { epochs: 1, batchSize: 32, optimizer: 'adam' }),
        { instanceOf: DeviceError },
      );
      t.regex(
        error!.message,
        /CPU out of memory: allocating .* would exceed the memory cap of .* in use by LibTorch tensors/,
      );
      const s = memoryStats();
      t.is(s.refusedAllocations, refusedAllocations + 1);
      t.true(s.peakBytes <= currentBytes + 64 * 1024, 'nothing beyond the cap was ever allocated');
      t.is(s.currentBytes, currentBytes, 'what the failed epoch had allocated was freed');
    } finally {
      setMemoryCap(0);
    }
    const r = await train(model, { train: data }, { epochs: 1, batchSize: 32, optimizer: 'adam' });
    t.true(Number.isFinite(r.history[0]!.trainLoss));
    t.is(memoryStats().capBytes, 0);
  },
);

test('setMemoryCap checks its argument', (t) => {
  t.throws(() => setMemoryCap(-1), { instanceOf: ConfigError, message: /≥ 0/ });
  t.throws(() => setMemoryCap(1.5), { instanceOf: ConfigError });
  t.throws(() => setMemoryCap(1024, { device: 'tpu' }), { message: /unknown device 'tpu'/ });
});

function child(code: string, env: Record<string, string>): Promise<{ status: number; stdout: string; stderr: string }> {
  const file = fileURLToPath(new URL('../../lib/index.ts', import.meta.url));
  const script = `import(${JSON.stringify(file)}).then(async (p) => { ${code} }).catch((e) => { console.log(JSON.stringify({ name: e.name, message: e.message })); });`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [`--import=${tsx}`, '--input-type=module', '-e', script],
      { env: { ...process.env, PETRA_THREADS: '1', ...env }, encoding: 'utf8', timeout: 60_000 },
      (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('PETRA_CPU_MEMORY_CAP_MB caps a whole process from the start; a malformed value is refused', async (t) => {
  const capped = await child(
    `
    const s = p.info().memory;
    let error;
    try { p.Model.build(p.mlp({ inputShape: [1024], hidden: [1024], classes: 10 }), { seed: 1 }); } catch (e) { error = { name: e.name, message: e.message }; }
    console.log(JSON.stringify({ cap: s.capBytes, error }));`,
    { PETRA_CPU_MEMORY_CAP_MB: '2' },
  );
  const r = JSON.parse(capped.stdout.trim().split('\n').at(-1)!) as {
    cap: number;
    error?: { name: string; message: string };
  };
  t.is(r.cap, 2 * 1024 * 1024);
  t.is(r.error?.name, 'DeviceError', capped.stdout + capped.stderr);
  t.regex(r.error?.message ?? '', /out of memory/);
  const bad = await child('console.log(JSON.stringify(p.info().memory));', { PETRA_CPU_MEMORY_CAP_MB: 'lots' });
  const e = JSON.parse(bad.stdout.trim().split('\n').at(-1)!) as { name: string; message: string };
  t.is(e.name, 'ConfigError');
  t.regex(e.message, /PETRA_CPU_MEMORY_CAP_MB='lots' is not a positive number of MiB/);
});

// glibc's default thresholds page-fault a model's activations in on every call (bench/results/blas-threads.md: a
// fresh small CNN at batch 64, 45.7 ms with them, 8.6 ms without); petra raises them at load unless told not to or
// the environment already configures malloc. What it chose is in info() and every host fingerprint.
test('the C heap keeps tensors of up to 32 MiB in the heap; PETRA_MALLOC=default and GLIBC_TUNABLES leave glibc alone', async (t) => {
  t.deepEqual(info().cHeap, { mode: 'tensor-friendly', mmapThreshold: 32 << 20, trimThreshold: 1 << 30 });
  const report = 'console.log(JSON.stringify(p.info().cHeap))';
  const plain = await child(report, { PETRA_MALLOC: 'default' });
  t.deepEqual(JSON.parse(plain.stdout.trim()), { mode: 'default', mmapThreshold: 0, trimThreshold: 0 }, plain.stderr);
  const tuned = await child(report, { GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=268435456' });
  t.is(JSON.parse(tuned.stdout.trim()).mode, 'environment', tuned.stderr);
});
