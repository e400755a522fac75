/**
 * The UCR/UEA time-series archive's `.ts` format (sktime's format): `@` header lines, `#` comments, then one
 * series per line after `@data`, channels separated by `:`, values by `,`, the class label or target last.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../core/errors.js';
import { applyStandardizer, fitStandardizer, splitIndices, takeRows } from './split.js';
import type { LoadedDataset, TabularSplit, TensorData } from './types.js';

export interface TsHeader {
  problemName?: string;
  timeStamps?: boolean;
  missing?: boolean;
  univariate?: boolean;
  dimensions?: number;
  equalLength?: boolean;
  seriesLength?: number;
  /** Class labels in header order (classification files). */
  classLabels?: string[];
  /** True for regression files (`@targetLabel true`). */
  targetLabel?: boolean;
}

export interface ParsedTs {
  header: TsHeader;
  /** Float32 [N, C, T], missing values imputed, padded with zeros when lengths differ and `unequal: 'pad'`. */
  x: TensorData;
  /** Classification: Int32 [N] indices into `header.classLabels`; regression: Float32 [N, 1]. */
  y: TensorData;
  /** Float32 [N, T], 1 for real time steps, 0 for padding; only when lengths differed. */
  mask?: TensorData;
  /** Number of values that were missing (`?` or NaN) and imputed. */
  missingCount: number;
}

export interface ParseTsOptions {
  /** Unequal series lengths: 'error' (default) or 'pad' with zeros to the longest (a mask is returned). */
  unequal?: 'pad' | 'error';
  /** Imputation for missing values: linear interpolation inside a series (default) or zero. */
  impute?: 'linear' | 'zero';
  /** Use these class labels (e.g. the train file's) instead of the header's. */
  classLabels?: string[];
}

function parseBool(v: string | undefined, line: number, source: string): boolean {
  const s = (v ?? '').toLowerCase();
  if (s === 'true') return true;
  if (s === 'false') return false;
  throw new DataError(`${source}:${line}: expected true or false, got '${v ?? ''}'`);
}

/** Fills NaNs in place: linear interpolation between known neighbours, nearest value at the ends, 0 if all missing. */
function imputeSeries(v: Float32Array, mode: 'linear' | 'zero'): void {
  if (mode === 'zero') {
    for (let i = 0; i < v.length; i++) if (Number.isNaN(v[i]!)) v[i] = 0;
    return;
  }
  let prev = -1;
  for (let i = 0; i <= v.length; i++) {
    if (i < v.length && Number.isNaN(v[i]!)) continue;
    // fill (prev, i)
    for (let k = prev + 1; k < i; k++) {
      if (prev < 0 && i >= v.length) v[k] = 0;
      else if (prev < 0) v[k] = v[i]!;
      else if (i >= v.length) v[k] = v[prev]!;
      else v[k] = v[prev]! + ((v[i]! - v[prev]!) * (k - prev)) / (i - prev);
    }
    prev = i;
  }
}

/** Most values (after padding) a parsed `.ts` file may hold: 2^28 float32 = 1 GiB; the largest UEA sets are below 2^28. */
export const MAX_TS_VALUES = 2 ** 28;

