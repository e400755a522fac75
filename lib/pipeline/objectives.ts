/**
 * What a search optimizes and what it must respect, as the user says it (`--objectives metric,latency`,
 * `--max-latency 2ms --max-metric-drop 1`) and as the study needs it (objective and constraint definitions in
 * measured units). Pure functions: parsing happens before anything is loaded or written, and the few checks that need
 * the baseline (relative bounds) run before the study file is created.
 */
import { ConfigError } from '../core/errors.js';
import type { ConstraintDef, ObjectiveDef } from '../search/index.js';

/** The four things a candidate is measured on. */
export type ObjectiveKey = 'metric' | 'latency' | 'throughput' | 'size';
export const OBJECTIVE_KEYS: readonly ObjectiveKey[] = ['metric', 'latency', 'throughput', 'size'];

/** The task metric: accuracy or macro-F1 (classification, higher is better), RMSE or MAE (regression, lower is better). */
export type QualityMetric = 'accuracy' | 'macroF1' | 'rmse' | 'mae';
export const QUALITY_METRICS: readonly QualityMetric[] = ['accuracy', 'macroF1', 'rmse', 'mae'];

export function metricDirectionOf(metric: QualityMetric): 'min' | 'max' {
  return metric === 'accuracy' || metric === 'macroF1' ? 'max' : 'min';
}

export function defaultMetric(kind: 'classification' | 'regression'): QualityMetric {
  return kind === 'classification' ? 'accuracy' : 'rmse';
}

/** Names the study stores values under (measured units: ms, samples/s, bytes). */
export type MeasureName = QualityMetric | 'latencyMs' | 'throughput' | 'sizeBytes';

export function measureName(key: ObjectiveKey, metric: QualityMetric): MeasureName {
  switch (key) {
    case 'metric':
      return metric;
    case 'latency':
      return 'latencyMs';
    case 'throughput':
      return 'throughput';
    case 'size':
      return 'sizeBytes';
  }
}

export function objectiveDefs(keys: readonly ObjectiveKey[], metric: QualityMetric): ObjectiveDef[] {
  return keys.map((k) => ({
    name: measureName(k, metric),
    direction: k === 'metric' ? metricDirectionOf(metric) : k === 'throughput' ? 'max' : 'min',
  }));
}

/** Parses `metric,latency,size` (aliases: accuracy/quality → metric, speed → latency, bytes → size). */
export function parseObjectives(text: string | readonly string[]): ObjectiveKey[] {
  const parts = (typeof text === 'string' ? text.split(',') : text.flatMap((t) => t.split(',')))
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0)
    throw new ConfigError(`give at least one objective (${OBJECTIVE_KEYS.join(', ')})`, 'objectives');
  const aliases: Record<string, ObjectiveKey> = {
    metric: 'metric',
    quality: 'metric',
    accuracy: 'metric',
    f1: 'metric',
    macrof1: 'metric',
    rmse: 'metric',
    mae: 'metric',
    latency: 'latency',
    speed: 'latency',
    throughput: 'throughput',
    size: 'size',
    bytes: 'size',
  };
  const out: ObjectiveKey[] = [];
  for (const p of parts) {
    const key = Object.hasOwn(aliases, p.toLowerCase()) ? aliases[p.toLowerCase()] : undefined; // not Object.prototype names
    if (!key) throw new ConfigError(`unknown objective '${p}'; known: ${OBJECTIVE_KEYS.join(', ')}`, 'objectives');
    if (out.includes(key)) throw new ConfigError(`objective '${key}' is given twice`, 'objectives');
    out.push(key);
  }
  return out;
}

// -------------------------------------------------------------------------------------------------- constraints

/** A bound: absolute (in measured units) or relative to the baseline (`0.7` of it for `70%`). */
export type Bound = { readonly absolute: number } | { readonly relative: number };

/** Constraints as the user gives them; each quantity may have a lower and an upper bound. */
export interface ConstraintInput {
  readonly maxLatency?: Bound;
  readonly minLatency?: Bound;
  readonly maxSize?: Bound;
  readonly minSize?: Bound;
  readonly minThroughput?: Bound;
  readonly maxThroughput?: Bound;
  /** Absolute bounds on the task metric (e.g. accuracy ≥ 0.85, RMSE ≤ 0.3). */
  readonly minMetric?: number;
  readonly maxMetric?: number;
  /**
   * Largest tolerated quality loss vs the baseline: percentage points for accuracy / macro-F1 (1 → at most one point
   * below the baseline), percent of the baseline for RMSE / MAE (1 → at most 1% higher).
   */
  readonly maxMetricDrop?: number;
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000 };
const UNIT_BYTES: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  k: 1e3,
  m: 1e6,
};

function splitNumber(text: string, path: string): { value: number; unit: string } {
  const m = /^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([a-zµ%/]*)\s*$/i.exec(text);
  if (!m) throw new ConfigError(`'${text}' is not a number with an optional unit`, path);
  return { value: Number(m[1]), unit: (m[2] ?? '').toLowerCase() };
}

function positive(value: number, text: string, path: string): number {
  if (!(value > 0 && Number.isFinite(value))) throw new ConfigError(`'${text}' must be a positive amount`, path);
  return value;
}

