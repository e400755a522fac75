// bench/compression: what each compression operator (and two compositions) does to size, measured CPU latency and
// test accuracy, on the Fashion-MNIST small CNN and a ResNet-20 — plus the two issue-4 targets: int8 Linear(1024×1024)
// at batch 64 ≥ 5× faster than fp32, and 50% channel pruning ≥ 40% lower latency. Key ratios come from the lab's
// interleaved compare() (re-run when the machine is noisy); per-row latencies are benchmark() medians.
// Usage: node --import=tsx bench/compression.ts [--resnet-train 15000] [--models cnn,resnet] [--quick] [--out bench/results/compression]
//        [--cache DIR] [--latency-only] [--threads 1,2]
// --latency-only re-measures latency on the models the last full run cached (~4 min per thread count). --threads: the
// LibTorch intra-op thread counts to measure at (default: the library's, i.e. the cores), one child process each.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decompose,
  prune,
  quantize,
  type LowrankReport,
  type PruneReport,
  type QuantizeReport,
} from '../lib/compress/index.js';
import { loadFashionMnist } from '../lib/data/idx.js';
import { createRng } from '../lib/data/split.js';
import type { TabularSplit } from '../lib/data/types.js';
import { DeviceData } from '../lib/runtime/device-data.js';
import { benchmark, compare, hostFingerprint, modelSize, type Comparison } from '../lib/lab/index.js';
import { Model } from '../lib/runtime/model.js';
import { mlp, resnetCifar, smallCnn } from '../lib/graph/builders.js';
import type { ModelSpec } from '../lib/graph/types.js';
import { info, setThreads } from '../lib/runtime/info.js';
import { evaluate, train, type TrainOptions } from '../lib/runtime/train.js';
import { gitCommit, markdownTable, median, table } from './lib/stats.js';

/** Variables that cap the CPU kind (int8 matrix, scripts/int8-matrix.mjs), written into the command so the run reproduces. */
const CPU_CAPS = ['ONEDNN_MAX_CPU_ISA', 'ATEN_CPU_CAPABILITY', 'PETRA_CPU_ISA', 'OPENBLAS_CORETYPE']
  .filter((v) => process.env[v])
  .map((v) => `${v}=${process.env[v]} `)
  .join('');
const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const quick = process.argv.includes('--quick'); // smoke run: tiny subsets, short timings (numbers meaningless)
const resnetTrain = Number(arg('resnet-train', quick ? '512' : '15000'));
const only = arg('models', 'cnn,resnet').split(',');
const out = arg('out', quick ? '/tmp/petra-compression-quick' : 'bench/results/compression');
/** Every row's model is saved here, so `--latency-only` can re-measure latency on a quieter machine without retraining. */
const cacheDir = arg('cache', join(tmpdir(), quick ? 'petra-compression-cache-quick' : 'petra-compression-cache'));
const latencyOnly = process.argv.includes('--latency-only');
/**
 * The parent process runs one child per thread count and merges their JSON, so each count is measured in a fresh
 * process (allocator and kernel caches start cold alike). Async native work runs on petra's compute thread
 * (native/compute_thread.h), which is what makes sequential latency stable on 2 cores.
 */
const partOut = process.env.PETRA_BENCH_PART;
const threadCounts = process.argv.includes('--threads')
  ? arg('threads', '').split(',').map(Number)
  : [info().threads.intraOp];
if (partOut) setThreads(threadCounts[0]!);

