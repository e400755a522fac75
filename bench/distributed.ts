// bench/distributed: one study through 1, 2, 4 `petra worker` processes on this machine (BullMQ on a real
// redis-server), beside the in-process search, in two parts.
//
// 1. Equal work. Candidates per minute for the same fixed list of genomes: the population is the whole budget, so the
//    study is one generation whose genomes (the seed pipelines, then samples of the study seed's stream) do not depend
//    on results, and every run evaluates exactly that list (checked: the bench fails if a run's pipelines differ).
//    Also the queue's overhead per job and how long workers idle. Timing of a job comes from BullMQ's own timestamps
//    (added, processedOn, finishedOn) and the coordinator's receipt, all on this machine's clock:
//      overhead = (pickup by an idle worker) + (worker time − the evaluation's own wall time) + (finish → coordinator)
//    Worker idle time is the share of workers × search time not spent evaluating (queueing, start-up, the tail).
// 2. Schedules. The generational and the steady-state schedule through the same workers, compared on hypervolume
//    over wall time (bench/lib/hv-over-time.ts: objectives as ratios to the baseline, reference 1.1), several seeds.
//
// Every worker runs one LibTorch thread (PETRA_THREADS=1), so on n cores up to n workers should scale about linearly.
// Usage: node --import=tsx bench/distributed.ts [--workers 1,2,4] [--evals 16] [--schedule-workers 2]
//          [--schedule-evals 24] [--population 4] [--seeds 3] [--out bench/results/distributed.json]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Job, Queue } from 'bullmq';
import { queueName } from '../lib/distributed/connection.js';
import { search, type SearchOptions } from '../lib/search-api.js';
import { hypervolumeAt, HV_REFERENCE, recordHypervolume, secondsToReach, type HvPoint } from './lib/hv-over-time.js';
import { RedisServer } from '../test/helpers/redis.js';
import { startWorker, type PetraProcess } from '../test/e2e/helpers/procs.js';
import { tempDir } from '../test/e2e/helpers/tiny.js';
import { gitCommit, median, table } from './lib/stats.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const workerCounts = arg('workers', '1,2,4').split(',').map(Number);
const evals = Number(arg('evals', '16'));
const scheduleWorkers = Number(arg('schedule-workers', '2'));
const scheduleEvals = Number(arg('schedule-evals', '24'));
const population = Number(arg('population', '4'));
const seeds = Array.from({ length: Number(arg('seeds', '3')) }, (_, i) => 7 + i);
const out = arg('out', 'bench/results/distributed.json');
process.env.PETRA_THREADS = '1';

const dir = tempDir('bench-distributed');
const base = (name: string, o: { population: number; evals: number; seed: number }): SearchOptions => ({
  task: 'fashion-mnist',
  name,
  studyDir: join(dir, 'studies'),
  cacheDir: join(dir, 'cache'),
  limits: { train: 3000, val: 500, test: 1000 },
  baselineEpochs: 1,
  population: o.population,
  budget: `${o.evals}evals`,
  finetune: { maxEpochs: 1, samples: 3000, valSamples: 500 },
  measure: { timeCapMs: 200, repeats: 1 },
  seed: o.seed,
  objectives: 'metric,latency,size',
});
const equalWork = { population: evals, evals, seed: 7 };

interface TrialTiming {
  trial: number;
  generation: number;
  dispatchedAt: number;
  receivedAt: number;
  seconds: number;
}
interface StudyRun {
  trials: TrialTiming[];
  searchMs: number;
  pipelines: string[];
  hv: HvPoint[];
}

/** Runs one study; returns per-trial coordinator timings, the searching phase's wall time, the pipelines evaluated and the hypervolume series. */
async function runStudy(options: SearchOptions): Promise<StudyRun> {
  const handle = search(options);
  const dispatched = new Map<number, number>();
  const trials: TrialTiming[] = [];
  const pipelines: string[] = [];
  const { series } = recordHypervolume(handle);
  let started = 0;
  handle.on('start', () => {
    started = Date.now();
  });
  handle.on('trialStart', (t) => {
    dispatched.set(t.trial, Date.now());
    pipelines.push(t.pipeline);
  });
  handle.on('trial', (t) =>
    trials.push({
      trial: t.trial,
      generation: t.generation,
      dispatchedAt: dispatched.get(t.trial)!,
      receivedAt: Date.now(),
      seconds: t.seconds,
    }),
  );
  await handle.done;
  return { trials, searchMs: Date.now() - started, pipelines, hv: series };
}

