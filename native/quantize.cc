#include "quantize.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "int8_kernels.h"
#include "int8_scheme.h"
#include "model.h"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define PETRA_HAS_INT_MM 1
#endif

namespace petra {

bool IntMmOnCuda() {
#ifdef PETRA_HAS_INT_MM
  return true;
#else
  return false;
#endif
}

namespace {

double AttrNumber(const NodeSpec& node, const std::string& key, double fallback) {
  auto it = node.attrs.find(key);
  if (it == node.attrs.end() || it->second.isText || it->second.numbers.empty()) return fallback;
  return it->second.numbers[0];
}
// Integer attributes through ToInt64: a plain cast of NaN or 1e20 (an unvalidated spec) is undefined behaviour.
int64_t AttrInt(const NodeSpec& node, const std::string& key, double fallback) {
  return ToInt64(AttrNumber(node, key, fallback), "node '" + node.name + "' attrs." + key);
}
std::vector<int64_t> AttrInts(const NodeSpec& node, const std::string& key, size_t n, int64_t fallback) {
  auto it = node.attrs.find(key);
  std::vector<int64_t> out;
  if (it != node.attrs.end() && !it->second.isText) {
    for (double v : it->second.numbers) out.push_back(ToInt64(v, "node '" + node.name + "' attrs." + key));
  }
  if (out.empty()) out.assign(n, fallback);
  if (out.size() == 1) out.assign(n, out[0]);
  if (out.size() != n)
    Fail(ErrorCode::Config, "node '" + node.name + "' attrs." + key + ": expected " + std::to_string(n) + " values");
  return out;
}
std::string AttrText(const NodeSpec& node, const std::string& key, const std::string& fallback) {
  auto it = node.attrs.find(key);
  return it == node.attrs.end() || !it->second.isText ? fallback : it->second.text;
}

c10::IValue CallBoxed(const char* name, torch::jit::Stack stack) {
  auto op = c10::Dispatcher::singleton().findSchemaOrThrow(name, "");
  op.callBoxed(&stack);
  return stack[0];
}

c10::List<int64_t> List(const std::vector<int64_t>& v) { return c10::List<int64_t>(v); }

}  // namespace

void UseQuantizedEngine(const std::string& name) {
  for (auto engine : at::globalContext().supportedQEngines()) {
    std::string label = c10::toString(engine);
    std::transform(label.begin(), label.end(), label.begin(), ::tolower);
    if (label == name) {
      at::globalContext().setQEngine(engine);
      return;
    }
  }
  Fail(ErrorCode::Config, "quantized engine '" + name + "' is not supported by this LibTorch build");
}

c10::IValue PackInt8(PackKind kind, const torch::Tensor& codes, const torch::Tensor& scale, const torch::Tensor& bias,
                     bool perChannel, const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                     const std::vector<int64_t>& dilation, int64_t groups) {
  torch::Tensor q = codes.to(torch::kCPU).contiguous();
  torch::Tensor scales = scale.to(torch::kCPU).to(torch::kDouble);
  torch::Tensor qw = perChannel
                         ? at::_make_per_channel_quantized_tensor(q, scales, torch::zeros({q.size(0)}, torch::kLong), 0)
                         : at::_make_per_tensor_quantized_tensor(q, scales.item<double>(), 0);
  c10::optional<torch::Tensor> b = bias.to(torch::kCPU).contiguous();
  if (kind == PackKind::Linear) return CallBoxed("quantized::linear_prepack", {qw, b});
  return CallBoxed(kind == PackKind::Conv2d ? "quantized::conv2d_prepack" : "quantized::conv1d_prepack",
                   {qw, b, List(stride), List(padding), List(dilation), groups});
}

torch::Tensor QuantizeActivation(const torch::Tensor& x, double scale, int64_t zeroPoint) {
  // at::quantize_per_tensor is a scalar loop on builds without FBGEMM (Debian's): 0.17 ms for 64×1024 floats, more
  // than the int8 GEMM that follows. The same arithmetic (round half to even, add the zero point, clamp) as
  // vectorized ops takes 0.026 ms and gives identical codes. Small inputs (batch 1) keep the single op: there the
  // per-op overhead of five ops costs more than the loop.
  if (x.numel() < 8192)
    return at::quantize_per_tensor(x.to(torch::kFloat32).contiguous(), scale, zeroPoint, torch::kQUInt8);
  // The inverse in float, as ATen's quantize_val computes it (1.0f / float(scale)): a double 1 / scale rounded to
  // float can differ by one ulp and flip a code at a rounding boundary.
  const float inverse = 1.0f / static_cast<float>(scale);
  torch::Tensor q = (x.to(torch::kFloat32) * static_cast<double>(inverse))
                        .round_()
                        .add_(static_cast<double>(zeroPoint))
                        .clamp_(0, 255)
                        .to(torch::kByte);
  return at::_make_per_tensor_quantized_tensor(q.contiguous(), scale, zeroPoint);
}

namespace {
torch::Tensor AsQuantized(const torch::Tensor& t, double scale, int64_t zeroPoint) {
  return t.is_quantized() ? t : QuantizeActivation(t, scale, zeroPoint);
}
}  // namespace

torch::Tensor QuantizedAdd(const std::vector<torch::Tensor>& inputs, double scale, int64_t zeroPoint, bool relu) {
  torch::Tensor sum = AsQuantized(inputs[0], scale, zeroPoint);
  for (size_t i = 1; i < inputs.size(); ++i) {
    const bool last = i + 1 == inputs.size();
    sum = CallBoxed(relu && last ? "quantized::add_relu" : "quantized::add",
                    {sum, AsQuantized(inputs[i], scale, zeroPoint), scale, zeroPoint})
              .toTensor();
  }
  return sum;
}

namespace {
bool CarriesParams(const torch::Tensor& t, double scale, int64_t zeroPoint) {
  return t.is_quantized() && t.is_cpu() && t.qscheme() == torch::kPerTensorAffine &&
         t.scalar_type() == torch::kQUInt8 && t.q_scale() == scale && t.q_zero_point() == zeroPoint;
}
}  // namespace

torch::Tensor QuantizedCat(const std::vector<torch::Tensor>& inputs, int64_t dim, double scale, int64_t zeroPoint) {
  // Inputs that already carry the output's scale and zero point (quantize.ts gives a concat's int8 producers its
  // parameters, as PyTorch's FX quantization shares a cat's observer with its inputs) concatenate as bytes:
  // quantized::cat requantizes element by element, 1.9 ms for 4 × [64, 16, 100] where the copy takes ~0.02 ms.
  if (std::all_of(inputs.begin(), inputs.end(),
                  [&](const torch::Tensor& t) { return CarriesParams(t, scale, zeroPoint); })) {
    const int64_t rank = inputs[0].dim();
    const int64_t d = dim < 0 ? dim + rank : dim;
    std::vector<int64_t> shape = inputs[0].sizes().vec();
    int64_t joined = 0;
    for (const auto& t : inputs) {
      if (t.dim() != rank) Fail(ErrorCode::Shape, "concat inputs differ in rank");
      for (int64_t i = 0; i < rank; ++i) {
        if (i != d && t.size(i) != shape[static_cast<size_t>(i)])
          Fail(ErrorCode::Shape,
               "concat inputs differ outside dim " + std::to_string(d) + ": " + ShapeString(t.sizes()));
      }
      joined += t.size(d);
    }
    shape[static_cast<size_t>(d)] = joined;
    torch::Tensor out =
        at::_empty_affine_quantized(shape, at::device(torch::kCPU).dtype(torch::kQUInt8), scale, zeroPoint);
    int64_t outer = 1;
    for (int64_t i = 0; i < d; ++i) outer *= shape[static_cast<size_t>(i)];
    const int64_t outRow = out.numel() / std::max<int64_t>(outer, 1);
    auto* dst = reinterpret_cast<uint8_t*>(out.data_ptr<c10::quint8>());
    int64_t offset = 0;
    for (const auto& t : inputs) {
      const torch::Tensor c = t.contiguous();
      const int64_t row = c.numel() / std::max<int64_t>(outer, 1);
      const auto* src = reinterpret_cast<const uint8_t*>(c.data_ptr<c10::quint8>());
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + o * outRow + offset, src + o * row, static_cast<size_t>(row));
      offset += row;
    }
    return out;
  }
  c10::List<torch::Tensor> list;
  for (const auto& t : inputs) list.push_back(AsQuantized(t, scale, zeroPoint));
  return CallBoxed("quantized::cat", {list, dim, c10::optional<double>(scale), c10::optional<int64_t>(zeroPoint)})
      .toTensor();
}

