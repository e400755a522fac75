/** Interoperability: ONNX export (QDQ for int8) and ONNX models timed and run through onnxruntime-node. */
export { exportOnnx, onnxExportBlockers, saveOnnx, type OnnxExportOptions, type OnnxExportReport } from './onnx-export.js';
export { loadOnnxRuntime, OnnxModel, type OnnxBenchmarkReport, type OnnxInput, type OnnxLoadOptions } from './onnx-runtime.js';
export type { Timeable } from '../lab/compare.js';
