/** Elementwise ops: activations and dropout. Shapes and channels pass through unchanged. */
import { req } from './attrs.js';
import { passThrough, type ChannelFlow, type Dims } from './channels.js';
import type { OpFamily, ShapeContext } from './types.js';

const same = {
  minInputs: 1,
  maxInputs: 1,
  shape: (_: unknown, c: ShapeContext): number[] => [...c.x],
  channels: (_: ChannelFlow, __: unknown, ins: Dims[]): Dims => passThrough(ins[0]!),
};

export const ELEMENTWISE_OPS: OpFamily<'relu' | 'gelu' | 'sigmoid' | 'tanh' | 'dropout'> = {
  // ReLU on int8 codes is max(q, zero point): the value stays int8 with its parameters.
  relu: { attrs: {}, ...same, quantAware: 'keepsParams' },
  gelu: { attrs: {}, ...same },
  sigmoid: { attrs: {}, ...same },
  tanh: { attrs: {}, ...same },
  dropout: { attrs: { p: req('dropoutP') }, ...same },
};
