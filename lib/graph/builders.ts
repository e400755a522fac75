/**
 * Ready-made model specs. Every builder returns a spec that has passed `validateSpec`, with descriptive node
 * names (`stem_conv`, `layer1_0_conv1`, …) because they become the parameter prefixes pruning and save/load use.
 */
import { ConfigError } from '../core/errors.js';
import { SPEC_FORMAT } from './types.js';
import type { GraphInput, GraphNode, ModelSpec, OpAttrs, OpName } from './types.js';
import { validateSpec } from './validate.js';

/** Either a classification head (`classes`) or a regression head (`targets`). */
export type HeadOptions = { classes: number; targets?: never } | { targets: number; classes?: never };

export type Activation = 'relu' | 'gelu' | 'tanh';

class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly inputs: GraphInput[] = [];

  input(name: string, shape: number[], dtype: GraphInput['dtype'] = 'float32'): string {
    this.inputs.push({ name, shape: [...shape], dtype });
    return name;
  }

  node<K extends OpName>(name: string, op: K, inputs: string | string[], attrs: OpAttrs[K]): string {
    const node = { name, op, inputs: Array.isArray(inputs) ? inputs : [inputs], attrs } as GraphNode;
    this.nodes.push(node);
    return name;
  }

  build(name: string, output: string, head: HeadOptions): ModelSpec {
    const task: ModelSpec['task'] =
      head.classes !== undefined
        ? { kind: 'classification', classes: head.classes }
        : { kind: 'regression', targets: head.targets };
    return validateSpec({ format: SPEC_FORMAT, name, inputs: this.inputs, nodes: this.nodes, output, task });
  }
}

function headSize(head: HeadOptions): number {
  const hasC = head.classes !== undefined;
  const hasT = head.targets !== undefined;
  if (hasC === hasT)
    throw new ConfigError('give exactly one of `classes` (classification) or `targets` (regression)', 'classes');
  const v = hasC ? head.classes : head.targets;
  if (!Number.isInteger(v) || (v as number) < 1)
    throw new ConfigError(`must be a positive integer, got ${String(v)}`, hasC ? 'classes' : 'targets');
  return v as number;
}

function checkPosInts(values: readonly number[], path: string): void {
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 1)
      throw new ConfigError(`must be a positive integer, got ${String(v)}`, `${path}[${i}]`);
  });
}

function checkDropout(p: number | undefined): number {
  const v = p ?? 0;
  if (!(v >= 0 && v < 1)) throw new ConfigError(`must be in [0, 1), got ${String(p)}`, 'dropout');
  return v;
}

function headOf(opts: HeadOptions): HeadOptions {
  return opts.classes !== undefined ? { classes: opts.classes } : { targets: opts.targets };
}

// ---------------------------------------------------------------------------------------------------------------

export type MlpOptions = HeadOptions & {
  inputShape: number[];
  hidden: number[];
  activation?: Activation;
  dropout?: number;
  batchnorm?: boolean;
};

/** Multi-layer perceptron: [flatten] → (linear → [batchnorm] → act → [dropout]) × hidden → linear head. */
export function mlp(opts: MlpOptions): ModelSpec {
  const out = headSize(opts);
  checkPosInts(opts.inputShape, 'inputShape');
  checkPosInts(opts.hidden, 'hidden');
  const p = checkDropout(opts.dropout);
  const act = opts.activation ?? 'relu';
  const g = new GraphBuilder();
  let x = g.input('x', opts.inputShape);
  let width = opts.inputShape.reduce((a, b) => a * b, 1);
  if (opts.inputShape.length > 1) x = g.node('flatten', 'flatten', x, { startDim: 1 });
  opts.hidden.forEach((h, i) => {
    const pre = `fc${i + 1}`;
    x = g.node(pre, 'linear', x, { inFeatures: width, outFeatures: h, bias: !opts.batchnorm });
    if (opts.batchnorm) x = g.node(`${pre}_bn`, 'batchnorm1d', x, { numFeatures: h });
    x = g.node(`${pre}_${act}`, act, x, {});
    if (p > 0) x = g.node(`${pre}_dropout`, 'dropout', x, { p });
    width = h;
  });
  x = g.node('head', 'linear', x, { inFeatures: width, outFeatures: out });
  return g.build('mlp', x, headOf(opts));
}