/** Parses the text of a `.ts` file. `source` names the file in errors (with line numbers). */
export function parseTs(text: string, source = '<ts>', opts: ParseTsOptions = {}): ParsedTs {
  const header: TsHeader = {};
  const lines = text.split(/\r?\n/);
  let i = 0;
  let sawData = false;
  for (; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!line.startsWith('@'))
      throw new DataError(`${source}:${i + 1}: unexpected line before @data: '${line.slice(0, 40)}'`);
    const parts = line.split(/\s+/);
    const key = parts[0]!.slice(1).toLowerCase();
    const ln = i + 1;
    switch (key) {
      case 'problemname':
        header.problemName = parts.slice(1).join(' ');
        break;
      case 'timestamps':
        header.timeStamps = parseBool(parts[1], ln, source);
        break;
      case 'missing':
        header.missing = parseBool(parts[1], ln, source);
        break;
      case 'univariate':
        header.univariate = parseBool(parts[1], ln, source);
        break;
      case 'equallength':
        header.equalLength = parseBool(parts[1], ln, source);
        break;
      case 'dimensions':
      case 'serieslength': {
        const n = Number(parts[1]);
        if (!Number.isInteger(n) || n < 1)
          throw new DataError(`${source}:${ln}: @${parts[0]!.slice(1)} needs a positive integer`);
        if (key === 'dimensions') header.dimensions = n;
        else header.seriesLength = n;
        break;
      }
      case 'classlabel':
        if (parseBool(parts[1], ln, source)) {
          header.classLabels = parts.slice(2);
          if (header.classLabels.length < 2)
            throw new DataError(`${source}:${ln}: @classLabel true needs at least two labels`);
        }
        break;
      case 'targetlabel':
        header.targetLabel = parseBool(parts[1], ln, source);
        break;
      case 'data':
        sawData = true;
        break;
      default:
        break; // unknown header keys are ignored (the format has grown over time)
    }
    if (sawData) {
      i++;
      break;
    }
  }
  if (!sawData) throw new DataError(`${source}: no @data line`);
  if (header.timeStamps) throw new DataError(`${source}: @timeStamps true is not supported`);
  const classLabels = opts.classLabels ?? header.classLabels;
  const regression = !classLabels && header.targetLabel === true;
  if (!classLabels && !regression)
    throw new DataError(`${source}: header has neither @classLabel true nor @targetLabel true`);
  // A repeated label would map to its last index and leave the first one without samples.
  const labelIndex = new Map<string, number>();
  classLabels?.forEach((l, k) => {
    if (labelIndex.has(l)) throw new DataError(`${source}: class label '${l}' is listed twice in @classLabel`);
    labelIndex.set(l, k);
  });

  const series: Float32Array[][] = [];
  const ys: number[] = [];
  let channels = -1;
  let maxLen = 0;
  let minLen = Infinity;
  let missingCount = 0;
  for (; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const ln = i + 1;
    const dims = line.split(':');
    const label = dims.pop()!.trim();
    if (dims.length === 0) throw new DataError(`${source}:${ln}: expected values then ':' then a label`);
    if (channels < 0) channels = dims.length;
    else if (dims.length !== channels)
      throw new DataError(`${source}:${ln}: ${dims.length} channels, earlier lines have ${channels}`);
    const row = dims.map((d, c) => {
      const vals = d.split(',');
      if (vals.length && vals[vals.length - 1]!.trim() === '') vals.pop(); // tolerate a trailing comma
      const arr = new Float32Array(vals.length);
      vals.forEach((s, k) => {
        const t = s.trim();
        if (t === '?' || t.toLowerCase() === 'nan') {
          arr[k] = NaN;
          missingCount++;
          return;
        }
        const v = Number(t);
        // fround: values beyond ±3.4e38 are finite doubles but would become ±Infinity in the Float32Array.
        if (t === '' || !Number.isFinite(Math.fround(v))) {
          throw new DataError(
            `${source}:${ln}: channel ${c}, position ${k}: '${t}' is not a number (finite in float32)`,
          );
        }
        arr[k] = v;
      });
      if (arr.length === 0) throw new DataError(`${source}:${ln}: channel ${c} is empty`);
      return arr;
    });
    const lens = row.map((r) => r.length);
    if (lens.some((l) => l !== lens[0]))
      throw new DataError(`${source}:${ln}: channels have different lengths (${lens.join(', ')})`);
    maxLen = Math.max(maxLen, lens[0]!);
    minLen = Math.min(minLen, lens[0]!);
    if (regression) {
      const v = Number(label);
      if (label === '' || !Number.isFinite(Math.fround(v)))
        throw new DataError(`${source}:${ln}: target '${label}' is not a number (finite in float32)`);
      ys.push(v);
    } else {
      const k = labelIndex.get(label);
      if (k === undefined)
        throw new DataError(
          `${source}:${ln}: class label '${label}' is not among @classLabel ${classLabels!.join(' ')}`,
        );
      ys.push(k);
    }
    series.push(row);
  }
  const n = series.length;
  if (n === 0) throw new DataError(`${source}: no series after @data`);
  if (header.dimensions !== undefined && header.dimensions !== channels) {
    throw new DataError(`${source}: header says @dimensions ${header.dimensions}, data has ${channels} channels`);
  }
  const padded = minLen !== maxLen;
  if (padded && (opts.unequal ?? 'error') === 'error') {
    throw new DataError(
      `${source}: series have unequal lengths (${minLen}..${maxLen}); pass unequal: 'pad' to zero-pad them to ${maxLen} with a mask`,
    );
  }
  const T = maxLen;
  // Padding can blow a small file up (one long series plus many short ones); check before allocating.
  if (n * channels * T > MAX_TS_VALUES) {
    throw new DataError(
      `${source}: ${n} series × ${channels} channels × length ${T} is more than ${MAX_TS_VALUES} values`,
    );
  }
  const x = new Float32Array(n * channels * T);
  const mask = padded ? new Float32Array(n * T) : undefined;
  series.forEach((row, s) => {
    row.forEach((vals, c) => {
      imputeSeries(vals, opts.impute ?? 'linear');
      x.set(vals, (s * channels + c) * T);
    });
    if (mask) mask.fill(1, s * T, s * T + row[0]!.length);
  });
  const y: TensorData = regression
    ? { data: Float32Array.from(ys), shape: [n, 1] }
    : { data: Int32Array.from(ys), shape: [n] };
  const out: ParsedTs = {
    header: { ...header, ...(classLabels ? { classLabels } : {}) },
    x: { data: x, shape: [n, channels, T] },
    y,
    missingCount,
  };
  if (mask) out.mask = { data: mask, shape: [n, T] };
  return out;
}

