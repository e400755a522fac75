// A short soak (bench/soak.ts runs the long one with the default CNN): a real search in this process, 42 candidate
// evaluations of every stage type on a Fashion-MNIST subset, with a narrow CNN (the same layer types, a fraction of
// the arithmetic) so it fits in CI. After warm-up the process's RSS must stay within 5%, and LibTorch's live tensor
// memory (petra's counting allocator) must come back to the same bytes after every candidate: nothing leaks per
// candidate, natively or in JS.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSoak, type SoakSample } from '../../bench/soak.js';
import { setThreads } from '../../lib/info.js';
import { smallCnn } from '../../lib/spec/builders.js';
import { tempDir } from '../e2e/helpers/tiny.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('42 evaluations in one process: RSS after warm-up grows < 5%, LibTorch tensor memory returns to the same bytes', async (t) => {
  setThreads(1); // this file's process only: two OpenMP threads next to other test processes on 2 cores only spin
  const dir = tempDir('soak');
  const model = join(dir, 'narrow-cnn.json');
  writeFileSync(model, JSON.stringify(smallCnn({ inputShape: [1, 28, 28], classes: 10, widths: [16, 32], hidden: 64 })));
  const samples: SoakSample[] = [];
  const r = await runSoak({ evaluations: 42, every: 1, dir, model, onSample: (s) => samples.push(s) });
  t.is(r.evaluations, 42);
  for (const type of ['prune', 'quantize', 'lowrank']) t.true((r.stageMix[type] ?? 0) > 0, `${type} stages ran`);
  // Samples are taken as each candidate is told (after its memory was released); windows of 11 smooth the noise of
  // the C heap and V8's young generation.
  const window = (from: number, to: number): SoakSample[] => samples.filter((s) => s.evaluation >= from && s.evaluation <= to);
  const warm = window(10, 20);
  const end = window(32, 42);
  const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
  const warmRss = median(warm.map((s) => s.rssBytes));
  const endRss = median(end.map((s) => s.rssBytes));
  t.log(`RSS at 0 / 10 / 42 evaluations: ${mb(samples[0]!.rssBytes)} / ${mb(samples.find((s) => s.evaluation === 10)!.rssBytes)} / ${mb(samples.at(-1)!.rssBytes)} MB; ` +
    `median evals 10–20 ${mb(warmRss)} MB → 32–42 ${mb(endRss)} MB (${(((endRss - warmRss) / warmRss) * 100).toFixed(1)}%); ${r.seconds.toFixed(0)} s`);
  t.true(endRss <= warmRss * 1.05, `RSS grew from ${mb(warmRss)} to ${mb(endRss)} MB`);
  // The tensors alive between candidates are the baseline and the data splits, byte for byte the same each time.
  const live = new Set(samples.filter((s) => s.evaluation >= 10).map((s) => s.allocatorCurrent));
  t.is(live.size, 1, `LibTorch live bytes between candidates: ${[...live].join(', ')}`);
  t.true(median(end.map((s) => s.heapUsed)) <= median(warm.map((s) => s.heapUsed)) * 1.25 + 4 * 2 ** 20, 'V8 heap stays flat');
});
