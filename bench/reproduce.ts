/**
 * The seed's protocol, per task: train the baseline (cached), search, then re-measure the Pareto candidates against
 * the baseline with the lab's interleaved comparison (so a busy machine cannot fake a speed-up) and write the seed's
 * table — quality final and change, latency, throughput, size, each with its change vs the baseline.
 *
 * Quality is selected on validation rows carved from the training data (the search's objective) and reported on the
 * held-out test split: rows are ordered by validation quality, a bar counts as met only when the candidate the
 * validation numbers pick meets it on the test split too, and every quality figure in the table is a test figure.
 *
 * Target (Fashion-MNIST CNN, CPU): a Pareto point ≥ 75% smaller, ≥ 33% lower latency, ≥ 13% higher throughput at
 * ≤ 1 point accuracy loss; stretch 85% / 50% / +50%.
 *
 * Run: node --import=tsx bench/reproduce.ts [--tasks fashion-mnist,gunpoint,…] [--budget 15m] [--seed 1]
 * Writes bench/results/reproduce-<task>.json and .md (and reproduce-summary.md for all tasks run).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { compare, type Comparison } from '../lib/lab/compare.js';
import { hostFingerprint } from '../lib/lab/fingerprint.js';
import { Model } from '../lib/runtime/model.js';
import { formatBytes, percentChange, type QualityMetric } from '../lib/pipeline/objectives.js';
import { loadReportData, type ReportTrial } from '../lib/report/data.js';
import { writeReport } from '../lib/report/html.js';
import { search, type SearchOptions } from '../lib/search-api.js';
import { gitCommit } from './lib/stats.js';

interface TaskPlan {
  readonly task: string;
  readonly label: string;
  readonly options: Partial<SearchOptions>;
}

/** Fine-tune subsets and caps sized so each search fits its budget on 2 cores. */
const PLANS: Record<string, TaskPlan> = {
  'fashion-mnist': {
    task: 'fashion-mnist',
    label: 'Fashion-MNIST, small CNN',
    options: {
      finetune: { samples: 20_000, valSamples: 3_000, maxEpochs: 3 },
      population: 8,
      objectives: 'metric,latency,throughput,size',
    },
  },
  'fashion-mnist-resnet': {
    task: 'fashion-mnist-resnet',
    label: 'Fashion-MNIST, ResNet-8',
    options: {
      finetune: { samples: 10_000, valSamples: 2_000, maxEpochs: 2 },
      population: 6,
      limits: { test: 5_000 },
      objectives: 'metric,latency,throughput,size',
    },
  },
  gunpoint: {
    task: 'gunpoint',
    label: 'UCR GunPoint, InceptionTime',
    options: {
      model: 'inception-time',
      finetune: { maxEpochs: 30, patience: 6 },
      population: 8,
      objectives: 'metric,latency,throughput,size',
    },
  },
  basicmotions: {
    task: 'basicmotions',
    label: 'UEA BasicMotions, InceptionTime',
    options: { finetune: { maxEpochs: 30, patience: 6 }, population: 8, objectives: 'metric,latency,throughput,size' },
  },
  tecator: {
    task: 'tecator',
    label: 'UCR Tecator (regression), InceptionTime',
    options: { finetune: { maxEpochs: 30, patience: 6 }, population: 8, objectives: 'metric,latency,throughput,size' },
  },
  covid3month: {
    task: 'covid3month',
    label: 'Monash Covid3Month (regression), InceptionTime',
    options: { finetune: { maxEpochs: 30, patience: 6 }, population: 8, objectives: 'metric,latency,throughput,size' },
  },
  transactions: {
    task: 'transactions',
    label: 'synthetic card transactions (age group), GRU',
    options: {
      finetune: { samples: 8_000, valSamples: 1_200, maxEpochs: 3 },
      population: 8,
      objectives: 'metric,latency,throughput,size',
    },
  },
};

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const tasks = arg('tasks', 'fashion-mnist')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const budget = arg('budget', '15m');
const seed = Number(arg('seed', '1'));
const rounds = Number(arg('rounds', '12'));
const outDir = 'bench/results';
const workDir = 'bench/tmp/reproduce';

