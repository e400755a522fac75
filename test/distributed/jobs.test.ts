// Candidate jobs are untrusted input: every malformed payload is refused with a JobPayloadError naming the field,
// before anything runs; over a real redis-server (TLS, password) a worker fails such jobs at once, never retrying or
// running them, and a job whose study is not on the worker's filesystem fails with the shared-filesystem message.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { Job, Queue, QueueEvents } from 'bullmq';
import { describeQueue, fatalConnectionHint, parseQueueUrl, queueName } from '../../lib/distributed/connection.js';
import { candidateJobId, JobPayloadError, parseCandidateJob, type CandidateJob } from '../../lib/distributed/job.js';
import { ConfigError, parseErrorText, reviveError } from '../../lib/core/errors.js';
import { failedJobOutcome } from '../../lib/distributed/coordinator.js';
import { normalizeConfig } from '../../lib/pipeline/config.js';
import { buildSpace } from '../../lib/pipeline/study-space.js';
import { Rng } from '../../lib/search/rng.js';
import { makeTlsFiles, redisAvailable, RedisServer } from '../helpers/redis.js';
import { startWorker } from '../e2e/helpers/procs.js';
import { tempDir } from '../e2e/helpers/tiny.js';

const config = normalizeConfig({
  name: 'fuzzed',
  limits: { train: 200, val: 100, test: 100 },
  objectives: 'metric,size',
});
const good: CandidateJob = {
  v: 1,
  study: { name: 'fuzzed', file: '/nonexistent/petra/studies/fuzzed.sqlite', createdAt: '2026-12-01T00:00:00.000Z' },
  config,
  space: { backends: ['onednn'] },
  baseline: {
    modelFile: '/nonexistent/petra/cache/model.pt',
    sha256: 'a'.repeat(64),
    metric: 0.8,
    latencyMs: 0.3,
    throughput: 5000,
    sizeBytes: 1.7e6,
  },
  trial: 4,
  generation: 1,
  // A genome the study's space could have made.
  genome: buildSpace(config, { backends: ['onednn'] }).encode(
    buildSpace(config, { backends: ['onednn'] }).sample(new Rng(7)),
  ),
  front: [[0.8, 1e5]],
};
const clone = (): Record<string, any> => JSON.parse(JSON.stringify(good)) as Record<string, any>;

