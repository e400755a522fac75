/** Small shape helpers the op descriptors and the exporters share. */

export const pair = (v: number | [number, number]): [number, number] => (Array.isArray(v) ? v : [v, v]);

/**
 * A kernel/stride/padding/output-size attribute as one value per spatial dim (1 or 2): a scalar repeats, a pair gives
 * its first value to a 1-d op; `fallback` when the attribute is absent.
 */
export function perDim(v: number | [number, number] | undefined, dims: number, fallback: number): number[] {
  if (Array.isArray(v)) return dims === 1 ? [v[0]] : [...v];
  return Array.from({ length: dims }, () => v ?? fallback);
}

/** Output length of a convolution or pooling window along one dimension (PyTorch's formula). */
export function convOut(len: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((len + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/** A shape as error messages show it: `[1, 28, 28]`. */
export const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