/** `2ms`, `500us`, `0.002s`, `2` (ms) or `70%` (of the baseline's latency). */
export function parseLatency(text: string, path = 'latency'): Bound {
  const { value, unit } = splitNumber(text, path);
  if (unit === '%') return { relative: positive(value, text, path) / 100 };
  const scale = unit === '' ? 1 : UNIT_MS[unit];
  if (scale === undefined) throw new ConfigError(`unknown time unit '${unit}' in '${text}' (use ms, us, s or %)`, path);
  return { absolute: positive(value * scale, text, path) };
}

/** `200kB`, `1.5MB`, `300KiB`, `250000` (bytes) or `25%` (of the baseline's size). */
export function parseSize(text: string, path = 'size'): Bound {
  const { value, unit } = splitNumber(text, path);
  if (unit === '%') return { relative: positive(value, text, path) / 100 };
  const scale = unit === '' ? 1 : UNIT_BYTES[unit];
  if (scale === undefined)
    throw new ConfigError(`unknown size unit '${unit}' in '${text}' (use B, kB, MB, KiB, MiB or %)`, path);
  return { absolute: positive(value * scale, text, path) };
}

/** `5000`, `5000/s` (samples per second) or `120%` (of the baseline's throughput). */
export function parseThroughput(text: string, path = 'throughput'): Bound {
  const { value, unit } = splitNumber(text, path);
  if (unit === '%') return { relative: positive(value, text, path) / 100 };
  if (unit !== '' && unit !== '/s')
    throw new ConfigError(`unknown throughput unit '${unit}' in '${text}' (samples per second, or %)`, path);
  return { absolute: positive(value, text, path) };
}

export function parseMetricBound(text: string, path: string): number {
  const { value, unit } = splitNumber(text, path);
  if (unit !== '') throw new ConfigError(`'${text}' must be a plain number (accuracy as a fraction, e.g. 0.9)`, path);
  if (!Number.isFinite(value)) throw new ConfigError(`'${text}' must be finite`, path);
  return value;
}

export function parseMetricDrop(text: string, path = 'max-metric-drop'): number {
  const { value, unit } = splitNumber(text, path);
  if (unit !== '' && unit !== '%' && unit !== 'pt' && unit !== 'pts')
    throw new ConfigError(`'${text}' must be a number of points (e.g. 1)`, path);
  if (!(value >= 0 && Number.isFinite(value))) throw new ConfigError(`'${text}' must be ≥ 0`, path);
  return value;
}

/** What the baseline measured; relative bounds and the metric drop are resolved against it. */
export interface BaselineMeasures {
  readonly metric: number;
  readonly latencyMs: number;
  readonly throughput: number;
  readonly sizeBytes: number;
}

const QUANTITIES = [
  { name: 'latencyMs', min: 'minLatency', max: 'maxLatency', flag: 'latency', base: 'latencyMs' },
  { name: 'sizeBytes', min: 'minSize', max: 'maxSize', flag: 'size', base: 'sizeBytes' },
  { name: 'throughput', min: 'minThroughput', max: 'maxThroughput', flag: 'throughput', base: 'throughput' },
] as const;

function resolve(bound: Bound | undefined, base: number | undefined): number | undefined {
  if (!bound) return undefined;
  if ('absolute' in bound) return bound.absolute;
  return base === undefined ? undefined : bound.relative * base;
}

/**
 * Throws ConfigError for constraints that cannot hold together. Without a baseline only bounds of the same kind are
 * compared (both absolute or both relative); with one, every bound is.
 */
export function checkConstraints(input: ConstraintInput, metric: QualityMetric, baseline?: BaselineMeasures): void {
  // Constraints may come from a JSON config or study file: bounds must be { absolute } or { relative }, positive and finite.
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new ConfigError('constraints must be an object', 'constraints');
  for (const q of QUANTITIES) {
    for (const key of [q.min, q.max]) {
      const b = input[key] as unknown;
      if (b === undefined) continue;
      const v =
        typeof b === 'object' && b !== null
          ? 'absolute' in b
            ? b.absolute
            : 'relative' in b
              ? b.relative
              : undefined
          : undefined;
      if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
        throw new ConfigError(
          `${key} must be { absolute: n } or { relative: n } with a finite n > 0, got ${JSON.stringify(b)}`,
          'constraints',
        );
      }
    }
  }
  for (const key of ['minMetric', 'maxMetric', 'maxMetricDrop'] as const) {
    const v = input[key] as unknown;
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v)))
      throw new ConfigError(`${key} must be a finite number`, 'constraints');
  }
  for (const q of QUANTITIES) {
    const lo = input[q.min];
    const hi = input[q.max];
    if (!lo || !hi) continue;
    const sameKind = 'absolute' in lo === 'absolute' in hi;
    if (!sameKind && !baseline) continue;
    const l = resolve(lo, baseline?.[q.base]) as number;
    const h = resolve(hi, baseline?.[q.base]) as number;
    if (l > h)
      throw new ConfigError(
        `contradictory constraints: --min-${q.flag} is above --max-${q.flag} (${fmt(l)} > ${fmt(h)})`,
        'constraints',
      );
  }
  const { lower, upper } = metricBounds(input, metric, baseline);
  if (lower !== undefined && upper !== undefined && lower > upper) {
    throw new ConfigError(
      `contradictory constraints: the ${metric} would have to be ≥ ${fmt(lower)} and ≤ ${fmt(upper)}`,
      'constraints',
    );
  }
  if ((metric === 'accuracy' || metric === 'macroF1') && lower !== undefined && lower > 1) {
    throw new ConfigError(
      `contradictory constraints: ${metric} can never reach ${fmt(lower)} (it is at most 1)`,
      'constraints',
    );
  }
}

