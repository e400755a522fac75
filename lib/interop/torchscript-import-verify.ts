/**
 * TorchScript import, the check: a seeded random input for a spec, and the largest difference between the petra
 * model and the TorchScript module on it. `importTorchScript` (torchscript-import.ts) fails the import beyond its
 * tolerance; tests call `compareWithTorchScript` / `maxAbsDiff` directly (re-exported from torchscript-import.ts).
 */
import type { TensorData } from '../data/types.js';
import { TorchScriptModel } from '../lab/benchmark.js';
import type { Model } from '../runtime/model.js';
import type { ModelSpec } from '../graph/types.js';
import { tokenBound } from '../graph/validate.js';
import { prod } from './torchscript-import-values.js';

/** A seeded check input: standard normal floats, or token ids below each input's embedding size. */
export function checkInputs(spec: ModelSpec, rows: number, seed: number): TensorData[] {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  return spec.inputs.map((inp) => {
    const n = rows * prod(inp.shape);
    const shape = [rows, ...inp.shape];
    if (inp.dtype === 'int64') {
      const vocab = tokenBound(spec, inp.name) ?? Infinity;
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = Math.floor(next() * vocab);
      return { data, shape };
    }
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    return { data, shape };
  });
}

/** max |a − b| over two outputs of the same shape. */
export function maxAbsDiff(a: TensorData, b: TensorData): number {
  if (a.shape.join('x') !== b.shape.join('x')) return Infinity;
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Runs the TorchScript module and the petra model on the same input; the largest absolute difference. */
export async function compareWithTorchScript(path: string, model: Model, inputs: TensorData[]): Promise<number> {
  using script = TorchScriptModel.load(path);
  const expected = script.native.forward(inputs);
  const got = await model.forward(inputs);
  return maxAbsDiff(expected, got);
}
