/** Interoperability: ONNX export (QDQ for int8), TorchScript export, and ONNX models timed and run through onnxruntime-node. */
export {
  exportOnnx,
  onnxExportBlockers,
  saveOnnx,
  type OnnxExportOptions,
  type OnnxExportReport,
} from './onnx-export.js';
export {
  saveTorchScript,
  torchScriptExportBlockers,
  torchScriptPlan,
  type TorchScriptExportOptions,
  type TorchScriptExportReport,
  type TorchScriptPlan,
} from './torchscript-export.js';
export {
  loadOnnxRuntime,
  OnnxModel,
  type OnnxBenchmarkReport,
  type OnnxInput,
  type OnnxLoadOptions,
} from './onnx-runtime.js';
export type { Timeable } from '../lab/compare.js';