torch::Tensor QuantizedMaxPool1d(const torch::Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  // ATen's quantized max_pool1d runs as a scalar NCHW 2-D pool (0.36 ms for [64, 64, 100], k 3, 6× the float pool).
  // Max commutes with the affine map to codes (scale > 0), so pooling the uint8 codes is exact; code 0 is the
  // smallest, so it stands in for the padding's −∞ (a window never lies wholly in padding: padding ≤ kernel / 2).
  if (!(x.is_cpu() && x.dim() == 3 && x.qscheme() == torch::kPerTensorAffine && x.scalar_type() == torch::kQUInt8 &&
        padding <= kernel / 2)) {
    return torch::max_pool1d(x, {kernel}, {stride}, {padding}, {1});
  }
  const torch::Tensor in = x.contiguous();
  const int64_t rows = in.size(0) * in.size(1), L = in.size(2);
  const int64_t outLen = (L + 2 * padding - kernel) / stride + 1;
  if (outLen < 1)
    Fail(ErrorCode::Shape,
         "maxpool1d: kernel " + std::to_string(kernel) + " is longer than the padded input " + ShapeString(x.sizes()));
  torch::Tensor out = at::_empty_affine_quantized(
      {in.size(0), in.size(1), outLen}, at::device(torch::kCPU).dtype(torch::kQUInt8), in.q_scale(), in.q_zero_point());
  const auto* src = reinterpret_cast<const uint8_t*>(in.data_ptr<c10::quint8>());
  auto* dst = reinterpret_cast<uint8_t*>(out.data_ptr<c10::quint8>());
  const auto poolRow = Kernels().maxPoolRow;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* a = src + r * L;
    uint8_t* o = dst + r * outLen;
    if (stride == 1) {  // petra's vectorized clone (int8_kernels.h)
      poolRow(a, L, kernel, padding, outLen, o);
    } else {
      std::fill(o, o + outLen, uint8_t{0});
      for (int64_t i = 0; i < outLen; ++i) {
        const int64_t start = i * stride - padding;
        for (int64_t j = std::max<int64_t>(0, start); j < std::min<int64_t>(L, start + kernel); ++j)
          o[i] = a[j] > o[i] ? a[j] : o[i];
      }
    }
  }
  return out;
}

