// The smallest searches that still exercise everything: Fashion-MNIST subsets, one-epoch fine-tunes, short timing.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SearchOptions } from '../../../lib/search-api.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `petra-e2e-${prefix}-`));
}

export function tinySearch(dir: string, extra: Partial<SearchOptions> = {}): SearchOptions {
  return {
    task: 'fashion-mnist',
    studyDir: join(dir, 'studies'),
    cacheDir: join(dir, 'cache'),
    limits: { train: 1200, val: 300, test: 400 },
    baselineEpochs: 1,
    population: 3,
    budget: '5evals',
    finetune: { maxEpochs: 1 },
    measure: { timeCapMs: 150, repeats: 1 },
    seed: 1,
    ...extra,
  };
}

/** The same settings as CLI flags. */
export function tinyFlags(dir: string): string[] {
  return [
    '--study-dir',
    join(dir, 'studies'),
    '--cache-dir',
    join(dir, 'cache'),
    '--limit-train',
    '1200',
    '--limit-val',
    '300',
    '--limit-test',
    '400',
    '--baseline-epochs',
    '1',
    '--population',
    '3',
    '--max-epochs',
    '1',
    '--time-cap',
    '150',
  ];
}
