/**
 * `petra import <model.pt> --input-shape 3x32x32 [--out dir]`: a TorchScript module as a petra model. Writes
 * `spec.json` (the graph spec), `model.pt` (spec + weights: Model.load, petra bench) and
 * `import.json` (which op became which node, notes, the check against TorchScript) into one directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../core/errors.js';
import { importTorchScript, type TorchScriptImportReport } from '../interop/torchscript-import.js';
import type { InputDtype, ModelSpec } from '../graph/types.js';
import type { CliContext } from './shared/command.js';
import { DEVICE, PRINT_JSON } from './shared/flags.js';

export interface ImportCommandOptions {
  out?: string;
  /** Per-sample shapes, one per input: `3x32x32` (no batch dim). */
  inputShape?: string[];
  inputDtype?: string[];
  task?: string;
  classes?: string;
  tolerance?: string;
  device?: string;
  json?: boolean;
}

export function registerImport(program: Command, ctx: CliContext): void {
  program
    .command('import <model>')
    .description(
      'turn a TorchScript module (traced or scripted) into a petra spec + model, checked against TorchScript',
    )
    .option('--input-shape <shape...>', 'per-sample input shape, no batch dim (e.g. 3x32x32); once per input')
    .option('--input-dtype <dtype...>', 'float32 | int64 per input (default: int64 for inputs that feed an embedding)')
    .option('--task <kind>', 'classification | regression (default: classification, classes = output width)')
    .option('--classes <n>', 'classes (classification) or targets (regression)')
    .option('--tolerance <x>', 'largest |petra − TorchScript| allowed on the check input', '1e-5')
    .option(...DEVICE)
    .option('--out <dir>', 'directory for spec.json, model.pt, import.json (default petra-out/<name>-import)')
    .option(...PRINT_JSON)
    .action(ctx.withCode(runImportCommand));
}

export interface ImportResult {
  dir: string;
  spec: string;
  model: string;
  report: string;
  maxAbsDiff: number;
  nodes: number;
  parameters: number;
}

function parseShape(text: string): number[] {
  const dims = text.split(/[x×,]/).map((d) => Number(d.trim()));
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 1 || d > 2 ** 31 - 1)) {
    throw new ConfigError(`'${text}' is not a per-sample shape like 3x32x32 (no batch dimension)`, 'input-shape');
  }
  return dims;
}

function parseTask(o: ImportCommandOptions): ModelSpec['task'] | undefined {
  if (o.task === undefined) return undefined;
  const width = o.classes === undefined ? undefined : Number(o.classes);
  if (width !== undefined && !(Number.isInteger(width) && width >= 1))
    throw new ConfigError(`'${o.classes}' is not a positive integer`, 'classes');
  if (o.task === 'classification') return width === undefined ? undefined : { kind: 'classification', classes: width };
  if (o.task === 'regression') return { kind: 'regression', targets: width ?? 1 };
  throw new ConfigError(`'${o.task}' is not classification or regression`, 'task');
}

export async function importModelFile(
  path: string,
  o: ImportCommandOptions,
): Promise<ImportResult & { reportData: TorchScriptImportReport }> {
  if (!o.inputShape || o.inputShape.length === 0) {
    throw new ConfigError(
      'TorchScript files do not record their input shape: give it per sample, e.g. --input-shape 3x32x32 (once per input)',
      'input-shape',
    );
  }
  const dtypes = o.inputDtype?.map((d) => {
    if (d !== 'float32' && d !== 'int64') throw new ConfigError(`'${d}' is not float32 or int64`, 'input-dtype');
    return d as InputDtype;
  });
  const task = parseTask(o);
  const tolerance = o.tolerance === undefined ? undefined : Number(o.tolerance);
  if (tolerance !== undefined && !(tolerance >= 0))
    throw new ConfigError(`'${o.tolerance}' is not a non-negative number`, 'tolerance');
  const imported = await importTorchScript(resolve(path), {
    inputShape: o.inputShape.map(parseShape),
    ...(dtypes ? { inputDtype: dtypes } : {}),
    ...(task ? { task } : {}),
    ...(tolerance !== undefined ? { tolerance } : {}),
    ...(o.device ? { device: o.device } : {}),
  });
  using model = imported.model;
  const dir = resolve(o.out ?? join('petra-out', `${basename(path).replace(/\.[^.]*$/, '')}-import`));
  mkdirSync(dir, { recursive: true });
  const spec = join(dir, 'spec.json');
  const modelFile = join(dir, 'model.pt');
  const report = join(dir, 'import.json');
  writeFileSync(spec, `${JSON.stringify(imported.spec, null, 2)}\n`);
  await model.save(modelFile);
  writeFileSync(report, `${JSON.stringify(imported.report, null, 2)}\n`);
  return {
    dir,
    spec,
    model: modelFile,
    report,
    maxAbsDiff: imported.maxAbsDiff,
    nodes: imported.spec.nodes.length,
    parameters: imported.report.parameters,
    reportData: imported.report,
  };
}

export async function runImportCommand(path: string, o: ImportCommandOptions): Promise<number> {
  const { reportData, ...r } = await importModelFile(path, o);
  if (o.json) {
    console.log(JSON.stringify({ ...r, report: r.report }));
    return 0;
  }
  console.log(
    `imported ${basename(path)}: ${r.nodes} nodes, ${r.parameters.toLocaleString('en-US')} parameters; ` +
      `max |petra − TorchScript| = ${r.maxAbsDiff.toExponential(2)} on ${reportData.check?.samples ?? 0} random samples`,
  );
  const ops = new Map<string, number>();
  for (const n of reportData.nodes) ops.set(n.op, (ops.get(n.op) ?? 0) + 1);
  console.log(`  ops: ${[...ops].map(([op, k]) => (k > 1 ? `${op} ×${k}` : op)).join(', ')}`);
  for (const note of reportData.notes) console.log(`  note: ${note}`);
  console.log(`  ${r.spec}`);
  console.log(`  ${r.model}   (spec + weights: Model.load, petra bench)`);
  console.log(`  ${r.report}`);
  return 0;
}
