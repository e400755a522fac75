/**
 * `petra demo`: the README's main job — the default task (Fashion-MNIST, small CNN) with a small budget that ends
 * within 10 minutes on 2 CPU cores: baseline (cached after the first run), a short evolutionary search, the Pareto
 * table, and the HTML report in petra-out/demo.html.
 */
import { existsSync, rmSync } from 'node:fs';
import type { Command } from 'commander';
import { assertNotLocked, modelsDir, studyPath } from '../pipeline/study-file.js';
import { search, type SearchOptions } from '../api/search.js';
import type { CliContext } from './shared/command.js';
import { addFlags, DEVICE, SEED, STUDY_OUTPUT, STUDY_STORE, type Flag } from './shared/flags.js';
import { runHandle, type OutputOptions } from './shared/study-run.js';

export interface DemoCommandOptions extends OutputOptions {
  budget: string;
  device: string;
  seed: string;
  studyDir: string;
  cacheDir?: string;
  population: string;
}

const FLAGS: readonly Flag[] = [
  ['--budget <budget>', 'time and/or evaluations, e.g. 6m,30evals', '6m,30evals'],
  ['--population <n>', 'population size', '6'],
  DEVICE,
  SEED,
  ...STUDY_STORE,
  ['--report <file>', 'HTML report path', 'petra-out/demo.html'],
  ...STUDY_OUTPUT,
];

export function registerDemo(program: Command, ctx: CliContext): void {
  const command = program
    .command('demo')
    .description(
      'the main job: search Fashion-MNIST (small CNN) for smaller, faster pipelines in ≤ 10 min on 2 cores; prints the Pareto table, writes petra-out/demo.html',
    );
  addFlags(command, FLAGS).action(ctx.withCode(runDemoCommand));
}

/** The demo's search: sized for ≤ 10 min on 2 cores (fine-tunes on a 10k-row subset, at most 2 epochs each). */
export function demoOptions(
  o: Pick<DemoCommandOptions, 'budget' | 'device' | 'seed' | 'studyDir' | 'cacheDir' | 'population'>,
): SearchOptions {
  return {
    name: 'demo',
    task: 'fashion-mnist',
    objectives: 'metric,latency,size',
    budget: o.budget,
    population: Number(o.population),
    seed: Number(o.seed),
    device: o.device,
    studyDir: o.studyDir,
    ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
    finetune: { samples: 10_000, valSamples: 2_000, maxEpochs: 2 },
    measure: { timeCapMs: 1000 },
    stallGenerations: 4,
  };
}

export async function runDemoCommand(o: DemoCommandOptions): Promise<number> {
  const options = demoOptions(o);
  const file = studyPath('demo', o.studyDir);
  if (existsSync(file)) {
    // The demo always starts over; its baseline stays cached.
    if (!o.quiet && !o.json) process.stderr.write(`petra: replacing the previous demo study ${file}\n`);
    assertNotLocked(file, 'demo'); // never delete the journal of a demo that is running
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    rmSync(modelsDir(file), { recursive: true, force: true });
  }
  const handle = search(options);
  return runHandle(handle, { ...o, report: o.report ?? 'petra-out/demo.html' });
}
