// bench/distributed: candidates per minute of one study with 1, 2, 4 `petra worker` processes on this machine
// (BullMQ on a real redis-server), beside the in-process search; the queue's overhead per job; and how much the
// generation barrier idles the workers. Every worker runs one LibTorch thread (PETRA_THREADS=1), so on n cores up
// to n workers should scale about linearly. Timing of a job comes from BullMQ's own timestamps (added, processedOn,
// finishedOn) and the coordinator's receipt, all on this machine's clock:
//   overhead = (pickup by an idle worker) + (worker time − the evaluation's own wall time) + (finish → coordinator)
// Each worker count runs with the generational schedule and (2+ workers) with the steady-state one. Worker idle time
// is the share of workers × search time not spent evaluating (generation barriers, queueing, start-up).
// Usage: node --import=tsx bench/distributed.ts [--workers 1,2,4] [--evals 16] [--population 4] [--out bench/results/distributed.json]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Job, Queue } from 'bullmq';
import { queueName } from '../lib/distributed/connection.js';
import { search, type SearchOptions } from '../lib/search-api.js';
import { RedisServer } from '../test/helpers/redis.js';
import { startWorker, type PetraProcess } from '../test/e2e/helpers/procs.js';
import { tempDir } from '../test/e2e/helpers/tiny.js';
import { median, table } from './lib/stats.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const workerCounts = arg('workers', '1,2,4').split(',').map(Number);
const evals = Number(arg('evals', '16'));
const population = Number(arg('population', '4'));
const out = arg('out', 'bench/results/distributed.json');
process.env.PETRA_THREADS = '1';

const dir = tempDir('bench-distributed');
const base = (name: string): SearchOptions => ({
  task: 'fashion-mnist', name, studyDir: join(dir, 'studies'), cacheDir: join(dir, 'cache'),
  limits: { train: 3000, val: 500, test: 1000 }, baselineEpochs: 1, population, budget: `${evals}evals`,
  finetune: { maxEpochs: 1, samples: 3000, valSamples: 500 }, measure: { timeCapMs: 200, repeats: 1 }, seed: 7,
  objectives: 'metric,latency,size',
});

interface TrialTiming { trial: number; generation: number; dispatchedAt: number; receivedAt: number; seconds: number }

/** Runs one study; returns per-trial coordinator timings and the searching phase's wall time. */
async function runStudy(options: SearchOptions): Promise<{ trials: TrialTiming[]; searchMs: number }> {
  const handle = search(options);
  const dispatched = new Map<number, number>();
  const trials: TrialTiming[] = [];
  let started = 0;
  handle.on('start', () => { started = Date.now(); });
  handle.on('trialStart', (t) => dispatched.set(t.trial, Date.now()));
  handle.on('trial', (t) => trials.push({ trial: t.trial, generation: t.generation, dispatchedAt: dispatched.get(t.trial)!, receivedAt: Date.now(), seconds: t.seconds }));
  await handle.done;
  return { trials, searchMs: Date.now() - started };
}

interface Row {
  mode: string; schedule: string; workers: number; evaluations: number; searchSeconds: number; candidatesPerMinute: number;
  meanEvaluationSeconds: number; overheadMsMedian?: number; overheadMsP90?: number; overheadPctOfEvaluation?: number;
  studyLoadSeconds?: number; workerIdlePct?: number;
}

