/**
 * The model graph spec: a JSON DAG that native/ turns into a torch::nn::Module.
 *
 * Every tensor is batch-first. Shapes in `inputs` are per sample (no batch dimension).
 * Node names double as parameter prefixes in the native module (`<node>.weight`), so pruning,
 * low-rank and save/load can address parameters by the node that owns them.
 */

export const SPEC_FORMAT = 'petra.graph/1' as const;

export type InputDtype = 'float32' | 'int64';

export interface GraphInput {
  /** Referenced by nodes' `inputs` like a node name. */
  name: string;
  /** Per-sample shape, e.g. [1, 28, 28] for an image, [T] for a categorical sequence. */
  shape: number[];
  dtype: InputDtype;
}

/**
 * `fakeQuant` (conv/linear): quantization-aware training — int8 rounding of weights and outputs in the forward pass
 * (`fakeQuantBits`: the weight bits the int8 model will have, 8 or 7).
 * `dtype` (conv/linear/gru): weights stored and run in half precision, output cast back to float32 — what
 * quantize({ backend: 'cuda' }) gives layers that have no int8 kernel on CUDA. Inference only.
 */
export type ComputeDtype = 'float16' | 'bfloat16';
export interface Conv1dAttrs {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  padding?: number | 'same';
  dilation?: number;
  groups?: number;
  bias?: boolean;
  fakeQuant?: boolean;
  fakeQuantBits?: 7 | 8;
  dtype?: ComputeDtype;
}
export interface Conv2dAttrs {
  inChannels: number;
  outChannels: number;
  kernelSize: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number] | 'same';
  dilation?: number;
  groups?: number;
  bias?: boolean;
  fakeQuant?: boolean;
  fakeQuantBits?: 7 | 8;
  dtype?: ComputeDtype;
}
export interface BatchNormAttrs {
  numFeatures: number;
  eps?: number;
  momentum?: number;
}
export interface LinearAttrs {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
  fakeQuant?: boolean;
  fakeQuantBits?: 7 | 8;
  dtype?: ComputeDtype;
}
export interface PoolAttrs {
  kernelSize: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
}
export interface AdaptivePoolAttrs {
  outputSize: number | [number, number];
}
/** outScale/outZeroPoint (set by int8 quantization): the join stays int8 (quantized::cat). */
export interface ConcatAttrs {
  dim?: number;
  outScale?: number;
  outZeroPoint?: number;
}
/** outScale/outZeroPoint/relu (set by int8 quantization): an int8 residual join (quantized::add / add_relu). */
export interface AddAttrs {
  outScale?: number;
  outZeroPoint?: number;
  relu?: boolean;
}
export interface FlattenAttrs {
  startDim?: number;
}
export interface DropoutAttrs {
  p: number;
}
export interface EmbeddingAttrs {
  numEmbeddings: number;
  embeddingDim: number;
}
/** Batch-first GRU. `output: 'last'` yields (B, H·dirs) — the final hidden state of the last layer. */
export interface GruAttrs {
  inputSize: number;
  hiddenSize: number;
  numLayers?: number;
  bidirectional?: boolean;
  output?: 'last' | 'sequence';
  dtype?: ComputeDtype;
}
export interface LayerNormAttrs {
  normalizedShape: number[];
  eps?: number;
}
/**
 * Low-rank factorized layers, W = U·diag(S)·Vh kept as three parameters so training can regularize them
 * (orthogonality of U and Vh, Hoyer sparsity of S) and rank pruning can drop singular directions.
 * Parameters: `U` [out, rank], `S` [rank], `Vh` [rank, in·k…] (groups must be 1), `bias` [out].
 * lowrank_conv*: a conv with `rank` output channels and Vh as its kernel, scaled by S, then a 1×1 conv with U.
 */
export interface LowrankLinearAttrs {
  inFeatures: number;
  outFeatures: number;
  rank: number;
  bias?: boolean;
}
export interface LowrankConv1dAttrs extends Conv1dAttrs {
  rank: number;
}
export interface LowrankConv2dAttrs extends Conv2dAttrs {
  rank: number;
}
/**
 * int8 layers made by lib/compress/quantize.ts (CPU engines ONEDNN / QNNPACK). Weights live as buffers `qweight`
 * (int8), `wscale` (per output channel, symmetric) and `bias` (float). Static layers take quint8 activations with
 * the calibrated input/output scale and zero point and may fuse a following ReLU; dynamic layers (qlinear only)
 * quantize activations on the fly and output float.
 */