/** [what, how the payload is broken, the field the error must name] */
const bad: Array<[string, (j: Record<string, any>) => unknown, string]> = [
  ['not an object', () => 'rm -rf /', 'job'],
  ['null', () => null, 'job'],
  ['an array', () => [good], 'job'],
  ['another version', (j) => ({ ...j, v: 2 }), 'job.v'],
  ['no study', (j) => ({ ...j, study: undefined }), 'job.study'],
  [
    'a study name with a path in it',
    (j) => {
      j.study.name = '../../etc';
      return j;
    },
    'job.study.name',
  ],
  [
    'a relative study file',
    (j) => {
      j.study.file = 'studies/x.sqlite';
      return j;
    },
    'job.study.file',
  ],
  [
    'a study file that is not a study',
    (j) => {
      j.study.file = '/etc/passwd';
      return j;
    },
    'job.study.file',
  ],
  [
    'a NUL in a path',
    (j) => {
      j.study.file = '/tmp/a\0b.sqlite';
      return j;
    },
    'job.study.file',
  ],
  [
    'an unknown task',
    (j) => {
      j.config.task = 'bitcoin-miner';
      return j;
    },
    'job.config',
  ],
  [
    'a config that is a string',
    (j) => {
      j.config = 'x';
      return j;
    },
    'job.config',
  ],
  [
    'a negative population',
    (j) => {
      j.config.population = -3;
      return j;
    },
    'job.config',
  ],
  [
    'a relative data path',
    (j) => {
      j.config.data = { format: 'ucr', path: 'data/X_TRAIN.ts' };
      j.config.task = 'custom';
      return j;
    },
    'job.config.data.path',
  ],
  [
    'backends not a list',
    (j) => {
      j.space.backends = 'onednn';
      return j;
    },
    'job.space.backends',
  ],
  [
    'a baseline hash that is not hex',
    (j) => {
      j.baseline.sha256 = 'z'.repeat(64);
      return j;
    },
    'job.baseline.sha256',
  ],
  [
    'a relative baseline file',
    (j) => {
      j.baseline.modelFile = 'model.pt';
      return j;
    },
    'job.baseline.modelFile',
  ],
  [
    'a zero baseline latency',
    (j) => {
      j.baseline.latencyMs = 0;
      return j;
    },
    'job.baseline.latencyMs',
  ],
  [
    'a string for throughput',
    (j) => {
      j.baseline.throughput = '5000';
      return j;
    },
    'job.baseline.throughput',
  ],
  [
    'a negative trial',
    (j) => {
      j.trial = -1;
      return j;
    },
    'job.trial',
  ],
  [
    'a fractional generation',
    (j) => {
      j.generation = 1.5;
      return j;
    },
    'job.generation',
  ],
  [
    'no genome',
    (j) => {
      delete j.genome;
      return j;
    },
    'job.genome',
  ],
  [
    'a front row of the wrong length',
    (j) => {
      j.front = [[1, 2, 3]];
      return j;
    },
    'job.front[0]',
  ],
  [
    'a front value that JSON turned NaN into',
    (j) => {
      j.front = [[null, 1]];
      return j;
    },
    'job.front[0][0]',
  ],
  [
    'a front that is not a list',
    (j) => {
      j.front = {};
      return j;
    },
    'job.front',
  ],
  [
    'a payload over 1 MiB',
    (j) => {
      j.study.createdAt = 'x'.repeat(2 << 20);
      return j;
    },
    'job',
  ],
];

for (const [what, breakIt, field] of bad) {
  test(`a malformed job is refused, naming ${field}: ${what}`, (t) => {
    const error = t.throws(() => parseCandidateJob(breakIt(clone())), { instanceOf: JobPayloadError });
    t.true(error!.message.startsWith(field === 'job' ? 'job' : `${field}:`), error!.message);
  });
}

test('a well-formed job parses; its id is the same for the same study, generation and genome', (t) => {
  const parsed = parseCandidateJob(clone());
  t.is(parsed.trial, 4);
  t.deepEqual(parsed.front, [[0.8, 1e5]]);
  const id = candidateJobId(parsed, 'genome-key');
  t.is(candidateJobId({ ...parsed }, 'genome-key'), id);
  t.not(candidateJobId({ ...parsed, generation: 2 }, 'genome-key'), id);
  t.not(candidateJobId(parsed, 'other-genome'), id);
  t.not(candidateJobId({ ...parsed, study: { ...parsed.study, createdAt: 'later' } }, 'genome-key'), id);
  t.false(id.includes(':'), 'BullMQ job ids must not contain a colon');
});

test('queue URLs: redis:// and rediss:// only, passwords never shown, credentials and TLS errors explained', (t) => {
  t.is(parseQueueUrl('rediss://u:p@h:6380/2').protocol, 'rediss:');
  for (const url of ['http://h:6379', 'h:6379', 'redis://h:6379/x', 'redis://'])
    t.throws(() => parseQueueUrl(url), { instanceOf: ConfigError, message: /^queue: / });
  t.is(describeQueue('redis://:s3cret@h:6379'), 'redis://:***@h:6379');
  t.is(describeQueue('rediss://user:s3cret@h:6380/1'), 'rediss://user:***@h:6380/1');
  t.false(describeQueue('redis://:p%40ss@h:1').includes('p%40ss'));
  t.regex(
    fatalConnectionHint(new Error('WRONGPASS invalid username-password pair'), 'redis://:x@h:1')!,
    /refused the credentials.*redis:\/\/:PASSWORD@/,
  );
  t.regex(
    fatalConnectionHint(new Error('self-signed certificate in certificate chain'), 'rediss://h:1')!,
    /NODE_EXTRA_CA_CERTS/,
  );
  t.is(fatalConnectionHint(new Error('connect ECONNREFUSED 127.0.0.1:6379'), 'redis://h:1'), undefined);
  t.is(queueName('cuda:3'), 'petra-candidates-cuda');
  t.is(queueName('cpu'), 'petra-candidates-cpu');
});