namespace {
// Symmetric int8 scales of a 2-D tensor, one per row or one for all ([rows, 1] or [1, 1]): max |x| / codeMax, so
// codes round(x / scale) stay within ±codeMax (127, or 63 for 7-bit weights: int8_scheme.h); floored so an all-zero
// row divides by something finite. Weights, fake-quantized weights and intmm's per-row activations all use it
// (activations with a lower floor: they can be legitimately tiny).
torch::Tensor SymmetricScales(const torch::Tensor& rows, bool perRow, double floor, int codeMax = 127) {
  torch::Tensor amax = perRow ? rows.abs().amax(1, /*keepdim=*/true) : rows.abs().max().reshape({1, 1});
  return amax.div_(static_cast<double>(codeMax)).clamp_min_(floor);
}
constexpr double kWeightScaleFloor = 1e-8;
}  // namespace

std::pair<torch::Tensor, torch::Tensor> QuantizeWeight(const torch::Tensor& weight, bool perChannel, int bits) {
  torch::NoGradGuard noGrad;
  const int codeMax = WeightCodeMax(bits);
  torch::Tensor w = weight.detach().to(torch::kCPU).to(torch::kFloat32);
  torch::Tensor flat = w.reshape({w.size(0), -1});
  torch::Tensor scale = SymmetricScales(flat, perChannel, kWeightScaleFloor, codeMax);
  torch::Tensor q = (flat / scale).round_().clamp_(-codeMax, codeMax).to(torch::kInt8).reshape(w.sizes());
  return {q, scale.reshape({-1})};
}

torch::Tensor FakeQuantWeight(const torch::Tensor& weight, int bits) {
  const int codeMax = WeightCodeMax(bits);
  torch::Tensor scale =
      SymmetricScales(weight.detach().reshape({weight.size(0), -1}), /*perRow=*/true, kWeightScaleFloor, codeMax)
          .reshape({-1});
  torch::Tensor zero =
      torch::zeros({weight.size(0)}, torch::TensorOptions().dtype(torch::kInt).device(weight.device()));
  return torch::fake_quantize_per_channel_affine(weight, scale, zero, 0, -codeMax, codeMax);
}

