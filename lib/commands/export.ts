/**
 * `petra export <study> <trial>`: the candidate's files — the model (spec + weights, `Model.load` reads it), its
 * spec as JSON, and its lineage (genome, seed, every stage's report, measurements, host) — in one directory.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { binding } from '../binding.js';
import { ConfigError } from '../errors.js';
import type { Lineage } from '../pipeline/evaluator.js';
import { StudyFile } from '../pipeline/study-file.js';

export interface ExportCommandOptions { out?: string; studyDir: string; json?: boolean }

export interface ExportResult { dir: string; model: string; spec: string; lineage: string }

/** Copies a trial's model and writes its spec and lineage; throws ConfigError for an unknown or modelless trial. */
export function exportTrial(study: string, trialText: string, o: { out?: string; studyDir?: string }): ExportResult {
  const sf = StudyFile.open(study, o.studyDir);
  try {
    const trial = Number(trialText.replace(/^#/, ''));
    if (!Number.isInteger(trial) || trial < 0) throw new ConfigError(`'${trialText}' is not a trial number`, 'trial');
    const record = sf.storage.trial(sf.study.id, trial);
    if (!record) throw new ConfigError(`study '${sf.study.name}' has no trial ${trial} (it has ${sf.trials().length})`, 'trial');
    if (record.state !== 'complete') throw new ConfigError(`trial ${trial} is ${record.state}${record.failReason ? ` (${record.failReason})` : ''}: there is no model to export`, 'trial');
    const lineage = record.userAttrs as Partial<Lineage>;
    const source = lineage.modelFile ? resolve(dirname(sf.file), lineage.modelFile) : undefined;
    if (!source || !existsSync(source)) throw new ConfigError(`trial ${trial}'s model file is missing${source ? ` (${source})` : ''}`, 'trial');
    const dir = resolve(o.out ?? join('petra-out', `${sf.study.name}-trial-${trial}`));
    mkdirSync(dir, { recursive: true });
    const model = join(dir, 'model.pt');
    const spec = join(dir, 'spec.json');
    const lineageFile = join(dir, 'lineage.json');
    copyFileSync(source, model);
    writeFileSync(spec, `${JSON.stringify(JSON.parse(binding().readModelSpec(model)), null, 2)}\n`);
    const meta = sf.meta;
    writeFileSync(lineageFile, `${JSON.stringify({
      study: sf.study.name, trial, generation: record.generation, genome: record.genome, objectives: meta.objectives, values: record.values,
      constraints: meta.constraints, violation: record.violation, baseline: { key: meta.baseline.record.key, measurements: meta.baseline.measurements },
      task: meta.config.task, ...lineage,
    }, null, 2)}\n`);
    return { dir, model, spec, lineage: lineageFile };
  } finally {
    sf.close();
  }
}

export async function runExportCommand(study: string, trial: string, o: ExportCommandOptions): Promise<number> {
  const r = exportTrial(study, trial, o);
  if (o.json) console.log(JSON.stringify(r));
  else {
    console.log(`exported trial ${trial} to ${r.dir}`);
    console.log(`  model.pt     spec + weights (Model.load, petra bench)`);
    console.log(`  spec.json    the model's graph spec`);
    console.log(`  lineage.json genome, seed, stage reports, measurements, host`);
  }
  return 0;
}
