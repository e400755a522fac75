// Distributed search on BullMQ over a real redis-server: coordinator and workers are real `petra` processes.
// Same seed → the same front as the in-process search; a worker killed mid-job → its job finishes on another worker;
// the coordinator killed → `petra resume --queue` re-attaches to the queued jobs; Redis restarted mid-search → the
// search waits, says so, and finishes. Nothing is evaluated twice: the workers' completed job ids are all distinct.
import test from 'ava';
import { join } from 'node:path';
import { StudyFile } from '../../lib/pipeline/study-file.js';
import { countedTrials } from '../../lib/run/budget.js';
import { renderReport } from '../../lib/report/html.js';
import { readStudy } from '../../lib/search-api.js';
import { redisAvailable, RedisServer } from '../helpers/redis.js';
import { PetraProcess, startWorker, type JsonEvent } from './helpers/procs.js';
import { tempDir, tinyFlags } from './helpers/tiny.js';

const maybe = redisAvailable() ? test.serial : test.serial.skip;
const dir = tempDir('distributed');
const studies = join(dir, 'studies');
// metric and size are deterministic for a seed (timing is not), so fronts can be compared exactly.
const flags = [...tinyFlags(dir), '--objectives', 'metric,size', '--json', '--no-report'];

const jobsDone = (...workers: PetraProcess[]): string[] =>
  workers.flatMap((w) =>
    w.events.filter((e) => e.event === 'job' && e.phase === 'done').map((e) => e['jobId'] as string),
  );

function journal(name: string): ReturnType<StudyFile['trials']> {
  const sf = StudyFile.open(join(studies, `${name}.sqlite`));
  try {
    return sf.trials();
  } finally {
    sf.close();
  }
}

type Front = Array<{ trial: number; pipeline: string; measures: Record<string, number> }>;
const comparable = (e: JsonEvent): unknown =>
  (e['front'] as Front).map((f) => ({
    trial: f.trial,
    pipeline: f.pipeline,
    accuracy: f.measures['accuracy'],
    size: f.measures['sizeBytes'],
  }));

maybe(
  '1 coordinator + 3 workers give the in-process front for the same seed; each result names its worker and host',
  async (t) => {
    const redis = new RedisServer();
    await redis.start();
    const workers = await Promise.all([0, 1, 2].map(() => startWorker(dir, redis.url)));
    try {
      const ids = workers.map((w) => w.events.find((e) => e.event === 'ready')!['id'] as string);
      const coordinator = new PetraProcess(dir, [
        'search',
        ...flags,
        '--name',
        'dist',
        '--budget',
        '6evals',
        '--queue',
        redis.url,
      ]);
      const done = await coordinator.waitFor((e) => e.event === 'done', 300_000);
      t.is(await coordinator.exited, 0, coordinator.stderr);
      const local = new PetraProcess(dir, ['search', ...flags, '--name', 'local', '--budget', '6evals']);
      const localDone = await local.waitFor((e) => e.event === 'done', 300_000);
      t.is(done['totalEvaluations'], 6);
      t.true((done['front'] as Front).length > 0);
      t.deepEqual(comparable(done), comparable(localDone));

      const trials = journal('dist');
      t.is(trials.length, 6);
      for (const trial of trials) {
        const attrs = trial.userAttrs as { worker?: string; host?: { cpu?: string; libtorch?: string } };
        t.true(ids.includes(attrs.worker ?? ''), `trial ${trial.number} measured by ${attrs.worker}`);
        t.truthy(attrs.host?.cpu);
        t.truthy(attrs.host?.libtorch);
      }
      // The report says which worker (and kind of host) timed what.
      const html = renderReport(readStudy('dist', studies));
      t.regex(html, /Where candidates were timed/);
      for (const trial of trials) t.true(html.includes((trial.userAttrs as { worker: string }).worker));
      const completed = jobsDone(...workers);
      t.is(completed.length, 6);
      t.is(new Set(completed).size, 6, 'each candidate evaluated once');
      t.true(workers.filter((w) => jobsDone(w).length > 0).length >= 2, 'the work was spread over the workers');
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await redis.stop();
    }
  },
);

