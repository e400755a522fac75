export {
  benchmark,
  TorchScriptModel,
  parseInputShape,
  type BenchmarkOptions,
  type BenchmarkReport,
  type BatchMeasurement,
} from './benchmark.js';
export { compare, type Comparison, type CompareOptions, type Measurable } from './compare.js';
export { modelSize, type ModelSize } from './size.js';
export { hostFingerprint, type HostFingerprint } from './fingerprint.js';
export { summarize, type LatencySummary } from './stats.js';