interface Row {
  mode: string;
  schedule: string;
  workers: number;
  evaluations: number;
  searchSeconds: number;
  candidatesPerMinute: number;
  meanEvaluationSeconds: number;
  overheadMsMedian?: number;
  overheadMsP90?: number;
  overheadPctOfEvaluation?: number;
  studyLoadSeconds?: number;
  workerIdlePct?: number;
}

async function distributed(
  n: number,
  schedule: 'generational' | 'steady-state',
  redis: RedisServer,
  options: SearchOptions,
): Promise<{ row: Row; run: StudyRun }> {
  const workers: PetraProcess[] = await Promise.all(Array.from({ length: n }, () => startWorker(dir, redis.url)));
  const queue = new Queue(queueName('cpu'), { connection: { url: redis.url } });
  const name = options.name!;
  try {
    const run = await runStudy({ ...options, queue: redis.url, schedule });
    const { trials, searchMs } = run;
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
        const inWorker = j.finishedOn! - j.processedOn! - seconds * 1000;
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
      run,
      row: {
        mode: 'queue',
        schedule,
        workers: n,
        evaluations: trials.length,
        searchSeconds: searchMs / 1000,
        candidatesPerMinute: trials.length / (searchMs / 60_000),
        meanEvaluationSeconds: meanEval / 1000,
        overheadMsMedian: median(overheads),
        overheadMsP90: sorted[Math.floor(sorted.length * 0.9)] ?? Number.NaN,
        overheadPctOfEvaluation: (100 * median(overheads)) / meanEval,
        studyLoadSeconds: median(studyLoads) / 1000,
        workerIdlePct: 100 * (1 - busy / (n * searchMs)),
      },
    };
  } finally {
    await queue.close();
    await Promise.all(workers.map((w) => w.stop()));
  }
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();
const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

interface ScheduleRun {
  schedule: 'generational' | 'steady-state';
  seed: number;
  searchSeconds: number;
  evaluations: number;
  finalHypervolume: number;
  hv: HvPoint[];
}

const redis = new RedisServer();
await redis.start();
const rows: Row[] = [];
const scheduleRuns: ScheduleRun[] = [];
const load: number[][] = [loadavg()];
let workList: string[] = [];
try {
  // Part 1. The baseline is trained once (cached) by the in-process run, which is also the reference list of work.
  const local = await runStudy(base('local', equalWork));
  workList = local.pipelines;
  const meanLocal = local.trials.reduce((s, t) => s + t.seconds, 0) / local.trials.length;
  rows.push({
    mode: 'in-process',
    schedule: 'generational',
    workers: 0,
    evaluations: local.trials.length,
    searchSeconds: local.searchMs / 1000,
    candidatesPerMinute: local.trials.length / (local.searchMs / 60_000),
    meanEvaluationSeconds: meanLocal,
  });
  for (const n of workerCounts) {
    const { row, run } = await distributed(n, 'generational', redis, base(`equal-${n}`, equalWork));
    if (!sameList(run.pipelines, workList))
      throw new Error(
        `${n} workers evaluated other pipelines than the in-process run: the equal-work comparison would be void`,
      );
    rows.push(row);
    load.push(loadavg());
  }
  // Part 2. Schedules on hypervolume over wall time, through the same number of workers, several seeds.
  for (const seed of seeds) {
    for (const schedule of ['generational', 'steady-state'] as const) {
      const { run } = await distributed(
        scheduleWorkers,
        schedule,
        redis,
        base(`schedule-${schedule}-${seed}`, { population, evals: scheduleEvals, seed }),
      );
      scheduleRuns.push({
        schedule,
        seed,
        searchSeconds: run.searchMs / 1000,
        evaluations: run.trials.length,
        finalHypervolume: run.hv.at(-1)?.hypervolume ?? 0,
        hv: run.hv,
      });
      load.push(loadavg());
    }
  }
} finally {
  await redis.stop();
}

const one = rows.find((r) => r.workers === 1)?.candidatesPerMinute;
console.log(
  `Equal work: the same ${workList.length} pipelines through each setup (one generation of population ${evals}).`,
);
console.log(
  table(
    [
      'mode',
      'workers',
      'evals',
      'search s',
      'cand/min',
      'speed-up vs 1',
      'mean eval s',
      'overhead ms (med / p90)',
      'overhead % of eval',
      'study load s',
      'worker idle %',
    ],
    rows.map((r) => [
      r.mode,
      String(r.workers),
      String(r.evaluations),
      r.searchSeconds.toFixed(1),
      r.candidatesPerMinute.toFixed(1),
      one && r.mode === 'queue' ? `×${(r.candidatesPerMinute / one).toFixed(2)}` : '–',
      r.meanEvaluationSeconds.toFixed(2),
      r.overheadMsMedian !== undefined ? `${r.overheadMsMedian.toFixed(1)} / ${r.overheadMsP90!.toFixed(1)}` : '–',
      r.overheadPctOfEvaluation !== undefined ? r.overheadPctOfEvaluation.toFixed(2) : '–',
      r.studyLoadSeconds !== undefined ? r.studyLoadSeconds.toFixed(2) : '–',
      r.workerIdlePct !== undefined ? r.workerIdlePct.toFixed(1) : '–',
    ]),
  ),
);