/** What a user should do when a `.ts` file is not where it was looked for. */
const MISSING_TS_HINT =
  'petra carries GunPoint, ItalyPowerDemand, BasicMotions, Tecator and Covid3Month in its datasets/ucr ' +
  '(the default directory unless $PETRA_UCR_DIR is set); for other data sets, download NAME_TRAIN.ts and NAME_TEST.ts ' +
  'from the UCR/UEA or Monash archive into one directory and pass it as dir (or --data DIR/NAME_TRAIN.ts)';

/** Reads and parses a `.ts` file; a missing file is a `DataError` naming the path and how to get the file. */
export function readTs(path: string, opts: ParseTsOptions = {}): ParsedTs {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? `; ${MISSING_TS_HINT}` : '';
    throw new DataError(`${path}: cannot read .ts file (${code ?? (cause as Error).message})${hint}`, { cause });
  }
  return parseTs(text, path, opts);
}

export type UcrNormalize = 'per-series' | 'global' | 'none';

export interface LoadUcrOptions {
  /** Directory holding `<name>_TRAIN.ts` and `<name>_TEST.ts`. */
  dir: string;
  name: string;
  /**
   * 'per-series': z-normalize every series channel on its own; 'global' (default): per-channel mean/std from the
   * training split applied to all splits; 'none'.
   */
  normalize?: UcrNormalize;
  /** Validation split carved out of train (stratified for classification; default 0). */
  valFraction?: number;
  seed?: number;
  unequal?: 'pad' | 'error';
  impute?: 'linear' | 'zero';
  /** Regression only: standardize targets with train mean/std (reported in meta.targetMean / meta.targetStd). */
  standardizeTargets?: boolean;
}

function perSeriesNormalize(x: TensorData, mask?: TensorData): TensorData {
  const [n = 0, c = 1, T = 1] = x.shape;
  const out = new Float32Array(x.data.length);
  for (let s = 0; s < n; s++) {
    for (let ch = 0; ch < c; ch++) {
      const off = (s * c + ch) * T;
      let sum = 0,
        sq = 0,
        cnt = 0;
      for (let t = 0; t < T; t++) {
        if (mask && mask.data[s * T + t] === 0) continue;
        const v = x.data[off + t]!;
        sum += v;
        sq += v * v;
        cnt++;
      }
      const m = cnt ? sum / cnt : 0;
      const v = cnt ? Math.max(0, sq / cnt - m * m) : 0;
      const sd = v > 1e-12 ? Math.sqrt(v) : 1;
      for (let t = 0; t < T; t++) {
        out[off + t] = mask && mask.data[s * T + t] === 0 ? 0 : (x.data[off + t]! - m) / sd;
      }
    }
  }
  return { data: out, shape: [...x.shape] };
}

/**
 * Loads a UCR/UEA dataset as [N, C, T] float32 series. Classification labels follow the train header's
 * @classLabel order. meta: { header, missing: {train, test}, masks?: {train, val?, test} (padded series),
 * normalization stats, targetMean/targetStd (regression with standardizeTargets) }.
 */
