#pragma once
// What this CPU offers, which of petra's own vectorized int8 kernels run on it, and what oneDNN runs.
//
// petra's kernels (int8_kernels.h) are compiled three times — x86-64 baseline (SSE2), AVX2, AVX-512 (x86-64-v4) —
// and picked here, once, from the CPU, unless PETRA_CPU_ISA (read at load: auto | avx512 | avx2 | baseline) asks for
// a lower one. SetKernelIsa switches at run time (tests run every clone on one machine). The clones are built with
// -ffp-contract=off, so every clone computes bit-identical results: only speed differs.
#include <string>
#include <vector>

namespace petra {

enum class KernelIsa { Baseline = 0, Avx2 = 1, Avx512 = 2 };

const char* KernelIsaName(KernelIsa isa);
// The clones this CPU can run, lowest first (always at least "baseline").
std::vector<KernelIsa> AvailableKernelIsas();
KernelIsa ActiveKernelIsa();
// Why the active clone is what it is (e.g. "PETRA_CPU_ISA=avx2"), for info().
std::string KernelIsaReason();
// A ConfigError when `name` is unknown or beyond this CPU.
void SetKernelIsa(const std::string& name);

struct CpuFacts {
  std::string model;  // /proc/cpuinfo "model name", or the architecture where there is none
  std::vector<std::string>
      int8Flags;  // the int8-relevant features present: avx2, avx512bw, avx512vnni, avxvnni, amx-int8
  bool x86 = false;
  bool vnni = false;  // AVX512-VNNI or AVX-VNNI: u8×s8 products summed in int32 (vpdpbusd)
};
const CpuFacts& HostCpu();

// oneDNN's effective ISA (dnnl_get_effective_cpu_isa, honouring ONEDNN_MAX_CPU_ISA) when oneDNN is a shared library
// this process can see (Debian's libdnnl); otherwise "" (a static copy inside libtorch hides its symbols).
std::string OneDnnIsa();

}  // namespace petra
