import test from 'ava';
import { ConfigError, NumericError } from '../../lib/core/errors.js';
import { PipelineSpace, type PipelineGenome } from '../../lib/genome/index.js';
import {
  candidateStopper,
  evaluationBudgetStopper,
  hypervolume,
  InMemoryStorage,
  noImprovementStopper,
  Study,
  zdt1,
  type EvaluationResult,
} from '../../lib/search/index.js';

const objectives = [
  { name: 'f1', direction: 'min' as const },
  { name: 'f2', direction: 'min' as const },
];
const problem = zdt1(6);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runWithDelays(seed: number, concurrency: number, delaySeed: number): Promise<string[]> {
  const study = Study.open({ space: problem.space, objectives, populationSize: 8, seed });
  let k = delaySeed;
  await study.optimize(
    async (x) => {
      k = (k * 1103515245 + 12345) % 2 ** 31;
      await sleep(k % 7);
      return { objectives: problem.evaluate(x) };
    },
    { evaluations: 48, concurrency },
  );
  return study.storage
    .trials(study.studyId)
    .map((t) => `${t.number}:${JSON.stringify(t.genome)}:${t.values?.join(',')}`);
}

test('same seed → same run, with concurrency 1 or 4 and random evaluation delays', async (t) => {
  const serial = await runWithDelays(5, 1, 1);
  const parallel = await runWithDelays(5, 4, 2);
  const parallelAgain = await runWithDelays(5, 4, 3);
  t.is(serial.length, 48);
  t.deepEqual(parallel, serial);
  t.deepEqual(parallelAgain, serial);
  t.notDeepEqual(await runWithDelays(6, 1, 1), serial);
});

test('a whole generation evaluated at once (a queue of workers) listens to the abort signal without a listener-leak warning', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(`${w.name}: ${w.message}`);
  };
  process.on('warning', onWarning);
  try {
    const study = Study.open({ space: problem.space, objectives, populationSize: 24, seed: 3 });
    await study.optimize(
      async (x, ctx) => {
        // As the queue evaluator does: a listener on the search's signal while the candidate runs.
        const onAbort = (): void => undefined;
        ctx.signal.addEventListener('abort', onAbort, { once: true });
        await sleep(5);
        ctx.signal.removeEventListener('abort', onAbort);
        return { objectives: problem.evaluate(x) };
      },
      { evaluations: 24, concurrency: 24 },
    );
    await sleep(10); // warnings are emitted on the next tick
  } finally {
    process.off('warning', onWarning);
  }
  t.deepEqual(
    warnings.filter((w) => /MaxListeners/.test(w)),
    [],
  );
});

test('failed evaluations are recorded, never enter the front, and the search goes on', async (t) => {
  const study = Study.open({ space: problem.space, objectives, populationSize: 10, seed: 2 });
  let n = 0;
  const result = await study.optimize(
    async (x) => {
      n++;
      if (n % 3 === 0) throw new Error('out of memory');
      if (n % 3 === 1 && n > 1) return { status: 'failed', reason: 'diverged' };
      if (n % 7 === 0) return { objectives: [Number.NaN, 1] };
      return { objectives: problem.evaluate(x) };
    },
    { evaluations: 60, concurrency: 3 },
  );
  t.is(result.evaluations, 60);
  const trials = study.storage.trials(study.studyId);
  const failed = trials.filter((tr) => tr.state === 'failed');
  t.true(failed.some((tr) => tr.failReason === 'out of memory'));
  t.true(failed.some((tr) => tr.failReason === 'diverged'));
  t.true(failed.some((tr) => /NaN|finite/.test(tr.failReason ?? '')));
  const failedNumbers = new Set(failed.map((tr) => tr.number));
  t.true(study.front().length > 0);
  for (const m of study.front()) t.false(failedNumbers.has(m.number));
  t.true(study.generation >= 5);
});

test('bad results → typed errors: NaN objective NumericError, wrong count or name ConfigError', (t) => {
  const study = Study.open({
    space: problem.space,
    objectives,
    populationSize: 4,
    seed: 1,
    constraints: [{ name: 'f1', upper: 0.5 }],
  });
  const trial = study.ask()!;
  t.throws(() => study.tell(trial.number, { objectives: [Number.NaN, 1] }), { instanceOf: NumericError });
  t.throws(() => study.tell(trial.number, { objectives: [1] }), { instanceOf: ConfigError });
  t.throws(() => study.tell(trial.number, { objectives: { f1: 1, f3: 2 } }), { instanceOf: ConfigError });
  t.throws(() => study.tell(trial.number, { objectives: [1, 2], constraints: { latency: 3 } }), {
    instanceOf: ConfigError,
  });
  study.tell(trial.number, { objectives: { f1: 1, f2: 2 } }); // still open after the failed tells
  t.throws(() => study.tell(trial.number, { objectives: [1, 2] }), { instanceOf: ConfigError });
  t.throws(() => Study.open({ space: problem.space, objectives: [], seed: 1 }), { instanceOf: ConfigError });
  t.throws(() => Study.open({ space: problem.space, objectives: [{ name: 'a', direction: 'up' as 'min' }] }), {
    instanceOf: ConfigError,
  });
});

