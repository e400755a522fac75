/**
 * The pipeline genome and its search space, built on the generic search core (lib/search): the genome (ordered typed
 * stages), the declarative space configuration, validity rules with repair, and variation operators.
 */
export {
  canonicalJson,
  describeGenome,
  genomeHash,
  isStage,
  type BuiltinStage,
  type BuiltinStageType,
  type LowRankParams,
  type PipelineGenome,
  type PruneParams,
  type QuantizeParams,
  type RegularizeParams,
  type Stage,
  type TrainParams,
} from './genome.js';
export {
  BUILTIN_STAGES,
  defaultPipelineSpaceConfig,
  narrowSpace,
  withStage,
  withoutStages,
  type MutationWeights,
  type PipelineSpaceConfig,
  type SpaceOverrides,
  type StageDef,
} from './space-config.js';
export {
  builtinRules,
  lowrankBeforeQuantize,
  oneQuantizePerMode,
  onlyQatAfterStaticQuantize,
  regularizeBeforeTraining,
  type ValidityRule,
  type Violation,
} from './rules.js';
export type { ValidationResult } from './validity.js';
export { crossoverStages, mutateStages, type MutationOperator } from './variation.js';
export { PipelineSpace } from './pipeline-space.js';
