/**
 * CSV tables → a float feature matrix [N, F] and a class or regression target.
 */
import { readFileSync } from 'node:fs';
import { DataError } from '../core/errors.js';
import { applyStandardizer, fitStandardizer, splitIndices, takeRows } from './split.js';
import type { LoadedDataset, TabularSplit, TaskKind } from './types.js';

export interface CsvRecord {
  /** 1-based line number where the record starts. */
  line: number;
  fields: string[];
}

/**
 * RFC 4180 parsing: quoted fields may contain the delimiter, newlines and doubled quotes (""). Blank lines are
 * skipped. An unterminated quote or a stray quote inside an unquoted field is a `DataError` naming the line.
 */
export function parseCsv(text: string, delimiter = ',', source = '<csv>'): CsvRecord[] {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n')
    throw new DataError(`invalid delimiter ${JSON.stringify(delimiter)}`);
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = 0;
  let quoted = false; // current field started with a quote
  let fieldStarted = false;
  let wasQuoted = false; // the record has at least one quoted field (so it is not a blank line)
  const endRecord = (): void => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '' && !wasQuoted)) records.push({ line: recordLine, fields });
    fields = [];
    field = '';
    fieldStarted = false;
    wasQuoted = false;
  };
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // BOM
  while (i < n) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        // closing quote: the next character must end the field
        i++;
        while ((text[i] === ' ' || text[i] === '\t') && text[i] !== delimiter) i++;
        const nx = text[i];
        if (nx !== undefined && nx !== delimiter && nx !== '\n' && nx !== '\r') {
          throw new DataError(`${source}:${line}: unexpected character ${JSON.stringify(nx)} after a closing quote`);
        }
        quoted = false;
        fieldStarted = true;
        wasQuoted = true;
        continue;
      }
      if (ch === '\n') line++;
      field += ch;
      i++;
      continue;
    }
    if (ch === '"') {
      if (field.trim() !== '') throw new DataError(`${source}:${line}: stray quote inside an unquoted field`);
      field = '';
      quoted = true;
      i++;
      continue;
    }
    if (ch === delimiter) {
      fields.push(field);
      field = '';
      fieldStarted = false;
      i++;
      continue;
    }
    if (ch === '\r' || ch === '\n') {
      endRecord();
      if (ch === '\r' && text[i + 1] === '\n') i++;
      i++;
      line++;
      recordLine = line;
      continue;
    }
    field += ch;
    fieldStarted = true;
    i++;
  }
  if (quoted) throw new DataError(`${source}:${recordLine}: unterminated quoted field`);
  if (field !== '' || fields.length > 0 || wasQuoted) endRecord();
  return records;
}

export interface LoadCsvOptions {
  path: string;
  /** Name of the target column (or its 0-based index as a string when `header: false`). */
  target: string;
  task: TaskKind;
  /** First record is a header (default true). Without one, columns are named "0", "1", … */
  header?: boolean;
  delimiter?: string;
  /** Fraction held out as the test split (stratified for classification). */
  testFraction: number;
  /** Fraction of the remaining rows held out for validation (default 0). */
  valFraction?: number;
  seed?: number;
  /** Standardize features with train statistics (default true). */
  normalize?: boolean;
  /** Columns to drop (e.g. ids). */
  ignore?: string[];
}

const MISSING = new Set(['', 'na', 'nan', 'null', '?']);

/**
 * Loads a CSV as a tabular dataset: numeric feature columns → Float32 [N, F] (missing values → train column mean),
 * target → Int32 class indices (labels sorted, numerically when all numeric) or Float32 [N, 1].
 * meta: { features: column names, labels?, normalization? }.
 */
