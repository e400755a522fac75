/** What a search run holds — study file and lock, baseline model, placed data, candidate queue — given back in one place. */
import type { CandidateQueue } from '../distributed/coordinator.js';
import type { Model } from '../runtime/model.js';
import type { StudyContext } from '../pipeline/context.js';
import type { StudyFile, StudyLock } from '../pipeline/study-file.js';

export class RunResources {
  studyFile: StudyFile | undefined;
  lock: StudyLock | undefined;
  base: Model | undefined;
  context: StudyContext | undefined;
  queue: CandidateQueue | undefined;

  constructor(studyFile?: StudyFile) {
    this.studyFile = studyFile;
  }

  /** Closes the queue, frees the placed data and the baseline model, closes the study file, releases the lock. */
  async release(): Promise<void> {
    await this.queue?.close();
    this.context?.data.dispose();
    this.base?.dispose();
    this.studyFile?.close();
    this.lock?.release();
  }
}