test('wrong objective count from an evaluator aborts optimize with ConfigError', async (t) => {
  const study = Study.open({ space: problem.space, objectives, populationSize: 4, seed: 1 });
  await t.throwsAsync(
    study.optimize(async () => ({ objectives: [1, 2, 3] }), { evaluations: 8 }),
    { instanceOf: ConfigError },
  );
});

test('constraints on objectives (Deb): only feasible trials reach the front; max objectives are respected', async (t) => {
  const study = Study.open({
    space: problem.space,
    objectives: [
      { name: 'accuracy', direction: 'max' },
      { name: 'latencyMs', direction: 'min' },
    ],
    constraints: [
      { name: 'latencyMs', upper: 8 },
      { name: 'accuracy', lower: 0.3 },
    ],
    populationSize: 10,
    seed: 4,
  });
  await study.optimize(
    async (x) => {
      const [f1, f2] = problem.evaluate(x);
      return { objectives: { accuracy: 1 - f1!, latencyMs: 10 * f2! } };
    },
    { evaluations: 600 },
  );
  t.true(study.front().length > 0);
  for (const m of study.front()) {
    t.true(m.values[1]! <= 8);
    t.true(m.values[0]! >= 0.3);
  }
  t.true(
    study.front().some((m) => m.values[0]! > 0.5),
    'accuracy is maximised',
  );
});

test('events: evaluation, generation and front changes; search-level stoppers end optimize', async (t) => {
  const study = Study.open({ space: problem.space, objectives, populationSize: 6, seed: 3 });
  const seen = { evaluation: 0, generation: 0, frontChanged: 0 };
  study.on('evaluation', () => seen.evaluation++);
  study.on('generation', (g) => {
    seen.generation++;
    t.true(g.hypervolume >= 0);
  });
  study.on('frontChanged', () => seen.frontChanged++);
  const result = await study.optimize(async (x) => ({ objectives: problem.evaluate(x) }), {
    stopper: evaluationBudgetStopper(30),
  });
  t.is(seen.evaluation, 30);
  t.is(seen.generation, 5);
  t.true(seen.frontChanged > 0);
  t.regex(result.reason, /evaluation budget/);
  const flat = Study.open({ space: problem.space, objectives, populationSize: 4, seed: 3 });
  const r2 = await flat.optimize(async () => ({ objectives: [1, 1] }), {
    stopper: noImprovementStopper({ generations: 3 }),
    evaluations: 400,
  });
  t.regex(r2.reason, /no hypervolume gain/);
  t.true(r2.evaluations < 400);
});

test('the candidate stopper works inside an evaluator through ctx.front(); intermediate reports are stored', async (t) => {
  const study = Study.open({ space: problem.space, objectives, populationSize: 6, seed: 9 });
  const stopper = candidateStopper({ minEpochs: 2, margin: 0.01, directions: ['min', 'min'] });
  let pruned = 0;
  await study.optimize(
    async (x, ctx): Promise<EvaluationResult> => {
      const final = problem.evaluate(x);
      for (let epoch = 1; epoch <= 5; epoch++) {
        // Optimistic: what fine-tuning could at best reach (here: the final value, known to the test).
        const optimistic = final.map((v) => v * 0.999);
        ctx.report({ step: epoch, value: final[1]! * (1 + 1 / epoch) });
        const d = stopper.check(epoch, optimistic, ctx.front());
        if (d.stop) {
          pruned++;
          return { status: 'pruned', reason: d.reason ?? '' };
        }
      }
      return { objectives: final };
    },
    { evaluations: 60 },
  );
  t.true(pruned > 0);
  const trials = study.storage.trials(study.studyId);
  t.is(trials.filter((tr) => tr.state === 'pruned').length, pruned);
  t.true(trials[0]!.intermediate.length >= 1);
  t.is(trials[0]!.intermediate[0]!.step, 1);
});

