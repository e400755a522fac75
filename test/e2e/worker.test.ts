// For backend services: search() in a worker_thread leaves the host's event loop free and relays its events; an
// AbortSignal stops a search promptly and leaves a study that resumes.
import test from 'ava';
import { resumeSearch, search } from '../../lib/search-api.js';
import { tempDir, tinySearch } from './helpers/tiny.js';

test.serial(
  'search({ worker: true }) runs off the host thread: events arrive, the event loop never stalls',
  async (t) => {
    const dir = tempDir('worker');
    const handle = search({ ...tinySearch(dir), name: 'w', budget: '4evals', worker: true });
    const trials: number[] = [];
    handle.on('trial', (e) => trials.push(e.trial));
    let worst = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last - 5);
      last = now;
    }, 5);
    try {
      const outcome = await handle.done;
      t.is(outcome.totalEvaluations, 4);
      t.true(outcome.front.length > 0);
      t.deepEqual(trials, [0, 1, 2, 3]);
    } finally {
      clearInterval(timer);
    }
    // Data loading, baseline training and every evaluation happened in the worker: 5 ms timers kept firing.
    t.true(worst < 250, `worst timer delay ${worst.toFixed(0)} ms`);
  },
);

test.serial('abort() stops a running search promptly; the study resumes where it stopped', async (t) => {
  const dir = tempDir('abort');
  const controller = new AbortController();
  const options = { ...tinySearch(dir), name: 'a', budget: '30evals', signal: controller.signal };
  const handle = search(options);
  let firstTrialAt = 0;
  handle.on('trial', () => {
    if (!firstTrialAt) {
      firstTrialAt = performance.now();
      controller.abort();
    }
  });
  const outcome = await handle.done;
  const stoppedAfter = performance.now() - firstTrialAt;
  t.is(outcome.status, 'stopped');
  t.true(handle.signal.aborted);
  t.true(outcome.totalEvaluations < 30);
  t.true(stoppedAfter < 10_000, `stopped ${stoppedAfter.toFixed(0)} ms after the abort`);
  // Resuming with a small total budget finishes it.
  const resumed = resumeSearch('a', { studyDir: options.studyDir, budget: `${outcome.totalEvaluations + 2}evals` });
  const more = await resumed.done;
  t.is(more.status, 'done');
  t.is(more.totalEvaluations, outcome.totalEvaluations + 2);
});

test('bad configurations throw synchronously from search() (no handle, nothing started)', (t) => {
  const dir = tempDir('sync');
  t.throws(() => search({ ...tinySearch(dir), task: 'nope' }), { message: /unknown task 'nope'/ });
  t.throws(() => search({ ...tinySearch(dir), objectives: 'metric,colour' }), {
    message: /unknown objective 'colour'/,
  });
  t.throws(
    () => search({ ...tinySearch(dir), constraints: { minLatency: { absolute: 3 }, maxLatency: { absolute: 2 } } }),
    { message: /contradictory/ },
  );
});
