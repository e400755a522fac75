/**
 * A study file read into what reports show: the baseline, every trial with its four measures, the Pareto members,
 * the failures and their reasons, and the hypervolume of the front after each evaluation.
 */
import { timingKey, withRemeasured, type RemeasuredFront } from '../distributed/remeasure.js';
import type { PipelineGenome } from '../genome/index.js';
import type { HostFingerprint } from '../lab/fingerprint.js';
import type { Lineage } from '../pipeline/evaluator.js';
import { heldOutValue, measureValues, selectedOnValidation, type Measurements } from '../pipeline/measure.js';
import type { MeasureName } from '../pipeline/objectives.js';
import { describePipeline, shortPipeline } from '../pipeline/describe.js';
import type { ProgressInfo, StudyMeta } from '../pipeline/study-file.js';
import { StudyFile } from '../pipeline/study-file.js';
import {
  dominates,
  hypervolume,
  toMinimization,
  type ObjectiveDef,
  type TrialRecord,
  type TrialState,
} from '../search/index.js';

export interface ReportTrial {
  readonly number: number;
  readonly generation: number;
  readonly state: TrialState;
  readonly genome: PipelineGenome;
  readonly pipeline: string;
  readonly short: string;
  /** The four measures (metric under its name, latencyMs, throughput, sizeBytes) for complete trials. */
  readonly measures?: Readonly<Record<string, number>>;
  /** The quality metric on the held-out test split (studies that selected on a validation split). */
  readonly heldOut?: number;
  readonly values?: readonly number[];
  readonly feasible: boolean;
  readonly pareto: boolean;
  readonly reason?: string;
  readonly seconds?: number;
  readonly lineage?: Partial<Lineage>;
  readonly finishedAt?: number;
  /** The `petra worker` that evaluated it (distributed searches). */
  readonly worker?: string;
  /** Its latency and throughput as first timed, when the front mixed kinds of host and it was re-timed. */
  readonly timedFirst?: { readonly latencyMs: number; readonly throughput: number };
}

export interface HypervolumePoint {
  readonly evaluations: number;
  readonly generation: number;
  readonly hypervolume: number;
  readonly elapsedMs: number;
}

export interface ReportData {
  readonly name: string;
  readonly file: string;
  readonly meta: StudyMeta;
  readonly progress?: ProgressInfo;
  readonly objectives: readonly ObjectiveDef[];
  /** Baseline measures by name (quality on the validation split). */
  readonly baseline: Readonly<Record<string, number>>;
  /** The baseline's quality on the held-out test split (studies that selected on a validation split). */
  readonly baselineHeldOut?: number;
  readonly trials: readonly ReportTrial[];
  readonly pareto: readonly ReportTrial[];
  /**
   * Front hypervolume after each told trial: objectives in minimisation form divided by the baseline's value (so
   * the baseline sits at ±1 in every objective), reference point the worst value seen (baseline included) plus 10%.
   */
  readonly hypervolume: readonly HypervolumePoint[];
  readonly generatedAt: string;
  /** Which kinds of host timed the candidates, and the re-timing of the front (distributed searches). */
  readonly hosts: readonly HostSummary[];
  readonly remeasured?: RemeasuredFront;
}

export interface HostSummary {
  readonly host: HostFingerprint;
  readonly workers: readonly string[];
  readonly trials: number;
  /** Median of the baseline's own latency timed beside this host's candidates (how fast this host is). */
  readonly baselineLatencyMs?: number;
}

function measuresOf(t: TrialRecord, meta: StudyMeta): Record<string, number> | undefined {
  const m = (t.userAttrs as Partial<Lineage>).measurements as Measurements | undefined;
  return m ? measureValues(m, meta.problem.metric) : undefined;
}

/** The held-out test quality of a measurement that selected on validation rows (older studies: none). */
function heldOutOf(m: Measurements | undefined, meta: StudyMeta): { heldOut: number } | Record<string, never> {
  return m && selectedOnValidation(m) ? { heldOut: heldOutValue(m, meta.problem.metric) } : {};
}

/** Non-dominated feasible complete trials, in minimisation form. */
function paretoNumbers(trials: readonly ReportTrial[], objectives: readonly ObjectiveDef[]): Set<number> {
  const pts = trials
    .filter((t) => t.state === 'complete' && t.feasible && t.values)
    .map((t) => ({ n: t.number, p: toMinimization(objectives, t.values!) }));
  const out = new Set<number>();
  for (const a of pts) if (!pts.some((b) => b !== a && dominates(b.p, a.p))) out.add(a.n);
  // Equal points: keep the earliest trial only.
  const seen = new Set<string>();
  for (const a of pts) {
    if (!out.has(a.n)) continue;
    const key = a.p.join(',');
    if (seen.has(key)) out.delete(a.n);
    else seen.add(key);
  }
  return out;
}

