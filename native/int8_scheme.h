#pragma once
// The int8 scheme that is exact on this CPU.
//
// Why: x86 CPUs without VNNI (AVX2, and AVX-512 before Cascade Lake) multiply uint8 activations by int8 weights with
// vpmaddubsw, which adds each pair of products into a saturating int16. oneDNN's int8 GEMM and convolutions use it
// there (and so does onnxruntime's MLAS), so with 8-bit weights a pair 255·127 + 255·127 clips at 32,767 and outputs
// land several quantization steps off (measured: 12 steps on a 256-wide linear). With weights within ±63 every pair
// fits (2 · 255 · 63 = 32,130), whatever the activations: PyTorch's x86 recipe reduces activations to 7 bits instead,
// which static graphs cannot guarantee between layers. With VNNI (vpdpbusd) products add in int32: 8 bits are exact.
//
// The choice is made from the CPU's flags and the ISA oneDNN says it runs (a capped ONEDNN_MAX_CPU_ISA on a VNNI CPU
// saturates like a CPU without it); where oneDNN does not say (a static copy inside libtorch) it is settled by running
// oneDNN on worst-case codes (PETRA_INT8_PROBE=always runs that probe everywhere).
#include <torch/torch.h>

#include <string>

namespace petra {

struct Int8Scheme {
  int weightBits = 8;       // 8: codes within ±127; 7: within ±63
  std::string reason;       // one sentence for reports and `petra info`
  std::string oneDnnIsa;    // what oneDNN runs ("" when it does not say)
  std::string oneDnnProbe;  // "exact", "saturates (…)" or "not run (…)"
};

// Computed once per process (it runs a few tiny oneDNN calls) and cached.
const Int8Scheme& HostInt8Scheme();

// The largest weight code of a `bits`-bit symmetric scheme: 127 or 63.
int WeightCodeMax(int bits);

// A ConfigError when a layer's int8 weight codes would not compute exactly on this CPU with `engine`: oneDNN without
// VNNI and codes beyond ±64 (a model quantized with 8-bit weights on another CPU). QNNPACK widens to int16 before it
// multiplies, exact everywhere. `quantizedOn` names the CPU the model was quantized on ("" when unknown).
void CheckInt8Exact(const torch::Tensor& codes, const std::string& engine, const std::string& layer,
                    const std::string& quantizedOn);

}  // namespace petra
