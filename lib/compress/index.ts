/** Compression operators: channel pruning on a dependency graph, low-rank factorization, int8 quantization. */
export {
  buildDependencyGraph,
  groupByName,
  kernelArea,
  memberIndices,
  nodeTensorShapes,
  tensorShapes,
  type ChannelGroup,
  type ChannelMember,
  type DependencyGraph,
  type MemberRole,
  type NonPrunable,
} from './depgraph.js';
export {
  applyPrunePlan,
  channelScores,
  keptCount,
  planPrune,
  prune,
  prunedSpec,
  scoredTensors,
  selectChannels,
  snapKept,
  zeroChannels,
  type PrunedSpec,
  type PruneOptions,
  type PrunePlan,
  type RoundTo,
} from './prune.js';
export {
  decompose,
  factorizedNode,
  selectRank,
  truncateRanks,
  type DecomposeOptions,
  type LowrankOptions,
} from './lowrank.js';
export { deriveModel } from './derive.js';
export {
  formatReport,
  parameterReduction,
  type CompressionReport,
  type GroupReduction,
  type LowrankLayerReport,
  type LowrankReport,
  type PruneCriterion,
  type PruneReport,
  type PruneScope,
  type RankRule,
} from './report.js';
export {
  isQuantized,
  normalizeForQuantization,
  quantize,
  type QuantizedLayer,
  type QuantizeMode,
  type QuantizeOptions,
  type QuantizeReport,
} from './quantize.js';