// ---------------------------------------------------------------------------------------------------------------

export interface SmallCnnOptions {
  inputShape: [number, number, number];
  classes: number;
  /** Channels of the conv blocks (default [32, 64]); each block halves H and W. */
  widths?: number[];
  /** Width of the hidden fully connected layer (default 128). */
  hidden?: number;
  /** Dropout before the head (default 0.25). */
  dropout?: number;
}

/** (conv3×3 pad 1 → BN → ReLU → maxpool 2) × widths → flatten → linear → ReLU → dropout → linear. */
export function smallCnn(opts: SmallCnnOptions): ModelSpec {
  const classes = headSize({ classes: opts.classes });
  const widths = opts.widths ?? [32, 64];
  const hidden = opts.hidden ?? 128;
  checkPosInts(opts.inputShape, 'inputShape');
  if (opts.inputShape.length !== 3) throw new ConfigError('must be [C, H, W]', 'inputShape');
  checkPosInts(widths, 'widths');
  checkPosInts([hidden], 'hidden');
  const p = checkDropout(opts.dropout ?? 0.25);
  let [c, h, w] = opts.inputShape;
  const g = new GraphBuilder();
  let x = g.input('image', opts.inputShape);
  widths.forEach((width, i) => {
    const pre = `block${i + 1}`;
    if (h < 2 || w < 2)
      throw new ConfigError(
        `input ${opts.inputShape.join('x')} is too small for ${widths.length} pooling blocks`,
        'widths',
      );
    x = g.node(`${pre}_conv`, 'conv2d', x, {
      inChannels: c,
      outChannels: width,
      kernelSize: 3,
      padding: 1,
      bias: false,
    });
    x = g.node(`${pre}_bn`, 'batchnorm2d', x, { numFeatures: width });
    x = g.node(`${pre}_relu`, 'relu', x, {});
    x = g.node(`${pre}_pool`, 'maxpool2d', x, { kernelSize: 2 });
    c = width;
    h = Math.floor(h / 2);
    w = Math.floor(w / 2);
  });
  x = g.node('flatten', 'flatten', x, { startDim: 1 });
  x = g.node('fc1', 'linear', x, { inFeatures: c * h * w, outFeatures: hidden });
  x = g.node('fc1_relu', 'relu', x, {});
  if (p > 0) x = g.node('fc1_dropout', 'dropout', x, { p });
  x = g.node('head', 'linear', x, { inFeatures: hidden, outFeatures: classes });
  return g.build('small_cnn', x, { classes });
}

// ---------------------------------------------------------------------------------------------------------------

export type ResnetCifarDepth = 8 | 14 | 20 | 32 | 44 | 56;

export interface ResnetCifarOptions {
  depth: ResnetCifarDepth;
  /** Multiplies the base stage widths 16/32/64 (default 1). */
  widthMultiplier?: number;
  inputShape?: [number, number, number];
  classes: number;
}

/**
 * CIFAR ResNet (He et al. 2016, §4.2) with BasicBlocks, (depth − 2) / 6 blocks per stage and projection shortcuts
 * (1×1 conv + BN, "option B") where the shape changes. ResNet-20, 10 classes: 272,474 parameters.
 */
