/** `petra resume <study>`: continues a study from its file — after a kill, a Ctrl-C, or with a bigger --budget. */
import { ConfigError } from '../errors.js';
import { resumeSearch } from '../search-api.js';
import { applyMemoryCap, reportDirs, runHandle, type OutputOptions } from './shared/study-run.js';

export interface ResumeCommandOptions extends OutputOptions {
  budget?: string; studyDir: string; queue?: string;
  /** --min-free <MiB>, as for `petra search`. */
  minFree?: string;
}

export async function runResumeCommand(study: string, o: ResumeCommandOptions): Promise<number> {
  applyMemoryCap(o);
  const minFree = o.minFree !== undefined ? Number(o.minFree) : undefined;
  if (minFree !== undefined && !(minFree >= 0)) throw new ConfigError(`'${o.minFree}' is not a number of MiB ≥ 0`, 'min-free');
  const handle = resumeSearch(study, {
    studyDir: o.studyDir, ...(o.budget ? { budget: o.budget } : {}), ...(o.queue ? { queue: o.queue } : {}),
    outputDirs: reportDirs(o), ...(minFree !== undefined ? { minFreeMB: minFree } : {}),
  });
  return runHandle(handle, o);
}