export function reportData(sf: StudyFile): ReportData {
  const meta = sf.meta;
  const objectives = meta.objectives;
  const raw = sf.trials();
  const baseline = measureValues(meta.baseline.measurements, meta.problem.metric);
  const baselineHeld: { heldOut?: number } = heldOutOf(meta.baseline.measurements, meta);
  const remeasured = sf.get<RemeasuredFront>('remeasured');
  let trials: ReportTrial[] = raw.map((t) => {
    const genome = t.genome as PipelineGenome;
    const lineage = t.userAttrs as Partial<Lineage> & { worker?: string };
    const first = measuresOf(t, meta);
    const again = remeasured?.trials[String(t.number)];
    const measures = first && again ? withRemeasured(first, t.number, remeasured) : first;
    const values = t.values && again ? objectives.map((o) => measures![o.name] as number) : t.values;
    return {
      number: t.number,
      generation: t.generation,
      state: t.state,
      genome,
      pipeline: lineage.pipeline ?? describePipeline(genome),
      short: shortPipeline(genome),
      ...(measures ? { measures } : {}),
      ...heldOutOf(lineage.measurements, meta),
      ...(values ? { values } : {}),
      ...(lineage.worker ? { worker: lineage.worker } : {}),
      ...(first && again ? { timedFirst: { latencyMs: first['latencyMs']!, throughput: first['throughput']! } } : {}),
      feasible: t.state === 'complete' && (t.violation ?? 0) <= 0,
      pareto: false,
      ...(t.failReason ? { reason: t.failReason } : {}),
      ...(lineage.seconds !== undefined ? { seconds: lineage.seconds } : {}),
      lineage,
      ...(t.finishedAt !== undefined ? { finishedAt: t.finishedAt } : {}),
    };
  });
  const front = paretoNumbers(trials, objectives);
  trials = trials.map((t) => (front.has(t.number) ? { ...t, pareto: true } : t));
  return {
    name: sf.study.name,
    file: sf.file,
    meta,
    ...(sf.progress ? { progress: sf.progress } : {}),
    objectives,
    baseline,
    trials,
    ...(baselineHeld.heldOut !== undefined ? { baselineHeldOut: baselineHeld.heldOut } : {}),
    pareto: trials.filter((t) => t.pareto),
    hypervolume: hypervolumeSeries(trials, objectives, baseline, sf.study.createdAt),
    generatedAt: new Date().toISOString(),
    hosts: hostSummaries(trials),
    ...(remeasured ? { remeasured } : {}),
  };
}

/** Complete trials grouped by the kind of host that timed them. */
function hostSummaries(trials: readonly ReportTrial[]): HostSummary[] {
  const groups = new Map<string, { host: HostFingerprint; workers: Set<string>; trials: number; baseline: number[] }>();
  for (const t of trials) {
    const host = t.lineage?.host;
    if (t.state !== 'complete' || !host) continue;
    const key = timingKey(host);
    const g = groups.get(key) ?? { host, workers: new Set<string>(), trials: 0, baseline: [] };
    g.trials++;
    if (t.worker) g.workers.add(t.worker);
    const paired = t.lineage?.measurements?.paired;
    if (paired) g.baseline.push(paired.latencyMs);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => {
    const sorted = [...g.baseline].sort((a, b) => a - b);
    return {
      host: g.host,
      workers: [...g.workers].sort(),
      trials: g.trials,
      ...(sorted.length ? { baselineLatencyMs: sorted[Math.floor(sorted.length / 2)]! } : {}),
    };
  });
}

export function loadReportData(study: string, dir?: string): ReportData {
  const sf = StudyFile.open(study, dir);
  try {
    return reportData(sf);
  } finally {
    sf.close();
  }
}

function hypervolumeSeries(
  trials: readonly ReportTrial[],
  objectives: readonly ObjectiveDef[],
  baseline: Record<string, number>,
  createdAt: number,
): HypervolumePoint[] {
  const scale = objectives.map((o) => Math.abs(baseline[o.name as MeasureName] ?? 1) || 1);
  const norm = (values: readonly number[]): number[] => toMinimization(objectives, values).map((v, j) => v / scale[j]!);
  const told = trials
    .filter((t) => t.state !== 'running')
    .sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0) || a.number - b.number);
  const feasible = told.filter((t) => t.state === 'complete' && t.feasible && t.values).map((t) => norm(t.values!));
  const base = norm(objectives.map((o) => baseline[o.name]!));
  const all = [...feasible, base];
  const reference = objectives.map((_, j) => {
    const col = all.map((p) => p[j]!);
    const hi = Math.max(...col);
    const lo = Math.min(...col);
    return hi + 0.1 * (hi - lo) + 1e-9;
  });
  const out: HypervolumePoint[] = [];
  const points: number[][] = [];
  told.forEach((t, i) => {
    if (t.state === 'complete' && t.feasible && t.values) points.push(norm(t.values));
    out.push({
      evaluations: i + 1,
      generation: t.generation,
      hypervolume: points.length ? hypervolume(points, reference) : 0,
      elapsedMs: (t.finishedAt ?? createdAt) - createdAt,
    });
  });
  return out;
}