export interface QuantAttrs {
  dynamic?: boolean;
  perChannel?: boolean;
  relu?: boolean;
  inScale?: number;
  inZeroPoint?: number;
  outScale?: number;
  outZeroPoint?: number;
  /** 'intmm': int8 GEMM with per-row activation scales (qlinear; torch._int_mm on CUDA, an exact int32 GEMM on CPU). */
  engine?: 'onednn' | 'qnnpack' | 'intmm';
  /** Weight codes within ±127 (8, default) or ±63 (7: exact on x86 CPUs without VNNI; see QuantizeOptions.weightBits). */
  weightBits?: 7 | 8;
  /** The CPU that quantized the layer (named when another CPU cannot run its weights exactly). */
  quantizedOn?: string;
}
export type QLinearAttrs = LinearAttrs & QuantAttrs;
export type QConv1dAttrs = Conv1dAttrs & QuantAttrs;
export type QConv2dAttrs = Conv2dAttrs & QuantAttrs;
/** Dynamic int8 GRU: buffers w_ih_l<k>[_reverse], w_hh_…, their scales w_ih_scale_…, float biases b_ih_…, b_hh_…. */
export type QGruAttrs = GruAttrs &
  Pick<QuantAttrs, 'dynamic' | 'perChannel' | 'engine' | 'weightBits' | 'quantizedOn'> & {
    /**
     * How the sequential hidden projection runs. Both quantize the hidden state per tensor to uint8 and multiply it
     * with the int8 weights in exact integer arithmetic, then run the gates in one vectorized pass.
     * 'linear_dynamic': one quantized::linear_dynamic call (a threaded GEMM) per step; 'fused': petra's one-loop
     * recurrence (no per-op dispatch: the fast path for small batches); 'auto' (default): fused while
     * batch × hiddenSize² ≤ 2¹⁸, 2¹⁹ on AVX-512 CPUs (hidden 64: batch ≤ 64 / 128, 128: ≤ 16 / 32, 256: ≤ 4 / 8),
     * linear_dynamic above.
     */
    recurrence?: 'auto' | 'fused' | 'linear_dynamic';
  };
export type NoAttrs = Record<string, never>;

/**
 * op → its attributes. Adding an op means adding it here and in OP_NAMES, then one descriptor in lib/graph/ops/ (the
 * compiler asks for it, and for the exporters' lowerings) and one builder in native/graph_module.cc's table.
 */
export interface OpAttrs {
  conv1d: Conv1dAttrs;
  conv2d: Conv2dAttrs;
  batchnorm1d: BatchNormAttrs;
  batchnorm2d: BatchNormAttrs;
  linear: LinearAttrs;
  relu: NoAttrs;
  gelu: NoAttrs;
  sigmoid: NoAttrs;
  tanh: NoAttrs;
  maxpool1d: PoolAttrs;
  maxpool2d: PoolAttrs;
  avgpool1d: PoolAttrs;
  avgpool2d: PoolAttrs;
  adaptiveavgpool1d: AdaptivePoolAttrs;
  adaptiveavgpool2d: AdaptivePoolAttrs;
  adaptivemaxpool1d: AdaptivePoolAttrs;
  adaptivemaxpool2d: AdaptivePoolAttrs;
  add: AddAttrs;
  concat: ConcatAttrs;
  flatten: FlattenAttrs;
  dropout: DropoutAttrs;
  embedding: EmbeddingAttrs;
  gru: GruAttrs;
  layernorm: LayerNormAttrs;
  lowrank_linear: LowrankLinearAttrs;
  lowrank_conv1d: LowrankConv1dAttrs;
  lowrank_conv2d: LowrankConv2dAttrs;
  qlinear: QLinearAttrs;
  qconv1d: QConv1dAttrs;
  qconv2d: QConv2dAttrs;
  qgru: QGruAttrs;
}

export type OpName = keyof OpAttrs;

export type GraphNode = {
  [K in OpName]: { name: string; op: K; inputs: string[]; attrs: OpAttrs[K] };
}[OpName];

export interface ModelSpec {
  format: typeof SPEC_FORMAT;
  name?: string;
  inputs: GraphInput[];
  /** In any order; validate() checks the DAG and native/ executes in topological order. */
  nodes: GraphNode[];
  /** Name of the node whose value is the model's output. */
  output: string;
  /** What the output means, so training picks the loss and metrics. */
  task: { kind: 'classification'; classes: number } | { kind: 'regression'; targets: number };
}

export const OP_NAMES: readonly OpName[] = [
  'conv1d',
  'conv2d',
  'batchnorm1d',
  'batchnorm2d',
  'linear',
  'relu',
  'gelu',
  'sigmoid',
  'tanh',
  'maxpool1d',
  'maxpool2d',
  'avgpool1d',
  'avgpool2d',
  'adaptiveavgpool1d',
  'adaptiveavgpool2d',
  'adaptivemaxpool1d',
  'adaptivemaxpool2d',
  'add',
  'concat',
  'flatten',
  'dropout',
  'embedding',
  'gru',
  'layernorm',
  'lowrank_linear',
  'lowrank_conv1d',
  'lowrank_conv2d',
  'qlinear',
  'qconv1d',
  'qconv2d',
  'qgru',
];
