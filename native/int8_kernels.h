#pragma once
// petra's own vectorized int8 loops — the fused GRU recurrence's pieces and the uint8 max-pool — one table of
// function pointers per kernel ISA (cpu_isa.h). Kernels() returns the active table; KernelsFor() a given one, so tests
// can run every clone. All clones give bit-identical results (no FMA contraction; integer sums are exact).
#include <cstdint>

#include "cpu_isa.h"

namespace petra {

struct Int8Kernels {
  // out[j] = Σ_i a[i] · w[j, i] for rows j < rows, exact in int32 (|a| ≤ 255, |w| ≤ 128).
  void (*intMatVec)(const int16_t* a, const int16_t* w, int64_t rows, int64_t cols, int32_t* out);
  // Per-tensor uint8 codes of one row, centred on the zero point: clamp(round_even(x · inverseScale) + zp, 0, 255) −
  // zp.
  void (*centredCodes)(const float* x, int64_t n, float inverseScale, float zeroPoint, int16_t* codes);
  // out = acc · (xScale · scale[i]) + bias[i]: int32 products back to float, as quantized::linear_dynamic outputs them.
  void (*dequantize)(const int32_t* acc, const float* scale, const float* bias, float xScale, int64_t n, float* out);
  // One row's GRU update in place: r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r ⊙ gh_n), h' = (1 − z) ⊙ n
  // + z ⊙ h.
  void (*gateRow)(const float* gh, const float* gi, int64_t H, float* state);
  // Stride-1 max-pool of one row of uint8 codes: out[i] = max over j < kernel of a[i − padding + j] (inside [0, L)),
  // 0 where the window sees no element.
  void (*maxPoolRow)(const uint8_t* a, int64_t L, int64_t kernel, int64_t padding, int64_t outLen, uint8_t* out);
};

const Int8Kernels& KernelsFor(KernelIsa isa);
inline const Int8Kernels& Kernels() { return KernelsFor(ActiveKernelIsa()); }

}  // namespace petra
