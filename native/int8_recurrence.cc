#include "int8_recurrence.h"

#include <algorithm>
#include <cmath>

#include "common.h"
#include "int8_kernels.h"

namespace petra {

namespace {

struct Affine {
  float scale;
  int32_t zeroPoint;
};

// Per-tensor uint8 parameters the way quantized::linear_dynamic picks them (fbgemm's rule): the range is widened
// to include 0, a degenerate scale becomes 0.1, a tiny one is raised to 6.1e-5, and the zero point comes from
// whichever end has the smaller rounding error, then is nudged into [0, 255].
Affine ChooseUint8(float lo, float hi) {
  constexpr int32_t qmin = 0, qmax = 255;
  constexpr float kSmallScale = 6.1e-5f;
  lo = std::min(lo, 0.f);
  hi = std::max(hi, 0.f);
  double scale = (static_cast<double>(hi) - lo) / (qmax - qmin);
  if (static_cast<float>(scale) == 0.f || std::isinf(1.f / static_cast<float>(scale))) scale = 0.1;
  if (scale < kSmallScale) {
    const float amplifier = kSmallScale / static_cast<float>(scale);
    scale = kSmallScale;
    if (lo == 0.f) {
      hi = kSmallScale * (qmax - qmin);
    } else if (hi == 0.f) {
      lo = -kSmallScale * (qmax - qmin);
    } else {
      lo *= amplifier;
      hi *= amplifier;
    }
  }
  const double fromMin = qmin - lo / scale, fromMax = qmax - hi / scale;
  const double errorMin = std::abs(qmin) - std::abs(lo / scale), errorMax = std::abs(qmax) - std::abs(hi / scale);
  const double initial = errorMin < errorMax ? fromMin : fromMax;
  const int32_t zeroPoint = initial < qmin   ? qmin
                            : initial > qmax ? qmax
                                             : static_cast<int32_t>(std::nearbyint(initial));
  return {static_cast<float>(scale), zeroPoint};
}

}  // namespace

int64_t FusedRecurrenceMaxWork() {
  return ActiveKernelIsa() == KernelIsa::Avx512 ? int64_t{1} << 19 : int64_t{1} << 18;
}

Int8Recurrence::Int8Recurrence(const torch::Tensor& weight, const torch::Tensor& scale, const torch::Tensor& bias) {
  if (weight.dim() != 2 || weight.size(0) != 3 * weight.size(1) || weight.scalar_type() != torch::kInt8) {
    Fail(ErrorCode::Shape, "int8 GRU recurrence expects an int8 [3H, H] hidden weight");
  }
  hidden_ = weight.size(1);
  const int64_t rows = 3 * hidden_;
  torch::Tensor w = weight.to(torch::kCPU).to(torch::kInt16).contiguous();
  weight_.assign(w.data_ptr<int16_t>(), w.data_ptr<int16_t>() + w.numel());
  torch::Tensor s = scale.to(torch::kCPU).to(torch::kFloat32).contiguous().expand({rows}).contiguous();
  scale_.assign(s.data_ptr<float>(), s.data_ptr<float>() + rows);
  torch::Tensor b = bias.to(torch::kCPU).to(torch::kFloat32).contiguous();
  if (b.numel() != rows) Fail(ErrorCode::Shape, "int8 GRU recurrence expects a [3H] hidden bias");
  bias_.assign(b.data_ptr<float>(), b.data_ptr<float>() + rows);
}

std::pair<torch::Tensor, torch::Tensor> Int8Recurrence::Run(const torch::Tensor& giTensor, bool reverse) const {
  const int64_t H = hidden_, G = 3 * H;
  if (giTensor.dim() != 3 || giTensor.size(2) != G || !giTensor.is_cpu() || giTensor.scalar_type() != torch::kFloat32) {
    Fail(ErrorCode::Shape, "int8 GRU recurrence expects float CPU input projections [B, T, 3H]");
  }
  const torch::Tensor gi = giTensor.contiguous();
  const int64_t B = gi.size(0), T = gi.size(1);
  torch::Tensor outputs = torch::empty({B, T, H});
  torch::Tensor final = torch::zeros({B, H});
  if (B == 0 || T == 0) return {outputs, final};
  float* h = final.data_ptr<float>();  // the running state; it ends as the final state
  float* out = outputs.data_ptr<float>();
  const float* in = gi.data_ptr<float>();
  // One thread: at::parallel_for is header code that runs serially unless the addon itself is built with OpenMP,
  // and "auto" hands large batches to the threaded GEMM anyway.
  std::vector<int16_t> codes(static_cast<size_t>(H));
  std::vector<int32_t> acc(static_cast<size_t>(G));
  std::vector<float> gh(static_cast<size_t>(B * G));
  const Int8Kernels& kernels = Kernels();
  for (int64_t k = 0; k < T; ++k) {
    const int64_t t = reverse ? T - 1 - k : k;
    // One scale for the whole batch, as linear_dynamic quantizes its input tensor.
    const auto [lo, hi] = std::minmax_element(h, h + B * H);
    const Affine q = ChooseUint8(*lo, *hi);
    const float inverse = 1.f / q.scale;
    for (int64_t b = 0; b < B; ++b) {
      kernels.centredCodes(h + b * H, H, inverse, static_cast<float>(q.zeroPoint), codes.data());
      kernels.intMatVec(codes.data(), weight_.data(), G, H, acc.data());
      kernels.dequantize(acc.data(), scale_.data(), bias_.data(), q.scale, G, gh.data() + b * G);
    }
    GruGateRows(gh.data(), in, B, T, t, H, h, out);
  }
  return {outputs, final};
}

void GruGateRows(const float* gh, const float* gi, int64_t B, int64_t T, int64_t t, int64_t H, float* h, float* out) {
  const auto gateRow = Kernels().gateRow;
  for (int64_t b = 0; b < B; ++b) {
    float* state = h + b * H;
    gateRow(gh + b * 3 * H, gi + (b * T + t) * 3 * H, H, state);
    std::copy(state, state + H, out + (b * T + t) * H);
  }
}

}  // namespace petra
