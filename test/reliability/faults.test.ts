// Faults a long search meets, and what petra does: a candidate that produces NaN, one whose gradients explode, one
// that LibTorch refuses in native code, one that runs out of memory → recorded as failed with its reason and class,
// and the search goes on to its budget; read-only, missing or full output directories → a clear error before the
// search starts, writing nothing; a study already running → "study is locked", while reports still read it.
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../lib/core/errors.js';
import type { PipelineGenome } from '../../lib/genome/index.js';
import { memoryStats, setMemoryCap, setThreads } from '../../lib/runtime/info.js';
import type { Lineage } from '../../lib/pipeline/evaluator.js';
import { readStudy, resumeSearch, search } from '../../lib/search-api.js';
import { tempDir, tinySearch } from '../e2e/helpers/tiny.js';
import { harness, mlpSpecFile } from './helpers/harness.js';

const dir = tempDir('faults');
test.before(() => setThreads(1)); // this file's process only: on 2 shared cores a second OpenMP thread only spins
const train = (p: Record<string, unknown>): PipelineGenome['stages'][number] => ({
  type: 'train',
  params: { epochs: 1, lr: 0.01, optimizer: 'sgd', schedule: 'constant', batchSize: 64, ...p },
});

let spec = '';

test.serial(
  'NaN loss, exploding gradients, a LibTorch error in native code and running out of memory fail their candidates with the reason; the search goes on',
  async (t) => {
    spec = mlpSpecFile(dir);
    const h = await harness(dir, { model: spec });
    const refusedBefore = memoryStats().refusedAllocations;
    try {
      const genomes: PipelineGenome[] = [
        // An optimizer step that overflows the weights: the loss is NaN within a few batches.
        { stages: [train({ lr: 1e9 })] },
        // A regularizer weight far too large: its gradient blows the weights up and the loss diverges.
        { stages: [{ type: 'regularize', params: { l1: 1e30, orthogonality: 0, hoyer: 0 } }, train({})] },
        // Batches of one sample: LibTorch's batch_norm throws (c10::Error) inside the native training loop.
        { stages: [train({ batchSize: 1 })] },
        // An ordinary fine-tune, but the CPU memory cap leaves it 16 KiB when its training starts (see `events`).
        {
          stages: [
            {
              type: 'prune',
              params: { criterion: 'l1', ratio: 0.25, scope: 'layerwise', roundTo: 8, steps: 1, finetuneEpochs: 0 },
            },
            train({}),
          ],
        },
        {
          stages: [
            {
              type: 'prune',
              params: { criterion: 'l2', ratio: 0.25, scope: 'layerwise', roundTo: 8, steps: 1, finetuneEpochs: 0 },
            },
          ],
        },
      ];
      const trials = await h
        .run('faults', genomes, 7, {
          stage: (e) => {
            if (e.trial === 3 && e.type === 'train' && e.phase === 'start')
              setMemoryCap(memoryStats().currentBytes + 16 * 1024);
          },
          start: () => setMemoryCap(0),
        })
        .finally(() => setMemoryCap(0));
      const by = (n: number) => trials.find((x) => x.number === n)!;
      const lineage = (n: number) => by(n).userAttrs as Partial<Lineage>;
      t.is(by(0).state, 'failed');
      t.regex(
        by(0).failReason ?? '',
        /^stage 0 \(train\): the loss became (NaN|infinite) at batch \d+ of \d+ \(learning rate 1000000000/,
      );
      t.is(lineage(0).error, 'NumericError');
      t.is(lineage(0).errorCode, 'ERR_PETRA_NUMERIC');
      t.is(by(1).state, 'failed');
      t.regex(by(1).failReason ?? '', /^stage 1 \(train\): the loss became (NaN|infinite) at batch \d+/);
      t.is(lineage(1).error, 'NumericError');
      t.is(lineage(1).stages?.[0]?.type, 'regularize', 'the stage reports before the failure are kept');
      t.is(by(2).state, 'failed');
      t.regex(by(2).failReason ?? '', /^stage 0 \(train\): .*Expected more than 1 value per channel when training/);
      t.is(lineage(2).error, 'ShapeError');
      t.is(by(3).state, 'failed');
      t.regex(
        by(3).failReason ?? '',
        /^stage 1 \(train\): CPU out of memory: allocating .* would exceed the memory cap/,
      );
      t.is(lineage(3).error, 'DeviceError');
      t.is(lineage(3).stages?.[0]?.type, 'prune');
      t.true(memoryStats().refusedAllocations > refusedBefore);
      t.is(by(4).state, 'complete');
      // The search went on past the failures (generation 1 was bred and evaluated) and left nothing half-told.
      t.is(trials.length, 7);
      t.is(trials.filter((x) => x.state === 'running').length, 0);
      t.true(trials.some((x) => x.generation === 1 && x.state === 'complete'));
    } finally {
      h.dispose();
    }
  },
);

test.serial(
  'read-only, uncreatable or full output directories fail before anything loads, and write nothing',
  async (t) => {
    const clean = tempDir('preflight');
    const cases: Array<[string, Parameters<typeof search>[0], RegExp]> = [
      // Root can write anywhere a permission bit allows; sysfs and procfs refuse even root.
      [
        'study dir on a read-only file system',
        { ...tinySearch(clean), studyDir: '/sys/kernel/petra-studies' },
        /cannot (create|write to) the study directory \/sys\/kernel\/petra-studies: (permission denied|read-only file system)/,
      ],
      [
        'cache dir that cannot be created',
        { ...tinySearch(clean), cacheDir: '/proc/petra-cache' },
        /cannot create the baseline cache directory \/proc\/petra-cache: (the file system does not allow creating it|permission denied)/,
      ],
      [
        'report dir that cannot be written',
        { ...tinySearch(clean), outputDirs: ['/sys/kernel'] },
        /cannot write to the output directory \/sys\/kernel: (permission denied|read-only file system)/,
      ],
      [
        'a disk with less free space than required',
        { ...tinySearch(clean), minFreeMB: 1e12 },
        /only [\d.]+ [KMG]iB free on the file system of the study directory .* a search needs at least [\d.]+ [KMG]iB there/,
      ],
    ];
    for (const [what, options, message] of cases) {
      const started = performance.now();
      const handle = search({ ...options, name: 'pre' });
      const error = await t.throwsAsync(handle.done, { instanceOf: ConfigError }, what);
      t.regex(error?.message ?? '', message, what);
      t.true(
        performance.now() - started < 2000,
        `${what}: failed at once (${(performance.now() - started).toFixed(0)} ms), before loading data or training`,
      );
    }
    t.deepEqual(readdirSync(clean), [], 'no study, cache or probe file left behind');
  },
);

test.serial(
  'a running study is locked: resume and a same-named search are refused with the holder, reports still read it',
  async (t) => {
    const studyDir = join(dir, 'studies');
    const handle = search({ ...tinySearch(dir), model: spec, name: 'busy', budget: '6evals' });
    const refused: string[] = [];
    let reportTrials = -1;
    const checked = new Promise<void>((resolve, reject) => {
      handle.on('trial', (e) => {
        if (e.trial !== 0) return;
        // While trial 1 runs: a resume and a same-named search from this process (worker_threads and other processes are
        // covered by lock.test.ts and sigint.test.ts), and a report.
        Promise.allSettled([
          resumeSearch('busy', { studyDir }).done,
          search({ ...tinySearch(dir), model: spec, name: 'busy' }).done,
        ]).then((rs) => {
          for (const r of rs)
            refused.push(
              r.status === 'rejected' ? `${(r.reason as Error).name}: ${(r.reason as Error).message}` : 'resolved',
            );
          reportTrials = readStudy('busy', studyDir).trials.length;
          resolve();
        }, reject);
      });
    });
    const outcome = await handle.done;
    await checked;
    t.is(outcome.totalEvaluations, 6);
    t.is(refused.length, 2);
    for (const r of refused)
      t.regex(
        r,
        new RegExp(
          `^ConfigError: study 'busy' is locked by pid ${process.pid} on host ${hostname()} since .*\\(petra search\\)`,
        ),
      );
    t.true(reportTrials >= 1, 'the report read the running study');
    // Released at the end: the study resumes with a bigger budget.
    const more = await resumeSearch('busy', { studyDir, budget: '7evals' }).done;
    t.is(more.totalEvaluations, 7);
    t.true(existsSync(join(studyDir, 'busy.sqlite.lock')));
  },
);
