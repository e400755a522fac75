/**
 * Running a study from the command line, as `petra search`, `petra demo` and `petra resume` all do: the memory cap
 * and report directory checked before it starts, progress while it runs, Ctrl-C as a graceful stop, then the Pareto
 * table (or one JSON object) and the exit code.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AbortError, ConfigError } from '../../core/errors.js';
import { setMemoryCap } from '../../runtime/info.js';
import type { QualityMetric } from '../../pipeline/objectives.js';
import type { SearchOutcome } from '../../run/outcome.js';
import { paretoTable, sortByQuality } from '../../report/table.js';
import type { StudyHandle } from '../../api/search.js';
import { attachProgress, duration } from './progress.js';

export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
  report?: string | boolean;
  /** --cpu-memory-cap <MiB>: LibTorch CPU tensor memory cap for this process (see setMemoryCap; PETRA_CPU_MEMORY_CAP_MB too). */
  cpuMemoryCap?: string;
}

/** Prints the result: the Pareto table and where things are, or one JSON object. */
export function printOutcome(
  handle: StudyHandle,
  outcome: SearchOutcome,
  o: OutputOptions,
  metric?: QualityMetric,
): void {
  let reportPath: string | undefined;
  if (o.report !== false) reportPath = handle.report(typeof o.report === 'string' ? o.report : undefined);
  const m =
    metric ??
    (Object.keys(outcome.baseline).find((k) => ['accuracy', 'macroF1', 'rmse', 'mae'].includes(k)) as QualityMetric);
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ event: 'done', ...outcome, front: outcome.front.map(({ genome: _g, ...rest }) => rest), ...(reportPath ? { report: reportPath } : {}) })}\n`,
    );
    return;
  }
  const rows = sortByQuality(
    outcome.front.map((f) => ({
      trial: f.trial,
      pipeline: f.pipeline,
      measures: f.measures,
      ...(f.heldOut !== undefined ? { heldOut: f.heldOut } : {}),
    })),
    m,
  );
  console.log(
    `\nPareto front of '${outcome.name}' (${outcome.front.length} of ${outcome.totalEvaluations} evaluations; ${outcome.reason}; ${duration(outcome.elapsedMs)}):\n`,
  );
  console.log(paretoTable(rows, { metric: m, baseline: outcome.baseline, baselineHeldOut: outcome.baselineHeldOut }));
  console.log('');
  if (reportPath) console.log(`report:  ${reportPath}`);
  console.log(`study:   ${outcome.file}`);
  console.log(
    `next:    petra report ${outcome.name} · petra export ${outcome.name} <trial>${outcome.status === 'stopped' ? ` · petra resume ${outcome.name}` : ''}`,
  );
}

/** Ctrl-C stops the search gracefully (the study can be resumed); a second Ctrl-C exits at once. */
export function abortOnSignal(handle: StudyHandle, o: OutputOptions): () => void {
  let count = 0;
  const onSignal = (): void => {
    count++;
    if (count > 1) process.exit(130);
    if (!o.json)
      process.stderr.write(
        `\npetra: stopping after the current step; resume with \`petra resume ${handle.name}\` (Ctrl-C again to quit now)\n`,
      );
    handle.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/** Applies --cpu-memory-cap (MiB) before a search starts; a candidate that would need more fails with "out of memory". */
export function applyMemoryCap(o: OutputOptions): void {
  if (o.cpuMemoryCap === undefined) return;
  const mb = Number(o.cpuMemoryCap);
  if (!(mb > 0)) throw new ConfigError(`'${o.cpuMemoryCap}' is not a positive number of MiB`, 'cpu-memory-cap');
  setMemoryCap(Math.round(mb * 1024 * 1024));
}

/** Runs a handle to the end with progress and output; returns the exit code. */
export async function runHandle(handle: StudyHandle, o: OutputOptions, metric?: QualityMetric): Promise<number> {
  const stop = attachProgress(handle, o);
  const unhook = abortOnSignal(handle, o);
  try {
    const outcome = await handle.done;
    stop();
    printOutcome(handle, outcome, o, metric);
    return outcome.status === 'stopped' ? 130 : 0;
  } catch (error) {
    if (error instanceof AbortError && handle.signal.aborted) {
      stop();
      process.stderr.write(
        `petra: stopped before the search started${existsSync(handle.file) ? `; resume with \`petra resume ${handle.name}\`` : ' (nothing was written)'}\n`,
      );
      return 130;
    }
    throw error;
  } finally {
    stop();
    unhook();
  }
}

/** Where the HTML report will go, so the search can prove it writable before it starts (none with --no-report). */
export function reportDirs(o: OutputOptions): string[] {
  if (o.report === false) return [];
  return [dirname(typeof o.report === 'string' ? o.report : join('petra-out', 'report.html'))];
}
