import test from 'ava';
import { ConfigError } from '../../lib/core/errors.js';
import {
  anySearchStopper,
  anyTrainingStopper,
  candidateStopper,
  evaluationBudgetStopper,
  lossSlopeStopper,
  noImprovementStopper,
  patienceStopper,
  timeBudgetStopper,
} from '../../lib/search/index.js';

test('patience / min-delta, in min and max mode', (t) => {
  const s = patienceStopper({ patience: 2, minDelta: 0.1, mode: 'max' });
  t.false(s.observe({ epoch: 0, trainLoss: 1, valMetric: 0.5 }).stop);
  t.false(s.observe({ epoch: 1, trainLoss: 1, valMetric: 0.55 }).stop); // below minDelta: no improvement (1)
  const d = s.observe({ epoch: 2, trainLoss: 1, valMetric: 0.58 });
  t.true(d.stop);
  t.regex(d.reason ?? '', /no improvement/);
  s.reset();
  t.false(s.observe({ epoch: 0, trainLoss: 1, valMetric: 0.5 }).stop);
  const m = patienceStopper({ patience: 1, monitor: 'trainLoss' });
  t.false(m.observe({ epoch: 0, trainLoss: 1 }).stop);
  t.false(m.observe({ epoch: 1, trainLoss: 0.5 }).stop);
  t.true(m.observe({ epoch: 2, trainLoss: 0.7 }).stop);
  t.true(m.observe({ epoch: 3, trainLoss: Number.NaN }).stop);
  t.throws(() => patienceStopper({ patience: 0 }), { instanceOf: ConfigError });
});

test('loss-slope rule: horizon 15, ±2.5°, 5 hits', (t) => {
  const s = lossSlopeStopper();
  let stoppedAt = -1;
  // Steep descent (slope −1 per epoch = −45°) for 20 epochs, then flat.
  for (let e = 0; e < 60 && stoppedAt < 0; e++) {
    const loss = e < 20 ? 100 - e : 80;
    if (s.observe({ epoch: e, trainLoss: loss }).stop) stoppedAt = e;
  }
  // The 15-epoch fit first reads within 2.5° (slope ≤ tan 2.5° ≈ 0.0437) at epoch 33; the 5th hit is at epoch 37.
  t.is(stoppedAt, 37);
  s.reset();
  for (let e = 0; e < 14; e++) t.false(s.observe({ epoch: e, trainLoss: 1 }).stop);
  t.throws(() => lossSlopeStopper({ horizon: 1 }), { instanceOf: ConfigError });
});

test('anyTrainingStopper stops when one does and feeds all', (t) => {
  const s = anyTrainingStopper(
    patienceStopper({ patience: 3, monitor: 'trainLoss' }),
    lossSlopeStopper({ horizon: 3, hits: 1 }),
  );
  t.false(s.observe({ epoch: 0, trainLoss: 5 }).stop);
  t.false(s.observe({ epoch: 1, trainLoss: 5 }).stop);
  t.regex(s.observe({ epoch: 2, trainLoss: 5 }).reason ?? '', /slope/);
});

test('search-level stoppers: no gain, time and evaluation budgets', (t) => {
  const s = noImprovementStopper({ generations: 2 });
  t.false(s.update({ generation: 0, evaluations: 10, elapsedMs: 0, hypervolume: 1 }).stop);
  t.false(s.update({ generation: 1, evaluations: 20, elapsedMs: 0, hypervolume: 1 }).stop);
  t.true(s.update({ generation: 2, evaluations: 30, elapsedMs: 0, hypervolume: 1 }).stop);
  const any = anySearchStopper(timeBudgetStopper(1000), evaluationBudgetStopper(50));
  t.false(any.update({ generation: 0, evaluations: 10, elapsedMs: 10, hypervolume: 0 }).stop);
  t.regex(any.update({ generation: 0, evaluations: 10, elapsedMs: 1000, hypervolume: 0 }).reason ?? '', /time/);
  t.regex(any.update({ generation: 0, evaluations: 50, elapsedMs: 0, hypervolume: 0 }).reason ?? '', /evaluation/);
});

test('candidate stopper: waits k epochs, then stops once the optimistic vector is dominated by a margin', (t) => {
  const s = candidateStopper({ minEpochs: 3, margin: [0.01, 0.5], directions: ['max', 'min'] });
  const front = [
    [0.9, 5],
    [0.8, 3],
  ];
  t.false(s.check(2, [0.5, 10], front).stop); // too early
  t.true(s.check(3, [0.5, 10], front).stop);
  t.false(s.check(3, [0.895, 4.8], front).stop); // within the margin of [0.9, 5]
  t.false(s.check(3, [0.95, 10], front).stop); // better accuracy than anything on the front
  t.throws(() => s.check(3, [1], front), { instanceOf: ConfigError });
});
