/**
 * How a running search shows itself: a live progress bar (ETA, generation, current front) on stderr, or one line per
 * trial when stderr is not a terminal; `--json` prints one JSON event per line on stdout; `--quiet` prints nothing.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { formatMeasure, labelOf, type MeasureName, type QualityMetric } from '../../pipeline/objectives.js';
import { heldOutValue, selectedOnValidation } from '../../pipeline/measure.js';
import type { SearchEventName, SearchEvents } from '../../run/events.js';
import { sortByQuality } from '../../report/table.js';
import type { StudyHandle } from '../../api/search.js';

export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(s % 60).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function shortMeasures(measures: Readonly<Record<string, number>> | undefined, names: readonly string[]): string {
  if (!measures) return '';
  return names
    .filter((n) => measures[n] !== undefined)
    .map((n) => `${labelOf(n as MeasureName)} ${formatMeasure(n as MeasureName, measures[n]!)}`)
    .join(', ');
}

/**
 * Renders a running search: progress bar or lines on stderr, JSON lines on stdout, or nothing. Returns a function
 * that stops the rendering.
 */
export function attachProgress(handle: StudyHandle, o: { json?: boolean; quiet?: boolean }): () => void {
  const offs: Array<() => void> = [];
  if (o.json) {
    const events: SearchEventName[] = ['phase', 'baseline', 'start', 'trialStart', 'trial', 'generation', 'queue'];
    for (const e of events)
      offs.push(handle.on(e, (p) => process.stdout.write(`${JSON.stringify({ event: e, ...jsonSafe(e, p) })}\n`)));
    return () => offs.forEach((f) => f());
  }
  if (o.quiet) return () => {};
  const tty = process.stderr.isTTY === true;
  let budget: SearchEvents['start']['budget'] = {};
  let doneBefore = 0;
  let generation = 0;
  let frontSize = 0;
  let names: string[] = [];
  let elapsedMs = 0;
  let evaluations = 0;
  const trialTimes: number[] = [];
  const multi = tty
    ? new MultiBar(
        {
          stream: process.stderr,
          clearOnComplete: false,
          hideCursor: true,
          format: '{label} |{bar}| {value}/{total} {unit} · {info}',
          barsize: 24,
        },
        Presets.shades_classic,
      )
    : undefined;
  let bar: SingleBar | undefined;
  const log = (line: string): void => {
    if (multi) multi.log(`${line}\n`);
    else process.stderr.write(`${line}\n`);
  };
  const eta = (): string => {
    const avg = trialTimes.length ? trialTimes.reduce((a, b) => a + b, 0) / trialTimes.length : undefined;
    const candidates: number[] = [];
    if (budget.evaluations !== undefined && avg !== undefined)
      candidates.push((budget.evaluations - evaluations) * avg * 1000);
    if (budget.timeMs !== undefined) candidates.push(budget.timeMs - elapsedMs);
    return candidates.length ? duration(Math.max(0, Math.min(...candidates))) : '–';
  };
  const total = (): number => budget.evaluations ?? Math.max(evaluations + 1, 1);
  offs.push(
    handle.on('phase', (p) => {
      if (p.phase !== 'searching' && p.phase !== 'done') log(`petra: ${p.message}`);
    }),
  );
  offs.push(
    handle.on('baselineEpoch', (e) =>
      log(
        `  baseline epoch ${e.epoch + 1}/${e.epochs}: loss ${e.trainLoss.toFixed(4)}${e.valMetric !== undefined ? `, val ${e.valMetric.toFixed(4)}` : ''} (${e.seconds.toFixed(1)} s)`,
      ),
    ),
  );
  offs.push(
    handle.on('baseline', (b) => {
      names = [b.metric, 'latencyMs', 'throughput', 'sizeBytes'];
      const test = selectedOnValidation(b.measurements)
        ? ` (validation; held-out test ${Number(heldOutValue(b.measurements, b.metric).toPrecision(4))})`
        : '';
      log(
        `petra: baseline ${b.cached ? '(cached)' : '(trained)'}: ${shortMeasures({ [names[0]!]: b.measurements.metric, latencyMs: b.measurements.latencyMs, throughput: b.measurements.throughput, sizeBytes: b.measurements.sizeBytes }, names)}${test}`,
      );
    }),
  );
  offs.push(
    handle.on('start', (s) => {
      budget = s.budget;
      doneBefore = s.done;
      evaluations = s.done;
      elapsedMs = s.elapsedMs;
      log(
        `petra: ${s.resumed ? 'resuming' : 'starting'} study '${s.name}' (${s.file}); objectives ${s.objectives.map((x) => `${labelOf(x.name as MeasureName)} ${x.direction === 'max' ? '↑' : '↓'}`).join(', ')}${s.resumed ? `; ${s.done} evaluations done` : ''}`,
      );
      bar = multi?.create(total(), evaluations, { label: 'search', unit: 'evals', info: `gen 0 · ETA – · front 0` });
    }),
  );
  offs.push(
    handle.on('trialStart', (t) => {
      bar?.update({
        info: `gen ${t.generation} · ETA ${eta()} · front ${frontSize} · #${t.trial} ${t.pipeline.slice(0, 48)}`,
      });
    }),
  );
  offs.push(
    handle.on('trial', (t) => {
      evaluations = t.evaluations;
      elapsedMs = t.elapsedMs;
      if (!/^(interrupted|aborted)/.test(t.reason ?? '')) trialTimes.push(t.seconds);
      generation = t.generation;
      const what =
        t.state === 'complete'
          ? `${shortMeasures(t.measures, names)}${t.feasible ? '' : ' (violates a constraint)'}`
          : `${t.state}: ${t.reason ?? ''}`;
      const line = `  #${t.trial} gen ${t.generation} ${t.pipeline} → ${what} (${t.seconds.toFixed(1)} s)`;
      if (bar) {
        if (budget.evaluations === undefined) bar.setTotal(total());
        bar.update(evaluations, { info: `gen ${generation} · ETA ${eta()} · front ${frontSize}` });
        log(line);
      } else {
        log(
          `[${evaluations - doneBefore}${budget.evaluations !== undefined ? `/${budget.evaluations - doneBefore}` : ''} · gen ${generation} · ETA ${eta()} · front ${frontSize}]${line}`,
        );
      }
    }),
  );
  offs.push(
    handle.on('front', (f) => {
      frontSize = f.front.length;
    }),
  );
  offs.push(handle.on('queue', (q) => log(`petra: ${q.message}`)));
  offs.push(
    handle.on('generation', (g) => {
      frontSize = g.front.length;
      const best = g.front.length
        ? sortByQuality(
            g.front.map((m) => ({ ...m, measures: m.measures })),
            names[0] as QualityMetric,
          )[0]
        : undefined;
      log(
        `petra: generation ${g.generation} done: ${g.evaluations} evaluations, front ${g.front.length}${best ? `, best quality #${best.trial} (${shortMeasures(best.measures, names)})` : ''}`,
      );
    }),
  );
  return () => {
    offs.forEach((f) => f());
    bar?.stop();
    multi?.stop();
  };
}

function jsonSafe<K extends SearchEventName>(event: K, p: SearchEvents[K]): Record<string, unknown> {
  if (event === 'generation') {
    const g = p as SearchEvents['generation'];
    return {
      generation: g.generation,
      hypervolume: g.hypervolume,
      evaluations: g.evaluations,
      elapsedMs: g.elapsedMs,
      front: g.front.map(({ genome: _g, ...rest }) => rest),
    };
  }
  if (event === 'baseline') {
    const b = p as SearchEvents['baseline'];
    return { cached: b.cached, key: b.record.key, test: b.record.test, measurements: b.measurements };
  }
  return p as unknown as Record<string, unknown>;
}