QuantLayerImpl::QuantLayerImpl(const NodeSpec& node) {
  const std::string& op = node.op;
  kind = op == "qlinear" ? Kind::Linear : op == "qconv1d" ? Kind::Conv1d : Kind::Conv2d;
  dynamic = AttrNumber(node, "dynamic", 0) != 0;
  perChannel = AttrNumber(node, "perChannel", 1) != 0;
  relu = AttrNumber(node, "relu", 0) != 0;
  inScale = AttrNumber(node, "inScale", 1);
  inZeroPoint = AttrInt(node, "inZeroPoint", 0);
  outScale = AttrNumber(node, "outScale", 1);
  outZeroPoint = AttrInt(node, "outZeroPoint", 0);
  engine = AttrText(node, "engine", "onednn");
  name_ = node.name;
  quantizedOn_ = AttrText(node, "quantizedOn", "");
  intmm = engine == "intmm";
  if (intmm && kind != Kind::Linear)
    Fail(ErrorCode::Config, "node '" + node.name + "': engine intmm (int8 GEMM) covers linear layers only");
  if (dynamic && kind != Kind::Linear)
    Fail(ErrorCode::Config, "node '" + node.name + "': dynamic int8 exists for linear layers only");
  if (!(inScale > 0) || !(outScale > 0))
    Fail(ErrorCode::Config, "node '" + node.name + "': quantization scales must be positive");
  std::vector<int64_t> wshape;
  if (kind == Kind::Linear) {
    in = AttrInt(node, "inFeatures", 0);
    out = AttrInt(node, "outFeatures", 0);
    wshape = {out, in};
  } else {
    const size_t d = kind == Kind::Conv2d ? 2 : 1;
    in = AttrInt(node, "inChannels", 0);
    out = AttrInt(node, "outChannels", 0);
    groups = AttrInt(node, "groups", 1);
    kernel = AttrInts(node, "kernelSize", d, 1);
    stride = AttrInts(node, "stride", d, 1);
    dilation = AttrInts(node, "dilation", d, 1);
    if (AttrText(node, "padding", "") == "same") {
      for (size_t i = 0; i < d; ++i) {
        if (stride[i] != 1 || (dilation[i] * (kernel[i] - 1)) % 2 != 0)
          Fail(ErrorCode::Config, "node '" + node.name + "': 'same' padding needs stride 1 and an odd kernel for int8");
        padding.push_back(dilation[i] * (kernel[i] - 1) / 2);
      }
    } else {
      padding = AttrInts(node, "padding", d, 0);
    }
    wshape = {out, in / std::max<int64_t>(1, groups)};
    wshape.insert(wshape.end(), kernel.begin(), kernel.end());
    const bool pointwise = std::all_of(kernel.begin(), kernel.end(), [](int64_t k) { return k == 1; }) &&
                           std::all_of(padding.begin(), padding.end(), [](int64_t p) { return p == 0; });
    if (pointwise && std::any_of(stride.begin(), stride.end(), [](int64_t s) { return s > 1; })) {
      subsample = stride;
      std::fill(stride.begin(), stride.end(), 1);
    }
  }
  if (in < 1 || out < 1) Fail(ErrorCode::Config, "node '" + node.name + "': channel counts must be positive");
  qweight = register_buffer("qweight", torch::zeros(wshape, torch::kInt8));
  wscale = register_buffer("wscale", torch::ones({perChannel ? out : 1}));
  bias = register_buffer("bias", torch::zeros({out}));
}

void QuantLayerImpl::Prepare() {
  if (intmm) return;  // nothing to pack: the int8 weight is the GEMM operand
  UseQuantizedEngine(engine);
  CheckInt8Exact(qweight, engine, name_, quantizedOn_);
  // One packed-params object per layer and mode: ONEDNN packs shared between static and dynamic linear return garbage.
  if (kind == Kind::Linear) {
    linearPacked_ =
        PackInt8(PackKind::Linear, qweight, wscale, bias, perChannel).toCustomClass<LinearPackedParamsBase>();
  } else {
    const PackKind k = kind == Kind::Conv2d ? PackKind::Conv2d : PackKind::Conv1d;
    convPacked_ = PackInt8(k, qweight, wscale, bias, perChannel, stride, padding, dilation, groups)
                      .toCustomClass<ConvPackedParamsBase<2>>();
  }
}

