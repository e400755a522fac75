#pragma once
// The sequential half of a dynamic-int8 GRU, fused into one loop for small batches.
//
// Why: at batch 1 a step is ~12k multiply-adds, a few microseconds of arithmetic, but quantized::linear_dynamic
// costs ~35 µs per call on ONEDNN (~11 µs on QNNPACK) and the gate math is a dozen ATen ops of ~1-2 µs each, so the
// int8 GRU ran 3.5× slower than float. Here each step is one pass over plain arrays with the same quantization
// arithmetic as quantized::linear_dynamic: the hidden state quantized per tensor to uint8 with a zero point
// (min/max widened to include 0, scale (max - min) / 255), exact integer dot products with the per-channel
// int8 weights, then scale, bias and the GRU gates in float.

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace petra {

class Int8Recurrence {
 public:
  // weight: int8 [3H, H] (gates r, z, n as torch's GRU); scale: [3H] or [1]; bias: float [3H] (b_hh).
  Int8Recurrence(const torch::Tensor& weight, const torch::Tensor& scale, const torch::Tensor& bias);

  // gi: float [B, T, 3H], contiguous, the input projections with b_ih. Returns the hidden states [B, T, H]
  // (step order reversed for the reverse direction, written at their time index) and the final state [B, H].
  std::pair<torch::Tensor, torch::Tensor> Run(const torch::Tensor& gi, bool reverse) const;

 private:
  int64_t hidden_;
  std::vector<int16_t> weight_;  // widened once so the dot product maps to (v)pmaddwd
  std::vector<float> scale_;     // one per output row
  std::vector<float> bias_;
};

// The GRU update of rows 0..B-1 at step t, vectorized (no ATen op per gate): gh [B, 3H] hidden projections with
// b_hh, gi [B, T, 3H] input projections with b_ih, h [B, H] updated in place and copied to out [B, T, H] at t.
void GruGateRows(const float* gh, const float* gi, int64_t B, int64_t T, int64_t t, int64_t H, float* h, float* out);

// Recurrence "auto" runs the fused loop while batch × H² stays within FusedRecurrenceMaxWork(): the loop is one
// thread, so past it quantized::linear_dynamic's threaded GEMM (with the same vectorized gates) wins despite its
// per-call cost. Measured crossovers (bench/qgru.ts, 2-core EPYC, 2 threads): with the AVX2 loop H 64 near batch 48,
// H 128 near 30, H 256 near 7 (2^18); with the AVX-512 loop H 64 past 64, H 128 near 36, H 256 near 18 (2^19).
int64_t FusedRecurrenceMaxWork();

inline bool PreferFusedRecurrence(int64_t batch, int64_t hidden) {
  return batch * hidden * hidden <= FusedRecurrenceMaxWork();
}

}  // namespace petra