maybe(
  'a worker killed with SIGKILL mid-job: the job is taken over by another worker, nothing lost or told twice',
  async (t) => {
    const redis = new RedisServer();
    await redis.start();
    const lock = ['--lock-duration', '2000'];
    const doomed = await startWorker(dir, redis.url, lock);
    const survivor = await startWorker(dir, redis.url, lock);
    try {
      const coordinator = new PetraProcess(dir, [
        'search',
        ...flags,
        '--name',
        'killw',
        '--budget',
        '3evals',
        '--queue',
        redis.url,
      ]);
      const started = await doomed.waitFor((e) => e.event === 'job' && e.phase === 'start', 120_000);
      await doomed.kill9();
      const done = await coordinator.waitFor((e) => e.event === 'done', 300_000);
      t.is(done['totalEvaluations'], 3);
      t.true(jobsDone(survivor).includes(started['jobId'] as string), 'the killed job was finished by the survivor');
      const trials = journal('killw');
      t.is(trials.length, 3, 'one trial per candidate: nothing told twice');
      t.is(countedTrials(trials), 3);
      for (const trial of trials) t.not(trial.state, 'failed', trial.failReason);
    } finally {
      await Promise.all([doomed.stop(), survivor.stop()]);
      await redis.stop();
    }
  },
);

maybe(
  'steady-state, the coordinator killed with SIGKILL: `petra resume --queue` re-attaches to the queued jobs and finishes',
  async (t) => {
    const redis = new RedisServer();
    await redis.start();
    const workers = await Promise.all([0, 1].map(() => startWorker(dir, redis.url)));
    try {
      const first = new PetraProcess(dir, [
        'search',
        ...flags,
        '--name',
        'killc',
        '--budget',
        '5evals',
        '--schedule',
        'steady-state',
        '--queue',
        redis.url,
      ]);
      await first.waitFor((e) => e.event === 'trial', 300_000);
      await first.kill9();
      const resumed = new PetraProcess(dir, [
        'resume',
        'killc',
        '--study-dir',
        studies,
        '--queue',
        redis.url,
        '--json',
        '--no-report',
      ]);
      const done = await resumed.waitFor((e) => e.event === 'done', 300_000);
      t.is(await resumed.exited, 0, resumed.stderr);
      t.is(done['totalEvaluations'], 5);
      const trials = journal('killc');
      t.is(countedTrials(trials), 5);
      t.is(trials.filter((x) => x.state === 'running').length, 0);
      const completed = jobsDone(...workers);
      t.is(new Set(completed).size, completed.length, 'no candidate evaluated twice');
      t.is(completed.length, 5, 'the re-asked trials took the results of the jobs already queued');
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await redis.stop();
    }
  },
);

maybe('Redis restarted mid-search: coordinator and workers say so, wait, and the search finishes', async (t) => {
  const redis = new RedisServer({ persistent: true });
  await redis.start();
  const workers = await Promise.all([0, 1].map(() => startWorker(dir, redis.url)));
  try {
    const coordinator = new PetraProcess(dir, [
      'search',
      ...flags,
      '--name',
      'restart',
      '--budget',
      '4evals',
      '--queue',
      redis.url,
    ]);
    await coordinator.waitFor((e) => e.event === 'trial', 300_000);
    await redis.restart(3000);
    const done = await coordinator.waitFor((e) => e.event === 'done', 300_000);
    t.is(done['totalEvaluations'], 4);
    const queue = coordinator.events.filter((e) => e.event === 'queue');
    const down = queue.findIndex((e) => e['state'] === 'down');
    t.true(down >= 0, 'the outage was reported');
    t.regex(queue[down]!['message'] as string, /unreachable.*waiting for it to come back/);
    t.true(queue.slice(down).some((e) => e['state'] === 'up' && /back; continuing/.test(e['message'] as string)));
    t.true(
      workers.some((w) => w.events.some((e) => e.event === 'redis' && e['state'] === 'down')),
      'a worker reported the outage',
    );
    t.is(countedTrials(journal('restart')), 4);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await redis.stop();
  }
});
