/** `petra resume <study>`: continues a study from its file — after a kill, a Ctrl-C, or with a bigger --budget. */
import type { Command } from 'commander';
import { ConfigError } from '../core/errors.js';
import { resumeSearch } from '../api/search.js';
import type { CliContext } from './shared/command.js';
import { addFlags, QUIET, REPORT, STUDY_DIR, type Flag } from './shared/flags.js';
import { applyMemoryCap, reportDirs, runHandle, type OutputOptions } from './shared/study-run.js';

export interface ResumeCommandOptions extends OutputOptions {
  budget?: string;
  studyDir: string;
  queue?: string;
  /** --min-free <MiB>, as for `petra search`. */
  minFree?: string;
}

const FLAGS: readonly Flag[] = [
  ['--budget <budget>', 'a new total budget'],
  STUDY_DIR,
  ['--queue <url>', 'evaluate on `petra worker`s through this Redis (re-attaches to the jobs already queued)'],
  ['--cpu-memory-cap <MiB>', 'tensor memory this process may hold on the CPU'],
  ['--min-free <MiB>', 'free disk space needed before the search resumes (default 64)'],
  ...REPORT,
  ['--json', 'JSON lines on stdout'],
  QUIET,
];

export function registerResume(program: Command, ctx: CliContext): void {
  const command = program
    .command('resume <study>')
    .description('continue a study (after a kill or Ctrl-C, or with a bigger --budget)');
  addFlags(command, FLAGS).action(ctx.withCode(runResumeCommand));
}

export async function runResumeCommand(study: string, o: ResumeCommandOptions): Promise<number> {
  applyMemoryCap(o);
  const minFree = o.minFree !== undefined ? Number(o.minFree) : undefined;
  if (minFree !== undefined && !(minFree >= 0))
    throw new ConfigError(`'${o.minFree}' is not a number of MiB ≥ 0`, 'min-free');
  const handle = resumeSearch(study, {
    studyDir: o.studyDir,
    ...(o.budget ? { budget: o.budget } : {}),
    ...(o.queue ? { queue: o.queue } : {}),
    outputDirs: reportDirs(o),
    ...(minFree !== undefined ? { minFreeMB: minFree } : {}),
  });
  return runHandle(handle, o);
}
