#include "int8_recurrence.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"

// The gate and rounding loops only vectorize when GCC may compute both sides of a select (a float op that "might
// trap" otherwise blocks if-conversion). Nothing here reads floating-point exception flags.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

namespace petra {

namespace {

// The x86 build gets AVX-512 (x86-64-v4) and AVX2 clones picked at load time (an ifunc); elsewhere the compiler's
// default vectorization. AVX-512 cuts the fused step by a third to a half (hidden 256, batch 8: 2.6 → 1.5 ms).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define PETRA_TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define PETRA_TARGET_CLONES
#endif

// out[j] = Σ_i a[i] · w[j, i] for rows j < rows, exact in int32 (|a| ≤ 255, |w| ≤ 128: 32,640 per product).
PETRA_TARGET_CLONES
void IntMatVec(const int16_t* a, const int16_t* w, int64_t rows, int64_t cols, int32_t* out) {
  for (int64_t j = 0; j < rows; ++j) {
    const int16_t* row = w + j * cols;
    int32_t sum = 0;
    for (int64_t i = 0; i < cols; ++i) sum += static_cast<int32_t>(a[i]) * static_cast<int32_t>(row[i]);
    out[j] = sum;
  }
}

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
  const int32_t zeroPoint = initial < qmin ? qmin : initial > qmax ? qmax : static_cast<int32_t>(std::nearbyint(initial));
  return {static_cast<float>(scale), zeroPoint};
}

// Round to nearest, ties to even (what std::nearbyint does in the default rounding mode), for |x| < 2^22, written
// so that loops over it vectorize: adding 1.5 · 2^23 leaves no fraction bits.
inline float RoundEven(float x) {
  constexpr float kMagic = 12582912.f;
  return (x + kMagic) - kMagic;
}

// e^x for x ≤ 0 (the gates only need e^-|x|), branch-free so that loops over it vectorize: x = n·ln2 + r with
// |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial (relative error < 2e-7), 2^n assembled in the exponent bits.
// Below -87 the result flushes to 0, where 1 / (1 + e^x) is already exactly 1 in float.
inline float ExpNonPositive(float x) {
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
inline float Sigmoid(float x) {
  const float e = ExpNonPositive(x < 0.f ? x : -x);  // e^-|x|
  // A select between ready values, not between computations, so the loop if-converts and vectorizes.
  const float numerator = x >= 0.f ? 1.f : e;
  return numerator / (1.f + e);
}

// tanh(x) = 2σ(2x) − 1; its absolute error stays at float rounding (~1e-7), all the GRU state needs.
inline float Tanh(float x) { return 2.f * Sigmoid(2.f * x) - 1.f; }

// Per-tensor uint8 codes of one row, centred on the zero point: code − zp in [−255, 255].
PETRA_TARGET_CLONES
void CentredCodes(const float* __restrict x, int64_t n, float inverseScale, float zeroPoint, int16_t* __restrict codes) {
  for (int64_t i = 0; i < n; ++i) {
    const float unclamped = RoundEven(x[i] * inverseScale) + zeroPoint;
    const float code = unclamped < 0.f ? 0.f : unclamped > 255.f ? 255.f : unclamped;
    codes[i] = static_cast<int16_t>(code - zeroPoint);
  }
}

// gh = acc · (x scale · w scale) + b_hh: the int32 products back to float, as quantized::linear_dynamic outputs them.
PETRA_TARGET_CLONES
void Dequantize(const int32_t* __restrict acc, const float* __restrict scale, const float* __restrict bias, float xScale, int64_t n, float* __restrict out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(acc[i]) * (xScale * scale[i]) + bias[i];
}

// One row's GRU update in place, torch's gate order and formula: r = σ(gi_r + gh_r), z = σ(gi_z + gh_z),
// n = tanh(gi_n + r ⊙ gh_n), h' = (1 − z) ⊙ n + z ⊙ h.
PETRA_TARGET_CLONES
void GateRow(const float* __restrict gh, const float* __restrict gi, int64_t H, float* __restrict state) {
  for (int64_t i = 0; i < H; ++i) {
    const float r = Sigmoid(gi[i] + gh[i]), z = Sigmoid(gi[H + i] + gh[H + i]);
    const float n = Tanh(gi[2 * H + i] + r * gh[2 * H + i]);
    state[i] = (1.f - z) * n + z * state[i];
  }
}

}  // namespace

int64_t FusedRecurrenceMaxWork() {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
  // The same CPU test that picks the x86-64-v4 clones above (AVX-512 F/BW/CD/DQ/VL).
  static const bool wide = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  if (wide) return int64_t{1} << 19;
#endif
  return int64_t{1} << 18;
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
  for (int64_t k = 0; k < T; ++k) {
    const int64_t t = reverse ? T - 1 - k : k;
    // One scale for the whole batch, as linear_dynamic quantizes its input tensor.
    const auto [lo, hi] = std::minmax_element(h, h + B * H);
    const Affine q = ChooseUint8(*lo, *hi);
    const float inverse = 1.f / q.scale;
    for (int64_t b = 0; b < B; ++b) {
      CentredCodes(h + b * H, H, inverse, static_cast<float>(q.zeroPoint), codes.data());
      IntMatVec(codes.data(), weight_.data(), G, H, acc.data());
      Dequantize(acc.data(), scale_.data(), bias_.data(), q.scale, G, gh.data() + b * G);
    }
    GruGateRows(gh.data(), in, B, T, t, H, h, out);
  }
  return {outputs, final};
}

void GruGateRows(const float* gh, const float* gi, int64_t B, int64_t T, int64_t t, int64_t H, float* h, float* out) {
  for (int64_t b = 0; b < B; ++b) {
    float* state = h + b * H;
    GateRow(gh + b * 3 * H, gi + (b * T + t) * 3 * H, H, state);
    std::copy(state, state + H, out + (b * T + t) * H);
  }
}

}  // namespace petra