function metricBounds(
  input: ConstraintInput,
  metric: QualityMetric,
  baseline?: BaselineMeasures,
): { lower?: number; upper?: number } {
  let lower = input.minMetric;
  let upper = input.maxMetric;
  if (input.maxMetricDrop !== undefined && baseline) {
    if (metricDirectionOf(metric) === 'max') {
      const floor = baseline.metric - input.maxMetricDrop / 100;
      lower = lower === undefined ? floor : Math.max(lower, floor);
    } else {
      const ceiling = baseline.metric * (1 + input.maxMetricDrop / 100);
      upper = upper === undefined ? ceiling : Math.min(upper, ceiling);
    }
  }
  return { ...(lower !== undefined ? { lower } : {}), ...(upper !== undefined ? { upper } : {}) };
}

/** The study's constraints, in measured units, once the baseline is known. */
export function constraintDefs(
  input: ConstraintInput,
  metric: QualityMetric,
  baseline: BaselineMeasures,
): ConstraintDef[] {
  checkConstraints(input, metric, baseline);
  const out: ConstraintDef[] = [];
  for (const q of QUANTITIES) {
    const lower = resolve(input[q.min], baseline[q.base]);
    const upper = resolve(input[q.max], baseline[q.base]);
    if (lower !== undefined || upper !== undefined)
      out.push({ name: q.name, ...(lower !== undefined ? { lower } : {}), ...(upper !== undefined ? { upper } : {}) });
  }
  const m = metricBounds(input, metric, baseline);
  if (m.lower !== undefined || m.upper !== undefined) out.push({ name: metric, ...m });
  return out;
}

export function hasConstraints(input: ConstraintInput): boolean {
  return Object.values(input).some((v) => v !== undefined);
}

/** One line per constraint for tables and reports, e.g. `latencyMs ≤ 2`. */
export function describeConstraints(defs: readonly ConstraintDef[]): string[] {
  return defs.map((c) => {
    const parts: string[] = [];
    if (c.lower !== undefined) parts.push(`≥ ${formatMeasure(c.name as MeasureName, c.lower)}`);
    if (c.upper !== undefined) parts.push(`≤ ${formatMeasure(c.name as MeasureName, c.upper)}`);
    return `${labelOf(c.name as MeasureName)} ${parts.join(' and ')}`;
  });
}

function fmt(v: number): string {
  return Number(v.toPrecision(4)).toString();
}

// ------------------------------------------------------------------------------------------------- presentation

export function labelOf(name: MeasureName): string {
  switch (name) {
    case 'latencyMs':
      return 'latency';
    case 'sizeBytes':
      return 'size';
    case 'macroF1':
      return 'macro-F1';
    case 'rmse':
      return 'RMSE';
    case 'mae':
      return 'MAE';
    default:
      return name;
  }
}

export function unitOf(name: MeasureName): string {
  switch (name) {
    case 'latencyMs':
      return 'ms (batch 1)';
    case 'throughput':
      return 'samples/s (batch 64)';
    case 'sizeBytes':
      return 'bytes';
    default:
      return '';
  }
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(2)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${Math.round(bytes)} B`;
}

export function formatMeasure(name: MeasureName, value: number): string {
  switch (name) {
    case 'accuracy':
    case 'macroF1':
      return value.toFixed(4);
    case 'rmse':
    case 'mae':
      return Number(value.toPrecision(4)).toString();
    case 'latencyMs':
      return value >= 10 ? `${value.toFixed(1)} ms` : `${value.toFixed(3)} ms`;
    case 'throughput':
      return `${Math.round(value).toLocaleString('en-US')}/s`;
    case 'sizeBytes':
      return formatBytes(value);
  }
}

/** Change vs the baseline: points for accuracy-like metrics, percent for everything else. */
export function formatChange(name: MeasureName, value: number, base: number): string {
  if (name === 'accuracy' || name === 'macroF1') {
    const d = (value - base) * 100;
    return `${d >= 0 ? '+' : ''}${d.toFixed(2)} pt`;
  }
  if (!(base !== 0)) return 'n/a';
  const p = ((value - base) / Math.abs(base)) * 100;
  return `${p >= 0 ? '+' : ''}${p.toFixed(1)}%`;
}

/** Percent change vs the baseline (the seed's tables report every column this way). */
export function percentChange(value: number, base: number): number {
  return base === 0 ? Number.NaN : ((value - base) / Math.abs(base)) * 100;
}
