/**
 * Fair timing across heterogeneous workers. Every candidate is timed paired with the baseline on the host that
 * evaluated it, and reported as the baseline's figures times that ratio, so a slower or faster host does not by
 * itself fake a speed-up. But a ratio is still a property of the hardware (int8 gains differ between CPUs with and
 * without VNNI, say): when the front holds candidates timed on different kinds of host, the coordinator times those
 * not timed on its own kind again, on itself, and the front, the outcome and the report use those numbers (the
 * originals stay in each trial's lineage).
 */
import { join } from 'node:path';
import type { HostFingerprint } from '../lab/fingerprint.js';
import { Model } from '../runtime/model.js';
import type { MeasureSettings } from '../pipeline/config.js';
import type { StudyContext } from '../pipeline/context.js';
import type { Lineage } from '../pipeline/evaluator.js';
import type { FrontEntry } from '../pipeline/front.js';
import { measureModel } from '../pipeline/measure.js';
import { dominates, toMinimization, type ObjectiveDef, type TrialRecord } from '../search/index.js';

/** What a timing depends on; memory size, OS release and Node version do not change it. */
export function timingKey(h: HostFingerprint): string {
  return JSON.stringify([
    h.cpu,
    h.cores,
    h.threads,
    h.blas,
    h.cHeap ?? null,
    h.libtorch,
    h.quantizedEngine,
    h.cuda?.device ?? null,
  ]);
}

export function describeHost(h: HostFingerprint): string {
  return `${h.cuda ? h.cuda.device : h.cpu} · ${h.cores} cores · ${h.threads} threads · LibTorch ${h.libtorch} · ${h.quantizedEngine}`;
}

export interface RemeasuredTrial {
  readonly latencyMs: number;
  readonly throughput: number;
  /** The worker and host whose timing this replaces. */
  readonly worker?: string;
  readonly host: HostFingerprint;
}

/** Stored in the study file under 'remeasured'. */
export interface RemeasuredFront {
  readonly host: HostFingerprint;
  readonly at: string;
  readonly trials: Readonly<Record<string, RemeasuredTrial>>;
}

export interface RemeasureOptions {
  /** The front's trial numbers. */
  readonly front: readonly number[];
  readonly trials: readonly TrialRecord[];
  readonly studyDir: string;
  /** The study's metric (from its problem), splits, baseline model and timing lock. */
  readonly context: Pick<StudyContext, 'problem' | 'data' | 'base' | 'lock'>;
  readonly settings: MeasureSettings;
  readonly baseline: { readonly latencyMs: number; readonly throughput: number };
  /** This process's host: the reference every other kind of host is re-timed on. */
  readonly host: HostFingerprint;
}

/**
 * Re-times the front members timed on another kind of host than this one, when the front mixes kinds of host;
 * undefined when it does not (every front latency is then already comparable).
 */
export async function remeasureFront(o: RemeasureOptions): Promise<RemeasuredFront | undefined> {
  const { problem, data, base, lock } = o.context;
  const byNumber = new Map(o.trials.map((t) => [t.number, t] as const));
  const members = o.front
    .map((n) => ({ n, lineage: byNumber.get(n)?.userAttrs as (Partial<Lineage> & { worker?: string }) | undefined }))
    .filter((m) => m.lineage?.host && m.lineage.modelFile);
  const kinds = new Set(members.map((m) => timingKey(m.lineage!.host!)));
  if (kinds.size <= 1) return undefined;
  const reference = timingKey(o.host);
  const trials: Record<string, RemeasuredTrial> = {};
  for (const m of members) {
    if (timingKey(m.lineage!.host!) === reference) continue;
    const model = await Model.load(join(o.studyDir, m.lineage!.modelFile!), { device: base.device });
    try {
      const measured = await measureModel(model, data.quality(model.device), {
        metric: problem.metric,
        settings: o.settings,
        lock,
        reference: { model: base, ...o.baseline },
      });
      trials[String(m.n)] = {
        latencyMs: measured.latencyMs,
        throughput: measured.throughput,
        host: m.lineage!.host!,
        ...(m.lineage!.worker ? { worker: m.lineage!.worker } : {}),
      };
    } finally {
      model.dispose();
    }
  }
  return { host: o.host, at: new Date().toISOString(), trials };
}

/** A trial's four measures with its re-timed latency and throughput, if it was re-timed. */
export function withRemeasured(
  measures: Readonly<Record<string, number>>,
  trial: number,
  r: RemeasuredFront | undefined,
): Record<string, number> {
  const again = r?.trials[String(trial)];
  return again ? { ...measures, latencyMs: again.latencyMs, throughput: again.throughput } : { ...measures };
}

/**
 * The front with re-timed members' latency and throughput (and objective values) replaced; a member that the new
 * numbers leave dominated by another member drops out.
 */
export function remeasuredFront(
  front: readonly FrontEntry[],
  objectives: readonly ObjectiveDef[],
  r: RemeasuredFront | undefined,
): FrontEntry[] {
  if (!r) return [...front];
  const updated = front.map((f) => {
    if (!r.trials[String(f.trial)]) return f;
    const measures = withRemeasured(f.measures, f.trial, r);
    return { ...f, measures, values: objectives.map((o) => measures[o.name] as number), remeasured: true };
  });
  const points = updated.map((f) => toMinimization(objectives, f.values));
  return updated.filter((_, i) => !points.some((p, j) => j !== i && dominates(p, points[i]!)));
}
