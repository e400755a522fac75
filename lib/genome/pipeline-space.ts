/**
 * The pipeline genome as a `SearchSpace`: sampling, variation, validation, repair, canonical keys and storage form.
 */
import { ConfigError } from '../core/errors.js';
import { canonicalJson, genomeHash, type PipelineGenome, type Stage } from './genome.js';
import { exportParam, type ParamValue } from '../search/params.js';
import { checkConfig, defaultPipelineSpaceConfig, type PipelineSpaceConfig } from './space-config.js';
import type { Rng } from '../search/rng.js';
import type { ExportedParam, SearchSpace } from '../search/space.js';
import { repairPipeline, validatePipeline, type ValidationResult } from './validity.js';
import { crossoverStages, mutateStages, pickStageType, sampleStage } from './variation.js';

/** Mutation retries when an operator happens to give back the parent unchanged. */
const MUTATION_ATTEMPTS = 5;

export class PipelineSpace implements SearchSpace<PipelineGenome> {
  readonly config: PipelineSpaceConfig;

  constructor(config: PipelineSpaceConfig = defaultPipelineSpaceConfig()) {
    checkConfig(config);
    this.config = config;
  }

  /** Every problem with `genome`, each with a path and a sentence. */
  validate(genome: unknown): ValidationResult {
    return validatePipeline(this.config, genome);
  }

  /** The nearest valid genome: drops unknown stages, clamps parameters, reorders or drops stages to satisfy the rules. */
  repair(genome: unknown): PipelineGenome {
    const repaired = repairPipeline(this.config, genome);
    const result = this.validate(repaired);
    if (!result.valid) {
      // Only user rules that contradict each other can get here.
      const first = result.violations[0];
      throw new ConfigError(`the space's rules cannot all be satisfied: ${first?.message}`, first?.path);
    }
    return repaired;
  }

  /** Checks a genome strictly and throws a ConfigError naming the first problem (and counting the rest). */
  parse(genome: unknown): PipelineGenome {
    const result = this.validate(genome);
    if (!result.valid) {
      const [first, ...rest] = result.violations;
      const more = rest.length
        ? ` (and ${rest.length} more: ${rest.map((v) => `${v.path}: ${v.message}`).join('; ')})`
        : '';
      throw new ConfigError(`${first?.message}${more}`, first?.path);
    }
    const stages = (genome as PipelineGenome).stages.map((s) => ({ type: s.type, params: { ...s.params } }));
    return { stages };
  }

  sample(rng: Rng): PipelineGenome {
    const { min, max } = this.config.sampleStages;
    const length = rng.int(Math.max(min, this.config.minStages), Math.min(max, this.config.maxStages));
    const stages: Stage[] = [];
    for (let i = 0; i < length; i++) stages.push(sampleStage(this.config, pickStageType(this.config, rng), rng));
    return this.repair({ stages });
  }

  mutate(genome: PipelineGenome, rng: Rng): PipelineGenome {
    const before = this.key(genome);
    let child = genome;
    for (let attempt = 0; attempt < MUTATION_ATTEMPTS; attempt++) {
      child = this.repair({ stages: mutateStages(this.config, genome.stages, rng).stages });
      if (this.key(child) !== before) break;
    }
    return child;
  }

  crossover(a: PipelineGenome, b: PipelineGenome, rng: Rng): [PipelineGenome, PipelineGenome] {
    const [x, y] = crossoverStages(this.config, a.stages, b.stages, rng);
    return [this.repair({ stages: x }), this.repair({ stages: y })];
  }

  key(genome: PipelineGenome): string {
    return genomeHash(genome);
  }

  encode(genome: PipelineGenome): unknown {
    return JSON.parse(canonicalJson(genome)) as unknown;
  }

  decode(json: unknown): PipelineGenome {
    return this.parse(json);
  }

  /** `s0.type`, `s0.prune.ratio`, …: the stage type is in the name so each name keeps one distribution. */
  exportParams(genome: PipelineGenome): Record<string, ExportedParam> {
    const out: Record<string, ExportedParam> = {};
    const types = Object.keys(this.config.stages);
    genome.stages.forEach((s, i) => {
      out[`s${i}.type`] = { value: s.type, distribution: { kind: 'categorical', choices: types } };
      const specs = this.config.stages[s.type]?.params ?? {};
      for (const [name, spec] of Object.entries(specs))
        out[`s${i}.${s.type}.${name}`] = exportParam(spec, s.params[name] as ParamValue);
    });
    return out;
  }
}
