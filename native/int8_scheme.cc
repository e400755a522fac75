#include "int8_scheme.h"

#include <cstdlib>

#include "common.h"
#include "cpu_isa.h"
#include "quantize.h"

namespace petra {

namespace {

// Restores LibTorch's process-wide quantized engine when the probe is done.
class EngineRestore {
 public:
  EngineRestore() : saved_(at::globalContext().qEngine()) {}
  ~EngineRestore() { at::globalContext().setQEngine(saved_); }

 private:
  at::QEngine saved_;
};

bool HasOneDnn() {
  for (auto engine : at::globalContext().supportedQEngines()) {
    if (engine == at::QEngine::ONEDNN) return true;
  }
  return false;
}

// Largest relative distance between oneDNN's result and the exact one on worst-case codes: activations 255, weights
// 127, scales chosen so that every exact static output is code 200 (saturated pairs give about 100).
double ProbeStatic(const torch::Tensor& out) {
  return (out.int_repr().to(torch::kFloat32) - 200).abs().max().item<double>() / 200;
}

std::string OneDnnProbe() {
  torch::NoGradGuard noGrad;
  EngineRestore restore;
  UseQuantizedEngine("onednn");
  const double xScale = 1.0 / 255, wScale = 1.0 / 127;  // real products are then exactly 1 per pair of codes
  const int64_t K = 256, N = 16, C = 32;
  const auto bias = torch::zeros({N});
  const auto weights = [&](std::vector<int64_t> shape) { return torch::full(shape, 127, torch::kInt8); };
  const auto scales = torch::full({N}, wScale);
  const auto codes = [&](std::vector<int64_t> shape) {
    return at::_make_per_tensor_quantized_tensor(torch::full(shape, 255, torch::kUInt8), xScale, 0);
  };
  double worst = 0;
  std::string where;
  const auto note = [&](double err, const char* what) {
    if (err > worst) worst = err, where = what;
  };
  {
    auto packed =
        PackInt8(PackKind::Linear, weights({N, K}), scales, bias, true).toCustomClass<LinearPackedParamsBase>();
    for (int64_t rows : {int64_t{1}, int64_t{64}})
      note(ProbeStatic(packed->apply(codes({rows, K}), K / 200.0, 0)), "quantized::linear");
  }
  {
    // Separate packed params: ONEDNN's static packs give garbage in linear_dynamic.
    auto packed =
        PackInt8(PackKind::Linear, weights({N, K}), scales, bias, true).toCustomClass<LinearPackedParamsBase>();
    const torch::Tensor y = packed->apply_dynamic(torch::ones({64, K}), false);
    note((y - static_cast<double>(K)).abs().max().item<double>() / K, "quantized::linear_dynamic");
  }
  for (int64_t kh : {int64_t{1}, int64_t{3}}) {  // conv1d runs as a [N, C, 1, L] conv2d; 3×3 takes another kernel
    auto packed = PackInt8(PackKind::Conv2d, weights({N, C, kh, 3}), scales, bias, true, {1, 1}, {0, 0}, {1, 1}, 1)
                      .toCustomClass<ConvPackedParamsBase<2>>();
    note(ProbeStatic(packed->apply(codes({2, C, kh + 2, 8}), C * kh * 3 / 200.0, 0)), "quantized::conv2d");
  }
  if (worst <= 1.0 / 200) return "exact";  // within one output step
  char detail[96];
  std::snprintf(detail, sizeof detail, "saturates (%s %.0f%% off)", where.c_str(), 100 * worst);
  return detail;
}

// Whether oneDNN's reported ISA settles the question: "" (a static oneDNN that hides its symbols) and avx2_vnni (whose
// int8 kernels may or may not use AVX-VNNI in this oneDNN version) need the probe.
bool IsaDecides(const std::string& isa) { return !isa.empty() && isa != "avx2_vnni" && isa.rfind("isa 0x", 0) != 0; }
bool IsaHasVnni(const std::string& isa) {
  return isa.find("vnni") != std::string::npos || isa.find("bf16") != std::string::npos ||
         isa.find("amx") != std::string::npos;
}

Int8Scheme Decide() {
  Int8Scheme s;
  const CpuFacts& cpu = HostCpu();
  s.oneDnnIsa = OneDnnIsa();
  // The probe (~0.5 s of oneDNN JIT on first use, on the calling thread) runs only where the flags and oneDNN's own
  // word leave doubt, or when PETRA_INT8_PROBE=always asks (tests).
  const char* force = std::getenv("PETRA_INT8_PROBE");
  const bool probe = (force && std::string(force) == "always") || (cpu.vnni && !IsaDecides(s.oneDnnIsa)) || !cpu.x86;
  if (!HasOneDnn()) {
    s.oneDnnProbe = "not run (no ONEDNN engine in this LibTorch)";
  } else if (!probe) {
    s.oneDnnProbe = "not run (CPU flags and oneDNN's ISA decide)";
  } else {
    try {
      s.oneDnnProbe = OneDnnProbe();
    } catch (const std::exception& e) {
      s.oneDnnProbe = std::string("failed: ") + e.what();
    }
  }
  const bool probedExact = s.oneDnnProbe == "exact" || s.oneDnnProbe.rfind("not run", 0) == 0;
  const bool oneDnnVnni = !IsaDecides(s.oneDnnIsa) || IsaHasVnni(s.oneDnnIsa);
  const std::string isa = s.oneDnnIsa.empty() ? "" : " (oneDNN runs " + s.oneDnnIsa + ")";
  const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
  const std::string capNote = cap ? std::string(", ONEDNN_MAX_CPU_ISA=") + cap : "";
  if (cpu.x86 && !cpu.vnni) {
    s.weightBits = 7;
    s.reason =
        "no VNNI on this CPU: oneDNN and onnxruntime add u8×s8 products in int16 pairs (vpmaddubsw), which saturate "
        "with "
        "8-bit weights; 7-bit weights (±63) keep every pair exact" +
        isa;
  } else if (!oneDnnVnni || !probedExact) {
    s.weightBits = 7;
    s.reason = "oneDNN runs below VNNI here" + isa + capNote +
               (probedExact ? "" : " and " + s.oneDnnProbe + " with 8-bit weights") +
               ": u8×s8 pairs add in saturating int16; 7-bit weights (±63) keep every pair exact";
  } else {
    s.weightBits = 8;
    s.reason = cpu.x86 ? "VNNI on this CPU: u8×s8 products add in int32 (vpdpbusd); 8-bit weights are exact" + isa
                       : "int8 products add in int32 on this CPU; 8-bit weights are exact";
  }
  return s;
}

}  // namespace

const Int8Scheme& HostInt8Scheme() {
  static const Int8Scheme scheme = Decide();
  return scheme;
}

int WeightCodeMax(int bits) { return bits == 7 ? 63 : 127; }

void CheckInt8Exact(const torch::Tensor& codes, const std::string& engine, const std::string& layer,
                    const std::string& quantizedOn) {
  if (engine != "onednn" || codes.numel() == 0) return;
  const Int8Scheme& host = HostInt8Scheme();
  if (host.weightBits == 8) return;
  // 2 · 255 · 64 = 32,640 still fits an int16 pair sum: only codes beyond ±64 can saturate.
  const int64_t peak = codes.to(torch::kInt16).abs().max().item<int64_t>();  // |−128| overflows int8
  if (peak <= 64) return;
  Fail(ErrorCode::Config, "layer '" + layer + "' has 8-bit int8 weights (codes up to " + std::to_string(peak) +
                              ", quantized on " + (quantizedOn.empty() ? std::string("another CPU") : quantizedOn) +
                              "), which oneDNN cannot run exactly on this CPU (" + HostCpu().model +
                              "): " + host.reason +
                              ". Quantize the float model again here, or with weightBits: 7 (exact on every x86-64 "
                              "CPU), or use engine 'qnnpack'");
}

}  // namespace petra
