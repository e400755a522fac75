/** `petra resume <study>`: continues a study from its file — after a kill, a Ctrl-C, or with a bigger --budget. */
import { resumeSearch } from '../search-api.js';
import { applyMemoryCap, reportDirs, runHandle, type OutputOptions } from './search.js';

export interface ResumeCommandOptions extends OutputOptions { budget?: string; studyDir: string; queue?: string }

export async function runResumeCommand(study: string, o: ResumeCommandOptions): Promise<number> {
  applyMemoryCap(o);
  const handle = resumeSearch(study, { studyDir: o.studyDir, ...(o.budget ? { budget: o.budget } : {}), ...(o.queue ? { queue: o.queue } : {}), outputDirs: reportDirs(o) });
  return runHandle(handle, o);
}