export function loadUcr(opts: LoadUcrOptions): LoadedDataset {
  const parseOpts: ParseTsOptions = { unequal: opts.unequal ?? 'error', impute: opts.impute ?? 'linear' };
  const trainTs = readTs(join(opts.dir, `${opts.name}_TRAIN.ts`), parseOpts);
  const testTs = readTs(join(opts.dir, `${opts.name}_TEST.ts`), {
    ...parseOpts,
    ...(trainTs.header.classLabels ? { classLabels: trainTs.header.classLabels } : {}),
  });
  const classification = trainTs.y.data instanceof Int32Array;
  if (classification !== testTs.y.data instanceof Int32Array)
    throw new DataError(`${opts.name}: train and test files disagree on the task`);
  const [, cTr, tTr] = trainTs.x.shape;
  const [, cTe, tTe] = testTs.x.shape;
  if (cTr !== cTe) throw new DataError(`${opts.name}: train has ${cTr} channels, test has ${cTe}`);
  let trainX = trainTs.x,
    testX = testTs.x;
  let trainMask = trainTs.mask,
    testMask = testTs.mask;
  if (tTr !== tTe) {
    if ((opts.unequal ?? 'error') === 'error') {
      throw new DataError(
        `${opts.name}: train series have length ${tTr}, test series ${tTe}; pass unequal: 'pad' to pad them`,
      );
    }
    const T = Math.max(tTr!, tTe!);
    [trainX, trainMask] = padTo(trainX, trainMask, T);
    [testX, testMask] = padTo(testX, testMask, T);
  }

  // Carry the mask through the split as an extra input.
  let train: TabularSplit = { inputs: trainMask ? [trainX, trainMask] : [trainX], target: trainTs.y };
  let val: TabularSplit | undefined;
  const valFraction = opts.valFraction ?? 0;
  if (valFraction > 0) {
    const n = train.target.shape[0]!;
    const { keep, held } = splitIndices(
      n,
      valFraction,
      opts.seed ?? 0,
      classification ? (train.target.data as Int32Array) : undefined,
    );
    val = takeRows(train, held);
    train = takeRows(train, keep);
  }
  let test: TabularSplit = { inputs: testMask ? [testX, testMask] : [testX], target: testTs.y };
  const masks = trainMask
    ? { train: train.inputs[1]!, test: test.inputs[1]!, ...(val ? { val: val.inputs[1]! } : {}) }
    : undefined;
  const strip = (s: TabularSplit): TabularSplit => ({ inputs: [s.inputs[0]!], target: s.target });
  train = strip(train);
  test = strip(test);
  if (val) val = strip(val);

  const meta: Record<string, unknown> = {
    header: trainTs.header,
    missing: { train: trainTs.missingCount, test: testTs.missingCount },
  };
  if (masks) meta.masks = masks;

  const normalize = opts.normalize ?? 'global';
  const apply = (f: (x: TensorData, m?: TensorData) => TensorData): void => {
    train.inputs[0] = f(train.inputs[0]!, masks?.train);
    test.inputs[0] = f(test.inputs[0]!, masks?.test);
    if (val) val.inputs[0] = f(val.inputs[0]!, masks?.val);
  };
  if (normalize === 'per-series') {
    apply(perSeriesNormalize);
  } else if (normalize === 'global') {
    const stats = fitStandardizer(train.inputs[0]!, masks?.train);
    apply((x, m) => applyStandardizer(x, stats, m));
    meta.normalization = { mean: Array.from(stats.mean), std: Array.from(stats.std) };
  } else if (normalize !== 'none') {
    throw new DataError(`normalize must be 'per-series', 'global' or 'none', got '${String(normalize)}'`);
  }

  if (!classification && opts.standardizeTargets) {
    const stats = fitStandardizer(train.target);
    train.target = applyStandardizer(train.target, stats);
    test.target = applyStandardizer(test.target, stats);
    if (val) val.target = applyStandardizer(val.target, stats);
    meta.targetMean = Array.from(stats.mean);
    meta.targetStd = Array.from(stats.std);
  }

  const ds: LoadedDataset = {
    name: opts.name,
    task: classification
      ? {
          kind: 'classification',
          classes: trainTs.header.classLabels!.length,
          labels: [...trainTs.header.classLabels!],
        }
      : { kind: 'regression', targets: 1 },
    train,
    test,
    meta,
  };
  if (val) ds.val = val;
  return ds;
}

function padTo(x: TensorData, mask: TensorData | undefined, T: number): [TensorData, TensorData] {
  const [n = 0, c = 1, t0 = 0] = x.shape;
  const out = new Float32Array(n * c * T);
  const m = new Float32Array(n * T);
  for (let s = 0; s < n; s++) {
    for (let ch = 0; ch < c; ch++) out.set(x.data.subarray((s * c + ch) * t0, (s * c + ch + 1) * t0), (s * c + ch) * T);
    if (mask) m.set(mask.data.subarray(s * t0, (s + 1) * t0), s * T);
    else m.fill(1, s * T, s * T + t0);
  }
  return [
    { data: out, shape: [n, c, T] },
    { data: m, shape: [n, T] },
  ];
}
