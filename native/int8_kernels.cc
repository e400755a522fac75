#include "int8_kernels.h"

#include <algorithm>
#include <cstring>

// The gate and rounding loops only vectorize when GCC may compute both sides of a select (a float op that "might
// trap" otherwise blocks if-conversion). Nothing here reads floating-point exception flags. The whole addon is built
// with -ffp-contract=off, so the AVX2 and AVX-512 clones never fuse a multiply-add that the baseline one rounds twice.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

namespace petra {

namespace {

// Each kernel is written once as an always-inline body; the clones below are thin wrappers compiled for one target
// each, into which GCC inlines (and vectorizes) the body. Explicit clones rather than target_clones (an ifunc picked
// by the loader) so that a test can run each one, and PETRA_CPU_ISA can pick one, on any machine.
#define PETRA_INLINE inline __attribute__((always_inline))

PETRA_INLINE void IntMatVecBody(const int16_t* __restrict a, const int16_t* __restrict w, int64_t rows, int64_t cols,
                                int32_t* __restrict out) {
  for (int64_t j = 0; j < rows; ++j) {
    const int16_t* row = w + j * cols;
    int32_t sum = 0;
    for (int64_t i = 0; i < cols; ++i) sum += static_cast<int32_t>(a[i]) * static_cast<int32_t>(row[i]);
    out[j] = sum;
  }
}

// Round to nearest, ties to even (what std::nearbyint does in the default rounding mode), for |x| < 2^22, written
// so that loops over it vectorize: adding 1.5 · 2^23 leaves no fraction bits.
PETRA_INLINE float RoundEven(float x) {
  constexpr float kMagic = 12582912.f;
  return (x + kMagic) - kMagic;
}

// e^x for x ≤ 0 (the gates only need e^-|x|), branch-free so that loops over it vectorize: x = n·ln2 + r with
// |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial (relative error < 2e-7), 2^n assembled in the exponent bits.
// Below -87 the result flushes to 0, where 1 / (1 + e^x) is already exactly 1 in float.
PETRA_INLINE float ExpNonPositive(float x) {
  x = x < -87.f ? -87.f : x;  // not std::max: templates instantiated before the pragma above keep trapping math
  const float n = RoundEven(x * 1.44269504f);
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;  // ln2 split in two so n·ln2 is exact in the first part
  float p = 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// σ(x) from e^-|x| only, so it never overflows: σ(x) = 1 / (1 + e^-x) for x ≥ 0, e^x / (1 + e^x) below.
PETRA_INLINE float Sigmoid(float x) {
  const float e = ExpNonPositive(x < 0.f ? x : -x);  // e^-|x|
  // A select between ready values, not between computations, so the loop if-converts and vectorizes.
  const float numerator = x >= 0.f ? 1.f : e;
  return numerator / (1.f + e);
}

// tanh(x) = 2σ(2x) − 1; its absolute error stays at float rounding (~1e-7), all the GRU state needs.
PETRA_INLINE float Tanh(float x) { return 2.f * Sigmoid(2.f * x) - 1.f; }

PETRA_INLINE void CentredCodesBody(const float* __restrict x, int64_t n, float inverseScale, float zeroPoint,
                                   int16_t* __restrict codes) {
  for (int64_t i = 0; i < n; ++i) {
    const float unclamped = RoundEven(x[i] * inverseScale) + zeroPoint;
    const float code = unclamped < 0.f ? 0.f : unclamped > 255.f ? 255.f : unclamped;
    codes[i] = static_cast<int16_t>(code - zeroPoint);
  }
}

PETRA_INLINE void DequantizeBody(const int32_t* __restrict acc, const float* __restrict scale,
                                 const float* __restrict bias, float xScale, int64_t n, float* __restrict out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(acc[i]) * (xScale * scale[i]) + bias[i];
}

PETRA_INLINE void GateRowBody(const float* __restrict gh, const float* __restrict gi, int64_t H,
                              float* __restrict state) {
  for (int64_t i = 0; i < H; ++i) {
    const float r = Sigmoid(gi[i] + gh[i]), z = Sigmoid(gi[H + i] + gh[H + i]);
    const float n = Tanh(gi[2 * H + i] + r * gh[2 * H + i]);
    state[i] = (1.f - z) * n + z * state[i];
  }
}

// One pass per window offset over contiguous runs: vectorizes (pmaxub).
PETRA_INLINE void MaxPoolRowBody(const uint8_t* __restrict a, int64_t L, int64_t kernel, int64_t padding,
                                 int64_t outLen, uint8_t* __restrict o) {
  std::fill(o, o + outLen, uint8_t{0});
  for (int64_t j = 0; j < kernel; ++j) {
    const int64_t lo = std::max<int64_t>(0, padding - j), hi = std::min<int64_t>(outLen, L + padding - j);
    const uint8_t* shifted = a - padding + j;
    for (int64_t i = lo; i < hi; ++i) o[i] = shifted[i] > o[i] ? shifted[i] : o[i];
  }
}

#define PETRA_KERNEL_CLONES(SUFFIX, ATTRS)                                                                            \
  ATTRS void IntMatVec##SUFFIX(const int16_t* a, const int16_t* w, int64_t rows, int64_t cols, int32_t* out) {        \
    IntMatVecBody(a, w, rows, cols, out);                                                                             \
  }                                                                                                                   \
  ATTRS void CentredCodes##SUFFIX(const float* x, int64_t n, float inverseScale, float zeroPoint, int16_t* codes) {   \
    CentredCodesBody(x, n, inverseScale, zeroPoint, codes);                                                           \
  }                                                                                                                   \
  ATTRS void Dequantize##SUFFIX(const int32_t* acc, const float* scale, const float* bias, float xScale, int64_t n,   \
                                float* out) {                                                                         \
    DequantizeBody(acc, scale, bias, xScale, n, out);                                                                 \
  }                                                                                                                   \
  ATTRS void GateRow##SUFFIX(const float* gh, const float* gi, int64_t H, float* state) {                             \
    GateRowBody(gh, gi, H, state);                                                                                    \
  }                                                                                                                   \
  ATTRS void MaxPoolRow##SUFFIX(const uint8_t* a, int64_t L, int64_t kernel, int64_t padding, int64_t outLen,         \
                                uint8_t* out) {                                                                       \
    MaxPoolRowBody(a, L, kernel, padding, outLen, out);                                                               \
  }                                                                                                                   \
  const Int8Kernels kKernels##SUFFIX = {IntMatVec##SUFFIX, CentredCodes##SUFFIX, Dequantize##SUFFIX, GateRow##SUFFIX, \
                                        MaxPoolRow##SUFFIX};

PETRA_KERNEL_CLONES(Baseline, )
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define PETRA_HAS_CLONES 1
// AVX-512 cuts the fused GRU step by a third to a half (hidden 256, batch 8: 2.6 → 1.5 ms).
PETRA_KERNEL_CLONES(Avx2, __attribute__((target("avx2"))))
PETRA_KERNEL_CLONES(Avx512, __attribute__((target("arch=x86-64-v4"))))
#endif

}  // namespace

const Int8Kernels& KernelsFor(KernelIsa isa) {
#ifdef PETRA_HAS_CLONES
  switch (isa) {
    case KernelIsa::Avx512:
      return kKernelsAvx512;
    case KernelIsa::Avx2:
      return kKernelsAvx2;
    case KernelIsa::Baseline:
      break;
  }
#else
  (void)isa;
#endif
  return kKernelsBaseline;
}

}  // namespace petra
