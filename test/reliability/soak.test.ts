// A short soak (bench/soak.ts runs the long one with the default CNN): a real search in this process, 70 candidate
// evaluations of every stage type on a Fashion-MNIST subset, with a narrow CNN (the same layer types, a fraction of
// the arithmetic) so it fits in CI. A late window (evaluations 60–70) is compared with one after warm-up (30–40):
// - what the process holds — glibc's bytes in use, V8's heap, LibTorch's live tensors — grows < 3% (+ 2 MB): a leak of
//   ~160 kB per candidate fails it. (Until ~60 evaluations SQLite's page caches fill with the growing study file, ≤ 2 MB
//   per connection by default; kernel and thread caches fill in the first ~30.)
// - LibTorch's live tensor memory (petra's counting allocator) comes back to the same bytes after every candidate;
// - RSS grows < 10%: RSS also counts pages of glibc's per-thread arenas that hold a few live bytes, which swing by
//   ±20 MB with how threads interleave (bench/results/soak.json shows it; MALLOC_ARENA_MAX=2 bounds it).
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSoak, type SoakSample } from '../../bench/soak.js';
import { setThreads } from '../../lib/runtime/info.js';
import { smallCnn } from '../../lib/graph/builders.js';
import { tempDir } from '../e2e/helpers/tiny.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('70 evaluations in one process: retained memory flat from evaluation 30–40 to 60–70, LibTorch tensor memory returns to the same bytes', async (t) => {
  setThreads(1); // this file's process only: two OpenMP threads next to other test processes on 2 cores only spin
  const dir = tempDir('soak');
  const model = join(dir, 'narrow-cnn.json');
  writeFileSync(
    model,
    JSON.stringify(smallCnn({ inputShape: [1, 28, 28], classes: 10, widths: [16, 32], hidden: 64 })),
  );
  const samples: SoakSample[] = [];
  const r = await runSoak({ evaluations: 70, every: 1, dir, model, onSample: (s) => samples.push(s) });
  t.is(r.evaluations, 70);
  for (const type of ['prune', 'quantize', 'lowrank']) t.true((r.stageMix[type] ?? 0) > 0, `${type} stages ran`);
  // Samples are taken as each candidate is told (after its memory was released); windows of 11 smooth the noise of
  // the C heap and V8's young generation.
  const window = (from: number, to: number): SoakSample[] =>
    samples.filter((s) => s.evaluation >= from && s.evaluation <= to);
  const warm = window(30, 40);
  const late = window(60, 70);
  const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
  const pct = (a: number, b: number): string => `${(((b - a) / a) * 100).toFixed(1)}%`;
  const retained = (s: SoakSample): number => (s.cHeapInUse ?? 0) + s.heapUsed + s.allocatorCurrent;
  const warmHeld = median(warm.map(retained));
  const lateHeld = median(late.map(retained));
  const warmRss = median(warm.map((s) => s.rssBytes));
  const lateRss = median(late.map((s) => s.rssBytes));
  t.log(
    `medians, evaluations 30–40 → 60–70: held (C heap in use + V8 heap + LibTorch) ${mb(warmHeld)} → ${mb(lateHeld)} MB (${pct(warmHeld, lateHeld)}); ` +
      `RSS ${mb(warmRss)} → ${mb(lateRss)} MB (${pct(warmRss, lateRss)}); thread arenas ${mb(median(warm.map((s) => s.rssThreadArenas ?? 0)))} → ${mb(median(late.map((s) => s.rssThreadArenas ?? 0)))} MB; ${r.seconds.toFixed(0)} s`,
  );
  t.true(
    samples.some((s) => s.cHeapInUse !== undefined),
    'glibc reports its heap (Linux)',
  );
  t.true(lateHeld <= warmHeld * 1.03 + 2 * 2 ** 20, `held memory grew from ${mb(warmHeld)} to ${mb(lateHeld)} MB`);
  t.true(lateRss <= warmRss * 1.1, `RSS grew from ${mb(warmRss)} to ${mb(lateRss)} MB`);
  // The tensors alive between candidates are the baseline and the data splits, byte for byte the same each time.
  const live = new Set(samples.filter((s) => s.evaluation >= 10).map((s) => s.allocatorCurrent));
  t.is(live.size, 1, `LibTorch live bytes between candidates: ${[...live].join(', ')}`);
  t.true(
    median(late.map((s) => s.heapUsed)) <= median(warm.map((s) => s.heapUsed)) * 1.25 + 4 * 2 ** 20,
    'V8 heap stays flat',
  );
});
