// The Pareto table shows quality twice when the study selected on a validation split: the value the search optimized
// (val) and the held-out test value, each with its change against the baseline's own val / test value.
import test from 'ava';
import { paretoTable } from '../../lib/report/table.js';

const baseline = { accuracy: 0.9, latencyMs: 2, throughput: 1000, sizeBytes: 40_000 };
const row = {
  trial: 3,
  pipeline: 'prune(…)',
  measures: { accuracy: 0.92, latencyMs: 1, throughput: 2000, sizeBytes: 20_000 },
};

test("validation and held-out test columns, each against the baseline's own value", (t) => {
  const text = paretoTable([{ ...row, heldOut: 0.85 }], { metric: 'accuracy', baseline, baselineHeldOut: 0.88 });
  const [header, , base, trial] = text.split('\n');
  t.regex(header!, /^trial\s+pipeline\s+accuracy val\s+accuracy test\s+latency/);
  t.regex(base!, /^baseline\s+—\s+0\.9000\s+0\.8800\s+/);
  t.regex(trial!, /0\.9200 \(\+2\.00 pt\)\s+0\.8500 \(-3\.00 pt\)/);
  const md = paretoTable([{ ...row, heldOut: 0.85 }], {
    metric: 'accuracy',
    baseline,
    baselineHeldOut: 0.88,
    format: 'markdown',
  });
  t.true(md.startsWith('| trial | pipeline | accuracy val | accuracy test | latency |'), md.split('\n')[0]);
});

test('without held-out values (an older study) one quality column, as before', (t) => {
  const [header, , , trial] = paretoTable([row], { metric: 'accuracy', baseline }).split('\n');
  t.regex(header!, /^trial\s+pipeline\s+accuracy\s+latency/);
  t.false(header!.includes('test'));
  t.regex(trial!, /0\.9200 \(\+2\.00 pt\)\s+1\.000 ms/);
});
