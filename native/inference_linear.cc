#include "inference_linear.h"

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace petra {
namespace {

// Below about 64k multiply-adds (~10 µs on one core) opening a parallel region costs more than it saves.
constexpr int64_t kMinParallelMacs = 1 << 16;
// Each thread's slice keeps at least this many output columns (or rows), so BLAS kernels keep their full width.
constexpr int64_t kMinSlice = 16;

// PETRA_PARALLEL_LINEAR=0 keeps torch::linear (for bench/blas-threads.ts to compare, and to rule this out). So does
// a user's OPENBLAS_NUM_THREADS above 1: pthread OpenBLAS does not see that it runs inside an OpenMP region and would
// start its own threads in every slice (OpenMP builds of OpenBLAS and MKL run one-threaded there by themselves).
bool Enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("PETRA_PARALLEL_LINEAR");
    if (v != nullptr && std::string(v) == "0") return false;
    const char* blas = std::getenv("OPENBLAS_NUM_THREADS");
    return blas == nullptr || std::atoi(blas) <= 1;
  }();
  return enabled;
}

bool Eligible(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  if (torch::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad())) return false;
  if (!x.device().is_cpu() || x.scalar_type() != torch::kFloat || x.layout() != torch::kStrided) return false;
  if (!w.device().is_cpu() || w.scalar_type() != torch::kFloat || w.layout() != torch::kStrided || w.dim() != 2)
    return false;
  if (b.defined() && (b.scalar_type() != torch::kFloat || !b.device().is_cpu())) return false;
  return Enabled() && x.dim() >= 1 && at::get_num_threads() > 1 && !at::in_parallel_region();
}

}  // namespace

torch::Tensor InferenceLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (!Eligible(x, weight, bias)) return torch::linear(x, weight, bias);
  const int64_t in = weight.size(0) > 0 ? weight.size(1) : 0;
  const int64_t out = weight.size(0);
  if (x.size(-1) != in) return torch::linear(x, weight, bias);  // torch::linear reports the shape error
  const int64_t rows = in == 0 ? 0 : x.numel() / in;
  if (rows * out * in < kMinParallelMacs) return torch::linear(x, weight, bias);
  const int64_t threads = at::get_num_threads();
  // Split the output features when there are enough of them (each thread reads its own part of W: the GEMV of
  // batch 1 is bound by reading W, so this halves its time on 2 cores); else the rows.
  const bool byColumns = out >= 2 * kMinSlice;
  const int64_t extent = byColumns ? out : rows;
  if (extent < 2 * kMinSlice) return torch::linear(x, weight, bias);
  const int64_t parts = std::min(threads, extent / kMinSlice);

  std::vector<int64_t> outShape(x.sizes().begin(), x.sizes().end());
  outShape.back() = out;
  torch::Tensor x2 = x.reshape({rows, in}).contiguous();
  torch::Tensor y = torch::empty({rows, out}, x.options().memory_format(c10::MemoryFormat::Contiguous));
  torch::Tensor wt = weight.t();  // a view: BLAS reads W transposed, as torch::linear does
  const int64_t per = (extent + parts - 1) / parts;
  // OpenMP's workers do not inherit this thread's grad / inference mode: without it, addmm_out on a worker sees a
  // weight that requires grad with grad mode on, and refuses.
  const at::ThreadLocalState callerState;
  at::parallel_for(0, parts, 1, [&](int64_t first, int64_t last) {
    at::ThreadLocalStateGuard stateGuard(callerState);
    for (int64_t p = first; p < last; ++p) {
      const int64_t lo = p * per;
      const int64_t n = std::min(per, extent - lo);
      if (n <= 0) continue;
      if (byColumns) {
        torch::Tensor yp = y.narrow(1, lo, n);
        if (bias.defined())
          at::addmm_out(yp, bias.narrow(0, lo, n), x2, wt.narrow(1, lo, n));
        else
          at::mm_out(yp, x2, wt.narrow(1, lo, n));
      } else {
        torch::Tensor yp = y.narrow(0, lo, n);
        if (bias.defined())
          at::addmm_out(yp, bias, x2.narrow(0, lo, n), wt);
        else
          at::mm_out(yp, x2.narrow(0, lo, n), wt);
      }
    }
  });
  return y.view(outShape);
}

}  // namespace petra
