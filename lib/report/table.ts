/**
 * The Pareto table in the seed's format — quality (final and change), latency, throughput, size, each with its
 * change vs the baseline — as aligned text for terminals or as Markdown for bench/results. Quality comes twice where
 * known: on the validation split the search selected on, and on the held-out test split.
 */
import { formatChange, formatMeasure, labelOf, type MeasureName, type QualityMetric } from '../pipeline/objectives.js';

export interface TableRow {
  readonly trial: number | string;
  readonly pipeline: string;
  readonly measures: Readonly<Record<string, number>>;
  /** The quality metric on the held-out test split. */
  readonly heldOut?: number;
  readonly note?: string;
}

export interface TableOptions {
  readonly metric: QualityMetric;
  readonly baseline: Readonly<Record<string, number>>;
  readonly format?: 'text' | 'markdown';
  /** Widest pipeline column in text form (longer ones are cut with …). */
  readonly pipelineWidth?: number;
  /** Include the baseline as the first row (default true). */
  readonly withBaseline?: boolean;
  /** The baseline's quality on the held-out test split (with rows' `heldOut`: a test column beside the validation one). */
  readonly baselineHeldOut?: number;
}

/** Rows ordered by quality, best first. */
export function sortByQuality<T extends { measures: Readonly<Record<string, number>> }>(
  rows: readonly T[],
  metric: QualityMetric,
): T[] {
  const sign = metric === 'accuracy' || metric === 'macroF1' ? -1 : 1;
  return [...rows].sort((a, b) => sign * ((a.measures[metric] ?? 0) - (b.measures[metric] ?? 0)));
}

export function paretoTable(rows: readonly TableRow[], o: TableOptions): string {
  const names: MeasureName[] = [o.metric, 'latencyMs', 'throughput', 'sizeBytes'];
  const heldOut = o.baselineHeldOut !== undefined || rows.some((r) => r.heldOut !== undefined);
  const labels = names.map((n) => labelOf(n));
  if (heldOut) labels.splice(0, 1, `${labelOf(o.metric)} val`, `${labelOf(o.metric)} test`);
  const header = ['trial', 'pipeline', ...labels, ...(rows.some((r) => r.note) ? ['note'] : [])];
  const format = (r: TableRow, n: MeasureName, v: number | undefined, b: number | undefined): string => {
    if (v === undefined) return '—';
    return b === undefined || r.trial === 'baseline'
      ? formatMeasure(n, v)
      : `${formatMeasure(n, v)} (${formatChange(n, v, b)})`;
  };
  const cells = (r: TableRow): string[] => {
    const out = names.map((n) => format(r, n, r.measures[n], o.baseline[n]));
    if (heldOut) out.splice(1, 0, format(r, o.metric, r.heldOut, o.baselineHeldOut));
    return out;
  };
  const all: TableRow[] = [
    ...((o.withBaseline ?? true)
      ? [
          {
            trial: 'baseline',
            pipeline: '—',
            measures: o.baseline,
            ...(o.baselineHeldOut !== undefined ? { heldOut: o.baselineHeldOut } : {}),
          },
        ]
      : []),
    ...rows,
  ];
  const body = all.map((r) => [
    String(r.trial),
    r.pipeline,
    ...cells(r),
    ...(header.length > labels.length + 2 ? [r.note ?? ''] : []),
  ]);
  if ((o.format ?? 'text') === 'markdown') {
    const esc = (s: string): string => s.replace(/\|/g, '\\|');
    return [
      `| ${header.join(' | ')} |`,
      `|${header.map(() => '---').join('|')}|`,
      ...body.map((r) => `| ${r.map(esc).join(' | ')} |`),
    ].join('\n');
  }
  const maxPipe = o.pipelineWidth ?? 60;
  for (const r of body) if (r[1]!.length > maxPipe) r[1] = `${r[1]!.slice(0, maxPipe - 1)}…`;
  const widths = header.map((h, j) => Math.max(h.length, ...body.map((r) => r[j]!.length)));
  const line = (r: string[]): string =>
    r
      .map((c, j) => c.padEnd(widths[j]!))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
