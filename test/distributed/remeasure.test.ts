// Fair timing across kinds of host: a front timed on one kind of host is left alone; a front that mixes kinds has
// the members timed elsewhere re-timed on this host, and the outcome and the report use those numbers.
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { remeasuredFront, remeasureFront, timingKey } from '../../lib/distributed/remeasure.js';
import { prune } from '../../lib/compress/prune.js';
import { hostFingerprint } from '../../lib/lab/fingerprint.js';
import { Model } from '../../lib/runtime/model.js';
import { normalizeConfig } from '../../lib/pipeline/config.js';
import type { FrontEntry } from '../../lib/pipeline/front.js';
import { Lock, measureModel } from '../../lib/pipeline/measure.js';
import { resolveProblem } from '../../lib/pipeline/problem.js';
import { SearchData } from '../../lib/pipeline/search-data.js';
import type { TrialRecord } from '../../lib/search/index.js';

test('a front of one kind of host is kept; a mixed one is re-timed here, and what it then dominates drops out', async (t) => {
  const config = normalizeConfig({
    limits: { train: 300, val: 100, test: 200 },
    measure: { timeCapMs: 100, repeats: 1 },
  });
  const problem = resolveProblem(config);
  const data = new SearchData(problem, config.finetune, 1);
  const dir = mkdtempSync(join(tmpdir(), 'petra-remeasure-'));
  using base = Model.build(problem.spec, { seed: 1 });
  const pruned = await prune(base, { criterion: 'l1', ratio: 0.5 });
  await base.save(join(dir, 'a.pt'));
  await pruned.model.save(join(dir, 'b.pt'));
  pruned.model.dispose();
  const lock = new Lock();
  const baseline = await measureModel(base, data.quality('cpu'), {
    metric: 'accuracy',
    settings: config.measure,
    lock,
  });
  const here = hostFingerprint('cpu');
  const elsewhere = { ...here, cpu: 'Some Other CPU @ 2.0GHz', threads: here.threads + 6 };
  t.not(
    timingKey(elsewhere),
    timingKey({ ...here, memoryBytes: 1, node: 'v99' }),
    'memory and Node do not change the kind of host',
  );
  const trial = (number: number, host: typeof here, modelFile: string): TrialRecord =>
    ({
      number,
      generation: 0,
      slot: number,
      key: String(number),
      genome: { stages: [] },
      state: 'complete',
      values: [0.5, 1],
      userAttrs: { host, modelFile, worker: `w${number}` },
      intermediate: [],
      startedAt: 0,
    }) as unknown as TrialRecord;
  const common = {
    studyDir: dir,
    context: { problem, data, base, lock },
    settings: config.measure,
    baseline,
    host: here,
  };
  try {
    t.is(
      await remeasureFront({
        ...common,
        front: [0, 1],
        trials: [trial(0, elsewhere, 'a.pt'), trial(1, elsewhere, 'b.pt')],
      }),
      undefined,
      'one kind of host: comparable as it is',
    );
    const r = (await remeasureFront({
      ...common,
      front: [0, 1],
      trials: [trial(0, here, 'a.pt'), trial(1, elsewhere, 'b.pt')],
    }))!;
    t.deepEqual(Object.keys(r.trials), ['1'], 'only the member timed elsewhere is re-timed');
    t.is(r.trials['1']!.worker, 'w1');
    t.true(r.trials['1']!.latencyMs > 0 && r.trials['1']!.throughput > 0);
    t.is(timingKey(r.host), timingKey(here));

    const objectives = [
      { name: 'accuracy', direction: 'max' as const },
      { name: 'latencyMs', direction: 'min' as const },
    ];
    const entry = (trialNo: number, accuracy: number, latencyMs: number): FrontEntry => ({
      trial: trialNo,
      generation: 0,
      pipeline: '',
      genome: { stages: [] },
      measures: { accuracy, latencyMs, throughput: 1, sizeBytes: 1 },
      values: [accuracy, latencyMs],
    });
    // #1 first looked faster than #0; re-timed here it is slower at lower accuracy, so #0 dominates it.
    const slower = { ...r, trials: { '1': { ...r.trials['1']!, latencyMs: 9 } } };
    const front = remeasuredFront([entry(0, 0.9, 2), entry(1, 0.8, 1)], objectives, slower);
    t.deepEqual(
      front.map((f) => f.trial),
      [0],
    );
    const kept = remeasuredFront([entry(0, 0.9, 2), entry(1, 0.8, 1)], objectives, {
      ...r,
      trials: { '1': { ...r.trials['1']!, latencyMs: 1.5 } },
    });
    t.deepEqual(
      kept.map((f) => [f.trial, f.measures['latencyMs'], f.remeasured ?? false]),
      [
        [0, 2, false],
        [1, 1.5, true],
      ],
    );
  } finally {
    data.dispose();
  }
});