export function resnetCifar(opts: ResnetCifarOptions): ModelSpec {
  const classes = headSize({ classes: opts.classes });
  const depth = opts.depth;
  if (![8, 14, 20, 32, 44, 56].includes(depth))
    throw new ConfigError(`must be one of 8, 14, 20, 32, 44, 56, got ${String(depth)}`, 'depth');
  const mult = opts.widthMultiplier ?? 1;
  if (!(mult > 0 && Number.isFinite(mult)))
    throw new ConfigError(`must be a positive number, got ${String(mult)}`, 'widthMultiplier');
  const inputShape = opts.inputShape ?? [3, 32, 32];
  checkPosInts(inputShape, 'inputShape');
  if (inputShape.length !== 3) throw new ConfigError('must be [C, H, W]', 'inputShape');
  const widths = [16, 32, 64].map((b) => Math.max(1, Math.round(b * mult)));
  const blocks = (depth - 2) / 6;

  const g = new GraphBuilder();
  let x = g.input('image', inputShape);
  x = g.node('stem_conv', 'conv2d', x, {
    inChannels: inputShape[0],
    outChannels: widths[0]!,
    kernelSize: 3,
    padding: 1,
    bias: false,
  });
  x = g.node('stem_bn', 'batchnorm2d', x, { numFeatures: widths[0]! });
  x = g.node('stem_relu', 'relu', x, {});
  let c = widths[0]!;
  widths.forEach((w, s) => {
    for (let b = 0; b < blocks; b++) {
      const pre = `layer${s + 1}_${b}`;
      const stride = s > 0 && b === 0 ? 2 : 1;
      const blockIn = x;
      let y = g.node(`${pre}_conv1`, 'conv2d', blockIn, {
        inChannels: c,
        outChannels: w,
        kernelSize: 3,
        stride,
        padding: 1,
        bias: false,
      });
      y = g.node(`${pre}_bn1`, 'batchnorm2d', y, { numFeatures: w });
      y = g.node(`${pre}_relu1`, 'relu', y, {});
      y = g.node(`${pre}_conv2`, 'conv2d', y, {
        inChannels: w,
        outChannels: w,
        kernelSize: 3,
        padding: 1,
        bias: false,
      });
      y = g.node(`${pre}_bn2`, 'batchnorm2d', y, { numFeatures: w });
      let shortcut = blockIn;
      if (stride !== 1 || c !== w) {
        shortcut = g.node(`${pre}_shortcut_conv`, 'conv2d', blockIn, {
          inChannels: c,
          outChannels: w,
          kernelSize: 1,
          stride,
          bias: false,
        });
        shortcut = g.node(`${pre}_shortcut_bn`, 'batchnorm2d', shortcut, { numFeatures: w });
      }
      y = g.node(`${pre}_add`, 'add', [y, shortcut], {});
      x = g.node(`${pre}_relu`, 'relu', y, {});
      c = w;
    }
  });
  x = g.node('pool', 'adaptiveavgpool2d', x, { outputSize: 1 });
  x = g.node('flatten', 'flatten', x, { startDim: 1 });
  x = g.node('fc', 'linear', x, { inFeatures: c, outFeatures: classes });
  return g.build(`resnet${depth}${mult !== 1 ? `_w${mult}` : ''}`, x, { classes });
}

// ---------------------------------------------------------------------------------------------------------------

export type InceptionTimeOptions = HeadOptions & {
  inputShape: [number, number];
  /** Number of inception modules (default 6). */
  depth?: number;
  /** Filters per branch (default 32); a module outputs 4 × filters channels. */
  filters?: number;
  /** Odd kernel sizes of the three parallel convolutions (default [39, 19, 9]). */
  kernelSizes?: number[];
  /** Bottleneck channels (default 32; 0 disables). Used only when the module input has more than one channel. */
  bottleneck?: number;
  /** Residual shortcut every 3 modules (default true). */
  residual?: boolean;
};