export function loadCsv(opts: LoadCsvOptions): LoadedDataset {
  let text: string;
  try {
    text = readFileSync(opts.path, 'utf8');
  } catch (cause) {
    throw new DataError(
      `${opts.path}: cannot read CSV (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`,
      { cause },
    );
  }
  const records = parseCsv(text, opts.delimiter ?? ',', opts.path);
  const hasHeader = opts.header ?? true;
  if (records.length < (hasHeader ? 2 : 1)) throw new DataError(`${opts.path}: no data rows`);
  const width = records[0]!.fields.length;
  const names = hasHeader ? records[0]!.fields.map((s) => s.trim()) : records[0]!.fields.map((_, k) => String(k));
  const rows = hasHeader ? records.slice(1) : records;
  // Columns are addressed by name (target, ignore, meta.features), so a repeated name would silently pick the first.
  const seen = new Map<string, number>();
  names.forEach((name, k) => {
    const first = seen.get(name);
    if (first !== undefined) {
      throw new DataError(
        `${opts.path}:${records[0]!.line}: duplicate column name '${name}' (columns ${first + 1} and ${k + 1})`,
      );
    }
    seen.set(name, k);
  });
  const targetCol = names.indexOf(opts.target);
  if (targetCol < 0) throw new DataError(`${opts.path}: no column '${opts.target}' (columns: ${names.join(', ')})`);
  const ignore = new Set(opts.ignore ?? []);
  for (const c of ignore)
    if (!names.includes(c)) throw new DataError(`${opts.path}: ignored column '${c}' does not exist`);
  const featureCols = names.map((_, k) => k).filter((k) => k !== targetCol && !ignore.has(names[k]!));
  const F = featureCols.length;
  const N = rows.length;
  const x = new Float32Array(N * F);
  const rawTargets: string[] = [];
  rows.forEach((r, i) => {
    if (r.fields.length !== width) {
      throw new DataError(`${opts.path}:${r.line}: expected ${width} fields, got ${r.fields.length}`);
    }
    featureCols.forEach((c, j) => {
      const s = r.fields[c]!.trim();
      if (MISSING.has(s.toLowerCase())) {
        x[i * F + j] = NaN;
        return;
      }
      const v = Number(s);
      // fround: beyond ±3.4e38 a finite double becomes ±Infinity in the Float32Array.
      if (!Number.isFinite(Math.fround(v))) {
        throw new DataError(
          `${opts.path}:${r.line}: column '${names[c]}' value ${JSON.stringify(s)} is not a number (use ignore: ['${names[c]}'] to drop the column)`,
        );
      }
      x[i * F + j] = v;
    });
    const t = r.fields[targetCol]!.trim();
    if (MISSING.has(t.toLowerCase())) throw new DataError(`${opts.path}:${r.line}: missing target '${opts.target}'`);
    rawTargets.push(t);
  });

  let target: TabularSplit['target'];
  let labels: string[] | undefined;
  if (opts.task === 'classification') {
    const uniq = [...new Set(rawTargets)];
    const numeric = uniq.every((u) => Number.isFinite(Number(u)));
    labels = numeric ? uniq.sort((a, b) => Number(a) - Number(b)) : uniq.sort();
    const index = new Map(labels.map((l, k) => [l, k] as const));
    target = { data: Int32Array.from(rawTargets, (t) => index.get(t)!), shape: [N] };
    if (labels.length < 2) throw new DataError(`${opts.path}: target '${opts.target}' has only one class`);
  } else {
    const y = new Float32Array(N);
    rawTargets.forEach((t, i) => {
      const v = Number(t);
      if (!Number.isFinite(Math.fround(v)))
        throw new DataError(
          `${opts.path}:${rows[i]!.line}: target ${JSON.stringify(t)} is not a number (finite in float32)`,
        );
      y[i] = v;
    });
    target = { data: y, shape: [N, 1] };
  }

  const seed = opts.seed ?? 0;
  const strat = opts.task === 'classification' ? (target.data as Int32Array) : undefined;
  const all: TabularSplit = { inputs: [{ data: x, shape: [N, F] }], target };
  const outer = splitIndices(N, opts.testFraction, seed, strat);
  let train = takeRows(all, outer.keep);
  const test = takeRows(all, outer.held);
  let val: TabularSplit | undefined;
  if ((opts.valFraction ?? 0) > 0) {
    const inner = splitIndices(
      train.target.shape[0]!,
      opts.valFraction!,
      seed + 1,
      strat ? (train.target.data as Int32Array) : undefined,
    );
    val = takeRows(train, inner.held);
    train = takeRows(train, inner.keep);
  }

  // Too few rows for the fractions would give an empty split that only fails later (NaN metrics, empty batches).
  for (const [what, split] of [
    ['training', train],
    ['test', test],
    ['validation', val],
  ] as const) {
    if (split && split.target.shape[0] === 0) {
      throw new DataError(
        `${opts.path}: ${N} rows leave no ${what} rows with testFraction ${opts.testFraction}${opts.valFraction ? ` and valFraction ${opts.valFraction}` : ''}`,
      );
    }
  }

  // Impute missing features with the train column mean, then (optionally) standardize.
  const stats = fitStandardizer(train.inputs[0]!);
  for (const s of [train, val, test]) {
    if (!s) continue;
    const d = s.inputs[0]!.data;
    for (let k = 0; k < d.length; k++) if (Number.isNaN(d[k]!)) d[k] = stats.mean[k % F]!;
  }
  const meta: Record<string, unknown> = { features: featureCols.map((c) => names[c]!) };
  if (opts.normalize ?? true) {
    for (const s of [train, val, test]) if (s) s.inputs[0] = applyStandardizer(s.inputs[0]!, stats);
    meta.normalization = { mean: Array.from(stats.mean), std: Array.from(stats.std) };
  }
  const ds: LoadedDataset = {
    name: opts.path
      .split(/[\\/]/)
      .pop()!
      .replace(/\.csv$/i, ''),
    task: labels ? { kind: 'classification', classes: labels.length, labels } : { kind: 'regression', targets: 1 },
    train,
    test,
    meta,
  };
  if (val) ds.val = val;
  return ds;
}
