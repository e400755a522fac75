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

export interface Conv1dAttrs { inChannels: number; outChannels: number; kernelSize: number; stride?: number; padding?: number | 'same'; dilation?: number; groups?: number; bias?: boolean }
export interface Conv2dAttrs { inChannels: number; outChannels: number; kernelSize: number | [number, number]; stride?: number | [number, number]; padding?: number | [number, number] | 'same'; dilation?: number; groups?: number; bias?: boolean }
export interface BatchNormAttrs { numFeatures: number; eps?: number; momentum?: number }
export interface LinearAttrs { inFeatures: number; outFeatures: number; bias?: boolean }
export interface PoolAttrs { kernelSize: number | [number, number]; stride?: number | [number, number]; padding?: number | [number, number] }
export interface AdaptivePoolAttrs { outputSize: number | [number, number] }
export interface ConcatAttrs { dim?: number }
export interface FlattenAttrs { startDim?: number }
export interface DropoutAttrs { p: number }
export interface EmbeddingAttrs { numEmbeddings: number; embeddingDim: number }
/** Batch-first GRU. `output: 'last'` yields (B, H·dirs) — the final hidden state of the last layer. */
export interface GruAttrs { inputSize: number; hiddenSize: number; numLayers?: number; bidirectional?: boolean; output?: 'last' | 'sequence' }
export interface LayerNormAttrs { normalizedShape: number[]; eps?: number }
export type NoAttrs = Record<string, never>;

/** op → its attributes. Adding an op means adding it here, in validate.ts and in native/graph_module.cc. */
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
  add: NoAttrs;
  concat: ConcatAttrs;
  flatten: FlattenAttrs;
  dropout: DropoutAttrs;
  embedding: EmbeddingAttrs;
  gru: GruAttrs;
  layernorm: LayerNormAttrs;
}

export type OpName = keyof OpAttrs;

export type GraphNode = {
  [K in OpName]: { name: string; op: K; inputs: string[]; attrs: OpAttrs[K] }
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
  'conv1d', 'conv2d', 'batchnorm1d', 'batchnorm2d', 'linear', 'relu', 'gelu', 'sigmoid', 'tanh',
  'maxpool1d', 'maxpool2d', 'avgpool1d', 'avgpool2d', 'adaptiveavgpool1d', 'adaptiveavgpool2d',
  'adaptivemaxpool1d', 'adaptivemaxpool2d', 'add', 'concat', 'flatten', 'dropout', 'embedding', 'gru', 'layernorm',
];
