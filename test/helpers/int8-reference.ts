// Exact references for petra's int8 paths, written from the definitions (integer products in JS numbers, which are
// exact far beyond int32), so that a test compares an int8 kernel with arithmetic, not with another int8 kernel.

export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** Round half to even, as std::nearbyint. */
export const roundEven = (x: number): number => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

export const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/**
 * quantized::linear_dynamic (reduce_range off): the input quantized per tensor to uint8 (range widened to include 0,
 * scale (max − min) / 255, zero point from the end with the smaller rounding error), exact integer products with the
 * int8 weights, then x scale · w scale[j] and the float bias.
 */
export function dynamicLinear(
  x: ArrayLike<number>,
  rows: number,
  inF: number,
  w: ArrayLike<number>,
  wScale: ArrayLike<number>,
  bias: ArrayLike<number>,
): Float64Array {
  let lo = 0,
    hi = 0;
  for (let i = 0; i < rows * inF; i++) {
    lo = Math.min(lo, x[i]!);
    hi = Math.max(hi, x[i]!);
  }
  let scale = Math.fround((hi - lo) / 255);
  if (scale === 0) scale = Math.fround(0.1);
  const errorMin = -Math.abs(lo / scale),
    errorMax = 255 - Math.abs(hi / scale);
  const z0 = errorMin < errorMax ? -lo / scale : 255 - hi / scale;
  const zp = z0 < 0 ? 0 : z0 > 255 ? 255 : roundEven(z0);
  const inverse = Math.fround(1 / scale);
  const outF = bias.length;
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    const codes = Array.from(
      { length: inF },
      (_, i) => Math.min(255, Math.max(0, roundEven(Math.fround(x[r * inF + i]! * inverse)) + zp)) - zp,
    );
    for (let j = 0; j < outF; j++) {
      let acc = 0;
      for (let i = 0; i < inF; i++) acc += codes[i]! * w[j * inF + i]!;
      y[r * outF + j] = acc * scale * wScale[wScale.length === 1 ? 0 : j]! + bias[j]!;
    }
  }
  return y;
}

/** uint8 codes of x with a per-tensor scale and zero point (at::quantize_per_tensor: x · (1/scale), rounded to even). */
export function quantizeCodes(x: ArrayLike<number>, scale: number, zeroPoint: number): Int32Array {
  const inverse = Math.fround(1 / scale);
  return Int32Array.from({ length: x.length }, (_, i) =>
    Math.min(255, Math.max(0, roundEven(Math.fround(x[i]! * inverse)) + zeroPoint)),
  );
}

/**
 * Static quantized::linear (+ fused ReLU) as real numbers before the output's rounding: (Σ (x − zx)·w) · sx · sw[j]
 * + bias[j], divided by the output scale and offset by its zero point. An exact kernel's output code is this value
 * rounded (either neighbour where it sits within float rounding of .5) and clamped to [0, 255].
 */
export function staticLinearCodes(
  xCodes: ArrayLike<number>,
  rows: number,
  inF: number,
  q: { inScale: number; inZeroPoint: number; outScale: number; outZeroPoint: number; relu: boolean },
  w: ArrayLike<number>,
  wScale: ArrayLike<number>,
  bias: ArrayLike<number>,
): Float64Array {
  const outF = bias.length;
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < outF; j++) {
      let acc = 0;
      for (let i = 0; i < inF; i++) acc += (xCodes[r * inF + i]! - q.inZeroPoint) * w[j * inF + i]!;
      let v = acc * q.inScale * wScale[wScale.length === 1 ? 0 : j]! + bias[j]!;
      if (q.relu) v = Math.max(0, v);
      y[r * outF + j] = Math.min(255, Math.max(0, v / q.outScale + q.outZeroPoint));
    }
  }
  return y;
}

/**
 * A one-layer dynamic-int8 GRU (torch's gate order) from its tensors `<name>.w_ih_l0`, `…w_ih_scale_l0`, `…b_ih_l0`
 * and the `hh` ones: the input projections and each step's hidden projection through dynamicLinear, the gates in
 * double precision. Returns the final hidden state [B, H].
 */
export function int8GruFinalState(
  w: Record<string, { data: ArrayLike<number> }>,
  name: string,
  x: ArrayLike<number>,
  B: number,
  T: number,
  I: number,
  H: number,
): Float64Array {
  const t = (k: string) => w[`${name}.${k}`]!.data;
  const gi = dynamicLinear(x, B * T, I, t('w_ih_l0'), t('w_ih_scale_l0'), t('b_ih_l0'));
  const h = new Float64Array(B * H);
  for (let step = 0; step < T; step++) {
    const gh = dynamicLinear(h, B, H, t('w_hh_l0'), t('w_hh_scale_l0'), t('b_hh_l0'));
    for (let b = 0; b < B; b++) {
      const g = (k: number) => gi[(b * T + step) * 3 * H + k]!;
      const u = (k: number) => gh[b * 3 * H + k]!;
      for (let i = 0; i < H; i++) {
        const r = sigmoid(g(i) + u(i)),
          z = sigmoid(g(H + i) + u(H + i));
        const n = Math.tanh(g(2 * H + i) + r * u(2 * H + i));
        h[b * H + i] = (1 - z) * n + z * h[b * H + i]!;
      }
    }
  }
  return h;
}

/**
 * Static quantized::conv2d (groups 1, no padding) as real output codes before rounding, like staticLinearCodes:
 * x codes [N, C, H, W], int8 weights [K, C, kh, kw], stride (sy, sx). Returns [N, K, Ho, Wo].
 */
export function staticConv2dCodes(
  xCodes: ArrayLike<number>,
  [N, C, H, W]: number[],
  q: { inScale: number; inZeroPoint: number; outScale: number; outZeroPoint: number },
  w: ArrayLike<number>,
  [K, kh, kw]: number[],
  [sy, sx]: number[],
  wScale: ArrayLike<number>,
  bias: ArrayLike<number>,
): { codes: Float64Array; shape: number[] } {
  const Ho = Math.floor((H! - kh!) / sy!) + 1,
    Wo = Math.floor((W! - kw!) / sx!) + 1;
  const codes = new Float64Array(N! * K! * Ho * Wo);
  for (let n = 0; n < N!; n++)
    for (let k = 0; k < K!; k++)
      for (let y = 0; y < Ho; y++)
        for (let z = 0; z < Wo; z++) {
          let acc = 0;
          for (let c = 0; c < C!; c++)
            for (let dy = 0; dy < kh!; dy++)
              for (let dz = 0; dz < kw!; dz++) {
                acc +=
                  (xCodes[((n * C! + c) * H! + y * sy! + dy) * W! + z * sx! + dz]! - q.inZeroPoint) *
                  w[((k * C! + c) * kh! + dy) * kw! + dz]!;
              }
          const v = (acc * q.inScale * wScale[wScale.length === 1 ? 0 : k]! + bias[k]!) / q.outScale + q.outZeroPoint;
          codes[((n * K! + k) * Ho + y) * Wo + z] = Math.min(255, Math.max(0, v));
        }
  return { codes, shape: [N!, K!, Ho, Wo] };
}