interface Row {
  trial: number | 'baseline';
  pipeline: string;
  short: string;
  /** Quality on the validation (selection) split: what the search optimized and what orders the rows. */
  valQuality: number;
  valDelta: number;
  /** Quality on the held-out test split. */
  quality: number;
  qualityChange: number;
  /** Points (accuracy / F1) or percent (RMSE / MAE). */
  qualityDelta: number;
  latencyMs: number;
  latencyChange: number;
  latencyCi?: [number, number];
  throughput: number;
  throughputChange: number;
  throughputCi?: [number, number];
  sizeBytes: number;
  sizeChange: number;
  searchMeasures: Record<string, number>;
}

function fmtPct(p: number): string {
  return `${p >= 0 ? '+' : ''}${p.toFixed(1)}%`;
}

async function reproduce(plan: TaskPlan): Promise<Record<string, unknown>> {
  const name = `reproduce-${plan.task}`;
  const studyDir = join(workDir, 'studies');
  for (const f of ['.sqlite', '.sqlite-wal', '.sqlite-shm']) rmSync(join(studyDir, `${name}${f}`), { force: true });
  rmSync(join(studyDir, `${name}.models`), { recursive: true, force: true });
  const started = Date.now();
  const handle = search({ task: plan.task, name, studyDir, budget, seed, stallGenerations: 6, ...plan.options });
  handle.on('baseline', (b) =>
    console.error(
      `[${plan.task}] baseline ${b.cached ? '(cached)' : '(trained)'}: ${b.metric} ${b.measurements.metric.toFixed(4)}, ${b.measurements.latencyMs.toFixed(3)} ms, ${Math.round(b.measurements.throughput)}/s, ${formatBytes(b.measurements.sizeBytes)}`,
    ),
  );
  handle.on('trial', (e) =>
    console.error(
      `[${plan.task}] #${e.trial} g${e.generation} ${e.state} ${e.pipeline}${
        e.measures
          ? ` → ${Object.entries(e.measures)
              .map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`)
              .join(', ')}`
          : ` (${e.reason})`
      }`,
    ),
  );
  const outcome = await handle.done;
  const data = loadReportData(outcome.file);
  writeReport(data, join(workDir, `${name}.html`));
  const metric = data.meta.problem.metric as QualityMetric;
  const higher = metric === 'accuracy' || metric === 'macroF1';
  const b = data.baseline;

  // Interleaved re-measurement of every Pareto candidate against the baseline, at batch 1 and batch 64.
  const baseModel = await Model.load(data.meta.baseline.modelFile);
  const rows: Row[] = [];
  const comparisons: Record<number, { latency: Comparison; throughput: Comparison }> = {};
  try {
    for (const t of data.pareto as ReportTrial[]) {
      const file = join(studyDir, t.lineage!.modelFile!);
      if (!t.measures || !existsSync(file)) continue;
      const cand = await Model.load(file);
      try {
        const lat = await compare(baseModel, cand, {
          batchSize: data.meta.config.measure.latencyBatch,
          rounds,
          iterationsPerRound: 40,
        });
        const thr = await compare(baseModel, cand, {
          batchSize: data.meta.config.measure.throughputBatch,
          rounds,
          iterationsPerRound: 10,
        });
        comparisons[t.number] = { latency: lat, throughput: thr };
        const v = t.measures[metric]!;
        const q = t.heldOut!;
        const bq = data.baselineHeldOut!;
        rows.push({
          trial: t.number,
          pipeline: t.pipeline,
          short: t.short,
          valQuality: v,
          valDelta: higher ? (v - b[metric]!) * 100 : percentChange(v, b[metric]!),
          quality: q,
          qualityChange: percentChange(q, bq),
          qualityDelta: higher ? (q - bq) * 100 : percentChange(q, bq),
          latencyMs: lat.candidateMedianMs,
          latencyChange: (lat.ratio - 1) * 100,
          latencyCi: [(lat.ci[0] - 1) * 100, (lat.ci[1] - 1) * 100],
          throughput: data.meta.config.measure.throughputBatch / (thr.candidateMedianMs / 1000),
          throughputChange: (1 / thr.ratio - 1) * 100,
          throughputCi: [(1 / thr.ci[1] - 1) * 100, (1 / thr.ci[0] - 1) * 100],
          sizeBytes: t.measures['sizeBytes']!,
          sizeChange: percentChange(t.measures['sizeBytes']!, b['sizeBytes']!),
          searchMeasures: { ...t.measures },
        });
      } finally {
        cand.dispose();
      }
    }
  } finally {
    baseModel.dispose();
  }
  // The seed's ordering, by the quality the search selected on: best validation quality first.
  rows.sort((x, y) => (higher ? y.valQuality - x.valQuality : x.valQuality - y.valQuality));
  // A bar is met by the candidate the validation numbers pick (the best-validation one meeting it there), judged
  // again on its held-out test quality; `count` is how many meet it on both splits.
  const meetsOn = (delta: number, r: Row, size: number, lat: number, thr: number): boolean =>
    (higher ? delta >= -1 : delta <= 1) &&
    r.sizeChange <= -size &&
    r.latencyChange <= -lat &&
    r.throughputChange >= thr;
  const meets = (r: Row, size: number, lat: number, thr: number): boolean =>
    meetsOn(r.valDelta, r, size, lat, thr) && meetsOn(r.qualityDelta, r, size, lat, thr);
  const pick = (size: number, lat: number, thr: number): Row | undefined => {
    const chosen = rows.find((r) => meetsOn(r.valDelta, r, size, lat, thr));
    return chosen && meetsOn(chosen.qualityDelta, chosen, size, lat, thr) ? chosen : undefined;
  };
  const target = rows.filter((r) => meets(r, 75, 33, 13));
  const stretch = rows.filter((r) => meets(r, 85, 50, 50));
  const best = pick(75, 33, 13);
  const bestStretch = pick(85, 50, 50);
  const confident = rows.filter((r) => meetsConfidently(r, higher, 75, 33, 13)).length;
  const confidentStretch = rows.filter((r) => meetsConfidently(r, higher, 85, 50, 50)).length;
  const json = {
    task: plan.task,
    label: plan.label,
    study: name,
    commit: gitCommit(),
    budget,
    seed,
    reason: outcome.reason,
    evaluations: outcome.totalEvaluations,
    failed: outcome.failed,
    minutes: (Date.now() - started) / 60e3,
    metric,
    baseline: b,
    baselineTest: data.baselineHeldOut,
    selectionRows: data.meta.problem.rows.val,
    baselineRecord: data.meta.baseline.record,
    host: hostFingerprint('cpu'),
    config: data.meta.config,
    rows,
    comparisons,
    target: { met: !!best, count: target.length, confident, best: best?.trial ?? null },
    stretch: {
      met: !!bestStretch,
      count: stretch.length,
      confident: confidentStretch,
      best: bestStretch?.trial ?? null,
    },
    selection: 'validation',
    testRows: data.meta.problem.rows.test,
    objectives: data.objectives.map((o) => o.name),
    hypervolume: data.hypervolume.at(-1)?.hypervolume ?? 0,
    trials: data.trials.map((t) => ({
      number: t.number,
      generation: t.generation,
      state: t.state,
      pipeline: t.pipeline,
      measures: t.measures,
      heldOut: t.heldOut,
      reason: t.reason,
    })),
  };
  writeFileSync(join(outDir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
  const md = render(json as unknown as Result);
  writeFileSync(join(outDir, `${name}.md`), md);
  console.log(md);
  return json;
}

/** Meets the bar (validation and test quality) with the whole 95% interval of each timing change beyond it, not only the median. */
function meetsConfidently(r: Row, higher: boolean, size: number, lat: number, thr: number): boolean {
  const ok = (d: number): boolean => (higher ? d >= -1 : d <= 1);
  const lossOk = ok(r.qualityDelta) && (r.valDelta === undefined || ok(r.valDelta));
  return (
    lossOk &&
    r.sizeChange <= -size &&
    (r.latencyCi?.[1] ?? Infinity) <= -lat &&
    (r.throughputCi?.[0] ?? -Infinity) >= thr
  );
}

interface Result {
  task: string;
  label: string;
  study: string;
  commit?: string;
  budget: string;
  seed: number;
  reason: string;
  evaluations: number;
  failed: number;
  minutes: number;
  metric: QualityMetric;
  baseline: Record<string, number>;
  baselineTest?: number;
  selectionRows?: number;
  selection?: 'validation';
  baselineRecord: { parameters: number; recipe: { epochs: number } };
  config: { measure: { latencyBatch: number; throughputBatch: number } };
  rows: Row[];
  testRows?: number;
  objectives?: string[];
  target: { met: boolean; count: number; confident?: number; best: number | null };
  stretch: { met: boolean; count: number; confident?: number; best: number | null };
}

/** The seed's table for one task, from its JSON result. */
function render(j: Result): string {
  const metric = j.metric;
  const higher = metric === 'accuracy' || metric === 'macroF1';
  const b = j.baseline;
  const rows = j.rows;
  const confident = j.target.confident ?? rows.filter((r) => meetsConfidently(r, higher, 75, 33, 13)).length;
  const confidentStretch = j.stretch.confident ?? rows.filter((r) => meetsConfidently(r, higher, 85, 50, 50)).length;
  const qualityName = metric === 'accuracy' ? 'accuracy' : metric === 'macroF1' ? 'macro-F1' : metric.toUpperCase();
  const onVal = j.selection === 'validation';
  const qcell = (r: Row): string =>
    higher
      ? `${r.quality.toFixed(4)} (${r.qualityDelta >= 0 ? '+' : ''}${r.qualityDelta.toFixed(2)} pt, ${fmtPct(r.qualityChange)})`
      : `${Number(r.quality.toPrecision(4))} (${fmtPct(r.qualityChange)})`;
  const vcell = (r: Row): string =>
    higher
      ? `${r.valQuality.toFixed(4)} (${r.valDelta >= 0 ? '+' : ''}${r.valDelta.toFixed(2)} pt)`
      : `${Number(r.valQuality.toPrecision(4))} (${fmtPct(r.valDelta)})`;
  const fmtQ = (v: number): string => (higher ? v.toFixed(4) : String(Number(v.toPrecision(4))));
  const md: string[] = [];
  md.push(`## ${j.label}`);
  md.push('');
  md.push(
    `Study \`${j.study}\`: ${j.evaluations} evaluations (${j.failed} failed) in ${j.minutes.toFixed(1)} min, ${j.reason}; seed ${j.seed};${j.commit ? ` commit ${j.commit};` : ''} budget ${j.budget}${j.objectives ? `; objectives ${j.objectives.join(', ')}` : ''}.`,
  );
  md.push(
    `Baseline: ${qualityName} ${onVal ? `val ${fmtQ(b[metric]!)} · test ${fmtQ(j.baselineTest!)}` : fmtQ(b[metric]!)}, ${b['latencyMs']!.toFixed(3)} ms (batch 1), ${Math.round(b['throughput']!)}/s (batch 64), ${formatBytes(b['sizeBytes']!)} (${j.baselineRecord.parameters.toLocaleString('en-US')} parameters, ${j.baselineRecord.recipe.epochs} epochs).`,
  );
  md.push(
    `Latency and throughput changes: median of interleaved rounds against the baseline (lab \`compare\`), 95% bootstrap CI in brackets; size is the saved model file; ${
      onVal
        ? `quality selected on ${j.selectionRows?.toLocaleString('en-US') ?? '?'} validation rows carved from the training data (val, which orders the rows and picks the bar's candidate) and reported on the held-out test split${j.testRows ? ` (${j.testRows.toLocaleString('en-US')} rows)` : ''} (test: the figures to quote)`
        : `quality on the test split${j.testRows ? ` (${j.testRows.toLocaleString('en-US')} rows)` : ''}, which this older run also selected on`
    }.`,
  );
  md.push('');
  md.push(
    onVal
      ? `| trial | pipeline | ${qualityName} val (change) | ${qualityName} test (change) | latency | throughput | size |`
      : `| trial | pipeline | ${qualityName} final (change) | latency | throughput | size |`,
  );
  md.push(onVal ? '|---|---|---|---|---|---|---|' : '|---|---|---|---|---|---|');
  for (const r of rows) {
    md.push(
      `| #${r.trial} | ${r.short}: ${r.pipeline.replace(/\|/g, '\\|')} | ${onVal ? `${vcell(r)} | ` : ''}${qcell(r)} | ${r.latencyMs.toFixed(3)} ms (${fmtPct(r.latencyChange)} [${fmtPct(r.latencyCi![0])}, ${fmtPct(r.latencyCi![1])}]) | ${Math.round(r.throughput).toLocaleString('en-US')}/s (${fmtPct(r.throughputChange)} [${fmtPct(r.throughputCi![0])}, ${fmtPct(r.throughputCi![1])}]) | ${formatBytes(r.sizeBytes)} (${fmtPct(r.sizeChange)}) |`,
    );
  }
  md.push('');
  md.push(
    `Target (≥ 75% smaller, ≥ 33% lower latency, ≥ 13% higher throughput, ≤ 1 ${higher ? 'point' : '%'} quality loss${onVal ? ' on validation and on test' : ''}): ${j.target.met ? `**met** by ${j.target.count} candidate(s) (${confident} with the whole 95% CI of both timing changes beyond the bar), e.g. #${j.target.best}` : '**not met**'}.`,
  );
  md.push(
    `Stretch (85% / 50% / +50%): ${j.stretch.met ? `**met** by ${j.stretch.count} candidate(s) (${confidentStretch} with the whole CI beyond it), e.g. #${j.stretch.best}` : '**not met**'}.`,
  );
  md.push('');
  return `${md.join('\n')}\n`;
}

mkdirSync(outDir, { recursive: true });
mkdirSync(workDir, { recursive: true });
if (process.argv.includes('--render')) {
  // Re-render the tables from the JSON results (no search).
  for (const task of tasks) {
    const j = JSON.parse(readFileSync(join(outDir, `reproduce-${task}.json`), 'utf8')) as Result;
    writeFileSync(join(outDir, `reproduce-${task}.md`), render(j));
  }
} else
  for (const task of tasks) {
    const plan = PLANS[task];
    if (!plan) throw new Error(`unknown task '${task}' (known: ${Object.keys(PLANS).join(', ')})`);
    await reproduce(plan);
  }
// The summary gathers every task's latest table.
const parts = Object.keys(PLANS)
  .map((t) => join(outDir, `reproduce-${t}.md`))
  .filter((f) => existsSync(f))
  .map((f) => readFileSync(f, 'utf8'));
const host = hostFingerprint('cpu');
writeFileSync(
  join(outDir, 'reproduce-summary.md'),
  `# petra reproduction of the PETRA protocol\n\nHost: ${host.cpu}, ${host.cores} cores, ${host.threads} threads, LibTorch ${host.libtorch}, quantized engine ${host.quantizedEngine}, Node ${host.node}.\nRun: \`node --import=tsx bench/reproduce.ts --tasks <list> --budget <budget>\`.\n\n${parts.join('\n')}`,
);