const started = performance.now();
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)}s`;
const log = (msg: string): void => console.error(`[${elapsed()}] ${msg}`);
const loads: { at: string; seconds: number; loadavg: number[] }[] = [];
const noteLoad = (at: string): void => {
  loads.push({ at, seconds: (performance.now() - started) / 1000, loadavg: loadavg().map((v) => +v.toFixed(2)) });
};
noteLoad('start');

// ---------------------------------------------------------------------------------------------------------------
// Measurement helpers
// ---------------------------------------------------------------------------------------------------------------

const LATENCY = { timeCapMs: quick ? 150 : 700 };
/** Latency passes over all rows of a model, round-robin, so a burst of load on the shared machine hits one pass of many rows, not one row. */
const PASSES = quick ? 2 : 3;
/**
 * compare() rounds: each model's block of a round lasts ~100 ms (5–400 forwards), long enough that one preemption by
 * another process on this shared 2-core machine moves a block's median little, short enough for 16 rounds.
 */
function compareOptions(
  batchSize: number,
  msPerForward: number,
): { batchSize: number; rounds: number; iterationsPerRound: number } {
  const iterationsPerRound = Math.max(5, Math.min(400, Math.round(100 / Math.max(msPerForward, 0.01))));
  return { batchSize, rounds: quick ? 3 : 16, iterationsPerRound: quick ? 3 : iterationsPerRound };
}

interface KeyRatio extends Omit<Comparison, 'host'> {
  attempts: { ratio: number; ci: [number, number]; loadavg1: number }[];
}

/** compare() for a ratio a target depends on: if the CI is wider than ±5% of the ratio, measure again (3 tries, keep the tightest). */
async function keyCompare(
  baseline: Model,
  candidate: Model,
  batchSize: number,
  msPerForward: number,
): Promise<KeyRatio> {
  const attempts: KeyRatio['attempts'] = [];
  let best: Comparison | undefined;
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    const c = await compare(baseline, candidate, compareOptions(batchSize, msPerForward));
    attempts.push({ ratio: c.ratio, ci: c.ci, loadavg1: +loadavg()[0]!.toFixed(2) });
    if (!best || c.ci[1] - c.ci[0] < best.ci[1] - best.ci[0]) best = c;
    if ((c.ci[1] - c.ci[0]) / c.ratio <= 0.1) break;
    log(
      `  noisy compare (ratio ${c.ratio.toFixed(3)}, CI ${c.ci.map((v) => v.toFixed(3)).join('–')}, load ${loadavg()[0]!.toFixed(2)}): again`,
    );
  }
  const { host: _host, ...rest } = best!;
  return { ...rest, attempts };
}

interface Row {
  name: string;
  recipe: string;
  /** What the operators did, in a few words (layers factorized / quantized, channels kept). */
  detail: string;
  /**
   * Stored weight values: trainable parameters plus the int8 weights and biases of quantized layers (those are
   * buffers, so `parameterCount` leaves them out); BN running statistics and int8 scales are not counted.
   */
  parameters: number;
  /** `Model.parameterCount` (trainable parameters only: 0 for a fully static-int8 model). */
  trainableParameters: number;
  fileBytes: number;
  /** Median over the passes of benchmark()'s median latency. */
  latencyMs: { b1: number; b64: number };
  /** Every pass's median (ms). */
  passesMs: { b1: number[]; b64: number[] };
  accuracy: number;
  /** Seconds spent compressing and fine-tuning (not measuring). */
  seconds: number;
  /** compare(baseline, this) at batch 1 and 64: ratio < 1 is faster. */
  vsBaselineB1?: Omit<Comparison, 'host'>;
  vsBaselineB64?: Omit<Comparison, 'host'>;
  change?: {
    parameters: number;
    fileBytes: number;
    latencyB1: number;
    latencyB64: number;
    latencyB1FromMedians: number;
    latencyB64FromMedians: number;
    accuracyPoints: number;
  };
  report?: AnyReport[];
}

function storedWeights(model: Model): number {
  return model
    .parameters()
    .filter((p) => !p.buffer || p.name.endsWith('.qweight') || p.name.endsWith('.bias'))
    .reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
}

type AnyReport = PruneReport | LowrankReport | QuantizeReport;

function describe(reports: AnyReport[]): string {
  return (
    reports
      .map((r) => {
        if (r.operator === 'prune') {
          const kept = r.groups.reduce((a, g) => a + g.after, 0);
          const all = r.groups.reduce((a, g) => a + g.before, 0);
          return `${kept}/${all} channels kept`;
        }
        if (r.operator === 'lowrank') {
          const done = r.layers.filter((l) => !l.skipped);
          const share = done.reduce((a, l) => a + l.rank / l.fullRank, 0) / Math.max(1, done.length);
          return `${done.length}/${r.layers.length} layers factorized${done.length ? ` (rank ${(share * 100).toFixed(0)}% of full on average)` : ''}`;
        }
        return `${r.layers.filter((l) => l.kind === 'int8').length}/${r.layers.length} layers int8`;
      })
      .join('; ') || '—'
  );
}

/** Accuracy and size now; latency later, in passes over all rows (`measureLatency`). */
async function measureRow(
  name: string,
  recipe: string,
  model: Model,
  test: DeviceData,
  seconds: number,
  report: AnyReport[],
): Promise<Row> {
  const acc = (await evaluate(model, test)).accuracy!;
  const size = await modelSize(model);
  log(
    `  ${name}: acc ${(acc * 100).toFixed(2)}%, ${storedWeights(model)} weights, ${size.fileBytes} B (${seconds.toFixed(0)} s)`,
  );
  return {
    name,
    recipe,
    detail: describe(report),
    parameters: storedWeights(model),
    trainableParameters: size.parameters,
    fileBytes: size.fileBytes,
    latencyMs: { b1: Number.NaN, b64: Number.NaN },
    passesMs: { b1: [], b64: [] },
    accuracy: acc,
    seconds,
    report,
  };
}

/**
 * One fresh copy of every model per batch size, whose first forward is at that batch size. LibTorch's oneDNN int8
 * conv keeps the primitive built for the first input shape it sees and rebuilds one on every call for other shapes:
 * a static-int8 ResNet-20 that first ran evaluate() (batch 256) is 2.7× slower at batch 1 than a copy that first ran
 * batch 1. `clone()` starts a copy with an empty cache.
 */
interface Copies {
  b1: Model[];
  b64: Model[];
}
function freshCopies(models: Model[]): Copies {
  return { b1: models.map((m) => m.clone()), b64: models.map((m) => m.clone()) };
}
function disposeCopies(c: Copies): void {
  for (const m of [...c.b1, ...c.b64]) m.dispose();
}

async function measureLatency(rows: Row[], copies: Copies): Promise<void> {
  for (let pass = 0; pass < PASSES; pass++) {
    for (let i = 0; i < rows.length; i++) {
      for (const [key, batch] of [
        ['b1', 1],
        ['b64', 64],
      ] as const) {
        const b = await benchmark(copies[key][i]!, { ...LATENCY, batchSizes: [batch] });
        rows[i]!.passesMs[key].push(b.batches[0]!.medianMs);
      }
    }
  }
  for (const r of rows) r.latencyMs = { b1: median(r.passesMs.b1), b64: median(r.passesMs.b64) };
}

const pct = (a: number, b: number): number => (b / a - 1) * 100;

// ---------------------------------------------------------------------------------------------------------------
// One model: baseline, operators, compositions
// ---------------------------------------------------------------------------------------------------------------

interface Suite {
  key: string;
  title: string;
  data: string;
  spec: ModelSpec;
  train: TrainOptions;
  finetune: TrainOptions;
  trainSplit: TabularSplit;
}

interface SuiteResult {
  key: string;
  title: string;
  data: string;
  spec: string;
  train: TrainOptions;
  finetune: TrainOptions;
  pruning: string;
  rows: Row[];
  prune50: { b1: KeyRatio; b64: KeyRatio };
}

/** Trains and compresses every row's model, measures accuracy and size, and saves both into the cache. */
async function buildRows(s: Suite, test: DeviceData, rows: Row[], keep: Model[]): Promise<void> {
  log(`${s.title}: training on ${s.trainSplit.target.shape[0]} images`);
  const trainData = DeviceData.from(s.trainSplit);
  const timed = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const t0 = performance.now();
    const v = await f();
    return [v, (performance.now() - t0) / 1000];
  };
  const ft = (m: Model): Promise<unknown> => train(m, { train: trainData }, s.finetune);
  const calibration = { data: trainData, batches: 16, batchSize: 64 };
  const qat = { data: trainData, epochs: 1, lr: 1e-4, batchSize: 64, seed: 3 };
  try {
    const base = Model.build(s.spec, { seed: 1 });
    keep.push(base);
    const [, baseSeconds] = await timed(() => train(base, { train: trainData }, s.train));
    noteLoad(`${s.key} baseline trained`);
    rows.push(
      await measureRow(
        'baseline',
        `${s.train.epochs} epochs SGD lr ${s.train.lr} momentum ${s.train.momentum} cosine`,
        base,
        test,
        baseSeconds,
        [],
      ),
    );
    {
      // Every compressed row gets one more epoch (fine-tune or QAT) than the baseline: this row shows what that epoch alone buys.
      const ref = base.clone();
      keep.push(ref);
      const [, sec] = await timed(() => ft(ref));
      rows.push(
        await measureRow(
          'baseline + 1 epoch (ref.)',
          'the baseline fine-tuned 1 more epoch like the compressed rows, nothing removed',
          ref,
          test,
          baseSeconds + sec,
          [],
        ),
      );
    }

    const pruned: Record<number, Model> = {};
    for (const ratio of [0.3, 0.5, 0.7]) {
      const [m, sec] = await timed(async () => {
        const r = await prune(base, { criterion: 'l1', ratio, scope: 'layerwise' });
        await ft(r.model);
        return r;
      });
      keep.push(m.model);
      pruned[ratio] = m.model;
      rows.push(
        await measureRow(`prune ${ratio * 100}%`, 'l1, layerwise, + 1 epoch fine-tune', m.model, test, sec, [m.report]),
      );
    }
    const lowrank: Record<number, Model> = {};
    for (const tau of [0.9, 0.95]) {
      const [m, sec] = await timed(async () => {
        const r = await decompose(base, { rule: 'explained_variance', threshold: tau });
        await ft(r.model);
        return r;
      });
      keep.push(m.model);
      lowrank[tau] = m.model;
      rows.push(
        await measureRow(`lowrank τ ${tau}`, 'explained_variance, + 1 epoch fine-tune', m.model, test, sec, [m.report]),
      );
    }
    for (const mode of ['dynamic', 'static', 'qat'] as const) {
      const [m, sec] = await timed(() =>
        quantize(base, mode === 'dynamic' ? { mode } : mode === 'static' ? { mode, calibration } : { mode, qat }),
      );
      keep.push(m.model);
      const recipe =
        mode === 'dynamic'
          ? 'linear layers, activations on the fly'
          : mode === 'static'
            ? 'calibrated on 16×64 train images, BN folded'
            : '1 epoch fake-quant Adam lr 1e-4, then static';
      rows.push(await measureRow(`int8 ${mode}`, `${recipe} (${m.report.engine})`, m.model, test, sec, [m.report]));
    }
    {
      const [m, sec] = await timed(() => quantize(pruned[0.5]!, { mode: 'static', calibration }));
      keep.push(m.model);
      const pruneRow = rows.find((r) => r.name === 'prune 50%')!;
      rows.push(
        await measureRow(
          'prune 50% → int8 static',
          'the prune 50% row (fine-tuned) → static int8',
          m.model,
          test,
          sec + pruneRow.seconds,
          [...pruneRow.report!, m.report],
        ),
      );
    }
    {
      const [m, sec] = await timed(async () => {
        const p = await prune(lowrank[0.95]!, { criterion: 'l1', ratio: 0.3, scope: 'layerwise' });
        try {
          const q = await quantize(p.model, { mode: 'qat', qat });
          return { model: q.model, reports: [p.report, q.report] };
        } finally {
          p.model.dispose();
        }
      });
      keep.push(m.model);
      const lowRow = rows.find((r) => r.name === 'lowrank τ 0.95')!;
      rows.push(
        await measureRow(
          'lowrank 0.95 → prune 30% → QAT',
          'the lowrank τ 0.95 row (fine-tuned) → l1 layerwise 30% → 1 epoch QAT',
          m.model,
          test,
          sec + lowRow.seconds,
          [...lowRow.report!, ...m.reports],
        ),
      );
    }
    const dir = join(cacheDir, s.key);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < keep.length; i++) await keep[i]!.save(join(dir, `${i}.pt`));
    writeFileSync(join(dir, 'rows.json'), JSON.stringify(rows, null, 1));
  } finally {
    trainData.dispose();
  }
}

/** The cached rows and models of an earlier full run (`--latency-only`). */
async function loadRows(s: Suite, rows: Row[], keep: Model[]): Promise<void> {
  const dir = join(cacheDir, s.key);
  if (!existsSync(join(dir, 'rows.json')))
    throw new Error(`--latency-only: no cached models in ${dir}; run the full bench first`);
  rows.push(
    ...(JSON.parse(readFileSync(join(dir, 'rows.json'), 'utf8')) as Row[]).map((r) => ({
      ...r,
      passesMs: { b1: [], b64: [] },
    })),
  );
  for (let i = 0; i < rows.length; i++) keep.push(await Model.load(join(dir, `${i}.pt`)));
  log(`${s.title}: ${rows.length} cached models from ${dir}`);
}

interface Prepared {
  s: Suite;
  rows: Row[];
  keep: Model[];
}

async function prepareSuite(s: Suite, test: DeviceData): Promise<Prepared> {
  const rows: Row[] = [];
  const keep: Model[] = [];
  try {
    if (latencyOnly) await loadRows(s, rows, keep);
    else await buildRows(s, test, rows, keep);
  } catch (error) {
    for (const m of keep) m.dispose();
    throw error;
  }
  return { s, rows, keep };
}

/** Latency, compare() verdicts and the pruning target of one suite at the current thread count. */
async function measureSuite(prepared: Prepared): Promise<SuiteResult> {
  const { s, keep } = prepared;
  const rows: Row[] = structuredClone(prepared.rows);
  let copies: Copies | undefined;
  try {
    copies = freshCopies(keep); // keep[i] is rows[i]'s model
    const p50 = rows.findIndex((r) => r.name === 'prune 50%');
    // Latency passes, batch-1 verdicts against the baseline (interleaved), and the pruning target at batch 1 and 64.
    noteLoad(`${s.key} latency`);
    log(`${s.title}: latency, ${PASSES} passes over ${rows.length} rows`);
    await measureLatency(rows, copies);
    noteLoad(`${s.key} compare`);
    const baseRow = rows[0]!;
    for (let i = 1; i < rows.length; i++) {
      const { host: _h, ...c1 } = await compare(copies.b1[0]!, copies.b1[i]!, compareOptions(1, baseRow.latencyMs.b1));
      const { host: _h64, ...c64 } = await compare(
        copies.b64[0]!,
        copies.b64[i]!,
        compareOptions(64, baseRow.latencyMs.b64),
      );
      rows[i]!.vsBaselineB1 = c1;
      rows[i]!.vsBaselineB64 = c64;
    }
    log(`${s.title}: pruning target (50% channels)`);
    const prune50 = {
      b1: await keyCompare(copies.b1[0]!, copies.b1[p50]!, 1, baseRow.latencyMs.b1),
      b64: await keyCompare(copies.b64[0]!, copies.b64[p50]!, 64, baseRow.latencyMs.b64),
    };
    for (const r of rows) {
      r.change = {
        parameters: pct(baseRow.parameters, r.parameters),
        fileBytes: pct(baseRow.fileBytes, r.fileBytes),
        // From the interleaved compare() ratios; the ratio of the two pass medians is kept alongside.
        latencyB1: r.vsBaselineB1 ? (r.vsBaselineB1.ratio - 1) * 100 : 0,
        latencyB64: r.vsBaselineB64 ? (r.vsBaselineB64.ratio - 1) * 100 : 0,
        latencyB1FromMedians: pct(baseRow.latencyMs.b1, r.latencyMs.b1),
        latencyB64FromMedians: pct(baseRow.latencyMs.b64, r.latencyMs.b64),
        accuracyPoints: (r.accuracy - baseRow.accuracy) * 100,
      };
    }
    noteLoad(`${s.key} done`);
    return {
      key: s.key,
      title: s.title,
      data: s.data,
      spec: s.spec.name ?? s.key,
      train: s.train,
      finetune: s.finetune,
      pruning: 'l1 magnitude, layerwise scope (every coupled channel group loses the same fraction), roundTo 1',
      rows,
      prune50,
    };
  } finally {
    if (copies) disposeCopies(copies);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Micro-benchmark: int8 Linear(1024×1024) at batch 64
// ---------------------------------------------------------------------------------------------------------------

function randomSplit(n: number, features: number, seed: number): TabularSplit {
  const rng = createRng(seed);
  const x = new Float32Array(n * features);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = rng.int(2);
  return { inputs: [{ data: x, shape: [n, features] }], target: { data: y, shape: [n] } };
}

async function microLinear(): Promise<Record<string, unknown>> {
  log('micro: Linear(1024×1024) fp32 vs int8 at batch 64');
  noteLoad('micro');
  const spec = mlp({ inputShape: [1024], hidden: [1024], classes: 2 });
  const fp32 = Model.build(spec, { seed: 1 });
  const calib = randomSplit(1024, 1024, 7);
  const st = await quantize(fp32, { mode: 'static', calibration: { data: calib, batches: 16, batchSize: 64 } });
  const dy = await quantize(fp32, { mode: 'dynamic' });
  const copies = freshCopies([fp32, st.model, dy.model]);
  try {
    const rows = ['fp32', 'static', 'dynamic'].map(
      (name) => ({ name, passesMs: { b1: [], b64: [] } }) as unknown as Row,
    );
    await measureLatency(rows, copies);
    const [f, a, d] = rows.map((r) => r.latencyMs);
    const medians = { fp32: f!, static: a!, dynamic: d! };
    const staticB64 = await keyCompare(copies.b64[0]!, copies.b64[1]!, 64, medians.fp32.b64);
    const dynamicB64 = await keyCompare(copies.b64[0]!, copies.b64[2]!, 64, medians.fp32.b64);
    const staticB1 = await keyCompare(copies.b1[0]!, copies.b1[1]!, 1, medians.fp32.b1);
    log(
      `  fp32 ${medians.fp32.b64.toFixed(3)} ms, static ${medians.static.b64.toFixed(3)} ms (×${(1 / staticB64.ratio).toFixed(2)}), dynamic ${medians.dynamic.b64.toFixed(3)} ms (×${(1 / dynamicB64.ratio).toFixed(2)})`,
    );
    return {
      spec: 'mlp({ inputShape: [1024], hidden: [1024], classes: 2 }): linear 1024→1024 + ReLU + linear 1024→2',
      engine: st.report.engine,
      calibration: '16 batches × 64 of N(0, 1) inputs',
      medians,
      layers: { static: st.report.layers, dynamic: dy.report.layers },
      staticB64,
      dynamicB64,
      staticB1,
    };
  } finally {
    disposeCopies(copies);
    fp32.dispose();
    st.model.dispose();
    dy.model.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function childMain(): Promise<void> {
  const ds = loadFashionMnist(quick ? { limitTrain: 2048, limitTest: 512 } : {});
  const test = DeviceData.from(ds.test);
  const subset = (split: TabularSplit, n: number): TabularSplit => {
    const x = split.inputs[0]!;
    const per = x.data.length / x.shape[0]!;
    const m = Math.min(n, x.shape[0]!);
    return {
      inputs: [{ data: x.data.subarray(0, m * per), shape: [m, ...x.shape.slice(1)] }],
      target: { data: split.target.data.subarray(0, m), shape: [m] },
    };
  };
  const baseTrain: TrainOptions = {
    epochs: quick ? 1 : 2,
    optimizer: 'sgd',
    lr: 0.05,
    momentum: 0.9,
    schedule: 'cosine',
    seed: 1,
  };
  const finetune: TrainOptions = { epochs: 1, optimizer: 'sgd', lr: 0.01, momentum: 0.9, seed: 2 };
  const suites: Suite[] = [];
  if (only.includes('cnn')) {
    suites.push({
      key: 'smallCnn',
      title: 'Fashion-MNIST small CNN',
      data: `Fashion-MNIST, full train set (${ds.train.target.shape[0]}), test ${ds.test.target.shape[0]}`,
      spec: smallCnn({ inputShape: [1, 28, 28], classes: 10 }),
      train: baseTrain,
      finetune,
      trainSplit: ds.train,
    });
  }
  if (only.includes('resnet')) {
    const n = Math.min(resnetTrain, ds.train.target.shape[0]!);
    suites.push({
      key: 'resnet20',
      title: 'ResNet-20 on Fashion-MNIST',
      data: `Fashion-MNIST 28×28, first ${n} train images (time budget), test ${ds.test.target.shape[0]}`,
      spec: resnetCifar({ depth: 20, inputShape: [1, 28, 28], classes: 10 }),
      train: baseTrain,
      finetune,
      trainSplit: subset(ds.train, n),
    });
  }

  const prepared: Prepared[] = [];
  const byThreads: ThreadResult[] = [];
  try {
    for (const s of suites) prepared.push(await prepareSuite(s, test));
    const threads = threadCounts[0]!; // set before any native work (top of the module)
    log(`latency at ${threads} LibTorch thread${threads === 1 ? '' : 's'}`);
    noteLoad('latency');
    const micro = await microLinear();
    const results: SuiteResult[] = [];
    for (const p of prepared) results.push(await measureSuite(p));
    byThreads.push({ threads, micro, suites: results, targets: targetsOf(micro, results) });
  } finally {
    for (const p of prepared) for (const m of p.keep) m.dispose();
    test.dispose();
  }
  noteLoad('end');
  const seconds = (performance.now() - started) / 1000;
  const part: Part = { seconds, host: hostFingerprint(), load: loads, byThreads };
  writeFileSync(partOut!, JSON.stringify(part));
}

// ---------------------------------------------------------------------------------------------------------------
// Targets, tables, files (parent process)
// ---------------------------------------------------------------------------------------------------------------

interface ThreadResult {
  threads: number;
  micro: Record<string, unknown>;
  suites: SuiteResult[];
  targets: Target[];
}
interface Part {
  seconds: number;
  host: ReturnType<typeof hostFingerprint>;
  load: typeof loads;
  byThreads: ThreadResult[];
}

interface Target {
  target: string;
  measured: string;
  value: number;
  met: boolean;
  confident: boolean;
}
function targetsOf(micro: Record<string, unknown>, results: SuiteResult[]): Target[] {
  const speedup = (c: KeyRatio): number => 1 / c.ratio;
  return [
    ...['staticB64', 'dynamicB64'].map((k) => {
      const c = micro[k] as KeyRatio;
      return {
        target: `int8 ${k.replace('B64', '')} Linear(1024×1024) at batch 64 ≥ 5× faster than fp32`,
        measured: `${speedup(c).toFixed(2)}× (CI ${(1 / c.ci[1]).toFixed(2)}–${(1 / c.ci[0]).toFixed(2)}×)`,
        value: speedup(c),
        met: speedup(c) >= 5,
        confident: 1 / c.ci[1] >= 5,
      };
    }),
    ...results.flatMap((r) =>
      (['b1', 'b64'] as const).map((b) => {
        const c = r.prune50[b];
        return {
          target: `${r.title}: 50% channel pruning ≥ 40% lower latency at batch ${b.slice(1)}`,
          measured: `${((1 - c.ratio) * 100).toFixed(1)}% lower (CI ${((1 - c.ci[1]) * 100).toFixed(1)}–${((1 - c.ci[0]) * 100).toFixed(1)}%)`,
          value: 1 - c.ratio,
          met: 1 - c.ratio >= 0.4,
          confident: 1 - c.ci[1] >= 0.4,
        };
      }),
    ),
  ];
}

const signed = (v: number, digits = 1): string => `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;
const headers = [
  'row',
  'what',
  'weights',
  'Δ',
  'file kB',
  'Δ',
  'b1 ms',
  'b64 ms',
  'b1 vs base (compare)',
  'b64 vs base (compare)',
  'test acc %',
  'Δ pt',
];
const verdict = (c: Omit<Comparison, 'host'> | undefined): string =>
  c ? `×${c.ratio.toFixed(2)} [${c.ci.map((v) => v.toFixed(2)).join('–')}] ${c.verdict}` : '—';