async function distributed(n: number, schedule: 'generational' | 'steady-state', redis: RedisServer): Promise<Row> {
  const workers: PetraProcess[] = await Promise.all(Array.from({ length: n }, () => startWorker(dir, redis.url)));
  const queue = new Queue(queueName('cpu'), { connection: { url: redis.url } });
  const name = `dist-${n}-${schedule}`;
  try {
    const { trials, searchMs } = await runStudy({ ...base(name), queue: redis.url, schedule });
    const jobs = (await queue.getJobs(['completed'])).filter((j) => (j.id ?? '').startsWith(`${name}.`));
    // Per worker, its jobs in order: a job could only be picked up once the worker's previous one finished.
    const byWorker = new Map<string, Job[]>();
    for (const j of jobs) {
      const w = (j.returnvalue as { userAttrs?: { worker?: string } }).userAttrs?.worker ?? '?';
      byWorker.set(w, [...(byWorker.get(w) ?? []), j]);
    }
    const overheads: number[] = [];
    const evalMs: number[] = [];
    const studyLoads: number[] = [];
    const receipts = new Map(trials.map((t) => [t.trial, t.receivedAt]));
    for (const list of byWorker.values()) {
      list.sort((a, b) => a.processedOn! - b.processedOn!);
      list.forEach((j, i) => {
        const data = j.data as { trial: number };
        const seconds = (j.returnvalue as { userAttrs?: { seconds?: number } }).userAttrs?.seconds ?? 0;
        const ready = Math.max(j.timestamp, i > 0 ? list[i - 1]!.finishedOn! : 0);
        const received = receipts.get(data.trial);
        if (received === undefined) return;
        const pickup = j.processedOn! - ready;
        const inWorker = (j.finishedOn! - j.processedOn!) - seconds * 1000;
        const back = received - j.finishedOn!;
        evalMs.push(seconds * 1000);
        // A worker's first job of a study also loads the study (data, baseline): counted apart, once per worker.
        if (i === 0) studyLoads.push(inWorker);
        else overheads.push(pickup + inWorker + back);
      });
    }
    const busy = evalMs.reduce((a, b) => a + b, 0);
    const meanEval = evalMs.reduce((a, b) => a + b, 0) / Math.max(1, evalMs.length);
    const sorted = [...overheads].sort((a, b) => a - b);
    return {
      mode: 'queue', schedule, workers: n, evaluations: trials.length, searchSeconds: searchMs / 1000, candidatesPerMinute: trials.length / (searchMs / 60_000),
      meanEvaluationSeconds: meanEval / 1000, overheadMsMedian: median(overheads), overheadMsP90: sorted[Math.floor(sorted.length * 0.9)] ?? Number.NaN,
      overheadPctOfEvaluation: (100 * median(overheads)) / meanEval, studyLoadSeconds: median(studyLoads) / 1000,
      workerIdlePct: 100 * (1 - busy / (n * searchMs)),
    };
  } finally {
    await queue.close();
    await Promise.all(workers.map((w) => w.stop()));
  }
}

const redis = new RedisServer();
await redis.start();
const rows: Row[] = [];
const load: number[][] = [loadavg()];
try {
  // The baseline is trained once (cached) by the in-process run, which is also the reference.
  const local = await runStudy(base('local'));
  const meanLocal = local.trials.reduce((s, t) => s + t.seconds, 0) / local.trials.length;
  rows.push({ mode: 'in-process', schedule: 'generational', workers: 0, evaluations: local.trials.length, searchSeconds: local.searchMs / 1000, candidatesPerMinute: local.trials.length / (local.searchMs / 60_000), meanEvaluationSeconds: meanLocal });
  for (const n of workerCounts) {
    for (const schedule of n > 1 ? ['generational', 'steady-state'] as const : ['generational'] as const) {
      rows.push(await distributed(n, schedule, redis));
      load.push(loadavg());
    }
  }
} finally {
  await redis.stop();
}

const one = rows.find((r) => r.workers === 1)?.candidatesPerMinute;
console.log(table(
  ['mode', 'schedule', 'workers', 'evals', 'search s', 'cand/min', 'speed-up vs 1', 'mean eval s', 'overhead ms (med / p90)', 'overhead % of eval', 'study load s', 'worker idle %'],
  rows.map((r) => [r.mode, r.schedule, String(r.workers), String(r.evaluations), r.searchSeconds.toFixed(1), r.candidatesPerMinute.toFixed(1),
    one && r.mode === 'queue' ? `×${(r.candidatesPerMinute / one).toFixed(2)}` : '–', r.meanEvaluationSeconds.toFixed(2),
    r.overheadMsMedian !== undefined ? `${r.overheadMsMedian.toFixed(1)} / ${r.overheadMsP90!.toFixed(1)}` : '–',
    r.overheadPctOfEvaluation !== undefined ? r.overheadPctOfEvaluation.toFixed(2) : '–',
    r.studyLoadSeconds !== undefined ? r.studyLoadSeconds.toFixed(2) : '–',
    r.workerIdlePct !== undefined ? r.workerIdlePct.toFixed(1) : '–']),
));
mkdirSync('bench/results', { recursive: true });
writeFileSync(out, JSON.stringify({
  bench: 'distributed', date: new Date().toISOString(), host: { cpu: cpus()[0]?.model, cores: cpus().length }, loadavg: load,
  settings: { evals, population, task: 'fashion-mnist (3000 train rows, 1-epoch fine-tunes)', threadsPerWorker: 1 },
  note: 'overhead = pickup by an idle worker + (worker time − evaluation wall time) + (worker finish → coordinator receipt), from BullMQ timestamps; '
    + 'a worker\'s first job of a study also loads the study (study load, counted apart); '
    + 'worker idle = 1 − Σ evaluation time / (workers × search time): barriers, queueing and start-up',
  rows,
}, null, 2));
console.log(`\nwritten ${out}`);
