// A search wired the way lib/run/ wires it — baseline, data, measurements, the pipeline evaluator, the
// search core on an SQLite journal — but starting generation 0 from given genomes, so a test can put a candidate that
// must fail (NaN, divergence, a LibTorch error) into a real search and watch the search go on.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PipelineGenome } from '../../../lib/genome/index.js';
import { hostFingerprint } from '../../../lib/lab/fingerprint.js';
import { obtainBaseline, type Baseline } from '../../../lib/pipeline/baseline.js';
import { normalizeConfig, type SearchConfig } from '../../../lib/pipeline/config.js';
import { openStudyContext } from '../../../lib/pipeline/context.js';
import { pipelineEvaluator, type CandidateEvents } from '../../../lib/pipeline/evaluator.js';
import { measureModel, type Measurements } from '../../../lib/pipeline/measure.js';
import { objectiveDefs } from '../../../lib/pipeline/objectives.js';
import { resolveProblem } from '../../../lib/pipeline/problem.js';
import type { SearchData } from '../../../lib/pipeline/search-data.js';
import { buildSpace, currentSpaceSettings } from '../../../lib/pipeline/study-space.js';
import { SqliteStorage, Study, type TrialRecord } from '../../../lib/search/index.js';
import type { SearchOptions } from '../../../lib/search-api.js';
import { mlp } from '../../../lib/graph/builders.js';
import { tinySearch } from '../../e2e/helpers/tiny.js';

export interface Harness {
  readonly config: SearchConfig;
  readonly baseline: Baseline;
  readonly data: SearchData;
  /** Runs a search whose generation 0 starts with `genomes`, for `evaluations` candidates; returns the journal's trials. */
  run(
    name: string,
    genomes: readonly PipelineGenome[],
    evaluations: number,
    events?: CandidateEvents,
  ): Promise<TrialRecord[]>;
  dispose(): void;
}

/** An MLP with BatchNorm on Fashion-MNIST: trains in a second, and BatchNorm gives LibTorch a real way to refuse a batch. */
export function mlpSpecFile(dir: string): string {
  const file = join(dir, 'mlp-bn.json');
  writeFileSync(file, JSON.stringify(mlp({ inputShape: [1, 28, 28], hidden: [64], classes: 10, batchnorm: true })));
  return file;
}

export async function harness(dir: string, extra: Partial<SearchOptions> = {}): Promise<Harness> {
  const {
    studyDir: _s,
    signal: _g,
    worker: _w,
    queue: _q,
    minFreeMB: _m,
    outputDirs: _o,
    ...input
  } = tinySearch(dir, extra);
  const config = normalizeConfig(input);
  const problem = resolveProblem(config);
  const baseline = await obtainBaseline(problem, {
    seed: config.seed,
    device: config.device,
    cacheDir: config.cacheDir!,
  });
  const metric = problem.metric;
  let measurements!: Measurements;
  const context = await openStudyContext(problem, baseline.model, config, async ({ data, lock }) => {
    measurements = await measureModel(baseline.model, data.quality('cpu'), { metric, settings: config.measure, lock });
    return { objectives: objectiveDefs(config.objectives, metric), constraints: [] };
  });
  const { data, objectives } = context;
  const settings = currentSpaceSettings(config.device);
  return {
    config,
    baseline,
    data,
    async run(name, genomes, evaluations, events) {
      const storage = new SqliteStorage(join(dir, `${name}.sqlite`));
      try {
        const study = Study.open<PipelineGenome>({
          name,
          space: buildSpace(config, settings),
          objectives,
          storage,
          populationSize: Math.max(2, genomes.length),
          seed: config.seed,
          initialGenomes: genomes,
        });
        const evaluator = pipelineEvaluator({
          config,
          context,
          baseline: { measurements },
          host: hostFingerprint('cpu'),
          ...(events ? { events } : {}),
        });
        await study.optimize(evaluator, { evaluations });
        return storage.trials(storage.loadStudy(name)!.id);
      } finally {
        storage.close();
      }
    },
    dispose() {
      data.dispose();
      baseline.model.dispose();
    },
  };
}
