// fp32 Linear for inference, spread over LibTorch's intra-op (OpenMP) threads.
//
// Why: LibTorch sends fp32 Linear to the BLAS, and petra loads OpenBLAS with one thread (OPENBLAS_NUM_THREADS=1,
// lib/runtime/loader.ts) because its own pthread pool fights LibTorch's OpenMP team for the cores: convolutions
// (oneDNN, on the OpenMP team) slow down while OpenBLAS's idle threads spin, and switching the two pools per call
// costs milliseconds (bench/results/blas-threads.md). So an MLP's or a GRU head's GEMMs ran on one core while int8 and
// convolutions used all of them — an fp32 baseline slower than it needs to be (issue #19). Here each OpenMP thread
// of the existing team runs the single-threaded BLAS on its own slice of the output: all cores, one pool.
#pragma once

#include <torch/torch.h>

namespace petra {

// y = x·Wᵀ + b, like torch::linear. Splits the output features (or, for narrow layers, the rows) across the intra-op
// threads when gradients are off, x and W are dense fp32 on the CPU and the product is large enough to pay for a
// parallel region; otherwise torch::linear. Only the output is sliced, never a dot product, so results match
// torch::linear's to float rounding (the BLAS may pick other edge kernels for a slice: ≤ 3e-7 relative in
// test/native/inference-linear.test.ts).
torch::Tensor InferenceLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

}  // namespace petra
