/**
 * `petra export <study> <trial> [--format petra|onnx|torchscript]`: the candidate's files — the model (spec + weights,
 * `Model.load` reads it), its spec as JSON, and its lineage (genome, seed, every stage's report, measurements, host) —
 * in one directory; `--format onnx` adds `model.onnx` (QDQ for int8 layers, lib/interop/onnx-export.ts) and its
 * export report `onnx.json`; `--format torchscript` adds `model.torchscript.pt` (torch.jit.load runs it,
 * lib/interop/torchscript-export.ts), checked against the petra model when written, and `torchscript.json`.
 */
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { binding } from '../runtime/binding.js';
import { ConfigError } from '../core/errors.js';
import { exportOnnx, type OnnxExportReport } from '../interop/onnx-export.js';
import { saveTorchScript, type TorchScriptExportReport } from '../interop/torchscript-export.js';
import { Model } from '../runtime/model.js';
import type { Lineage } from '../pipeline/evaluator.js';
import { StudyFile } from '../pipeline/study-file.js';
import { reportData } from '../report/data.js';
import { sortByQuality } from '../report/table.js';
import type { CliContext } from './shared/command.js';
import { PRINT_JSON, STUDY_DIR } from './shared/flags.js';

export type ExportFormat = 'petra' | 'onnx' | 'torchscript';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['petra', 'onnx', 'torchscript'];

export interface ExportCommandOptions {
  out?: string;
  studyDir: string;
  json?: boolean;
  format?: string;
  opset?: string;
}

export function registerExport(program: Command, ctx: CliContext): void {
  program
    .command('export <study> <trial>')
    .description(
      "write a candidate's model (model.pt), spec and lineage to a directory; <trial>: a number, or best | fastest | smallest (of the Pareto front); --format onnx adds model.onnx (QDQ int8), --format torchscript model.torchscript.pt (torch.jit.load)",
    )
    .option('--out <dir>', 'directory (default petra-out/<study>-trial-<n>)')
    .option('--format <format>', 'petra | onnx | torchscript (model.pt is always written)', 'petra')
    .option('--opset <n>', 'ONNX opset, 13–17 (default 17)')
    .option(...STUDY_DIR)
    .option(...PRINT_JSON)
    .action(ctx.withCode(runExportCommand));
}

export interface ExportResult {
  trial: number;
  dir: string;
  model: string;
  spec: string;
  lineage: string;
}
export interface FormatExportResult extends ExportResult {
  format: ExportFormat;
  onnx?: string;
  onnxReport?: string;
  report?: OnnxExportReport;
  torchscript?: string;
  torchscriptReport?: string;
  scriptReport?: TorchScriptExportReport;
}

function checkFormat(format: string | undefined): ExportFormat {
  const f = (format ?? 'petra').toLowerCase();
  if (!(EXPORT_FORMATS as readonly string[]).includes(f))
    throw new ConfigError(`unknown format '${format}': ${EXPORT_FORMATS.join(', ')}`, 'format');
  return f as ExportFormat;
}

/** Front members by name: the best quality, the lowest latency, the smallest file (ties: better quality). */
export type FrontPick = 'best' | 'fastest' | 'smallest';
export const FRONT_PICKS: readonly FrontPick[] = ['best', 'fastest', 'smallest'];

/** The trial number of the Pareto-front member `pick` names (feasible members only, as the report's front). */
export function pickFromFront(sf: StudyFile, pick: FrontPick): number {
  const data = reportData(sf);
  const metric = data.meta.problem.metric;
  const rows = sortByQuality(
    data.pareto
      .filter((t) => t.measures && t.state === 'complete')
      .map((t) => ({ trial: t.number, measures: t.measures! })),
    metric,
  );
  if (!rows.length)
    throw new ConfigError(
      `study '${data.name}' has no Pareto front yet (no complete trial meets its constraints)`,
      'trial',
    );
  if (pick === 'best') return rows[0]!.trial;
  const key = pick === 'fastest' ? 'latencyMs' : 'sizeBytes';
  // sortByQuality first, then a stable sort: among equal latencies (sizes) the better-quality member comes first.
  return [...rows].sort((a, b) => (a.measures[key] ?? Infinity) - (b.measures[key] ?? Infinity))[0]!.trial;
}