/** InceptionTime (Ismail Fawaz et al. 2020) for [C, T] series. */
export function inceptionTime(opts: InceptionTimeOptions): ModelSpec {
  const out = headSize(opts);
  checkPosInts(opts.inputShape, 'inputShape');
  if (opts.inputShape.length !== 2) throw new ConfigError('must be [C, T]', 'inputShape');
  const depth = opts.depth ?? 6;
  const filters = opts.filters ?? 32;
  const kernelSizes = opts.kernelSizes ?? [39, 19, 9];
  const bottleneck = opts.bottleneck ?? 32;
  const residual = opts.residual ?? true;
  checkPosInts([depth], 'depth');
  checkPosInts([filters], 'filters');
  checkPosInts(kernelSizes, 'kernelSizes');
  kernelSizes.forEach((k, i) => {
    if (k % 2 === 0)
      throw new ConfigError(
        `kernel sizes must be odd (so padding k//2 keeps the length), got ${k}`,
        `kernelSizes[${i}]`,
      );
  });
  if (!(Number.isInteger(bottleneck) && bottleneck >= 0))
    throw new ConfigError(`must be a non-negative integer, got ${bottleneck}`, 'bottleneck');

  const g = new GraphBuilder();
  let x = g.input('series', opts.inputShape);
  let c = opts.inputShape[0];
  const moduleOut = filters * (kernelSizes.length + 1);
  let res = x;
  let resC = c;
  for (let m = 0; m < depth; m++) {
    const pre = `inception${m}`;
    let branchIn = x;
    let branchC = c;
    if (bottleneck > 0 && c > 1) {
      branchIn = g.node(`${pre}_bottleneck`, 'conv1d', x, {
        inChannels: c,
        outChannels: bottleneck,
        kernelSize: 1,
        bias: false,
      });
      branchC = bottleneck;
    }
    const branches = kernelSizes.map((k) =>
      g.node(`${pre}_conv_k${k}`, 'conv1d', branchIn, {
        inChannels: branchC,
        outChannels: filters,
        kernelSize: k,
        padding: (k - 1) / 2,
        bias: false,
      }),
    );
    const pooled = g.node(`${pre}_maxpool`, 'maxpool1d', x, { kernelSize: 3, stride: 1, padding: 1 });
    branches.push(
      g.node(`${pre}_pool_conv`, 'conv1d', pooled, { inChannels: c, outChannels: filters, kernelSize: 1, bias: false }),
    );
    let y = g.node(`${pre}_concat`, 'concat', branches, { dim: 1 });
    y = g.node(`${pre}_bn`, 'batchnorm1d', y, { numFeatures: moduleOut });
    y = g.node(`${pre}_relu`, 'relu', y, {});
    c = moduleOut;
    if (residual && m % 3 === 2) {
      const r = `residual${Math.floor(m / 3)}`;
      let s = g.node(`${r}_conv`, 'conv1d', res, {
        inChannels: resC,
        outChannels: moduleOut,
        kernelSize: 1,
        bias: false,
      });
      s = g.node(`${r}_bn`, 'batchnorm1d', s, { numFeatures: moduleOut });
      y = g.node(`${r}_add`, 'add', [y, s], {});
      y = g.node(`${r}_relu`, 'relu', y, {});
      res = y;
      resC = moduleOut;
    }
    x = y;
  }
  x = g.node('gap', 'adaptiveavgpool1d', x, { outputSize: 1 });
  x = g.node('flatten', 'flatten', x, { startDim: 1 });
  x = g.node('head', 'linear', x, { inFeatures: c, outFeatures: out });
  return g.build('inception_time', x, headOf(opts));
}

// ---------------------------------------------------------------------------------------------------------------

export interface CategoricalFeature {
  /** Input name (must be a valid identifier); the embedding node is `<name>_embedding`. */
  name: string;
  /** Number of distinct codes (0..cardinality−1). */
  cardinality: number;
  embeddingDim: number;
}

export interface GruSequenceClassifierOptions {
  seqLen: number;
  categorical: readonly CategoricalFeature[];
  /** Width F of the float32 `numeric` input [T, F]; 0 for none. */
  numericFeatures: number;
  hiddenSize: number;
  numLayers?: number;
  bidirectional?: boolean;
  /** Optional hidden layer between the GRU and the head. */
  headHidden?: number;
  dropout?: number;
  classes: number;
}

/**
 * Event-sequence classifier: one int64 input [T] per categorical feature → embedding; a float32 input `numeric`
 * [T, F]; concatenated along the last dim → GRU (final hidden state) → [linear → ReLU → dropout] → linear.
 * Inputs are in the order: categorical features as given, then `numeric`.
 */