const maybe = redisAvailable() ? test.serial : test.serial.skip;

maybe(
  'over TLS with a password, a worker fails malformed jobs at once (typed, no retry, never run); a study off its filesystem fails with what to do',
  async (t) => {
    const dir = tempDir('jobs');
    const tls = makeTlsFiles(dir);
    const redis = new RedisServer({ password: 's3cr3t-Pa55', tls });
    await redis.start();
    const connection = { url: redis.url, tls: { ca: readFileSync(tls.ca) }, maxRetriesPerRequest: null };
    const worker = await startWorker(dir, redis.url, [], { NODE_EXTRA_CA_CERTS: tls.ca });
    const queue = new Queue(queueName('cpu'), { connection });
    const events = new QueueEvents(queueName('cpu'), { connection });
    try {
      await events.waitUntilReady();
      const cases: Array<[unknown, RegExp]> = [
        [{ hello: 'world' }, /^JobPayloadError: job\.v: /],
        [{ ...clone(), genome: { stages: [{ type: 'explode', params: {} }] } }, /^JobPayloadError: job\.genome: /],
        [{ ...clone(), config: { ...clone()['config'], device: 'cuda:0' } }, /^JobPayloadError: job\.config\.device: /],
        [{ ...clone(), front: [['NaN', 1]] }, /^JobPayloadError: job\.front\[0\]\[0\]: /],
      ];
      for (const [i, [data, reason]] of cases.entries()) {
        const job = await queue.add('candidate', data, { jobId: `bad-${i}`, attempts: 3 });
        await job.waitUntilFinished(events, 30_000).then(
          () => t.fail('a malformed job completed'),
          () => undefined,
        );
        const after = (await Job.fromId(queue, job.id!))!;
        // The failure reason carries the error's class and code; the coordinator records them like an in-process failure.
        const e = parseErrorText(after.failedReason);
        t.regex(`${e.name}: ${e.message}`, reason);
        t.true(reviveError(e) instanceof ConfigError, `${e.name} [${e.code}]`);
        const outcome = failedJobOutcome(after.failedReason, after.attemptsMade) as {
          status: string;
          reason: string;
          userAttrs: Record<string, unknown>;
        };
        t.like(outcome, { status: 'failed', userAttrs: { error: 'JobPayloadError', errorCode: 'ERR_PETRA_CONFIG' } });
        t.regex(outcome.reason, /^worker: JobPayloadError: job\.[^ ]+: .* \(after 1 attempt\)$/);
        t.is(after.attemptsMade, 1, 'not retried');
      }
      // Well-formed, but its study is not on this worker's filesystem: retried (another worker may have it), then failed.
      const offsite = await queue.add('candidate', clone(), {
        jobId: 'offsite',
        attempts: 2,
        backoff: { type: 'fixed', delay: 200 },
      });
      await offsite.waitUntilFinished(events, 30_000).catch(() => undefined);
      const after = (await Job.fromId(queue, 'offsite'))!;
      t.regex(
        parseErrorText(after.failedReason).message,
        /not visible on this worker: workers need the filesystem that holds the study directory/,
      );
      t.is(after.attemptsMade, 2);
      t.false(
        worker.events.some((e) => e.event === 'job' && e['phase'] === 'start'),
        'nothing was run',
      );
      t.false(
        `${worker.stderr}${JSON.stringify(worker.events)}`.includes('s3cr3t-Pa55'),
        'the password is never printed',
      );
    } finally {
      await Promise.allSettled([events.close(), queue.close()]);
      await worker.stop();
      await redis.stop();
    }
  },
);