// Hypervolume at fractions of the median generational search time, per schedule: median and range over seeds.
const medianOf = (xs: number[]): number => median(xs);
const horizon = medianOf(scheduleRuns.filter((r) => r.schedule === 'generational').map((r) => r.searchSeconds));
const fractions = [0.25, 0.5, 0.75, 1];
const target = 0.9 * medianOf(scheduleRuns.filter((r) => r.schedule === 'generational').map((r) => r.finalHypervolume));
const scheduleSummary = (['generational', 'steady-state'] as const).map((schedule) => {
  const runs = scheduleRuns.filter((r) => r.schedule === schedule);
  const at = fractions.map((f) => runs.map((r) => hypervolumeAt(r.hv, f * horizon)));
  const reach = runs.map((r) => secondsToReach(r.hv, target) ?? Number.POSITIVE_INFINITY);
  return {
    schedule,
    seeds: runs.map((r) => r.seed),
    searchSecondsMedian: medianOf(runs.map((r) => r.searchSeconds)),
    hypervolumeAt: Object.fromEntries(
      fractions.map((f, i) => [
        `${Math.round(f * horizon)}s`,
        { median: medianOf(at[i]!), min: Math.min(...at[i]!), max: Math.max(...at[i]!) },
      ]),
    ),
    finalHypervolumeMedian: medianOf(runs.map((r) => r.finalHypervolume)),
    secondsTo90PctOfGenerationalFinalMedian: medianOf(reach),
  };
});
console.log(
  `\nSchedules through ${scheduleWorkers} workers, population ${population}, ${scheduleEvals} evaluations, seeds ${seeds.join(', ')}: ` +
    `hypervolume (ratios to the baseline, reference ${HV_REFERENCE}) at fractions of the generational median search time ${horizon.toFixed(1)} s; median [min–max] over seeds.`,
);
const fmt = (v: { median: number; min: number; max: number }): string =>
  `${v.median.toFixed(4)} [${v.min.toFixed(4)}–${v.max.toFixed(4)}]`;
console.log(
  table(
    [
      'schedule',
      'search s',
      ...fractions.map((f) => `HV at ${Math.round(f * horizon)} s`),
      'final HV',
      `s to ${target.toFixed(4)}`,
    ],
    scheduleSummary.map((s) => [
      s.schedule,
      s.searchSecondsMedian.toFixed(1),
      ...Object.values(s.hypervolumeAt).map(fmt),
      s.finalHypervolumeMedian.toFixed(4),
      Number.isFinite(s.secondsTo90PctOfGenerationalFinalMedian)
        ? s.secondsTo90PctOfGenerationalFinalMedian.toFixed(1)
        : 'not reached',
    ]),
  ),
);

mkdirSync('bench/results', { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      bench: 'distributed',
      date: new Date().toISOString(),
      commit: gitCommit(),
      host: { cpu: cpus()[0]?.model, cores: cpus().length },
      loadavg: load,
      settings: {
        task: 'fashion-mnist (3000 train rows, 1-epoch fine-tunes)',
        threadsPerWorker: 1,
        equalWork: { evals, population: evals, seed: equalWork.seed, pipelines: sorted(workList) },
        schedules: {
          workers: scheduleWorkers,
          evals: scheduleEvals,
          population,
          seeds,
          hypervolumeReference: HV_REFERENCE,
        },
      },
      note:
        'equal work: every row evaluated the same list of pipelines (one generation); ' +
        'overhead = pickup by an idle worker + (worker time − evaluation wall time) + (worker finish → coordinator receipt), from BullMQ timestamps; ' +
        "a worker's first job of a study also loads the study (study load, counted apart); " +
        'worker idle = 1 − Σ evaluation time / (workers × search time): queueing, start-up and the tail of the list. ' +
        'schedules: hypervolume of the feasible told candidates, objectives as ratios to the baseline in minimisation form, reference 1.1 each',
      rows,
      schedules: scheduleSummary,
      scheduleRuns,
    },
    null,
    2,
  ),
);
console.log(`\nwritten ${out}`);
