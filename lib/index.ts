/**
 * petra's public API. Models and training (LibTorch through Node-API), data loaders, model builders, the
 * measurement lab, the compression operators, the search core, the pipeline genome and the end-to-end
 * `search()`.
 */
export { Model, type BuildOptions, type Device } from './runtime/model.js';
export {
  evaluate,
  learningRate,
  metricDirection,
  train,
  type EpochRecord,
  type EpochStopper,
  type Metric,
  type Schedule,
  type TrainData,
  type TrainOptions,
  type TrainResult,
} from './runtime/train.js';
export { DeviceData } from './runtime/device-data.js';
export * from './core/errors.js';
export * from './graph/index.js';
export * from './data/index.js';
export { getTask, TASKS, defaultUcrDir, type TaskDefinition } from './tasks/index.js';
export * from './lab/index.js';
export {
  info,
  memoryStats,
  resetPeakMemory,
  setInt8KernelIsa,
  setMemoryCap,
  setThreads,
  trimMemory,
  type MemoryStats,
  type PetraInfo,
} from './runtime/info.js';
export type { KernelIsa, NativeInt8Info } from './runtime/binding.js';
export * from './interop/index.js';
export {
  buildWithWeights,
  importTorchScript,
  isTorchScriptFile,
  TorchScriptImportError,
  torchScriptToSpec,
  type ImportedNode,
  type TorchScriptImport,
  type TorchScriptImportOptions,
  type TorchScriptImportReport,
  type TorchScriptSpec,
  type UnsupportedOp,
} from './interop/torchscript-import.js';
export * from './compress/index.js';
export * from './search/index.js';
export * from './genome/index.js';
// Both the search core (seeded generator class) and the data module (split helper) name an Rng; the class wins.
export { Rng } from './search/index.js';
export type { Rng as DataRng } from './data/split.js';

// End to end: search(), studies, reports.
export {
  readStudy,
  resumeSearch,
  search,
  type Bound,
  type Budget,
  type ConstraintInput,
  type DataLimits,
  type FinetuneSettings,
  type FrontEntry,
  type MeasureSettings,
  type ObjectiveKey,
  type QualityMetric,
  type ReportData,
  type ReportTrial,
  type ResumeOptions,
  type SearchConfig,
  type SearchConfigInput,
  type SearchEventName,
  type SearchEvents,
  type SearchOptions,
  type SearchOutcome,
  type StudyHandle,
  type UserData,
} from './search-api.js';
export { normalizeConfig, parseBudget } from './pipeline/config.js';
export {
  constraintDefs,
  objectiveDefs,
  parseLatency,
  parseObjectives,
  parseSize,
  parseThroughput,
} from './pipeline/objectives.js';
export { obtainBaseline, type Baseline, type BaselineRecord } from './pipeline/baseline.js';
export { runPipeline, type StageReport, type TrainingSummary } from './pipeline/executor.js';
export { measureModel, type Measurements } from './pipeline/measure.js';
export { describePipeline } from './pipeline/describe.js';
export { resolveProblem, type Problem } from './pipeline/problem.js';
export { renderReport, writeReport } from './report/html.js';
export { loadReportData } from './report/data.js';
export { paretoTable } from './report/table.js';