const cells = (r: Row): string[] => [
  r.name,
  r.detail,
  String(r.parameters),
  `${signed(r.change!.parameters)}%`,
  (r.fileBytes / 1024).toFixed(1),
  `${signed(r.change!.fileBytes)}%`,
  r.latencyMs.b1.toFixed(3),
  r.latencyMs.b64.toFixed(2),
  verdict(r.vsBaselineB1),
  verdict(r.vsBaselineB64),
  (r.accuracy * 100).toFixed(2),
  signed(r.change!.accuracyPoints, 2),
];
const met = (t: Target): string => (t.met ? (t.confident ? 'met' : 'met (CI crosses the bar)') : 'not met');
const plural = (n: number): string => `${n} LibTorch thread${n === 1 ? '' : 's'}`;

async function parentMain(): Promise<void> {
  const parts: Part[] = [];
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--threads' && all[i - 1] !== '--threads');
  for (let i = 0; i < threadCounts.length; i++) {
    const t = threadCounts[i]!;
    const file = join(tmpdir(), `petra-compression-part-${process.pid}-${t}.json`);
    // The first child trains (unless --latency-only); the others re-measure its cached models.
    const childArgs = [...args, '--threads', String(t), ...(i > 0 && !latencyOnly ? ['--latency-only'] : [])];
    console.error(`[parent] ${plural(t)}: ${childArgs.join(' ')}`);
    const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, ...childArgs], {
      stdio: 'inherit',
      env: { ...process.env, PETRA_BENCH_PART: file },
    });
    if (child.status !== 0) process.exit(child.status ?? 1);
    parts.push(JSON.parse(readFileSync(file, 'utf8')) as Part);
    rmSync(file, { force: true });
  }
  const byThreads = parts.flatMap((p) => p.byThreads);
  const host = parts[0]!.host;
  const seconds = (performance.now() - started) / 1000;
  // The full run's duration and load travel with the cached models, so a --latency-only result still reports them.
  const metaPath = join(cacheDir, 'run.json');
  const fullRun: { seconds: number; date: string; load: typeof loads } | undefined = latencyOnly
    ? existsSync(metaPath)
      ? JSON.parse(readFileSync(metaPath, 'utf8'))
      : undefined
    : { seconds: parts[0]!.seconds, date: new Date().toISOString(), load: parts[0]!.load };
  if (!latencyOnly) writeFileSync(metaPath, JSON.stringify(fullRun));
  const load = parts.flatMap((p, i) => p.load.map((l) => ({ ...l, at: `${plural(byThreads[i]!.threads)}: ${l.at}` })));
  const result = {
    bench: 'compression',
    date: new Date().toISOString(),
    commit: gitCommit(),
    quick,
    latencyOnly,
    seconds,
    env: Object.fromEntries(
      CPU_CAPS.trim()
        .split(' ')
        .filter(Boolean)
        .map((kv) => kv.split('=')),
    ),
    host: { ...host, threads: threadCounts },
    load,
    fullRun,
    note:
      `CPU inference at LibTorch intra-op threads ${threadCounts.join(' and ')} (one child process each); ` +
      `latency = median over ${PASSES} round-robin passes (all rows of a model, then again) of benchmark()'s median per batch size ` +
      '(time cap 0.7 s per batch size and pass); "vs base" columns, Δ latency and the targets use the interleaved compare() (median of ' +
      'per-round ratios candidate/baseline, 95% bootstrap CI); key ratios re-measured (up to 3×) when their CI is wider than ±5%. ' +
      "Every batch size is measured on its own fresh clone() whose first forward is at that batch size (LibTorch's oneDNN int8 conv " +
      'caches the primitive of the first input shape it sees). The machine is shared: see load.',
    byThreads,
  };
  mkdirSync(out.slice(0, out.lastIndexOf('/')), { recursive: true });
  writeFileSync(`${out}.json`, JSON.stringify(result, null, 2));

  const md: string[] = [
    '# Compression bench',
    '',
    `${result.date.slice(0, 10)} · ${host.cpu}, ${host.cores} cores, LibTorch ${host.libtorch}, int8 engine ${host.quantizedEngine}, latency at ${threadCounts.map(plural).join(' and at ')} · ` +
      `${(seconds / 60).toFixed(1)} min · commit ${result.commit ?? 'unknown'} · load average ${load.map((l) => l.loadavg[0]).join(' → ')} (shared machine)`,
    '',
    ...(latencyOnly
      ? [
          `Latency columns and compare() ratios re-measured with \`--latency-only\` on the models the full run cached; accuracy, size and fine-tune times are from that run${fullRun ? ` (${fullRun.date.slice(0, 16)}, ${(fullRun.seconds / 60).toFixed(1)} min, load average ${fullRun.load.map((l) => l.loadavg[0]).join(' → ')})` : ''}.`,
          '',
        ]
      : []),
    `Command: \`${CPU_CAPS}node --import=tsx bench/compression.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\`; JSON: \`${out}.json\`. ` +
      'Δ = change vs the baseline row; weights = stored weight values (trainable parameters + int8 weights and biases; `parameterCount` counts only the float ones); ' +
      `b1/b64 = latency at batch 1/64 (median of ${PASSES} round-robin passes of benchmark() medians, each batch size on a fresh clone() that first runs at that batch size); ` +
      '"b1/b64 vs base" = compare() ratio (candidate / baseline, < 1 faster; interleaved with the baseline, so more robust on this shared machine than two medians taken minutes apart) with 95% CI and verdict.',
    '',
  ];
  md.push(
    '## Targets',
    '',
    `| target | ${threadCounts.map((t) => `${plural(t)}: measured (compare) | met`).join(' | ')} |`,
    `|---|${threadCounts.map(() => '---|---').join('|')}|`,
  );
  byThreads[0]!.targets.forEach((t, i) =>
    md.push(
      `| ${t.target} | ${byThreads.map((b) => `${b.targets[i]!.measured} | ${met(b.targets[i]!)}`).join(' | ')} |`,
    ),
  );
  md.push('');
  for (const b of byThreads) {
    md.push(`## ${plural(b.threads)}`, '');
    for (const r of b.suites) {
      md.push(
        `### ${r.title}`,
        '',
        `Data: ${r.data}. Baseline: ${r.train.epochs} epochs SGD lr ${r.train.lr} momentum ${r.train.momentum} cosine. ` +
          `Fine-tune after pruning / low-rank: ${r.finetune.epochs} epoch SGD lr ${r.finetune.lr} momentum ${r.finetune.momentum}. Pruning: ${r.pruning}.`,
        '',
      );
      md.push(markdownTable(headers, r.rows.map(cells)));
      md.push('');
    }
    const m = b.micro as { medians: Record<string, { b1: number; b64: number }>; engine: string; spec: string };
    md.push(
      '### int8 Linear(1024×1024) micro-benchmark',
      '',
      `${m.spec}; engine ${m.engine}; static calibrated on random N(0, 1) inputs.`,
      '',
      '| model | b1 ms | b64 ms |',
      '|---|---|---|',
      ...Object.entries(m.medians).map(([k, v]) => `| ${k} | ${v.b1.toFixed(3)} | ${v.b64.toFixed(3)} |`),
      '',
    );
  }
  writeFileSync(`${out}.md`, md.join('\n'));

  for (const b of byThreads) {
    console.log(`\n===== ${plural(b.threads)} =====`);
    for (const r of b.suites) {
      console.log(`\n${r.title} — ${r.data}`);
      console.log(table(headers, r.rows.map(cells)));
    }
    const m = b.micro as { medians: Record<string, { b1: number; b64: number }>; engine: string };
    console.log(`\nint8 micro-benchmark (${m.engine}):`);
    console.log(
      table(
        ['model', 'b1 ms', 'b64 ms'],
        Object.entries(m.medians).map(([k, v]) => [k, v.b1.toFixed(3), v.b64.toFixed(3)]),
      ),
    );
    console.log('\nTargets:');
    console.log(
      table(
        ['target', 'measured', 'met'],
        b.targets.map((t) => [t.target, t.measured, met(t)]),
      ),
    );
  }
  console.log(`\n${(seconds / 60).toFixed(1)} min; wrote ${out}.json and ${out}.md`);
}

if (partOut) await childMain();
else await parentMain();
