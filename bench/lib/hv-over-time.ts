// Hypervolume of a search's told candidates over wall time, normalised against its baseline, so that runs of
// different schedules, worker counts or samplers on the same task can be compared on one scale.
//
// Each objective becomes a ratio to the baseline's value in minimisation form (cost / baseline cost; baseline
// quality / quality for a maximised metric), so the baseline sits at 1 in every coordinate. The reference point is
// 1.1 in each coordinate: a candidate up to 10% worse than the baseline in one objective still counts if it is better
// in another. The volume is exact (lib/search/indicators.ts) over the feasible candidates told so far.
import { hypervolume } from '../../lib/search/indicators.js';
import type { SearchEvents, StudyHandle } from '../../lib/search-api.js';

export const HV_REFERENCE = 1.1;

export interface HvPoint {
  /** Seconds since the search phase started (the baseline is trained or loaded before). */
  readonly seconds: number;
  readonly evaluations: number;
  readonly hypervolume: number;
}

/** Records the normalised hypervolume after every told trial of `handle`'s search. */
export function recordHypervolume(handle: StudyHandle): { readonly series: HvPoint[] } {
  const series: HvPoint[] = [];
  let objectives: SearchEvents['start']['objectives'] = [];
  let base: Record<string, number> = {};
  let startedAt = 0;
  const points: number[][] = [];
  handle.on('baseline', (b) => {
    base = {
      [b.metric]: b.measurements.metric,
      latencyMs: b.measurements.latencyMs,
      throughput: b.measurements.throughput,
      sizeBytes: b.measurements.sizeBytes,
    };
  });
  handle.on('start', (s) => {
    objectives = s.objectives;
    startedAt = performance.now();
    series.push({ seconds: 0, evaluations: 0, hypervolume: 0 });
  });
  handle.on('trial', (t) => {
    if (t.feasible && t.measures) {
      const p = objectives.map((o) => {
        const v = t.measures![o.name];
        const b = base[o.name];
        if (v === undefined || b === undefined || !(v > 0) || !(b > 0)) return Number.POSITIVE_INFINITY;
        return o.direction === 'min' ? v / b : b / v;
      });
      if (p.every(Number.isFinite)) points.push(p);
    }
    const reference = objectives.map(() => HV_REFERENCE);
    series.push({
      seconds: (performance.now() - startedAt) / 1000,
      evaluations: series.length,
      hypervolume: points.length ? hypervolume(points, reference) : 0,
    });
  });
  return { series };
}

/** The hypervolume a series had reached at `seconds` (0 before its first told trial). */
export function hypervolumeAt(series: readonly HvPoint[], seconds: number): number {
  let hv = 0;
  for (const p of series) {
    if (p.seconds > seconds) break;
    hv = p.hypervolume;
  }
  return hv;
}

/** Seconds until a series first reached `target` (undefined if it never did). */
export function secondsToReach(series: readonly HvPoint[], target: number): number | undefined {
  return series.find((p) => p.hypervolume >= target)?.seconds;
}