namespace {
// int8 × int8 → int32, exact. `weight` is [out, in]; its transpose is the column-major operand cuBLASLt wants.
torch::Tensor IntGemm(const torch::Tensor& a, const torch::Tensor& weight) {
  if (a.is_cuda()) {
#ifdef PETRA_HAS_INT_MM
    const int64_t m = a.size(0);
    if (m <= 16) {  // torch._int_mm needs more than 16 rows: pad with zero rows and drop their results
      torch::Tensor padded = torch::zeros({32, a.size(1)}, a.options());
      padded.narrow(0, 0, m).copy_(a);
      return at::_int_mm(padded, weight.t()).narrow(0, 0, m);
    }
    return at::_int_mm(a, weight.t());
#else
    Fail(ErrorCode::Device,
         std::string("int8 GEMM on CUDA needs LibTorch >= 2.1 (torch._int_mm); this is LibTorch ") + TORCH_VERSION);
#endif
  }
  return at::mm(a.to(torch::kInt32), weight.t().to(torch::kInt32));
}
}  // namespace

torch::Tensor QuantLayerImpl::IntMmForward(const torch::Tensor& input) {
  torch::Tensor x = (input.is_quantized() ? input.dequantize() : input).to(torch::kFloat32);
  if (x.size(-1) != in)
    Fail(ErrorCode::Shape, "qlinear expects " + std::to_string(in) + " input features, got " + ShapeString(x.sizes()));
  if (x.is_cuda() && (in % 8 != 0 || out % 8 != 0)) {
    Fail(ErrorCode::Config, "int8 GEMM on CUDA needs in and out features that are multiples of 8, got " +
                                std::to_string(in) + "→" + std::to_string(out));
  }
  std::vector<int64_t> outShape = x.sizes().vec();
  outShape.back() = out;
  torch::Tensor rows = x.reshape({-1, in});
  // Per-row symmetric scales, so one outlier sample does not coarsen the others' codes.
  torch::Tensor rowScale = SymmetricScales(rows, /*perRow=*/true, 1e-12);
  torch::Tensor codes = (rows / rowScale).round_().clamp_(-127, 127).to(torch::kInt8);
  torch::Tensor y = IntGemm(codes, qweight).to(torch::kFloat32).mul_(rowScale).mul_(wscale.view({1, -1})).add_(bias);
  if (relu) y.relu_();
  return y.view(outShape);
}

torch::Tensor QuantLayerImpl::forward(const torch::Tensor& input) {
  if (intmm) return IntMmForward(input);
  if (!linearPacked_ && !convPacked_) Prepare();
  if (dynamic) {
    torch::Tensor x = input.is_quantized() ? input.dequantize() : input;
    torch::Tensor y = linearPacked_->apply_dynamic(x.contiguous(), /*reduce_range=*/false);
    return relu ? torch::relu(y) : y;
  }
  torch::Tensor x = input.is_quantized() ? input : QuantizeActivation(input, inScale, inZeroPoint);
  if (!subsample.empty()) {  // the last dims are the spatial ones, for conv1d and conv2d alike
    const int64_t first = x.dim() - static_cast<int64_t>(subsample.size());
    for (size_t d = 0; d < subsample.size(); ++d)
      x = x.slice(first + static_cast<int64_t>(d), 0, c10::nullopt, subsample[d]);
    x = x.contiguous();
  }
  if (kind == Kind::Linear)
    return relu ? linearPacked_->apply_relu(x, outScale, outZeroPoint)
                : linearPacked_->apply(x, outScale, outZeroPoint);
  if (kind == Kind::Conv2d)
    return relu ? convPacked_->apply_relu(x, outScale, outZeroPoint) : convPacked_->apply(x, outScale, outZeroPoint);
  // conv1d runs as a 2-D conv over [N, C, 1, L] (how quantized::conv1d packs it).
  torch::Tensor x4 = x.unsqueeze(2);
  torch::Tensor y =
      relu ? convPacked_->apply_relu(x4, outScale, outZeroPoint) : convPacked_->apply(x4, outScale, outZeroPoint);
  return y.squeeze(2);
}

std::shared_ptr<QuantLayerImpl> BuildQuantLayer(const NodeSpec& node) { return std::make_shared<QuantLayerImpl>(node); }

