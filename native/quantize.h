// int8 execution of petra graphs: q* nodes (qlinear, qconv1d, qconv2d) hold int8 weights as buffers (so save/load
// and the file size see int8) and pack them for the quantized engine (ONEDNN or QNNPACK on CPU). Engine "intmm"
// (qlinear only) is the CUDA recipe: int8 GEMM with per-output-channel weight scales and per-row activation scales,
// torch._int_mm on CUDA (LibTorch >= 2.1), an exact int32 GEMM on the CPU (a reference, not a fast path).
#pragma once

#include <ATen/native/quantized/PackedParams.h>
#include <torch/torch.h>

#include "int8_recurrence.h"

#include "graph_module.h"

namespace petra {

class QuantLayerImpl : public torch::nn::Module {
 public:
  enum class Kind { Linear, Conv1d, Conv2d };
  explicit QuantLayerImpl(const NodeSpec& node);
  torch::Tensor forward(const torch::Tensor& x);
  void Prepare();

  Kind kind;
  bool dynamic = false, perChannel = true, relu = false, intmm = false;
  double inScale = 1, outScale = 1;
  int64_t inZeroPoint = 0, outZeroPoint = 0;
  int64_t in = 0, out = 0, groups = 1;
  std::vector<int64_t> kernel, stride, padding, dilation;
  // A 1×1 convolution with stride > 1 and no padding runs as a stride-1 convolution of the subsampled input (these
  // strides; empty otherwise): oneDNN's AVX2 int8 kernel for the strided 1×1 case reads wrong pixels at the batch
  // split between threads (measured: one pixel per thread boundary off by up to 28 steps, with 2 threads).
  std::vector<int64_t> subsample;
  std::string engine;
  torch::Tensor qweight;  // int8 values (kChar), [out, in/groups, k...] or [out, in]
  torch::Tensor wscale;   // per output channel, or one value
  torch::Tensor bias;     // float [out]

 private:
  torch::Tensor IntMmForward(const torch::Tensor& x);

  std::string name_, quantizedOn_;  // for CheckInt8Exact's message

  c10::intrusive_ptr<LinearPackedParamsBase> linearPacked_;
  c10::intrusive_ptr<ConvPackedParamsBase<2>> convPacked_;
};

std::shared_ptr<QuantLayerImpl> BuildQuantLayer(const NodeSpec& node);

// Dynamic int8 GRU (batch first): input projections of the whole sequence in one quantized::linear_dynamic call;
// the recurrence either per step through quantized::linear_dynamic, or through Int8Recurrence's fused loop with the
// same arithmetic (attr recurrence "fused"; "auto" while PreferFusedRecurrence), the gates by GruGateRows either way.
// Buffers per layer l and direction (suffix "" or "_reverse"): w_ih_l<l>, w_hh_l<l> (int8), their scales, b_ih_l<l>,
// b_hh_l<l>.
class QuantGruImpl : public torch::nn::Module {
 public:
  explicit QuantGruImpl(const NodeSpec& node);
  torch::Tensor forward(const torch::Tensor& x);
  void Prepare();

  int64_t inputSize = 0, hidden = 0, layers = 1;
  bool bidirectional = false, last = true, perChannel = true;
  std::string engine;
  std::string recurrence;  // "auto" | "fused" | "linear_dynamic"

 private:
  struct Direction {
    torch::Tensor wih, wihScale, whh, whhScale, bih, bhh;
    c10::intrusive_ptr<LinearPackedParamsBase> ih, hh;
    std::shared_ptr<Int8Recurrence> fused;
  };
  // The recurrence through quantized::linear_dynamic: {hidden states [B, T, H], final state [B, H]}, as
  // Int8Recurrence::Run.
  std::pair<torch::Tensor, torch::Tensor> RecurPacked(Direction& c, const torch::Tensor& gi, bool reverse) const;
  std::string name_, quantizedOn_;
  std::vector<Direction> cells_;  // layer-major: [l0, l0_reverse, l1, ...]
};

std::shared_ptr<QuantGruImpl> BuildQuantGru(const NodeSpec& node);

// Makes `name` ("onednn", "qnnpack") LibTorch's quantized engine; a ConfigError when this build lacks it.
void UseQuantizedEngine(const std::string& name);

// int8 weights (codes + symmetric scales: per output channel when perChannel, else one) and a float bias packed for
// the current engine's quantized::linear / linear_dynamic / conv1d / conv2d. Every int8 layer is packed here: petra's
// own (QuantLayerImpl, QuantGruImpl) and TorchScript export's (torchscript_export.cc), so both hold the same weights.
enum class PackKind { Linear, Conv1d, Conv2d };
c10::IValue PackInt8(PackKind kind, const torch::Tensor& codes, const torch::Tensor& scale, const torch::Tensor& bias,
                     bool perChannel, const std::vector<int64_t>& stride = {}, const std::vector<int64_t>& padding = {},
                     const std::vector<int64_t>& dilation = {}, int64_t groups = 1);

// Whether this build can run engine "intmm" on CUDA (torch._int_mm exists from LibTorch 2.1).
bool IntMmOnCuda();

// Symmetric int8 weights: per output channel (dim 0) or per tensor, `bits` 8 (codes ±127) or 7 (±63, exact on CPUs
// without VNNI: int8_scheme.h). Returns {int8 values, scales}.
std::pair<torch::Tensor, torch::Tensor> QuantizeWeight(const torch::Tensor& weight, bool perChannel, int bits);

// float → quint8 with a per-tensor scale and zero point (what at::quantize_per_tensor computes, vectorized).
torch::Tensor QuantizeActivation(const torch::Tensor& x, double scale, int64_t zeroPoint);

// Residual adds and concats that stay int8 between quantized layers (quantized::add / add_relu / cat). Inputs
// that are not quantized yet are quantized to the output's scale first.
torch::Tensor QuantizedAdd(const std::vector<torch::Tensor>& inputs, double scale, int64_t zeroPoint, bool relu);
torch::Tensor QuantizedCat(const std::vector<torch::Tensor>& inputs, int64_t dim, double scale, int64_t zeroPoint);
// max_pool1d of a quint8 [N, C, L] tensor on its codes (exact); other inputs go to torch::max_pool1d.
torch::Tensor QuantizedMaxPool1d(const torch::Tensor& x, int64_t kernel, int64_t stride, int64_t padding);

// QAT: the weight with int8 rounding (per output channel, `bits` as QuantizeWeight) in the forward pass and a
// straight-through gradient.
torch::Tensor FakeQuantWeight(const torch::Tensor& weight, int bits);

}  // namespace petra