test('the pipeline genome runs through the same study machinery, with de-duplication', async (t) => {
  const space = new PipelineSpace();
  const study = Study.open<PipelineGenome>({
    space,
    objectives: [
      { name: 'size', direction: 'min' },
      { name: 'accuracy', direction: 'max' },
    ],
    populationSize: 12,
    seed: 'pipelines',
    storage: new InMemoryStorage(),
  });
  await study.optimize(
    async (g) => {
      const prune = g.stages.find((s) => s.type === 'prune');
      const ratio = prune ? (prune.params['ratio'] as number) : 0;
      const quantized = g.stages.some((s) => s.type === 'quantize') ? 0.25 : 1;
      return {
        objectives: { size: (1 - ratio) * quantized, accuracy: 0.9 - 0.3 * ratio * ratio - g.stages.length * 0.01 },
      };
    },
    { evaluations: 120, concurrency: 2 },
  );
  const trials = study.storage.trials(study.studyId);
  for (const tr of trials) t.true(space.validate(tr.genome).valid);
  const keys = new Set(trials.map((tr) => tr.key));
  t.true(keys.size > trials.length * 0.9, `${keys.size} distinct of ${trials.length}`);
  t.true(study.front().length >= 2);
});

test('steady-state: no generation barrier — with uneven evaluation times every slot stays busy until the budget ends', async (t) => {
  const study = Study.open({ space: problem.space, objectives, populationSize: 8, seed: 4, schedule: 'steady-state' });
  let running = 0;
  const inFlightAtStart: number[] = [];
  let k = 1;
  const result = await study.optimize(
    async (x) => {
      running++;
      inFlightAtStart.push(running);
      k = (k * 1103515245 + 12345) % 2 ** 31;
      await sleep(1 + (k % 12)); // uneven: a generational study would wait for the slowest of each generation
      running--;
      return { objectives: problem.evaluate(x) };
    },
    { evaluations: 120, concurrency: 4 },
  );
  t.is(result.evaluations, 120);
  // After the first two are told (a population of two is enough to breed), asks never wait for a generation.
  t.true(
    inFlightAtStart.slice(8).every((n) => n === 4),
    `in flight at each ask: ${inFlightAtStart.join(',')}`,
  );
  const trials = study.storage.trials(study.studyId);
  t.true(
    trials.slice(8).every((tr) => tr.slot >= 8),
    'offspring have their own slots',
  );
  t.true(study.generation >= 14, `generations counted by tells: ${study.generation}`);
});

test("steady-state optimises as well as generational: ≥ 90% of ZDT1's true hypervolume in 1,000 evaluations (population 8)", async (t) => {
  for (const seed of [1, 2, 3]) {
    const study = Study.open({ space: problem.space, objectives, populationSize: 8, seed, schedule: 'steady-state' });
    await study.optimize(async (x) => ({ objectives: problem.evaluate(x) }), { evaluations: 1000, concurrency: 4 });
    const ratio =
      hypervolume(
        study.front().map((m) => m.values),
        [1.1, 1.1],
      ) / problem.trueHypervolume([1.1, 1.1]);
    t.true(ratio >= 0.9, `seed ${seed}: ${ratio.toFixed(3)}`);
  }
});

test('steady-state resume: told trials re-enter survival, running ones are asked again first with their slot and generation', async (t) => {
  const storage = new InMemoryStorage();
  const open = (): Study<number[]> =>
    Study.open({
      name: 'ss',
      space: problem.space,
      objectives,
      populationSize: 4,
      seed: 9,
      storage,
      schedule: 'steady-state',
    });
  const first = open();
  const told: number[] = [];
  for (let i = 0; i < 6; i++) {
    const trial = first.ask()!;
    first.tell(trial.number, { objectives: problem.evaluate(trial.genome) });
    told.push(trial.number);
  }
  const a = first.ask()!;
  const b = first.ask()!;
  const stored = storage.trials(first.studyId);
  const slotOf = (n: number): number => stored.find((x) => x.number === n)!.slot;
  // The process dies here: a and b stay 'running'.
  const again = open();
  const after = storage.trials(again.studyId);
  t.is(after.find((x) => x.number === a.number)!.failReason, 'interrupted');
  const r1 = again.ask()!;
  const r2 = again.ask()!;
  t.deepEqual([r1.genome, r2.genome], [a.genome, b.genome]);
  const now = storage.trials(again.studyId);
  t.deepEqual([now.at(-2)!.slot, now.at(-1)!.slot], [slotOf(a.number), slotOf(b.number)]);
  t.deepEqual([r1.generation, r2.generation], [a.generation, b.generation]);
  t.is(again.populationMembers().length, 4);
  t.deepEqual(
    new Set(again.populationMembers().map((m) => m.number)),
    new Set(first.populationMembers().map((m) => m.number)),
  );
  const next = again.ask()!;
  t.true(now.length === stored.length + 2 && next.number === now.length, 'then new offspring');
  t.throws(() => Study.open({ name: 'ss', space: problem.space, objectives, populationSize: 4, seed: 9, storage }), {
    instanceOf: ConfigError,
    message: /steady-state schedule/,
  });
});