QuantGruImpl::QuantGruImpl(const NodeSpec& node) {
  inputSize = AttrInt(node, "inputSize", 0);
  hidden = AttrInt(node, "hiddenSize", 0);
  layers = AttrInt(node, "numLayers", 1);
  bidirectional = AttrNumber(node, "bidirectional", 0) != 0;
  last = AttrText(node, "output", "last") == "last";
  perChannel = AttrNumber(node, "perChannel", 1) != 0;
  engine = AttrText(node, "engine", "onednn");
  name_ = node.name;
  quantizedOn_ = AttrText(node, "quantizedOn", "");
  recurrence = AttrText(node, "recurrence", "auto");
  if (inputSize < 1 || hidden < 1 || layers < 1)
    Fail(ErrorCode::Config, "node '" + node.name + "': qgru sizes must be positive");
  if (recurrence != "auto" && recurrence != "fused" && recurrence != "linear_dynamic") {
    Fail(ErrorCode::Config,
         "node '" + node.name + "': recurrence must be auto, fused or linear_dynamic, got " + recurrence);
  }
  const int64_t dirs = bidirectional ? 2 : 1;
  for (int64_t l = 0; l < layers; ++l) {
    for (int64_t d = 0; d < dirs; ++d) {
      const std::string suffix = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
      const int64_t in = l == 0 ? inputSize : hidden * dirs;
      Direction c;
      c.wih = register_buffer("w_ih" + suffix, torch::zeros({3 * hidden, in}, torch::kInt8));
      c.wihScale = register_buffer("w_ih_scale" + suffix, torch::ones({perChannel ? 3 * hidden : 1}));
      c.whh = register_buffer("w_hh" + suffix, torch::zeros({3 * hidden, hidden}, torch::kInt8));
      c.whhScale = register_buffer("w_hh_scale" + suffix, torch::ones({perChannel ? 3 * hidden : 1}));
      c.bih = register_buffer("b_ih" + suffix, torch::zeros({3 * hidden}));
      c.bhh = register_buffer("b_hh" + suffix, torch::zeros({3 * hidden}));
      cells_.push_back(c);
    }
  }
}

void QuantGruImpl::Prepare() {
  UseQuantizedEngine(engine);
  for (auto& c : cells_) {
    CheckInt8Exact(c.wih, engine, name_, quantizedOn_);
    CheckInt8Exact(c.whh, engine, name_, quantizedOn_);
    c.ih = PackInt8(PackKind::Linear, c.wih, c.wihScale, c.bih, perChannel).toCustomClass<LinearPackedParamsBase>();
    c.hh = PackInt8(PackKind::Linear, c.whh, c.whhScale, c.bhh, perChannel).toCustomClass<LinearPackedParamsBase>();
    c.fused = std::make_shared<Int8Recurrence>(c.whh, c.whhScale, c.bhh);
  }
}

std::pair<torch::Tensor, torch::Tensor> QuantGruImpl::RecurPacked(Direction& c, const torch::Tensor& gi,
                                                                  bool reverse) const {
  const int64_t B = gi.size(0), T = gi.size(1);
  const torch::Tensor inputs = gi.contiguous();
  torch::Tensor outputs = torch::empty({B, T, hidden});
  torch::Tensor h = torch::zeros({B, hidden});
  for (int64_t k = 0; k < T; ++k) {
    const int64_t t = reverse ? T - 1 - k : k;
    // The GEMM through ONEDNN/QNNPACK (threaded); the gates in one vectorized pass instead of a dozen ATen ops.
    const torch::Tensor gh = c.hh->apply_dynamic(h, false).contiguous();
    GruGateRows(gh.data_ptr<float>(), inputs.data_ptr<float>(), B, T, t, hidden, h.data_ptr<float>(),
                outputs.data_ptr<float>());
  }
  return {outputs, h};
}