/** Copies a trial's model and writes its spec and lineage; throws ConfigError for an unknown or modelless trial. */
export function exportTrial(study: string, trialText: string, o: { out?: string; studyDir?: string }): ExportResult {
  const sf = StudyFile.open(study, o.studyDir);
  try {
    const trial = FRONT_PICKS.includes(trialText as FrontPick)
      ? pickFromFront(sf, trialText as FrontPick)
      : Number(trialText.replace(/^#/, ''));
    if (!Number.isInteger(trial) || trial < 0)
      throw new ConfigError(`'${trialText}' is not a trial number (or ${FRONT_PICKS.join(', ')})`, 'trial');
    const record = sf.storage.trial(sf.study.id, trial);
    if (!record)
      throw new ConfigError(`study '${sf.study.name}' has no trial ${trial} (it has ${sf.trials().length})`, 'trial');
    if (record.state !== 'complete')
      throw new ConfigError(
        `trial ${trial} is ${record.state}${record.failReason ? ` (${record.failReason})` : ''}: there is no model to export`,
        'trial',
      );
    const lineage = record.userAttrs as Partial<Lineage>;
    const source = lineage.modelFile ? resolve(dirname(sf.file), lineage.modelFile) : undefined;
    if (!source || !existsSync(source))
      throw new ConfigError(`trial ${trial}'s model file is missing${source ? ` (${source})` : ''}`, 'trial');
    const dir = resolve(o.out ?? join('petra-out', `${sf.study.name}-trial-${trial}`));
    mkdirSync(dir, { recursive: true });
    const model = join(dir, 'model.pt');
    const spec = join(dir, 'spec.json');
    const lineageFile = join(dir, 'lineage.json');
    copyFileSync(source, model);
    writeFileSync(spec, `${JSON.stringify(JSON.parse(binding().readModelSpec(model)), null, 2)}\n`);
    const meta = sf.meta;
    writeFileSync(
      lineageFile,
      `${JSON.stringify(
        {
          study: sf.study.name,
          trial,
          generation: record.generation,
          genome: record.genome,
          objectives: meta.objectives,
          values: record.values,
          constraints: meta.constraints,
          violation: record.violation,
          baseline: { key: meta.baseline.record.key, measurements: meta.baseline.measurements },
          task: meta.config.task,
          ...lineage,
        },
        null,
        2,
      )}\n`,
    );
    return { trial, dir, model, spec, lineage: lineageFile };
  } finally {
    sf.close();
  }
}

/** exportTrial, plus the model in another format: ONNX (`model.onnx` and its export report `onnx.json`). */
export async function exportTrialAs(
  study: string,
  trialText: string,
  o: { out?: string; studyDir?: string; format?: string; opset?: number },
): Promise<FormatExportResult> {
  const format = checkFormat(o.format);
  if (o.opset !== undefined && format !== 'onnx') throw new ConfigError('applies to --format onnx', 'opset');
  if (o.opset !== undefined && !(Number.isInteger(o.opset) && o.opset >= 13 && o.opset <= 17))
    throw new ConfigError(`must be an integer in 13..17, got ${o.opset}`, 'opset');
  const r = exportTrial(study, trialText, o);
  if (format === 'petra') return { ...r, format };
  try {
    using model = await Model.load(r.model, { device: 'cpu' });
    if (format === 'torchscript') {
      const torchscript = join(r.dir, 'model.torchscript.pt');
      const torchscriptReport = join(r.dir, 'torchscript.json');
      const scriptReport = await saveTorchScript(model, torchscript);
      writeFileSync(torchscriptReport, `${JSON.stringify(scriptReport, null, 2)}\n`);
      return { ...r, format, torchscript, torchscriptReport, scriptReport };
    }
    const { bytes, report } = exportOnnx(model, o.opset !== undefined ? { opset: o.opset } : {});
    const onnx = join(r.dir, 'model.onnx');
    const onnxReport = join(r.dir, 'onnx.json');
    writeFileSync(onnx, bytes);
    writeFileSync(onnxReport, `${JSON.stringify(report, null, 2)}\n`);
    return { ...r, format, onnx, onnxReport, report };
  } catch (error) {
    // A model that cannot be exported (e.g. an int8 'intmm' candidate) leaves nothing behind.
    for (const f of [r.model, r.spec, r.lineage]) rmSync(f, { force: true });
    throw error;
  }
}

export async function runExportCommand(study: string, trial: string, o: ExportCommandOptions): Promise<number> {
  const opset = o.opset === undefined ? undefined : Number(o.opset);
  if (opset !== undefined && !Number.isInteger(opset)) throw new ConfigError(`'${o.opset}' is not an integer`, 'opset');
  const { opset: _text, ...rest } = o;
  const r = await exportTrialAs(study, trial, { ...rest, ...(opset !== undefined ? { opset } : {}) });
  if (o.json) console.log(JSON.stringify(r));
  else {
    console.log(
      `exported trial ${r.trial}${FRONT_PICKS.includes(trial as FrontPick) ? ` (the ${trial} on the Pareto front)` : ''} to ${r.dir}`,
    );
    console.log(`  model.pt     spec + weights (Model.load, petra bench)`);
    if (r.onnx) {
      const int8 = r.report!.int8.static.length + r.report!.int8.dynamic.length + r.report!.int8.gru.length;
      console.log(
        `  model.onnx   ONNX opset ${r.report!.opset}, ${(r.report!.bytes / 1024).toFixed(1)} kB${int8 ? `, ${int8} int8 layer(s) as QDQ` : ''} (onnxruntime; petra bench model.onnx)`,
      );
      console.log(`  onnx.json    the ONNX export report (ops, int8 layers, notes)`);
      for (const note of r.report!.notes) console.log(`  note: ${note}`);
    }
    if (r.torchscript) {
      const s = r.scriptReport!;
      const int8 = s.int8.static.length + s.int8.dynamic.length + s.int8.gru.length;
      console.log(
        `  model.torchscript.pt  TorchScript (LibTorch ${s.libtorch}), ${(s.bytes / 1024).toFixed(1)} kB${int8 ? `, ${int8} int8 layer(s)` : ''}; ` +
          `loaded back: max |Δ| ${s.check!.maxAbsDiff.toExponential(2)} vs petra on ${s.check!.samples} samples (torch.jit.load; petra bench)`,
      );
      console.log(`  torchscript.json      the TorchScript export report`);
      for (const note of s.notes) console.log(`  note: ${note}`);
    }
    console.log(`  spec.json    the model's graph spec`);
    console.log(`  lineage.json genome, seed, stage reports, measurements, host`);
  }
  return 0;
}
