// Small deterministic data for native tests that need speed more than realism.
import type { TabularSplit, TensorData } from '../../lib/data/types.js';
import { createRng } from '../../lib/data/split.js';

export function floatTensor(shape: number[], seed = 1, scale = 1): TensorData {
  const rng = createRng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * scale;
  return { data, shape };
}

export function intTensor(shape: number[], max: number, seed = 1): TensorData {
  const rng = createRng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.int(max);
  return { data, shape };
}

/** Two Gaussian blobs in `features` dimensions: linearly separable, so a tiny MLP learns it in one epoch. */
export function blobs(n: number, features: number, seed = 1): TabularSplit {
  const rng = createRng(seed);
  const x = new Float32Array(n * features);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let f = 0; f < features; f++) x[i * features + f] = rng.normal() + (y[i] === 1 ? 1.5 : -1.5);
  }
  return { inputs: [{ data: x, shape: [n, features] }], target: { data: y, shape: [n] } };
}

/** The UCR/UEA files the package carries (datasets/ucr), never a path outside the checkout. */
export const UCR_DIR = new URL('../../datasets/ucr/', import.meta.url).pathname;