torch::Tensor QuantGruImpl::forward(const torch::Tensor& input) {
  if (!cells_.empty() && !cells_[0].ih) Prepare();
  torch::Tensor x = (input.is_quantized() ? input.dequantize() : input).contiguous();
  const int64_t B = x.size(0), T = x.size(1), dirs = bidirectional ? 2 : 1;
  const bool fused = recurrence == "fused" || (recurrence == "auto" && PreferFusedRecurrence(B, hidden));
  std::vector<torch::Tensor> finals;
  for (int64_t l = 0; l < layers; ++l) {
    std::vector<torch::Tensor> outputs;
    finals.clear();
    for (int64_t d = 0; d < dirs; ++d) {
      Direction& c = cells_[static_cast<size_t>(l * dirs + d)];
      // All input projections of the sequence in one int8 GEMM; only the hidden projection is sequential.
      torch::Tensor gi = c.ih->apply_dynamic(x.reshape({B * T, x.size(2)}), false).view({B, T, 3 * hidden});
      auto [steps, state] = fused ? c.fused->Run(gi, d == 1) : RecurPacked(c, gi, d == 1);
      outputs.push_back(steps);
      finals.push_back(state);
    }
    x = dirs == 1 ? outputs[0] : torch::cat(outputs, 2);
  }
  if (!last) return x;
  return dirs == 1 ? finals[0] : torch::cat(finals, 1);
}

std::shared_ptr<QuantGruImpl> BuildQuantGru(const NodeSpec& node) { return std::make_shared<QuantGruImpl>(node); }

namespace {

// Calibration: run the float model on a few batches and record each value's range (min-max or moving average,
// PyTorch's MinMaxObserver / MovingAverageMinMaxObserver with averaging constant 0.01).
class CalibrateWorker : public ModelDataWorker {
 public:
  CalibrateWorker(Napi::Env env, std::shared_ptr<ModelState> model, std::shared_ptr<DatasetState> data, int64_t batches,
                  int64_t batchSize, bool movingAverage)
      : ModelDataWorker(env, "petra.calibrate", std::move(model), std::move(data)),
        batches_(batches),
        batchSize_(batchSize),
        moving_(movingAverage) {}

 protected:
  void Run() override {
    auto lock = Begin(/*withTarget=*/false);
    ModelState& model = *model_;
    c10::InferenceMode guard;
    model.module->eval();
    const int64_t n = std::min(data_->size, batches_ * batchSize_);
    for (int64_t start = 0; start < n; start += batchSize_) {
      const int64_t len = std::min(batchSize_, n - start);
      model.module->ForwardObserved(
          SliceRows(data_->inputs, start, len, model.device), [this](const std::string& name, const torch::Tensor& t) {
            if (!t.is_floating_point() || t.numel() == 0) return;
            const auto mm = torch::aminmax(t.detach().to(torch::kFloat32));
            const double lo = std::get<0>(mm).item<double>(), hi = std::get<1>(mm).item<double>();
            auto it = ranges_.find(name);
            if (it == ranges_.end()) {
              ranges_[name] = {lo, hi};
            } else if (moving_) {
              it->second.first += 0.01 * (lo - it->second.first);
              it->second.second += 0.01 * (hi - it->second.second);
            } else {
              it->second.first = std::min(it->second.first, lo);
              it->second.second = std::max(it->second.second, hi);
            }
          });
    }
  }
  Napi::Value Resolve(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    for (const auto& [name, range] : ranges_) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, range.first);
      pair.Set(1u, range.second);
      out.Set(name, pair);
    }
    return out;
  }

 private:
  int64_t batches_, batchSize_;
  bool moving_;
  std::map<std::string, std::pair<double, double>> ranges_;
};

Napi::Value Calibrate(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    auto model = UnwrapModel(info[0]);
    auto data = UnwrapDataset(info[1]);
    int64_t batches = 16, batchSize = 64;
    bool moving = false;
    if (info[2].IsObject()) {
      Napi::Object o = info[2].As<Napi::Object>();
      if (o.Get("batches").IsNumber()) batches = o.Get("batches").As<Napi::Number>().Int64Value();
      if (o.Get("batchSize").IsNumber()) batchSize = o.Get("batchSize").As<Napi::Number>().Int64Value();
      if (o.Get("observer").IsString()) moving = o.Get("observer").As<Napi::String>().Utf8Value() == "moving_average";
    }
    if (batches < 1 || batchSize < 1) Fail(ErrorCode::Config, "calibrate: batches and batchSize must be positive");
    return (new CalibrateWorker(info.Env(), model, data, batches, batchSize, moving))->Queue();
  });
}

}  // namespace

void InitQuantize(Napi::Env env, Napi::Object exports) {
  exports.Set("calibrate", Napi::Function::New<Calibrate>(env, "calibrate"));
}

}  // namespace petra