export function gruSequenceClassifier(opts: GruSequenceClassifierOptions): ModelSpec {
  const classes = headSize({ classes: opts.classes });
  checkPosInts([opts.seqLen], 'seqLen');
  checkPosInts([opts.hiddenSize], 'hiddenSize');
  if (!(Number.isInteger(opts.numericFeatures) && opts.numericFeatures >= 0)) {
    throw new ConfigError(`must be a non-negative integer, got ${opts.numericFeatures}`, 'numericFeatures');
  }
  if (opts.categorical.length === 0 && opts.numericFeatures === 0) {
    throw new ConfigError('needs at least one categorical feature or numericFeatures > 0', 'categorical');
  }
  const p = checkDropout(opts.dropout);
  const g = new GraphBuilder();
  const streams: string[] = [];
  let width = 0;
  opts.categorical.forEach((f, i) => {
    checkPosInts([f.cardinality, f.embeddingDim], `categorical[${i}]`);
    const inp = g.input(f.name, [opts.seqLen], 'int64');
    streams.push(
      g.node(`${f.name}_embedding`, 'embedding', inp, { numEmbeddings: f.cardinality, embeddingDim: f.embeddingDim }),
    );
    width += f.embeddingDim;
  });
  if (opts.numericFeatures > 0) {
    streams.push(g.input('numeric', [opts.seqLen, opts.numericFeatures]));
    width += opts.numericFeatures;
  }
  let x = streams.length > 1 ? g.node('features', 'concat', streams, { dim: -1 }) : streams[0]!;
  const dirs = opts.bidirectional ? 2 : 1;
  x = g.node('gru', 'gru', x, {
    inputSize: width,
    hiddenSize: opts.hiddenSize,
    numLayers: opts.numLayers ?? 1,
    bidirectional: opts.bidirectional ?? false,
    output: 'last',
  });
  let hw = opts.hiddenSize * dirs;
  if (opts.headHidden !== undefined) {
    checkPosInts([opts.headHidden], 'headHidden');
    x = g.node('fc1', 'linear', x, { inFeatures: hw, outFeatures: opts.headHidden });
    x = g.node('fc1_relu', 'relu', x, {});
    hw = opts.headHidden;
  }
  if (p > 0) x = g.node('head_dropout', 'dropout', x, { p });
  x = g.node('head', 'linear', x, { inFeatures: hw, outFeatures: classes });
  return g.build('gru_sequence_classifier', x, { classes });
}

// ---------------------------------------------------------------------------------------------------------------

export type Cnn1dOptions = HeadOptions & {
  inputShape: [number, number];
  /** Channels per conv block (default [64, 128, 64]). */
  widths?: number[];
  /** One kernel size for all blocks or one per block (default [7, 5, 3]); odd, padded to keep the length. */
  kernelSize?: number | number[];
};

/** Fully convolutional 1D net (Wang et al. 2017 FCN style): (conv → BN → ReLU) × 3 → global avg pool → linear. */
export function cnn1d(opts: Cnn1dOptions): ModelSpec {
  const out = headSize(opts);
  checkPosInts(opts.inputShape, 'inputShape');
  if (opts.inputShape.length !== 2) throw new ConfigError('must be [C, T]', 'inputShape');
  const widths = opts.widths ?? [64, 128, 64];
  checkPosInts(widths, 'widths');
  const ks = opts.kernelSize ?? [7, 5, 3];
  const kernels = Array.isArray(ks) ? ks : widths.map(() => ks);
  if (kernels.length !== widths.length)
    throw new ConfigError(`needs one kernel size per width (${widths.length}), got ${kernels.length}`, 'kernelSize');
  checkPosInts(kernels, 'kernelSize');
  kernels.forEach((k, i) => {
    if (k % 2 === 0)
      throw new ConfigError(
        `kernel sizes must be odd, got ${k}`,
        Array.isArray(ks) ? `kernelSize[${i}]` : 'kernelSize',
      );
  });
  const g = new GraphBuilder();
  let x = g.input('series', opts.inputShape);
  let c = opts.inputShape[0];
  widths.forEach((w, i) => {
    const pre = `block${i + 1}`;
    const k = kernels[i]!;
    x = g.node(`${pre}_conv`, 'conv1d', x, {
      inChannels: c,
      outChannels: w,
      kernelSize: k,
      padding: (k - 1) / 2,
      bias: false,
    });
    x = g.node(`${pre}_bn`, 'batchnorm1d', x, { numFeatures: w });
    x = g.node(`${pre}_relu`, 'relu', x, {});
    c = w;
  });
  x = g.node('gap', 'adaptiveavgpool1d', x, { outputSize: 1 });
  x = g.node('flatten', 'flatten', x, { startDim: 1 });
  x = g.node('head', 'linear', x, { inFeatures: c, outFeatures: out });
  return g.build('cnn1d', x, headOf(opts));
}
